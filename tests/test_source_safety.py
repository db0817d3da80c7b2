"""What a source may make us do: remote documents point at remote assets only, and a source that
does not answer is asked once per build."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generator.core.errors import SourceError
from generator.core.model import AssetRef, SourceItem
from generator.core.specs import SourceSpec
from generator.engine.build import build
from generator.plan.frames import check_asset_is_remote

from .conftest import FakeItem, column_values, write_catalog, write_cog
from .servers.faults import FaultServer, Reply, sequence
from .servers.range_http import RangeServer, serve_directory

RENDERS = {"dashboard": {"rescale": [[0, 64]], "colormap_name": "viridis"}}
WHEN = datetime(2021, 1, 1, tzinfo=UTC)
SOURCE = SourceSpec(name="remote", where="site_config.yml: sources.remote", api="https://stac.example.org")


def _item(href: str, remote: bool = True) -> SourceItem:
    return SourceItem(id="i", datetime=WHEN, start=WHEN, end=WHEN, assets={"data": AssetRef(href, ("data",))}, remote=remote)


# --- remote documents, remote assets ----------------------------------------------------------


@pytest.mark.parametrize("href", ["file:///etc/data.tif", "/etc/data.tif", "data/a.tif", "FILE:///x.tif", "gs://b/a.tif"])
def test_an_item_read_over_the_network_may_not_point_at_a_local_file(href: str) -> None:
    with pytest.raises(SourceError) as raised:
        check_asset_is_remote(_item(href), "data", SOURCE)
    message = str(raised.value)
    assert "source 'remote': item 'i'" in message and href in message
    assert "`allow_local_assets: true` in site_config.yml: sources.remote" in message


@pytest.mark.parametrize("href", ["https://x.org/a.tif", "http://x.org/a.tif", "s3://bucket/a.tif", "HTTPS://X.ORG/a.tif"])
def test_remote_assets_of_remote_items_are_fine(href: str) -> None:
    check_asset_is_remote(_item(href), "data", SOURCE)


def test_local_items_and_sources_that_allow_it_may_point_at_local_files() -> None:
    check_asset_is_remote(_item("/data/a.tif", remote=False), "data", SOURCE)
    check_asset_is_remote(_item("/data/a.tif"), "data", SourceSpec(name="s", where="w", api="https://x", allow_local_assets=True))


def test_the_refused_href_is_shown_without_its_secrets() -> None:
    with pytest.raises(SourceError) as raised:
        check_asset_is_remote(_item("file://user:pw@host/data/a.tif?token=SECRET"), "data", SOURCE)
    assert "file://host/data/a.tif" in str(raised.value)
    assert "SECRET" not in str(raised.value) and "pw" not in str(raised.value)


@pytest.fixture
def leaky_catalog(tmp_path: Path) -> Iterator[tuple[RangeServer, Path]]:
    """A catalog served over HTTP: collection `safe` with a relative (so remote) COG, collection
    `leaky` whose item points at ``file://`` a COG of this machine."""
    served = tmp_path / "served"
    secret = write_cog(tmp_path / "private" / "secret.tif", column_values(64))
    write_catalog(served, "leaky", [FakeItem(id="leaky-0", datetime="2021-01-01T00:00:00Z", cog=secret.as_uri())], renders=RENDERS)
    cog = write_cog(tmp_path / "cogs" / "safe-0.tif", column_values(64))
    write_catalog(served, "safe", [FakeItem(id="safe-0", datetime="2021-01-01T00:00:00Z", cog=cog)], renders=RENDERS)
    catalog = json.loads((served / "catalog.json").read_text())
    catalog["links"].append({"rel": "child", "href": "./leaky/collection.json", "type": "application/json"})
    (served / "catalog.json").write_text(json.dumps(catalog))
    with serve_directory(served) as server:
        yield server, secret


def _remote_config(tmp_path: Path, url: str, source_extra: str = "") -> Path:
    config = tmp_path / "site_config.yml"
    config.write_text(f"""\
site: {{title: Remote}}
sources: {{remote: {{catalog: "{url}/catalog.json"{source_extra}}}}}
collections:
  - {{id: safe, source: remote}}
  - {{id: leaky, source: remote}}
regions:
  - {{id: square, bbox: [8, 8, 56, 56]}}
render: {{size: 64}}
""")
    return config


def test_a_remote_catalog_pointing_at_a_local_file_fails_only_that_animation(
    tmp_path: Path, leaky_catalog: tuple[RangeServer, Path]
) -> None:
    server, secret = leaky_catalog
    result = build(_remote_config(tmp_path, server.url), tmp_path / "output")
    records = {record.collection_id: record for record in result.records}
    assert records["safe"].status == "ok", records["safe"].error
    assert records["safe"].frames[0].items[0].href == f"{server.url}/safe/safe-0/safe-0.tif"
    leaky = records["leaky"]
    assert leaky.status == "failed"
    assert leaky.error is not None
    assert "source 'remote': item 'leaky-0'" in leaky.error
    # The published reason names the file relative to the config, never the machine's absolute path.
    assert "private/secret.tif" in leaky.error and str(tmp_path) not in leaky.error
    assert "allow_local_assets" in leaky.error
    media = [path for path in (tmp_path / "output" / "animations" / leaky.slug).rglob("*") if path.suffix in {".gif", ".png"}]
    assert media == []  # the local raster was never read, so nothing of it is published

    allowed = build(_remote_config(tmp_path, server.url, ", allow_local_assets: true"), tmp_path / "output")
    assert [record.status for record in allowed.records] == ["ok", "ok"]


# --- a source that does not answer -------------------------------------------------------------


@pytest.fixture
def hung_api() -> Iterator[FaultServer]:
    server = FaultServer().start()
    server.route("/", sequence(Reply(hang=True)))
    yield server
    server.stop()


def test_a_source_that_never_answers_is_asked_by_one_animation_only(tmp_path: Path, hung_api: FaultServer) -> None:
    cog = write_cog(tmp_path / "cogs" / "tiny.tif", column_values(64))
    write_catalog(tmp_path / "catalog", "tiny", [FakeItem(id="tiny-0", datetime="2021-01-01T00:00:00Z", cog=cog)], renders=RENDERS)
    config = tmp_path / "site_config.yml"
    config.write_text(f"""\
site: {{title: Outage}}
sources:
  hung: {{api: "{hung_api.url}/?key=SECRET", http: {{retries: 1, read_timeout: 0.4}}}}
  local: {{catalog: catalog/catalog.json}}
collections:
  - {{id: c, source: hung, style: {{rescale: [0, 1]}}}}
  - {{id: tiny, source: local}}
regions:
  - {{id: one, bbox: [8, 8, 56, 56]}}
  - {{id: two, bbox: [10, 10, 50, 50]}}
render: {{size: 64}}
""")
    result = build(config, tmp_path / "output")
    records = {record.id: record for record in result.records}
    assert [records[f"tiny--{region}"].status for region in ("one", "two")] == ["ok", "ok"]
    first, second = records["c--one"], records["c--two"]
    assert (first.status, second.status) == ("failed", "failed")
    assert first.error is not None and "source 'hung'" in first.error and "SECRET" not in first.error
    assert second.error == f"{first.error} (the source already failed in this build)"
    assert len(hung_api.requests) == 2  # the first animation's try and its one retry; none from the second
