"""Catalog rules shared by every source: asset choice, time order, rolling windows, `last`,
remote static catalogs through the project's HTTP session, and the VEDA example config."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pystac
import pytest
from shapely.geometry import box

from generator.cli.main import main
from generator.config import load_config, parse_config
from generator.core.dates import Interval, parse_duration, parse_interval
from generator.core.errors import ConfigError, SourceError
from generator.core.model import FramePlan, SourceItem
from generator.plan.frames import choose_asset_key, keep_last, plan_frames
from generator.sources.catalog import StaticCatalogSource
from generator.sources.http import HttpSettings, make_session
from generator.sources.items import filter_items
from generator.sources.stac_common import source_item
from tests.servers.faults import FaultServer, Reply, Request
from tests.servers.stac_data import (
    COLLECTION_ID,
    REGION_BBOX,
    veda_like_collection,
    veda_like_items,
    write_static_catalog,
)

REPO = Path(__file__).resolve().parent.parent
UTC = UTC


def _item(item_id: str, assets: dict[str, dict[str, Any]], **properties: Any) -> SourceItem:
    return source_item(pystac.Item.from_dict({
        "type": "Feature", "stac_version": "1.0.0", "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1], "properties": {"datetime": None, **properties}, "links": [], "assets": assets,
    }))


PREVIEW = {"href": "https://x.org/p.png", "type": "image/png", "roles": ["overview"]}
COG = "image/tiff; application=geotiff; profile=cloud-optimized"


# --- asset choice -------------------------------------------------------------------------


def test_preview_assets_are_never_data() -> None:
    item = _item("a", {"rendered_preview": PREVIEW, "cog_default": {"href": "s3://b/a.tif", "type": COG}}, datetime="2021-01-01T00:00:00Z")
    assert choose_asset_key(item, None) == "cog_default"
    # even a COG with role overview is a picture of the data, not the data
    item = _item("b", {"overview": {"href": "s3://b/o.tif", "type": COG, "roles": ["overview"]},
                       "data": {"href": "s3://b/d.tif", "type": COG}}, datetime="2021-01-01T00:00:00Z")
    assert choose_asset_key(item, None) == "data"
    only_preview = _item("c", {"rendered_preview": PREVIEW}, datetime="2021-01-01T00:00:00Z")
    with pytest.raises(SourceError, match="set `asset:`"):
        choose_asset_key(only_preview, None)


def test_naive_and_aware_timestamps_sort_together_in_plans() -> None:
    items = [
        _item("c", {"d": {"href": "/c.tif", "roles": ["data"]}}, start_datetime="2021-03-01T00:00:00", end_datetime="2021-03-31T00:00:00"),
        _item("a", {"d": {"href": "/a.tif", "roles": ["data"]}}, datetime="2021-01-01T00:00:00"),
        _item("b", {"d": {"href": "/b.tif", "roles": ["data"]}}, datetime="2021-02-01T02:00:00+02:00"),
        _item("b2", {"d": {"href": "/b2.tif", "roles": ["data"]}}, datetime="2021-02-01T00:00:00Z"),
    ]
    frames = plan_frames(items, None)
    assert [[i.item_id for i in f.items] for f in frames] == [["a"], ["b", "b2"], ["c"]]
    assert [f.datetime for f in frames] == [datetime(2021, m, 1, tzinfo=UTC) for m in (1, 2, 3)]


def test_filter_items_uses_ranges_and_footprints() -> None:
    asset = {"d": {"href": "/x.tif", "roles": ["data"]}}
    ranged = _item("r", asset, start_datetime="2021-01-01T00:00:00Z", end_datetime="2021-01-31T23:59:59Z")
    kept = filter_items([ranged], parse_interval("2021-01-15/2021-02"), box(0.5, 0.5, 2, 2))
    assert [i.id for i in kept] == ["r"]
    assert filter_items([ranged], parse_interval("2021-02/.."), box(0.5, 0.5, 2, 2)) == []
    assert filter_items([ranged], None, box(5, 5, 6, 6)) == []


# --- rolling windows and `last` --------------------------------------------------------------

NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("P24M/..", datetime(2022, 3, 31, 12, tzinfo=UTC), None),
        ("P24M", datetime(2022, 3, 31, 12, tzinfo=UTC), None),
        ("P1M/..", datetime(2024, 2, 29, 12, tzinfo=UTC), None),  # clamped to February's end
        ("P2Y/..", datetime(2022, 3, 31, 12, tzinfo=UTC), None),
        ("P10D/..", datetime(2024, 3, 21, 12, tzinfo=UTC), None),
        ("PT36H/..", datetime(2024, 3, 30, 0, tzinfo=UTC), None),
        ("P1W", datetime(2024, 3, 24, 12, tzinfo=UTC), None),
        ("P1Y/2022-12-31", datetime(2022, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)),
        ("2020-01/P6M", datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 7, 1, tzinfo=UTC) - timedelta(microseconds=1)),
    ],
)
def test_rolling_windows(text: str, start: datetime, end: datetime | None) -> None:
    assert parse_interval(text, now=NOW) == Interval(start, end)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("../P1Y", "nothing to count from"),
        ("P1M/P2M", "duration on both sides"),
        ("P0M/..", "is zero"),
        ("P1Q/..", "not a date"),
    ],
)
def test_bad_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_interval(text, now=NOW)


def test_duration_parts() -> None:
    duration = parse_duration("P1Y2M3W4DT5H6M7S")
    assert duration is not None and duration.months == 14
    assert duration.span == timedelta(weeks=3, days=4, hours=5, minutes=6, seconds=7)
    assert parse_duration("2021-01") is None


def test_rolling_window_moves_with_the_clock() -> None:
    later = NOW + timedelta(days=31)  # 2024-05-01
    assert parse_interval("P24M/..", now=later).start == datetime(2022, 5, 1, 12, tzinfo=UTC)


def test_keep_last() -> None:
    frames = [FramePlan(datetime=datetime(2021, m, 1, tzinfo=UTC), items=()) for m in range(1, 7)]
    assert keep_last(frames, 2) == frames[-2:]
    assert keep_last(frames, None) == frames
    assert keep_last(frames, 10) == frames


def _config(collection: str, tmp_path: Path) -> str:
    return f"""
site: {{title: t}}
sources: {{s: {{catalog: c.json}}}}
collections: [{collection}]
regions: [{{id: r, bbox: [0, 0, 1, 1]}}]
"""


def test_collection_keys_last_and_duration_datetime(tmp_path: Path) -> None:
    config = parse_config(_config("{id: c, source: s, datetime: P24M/.., last: 24}", tmp_path), tmp_path / "s.yml")
    (collection,) = config.model.collections
    assert (collection.datetime, collection.last) == ("P24M/..", 24)
    with pytest.raises(ConfigError, match=r"collections\[0\]\.last"):
        parse_config(_config("{id: c, source: s, last: 0}", tmp_path), tmp_path / "s.yml")
    with pytest.raises(ConfigError, match="nothing to count from"):
        parse_config(_config("{id: c, source: s, datetime: ../P1Y}", tmp_path), tmp_path / "s.yml")


# --- static catalogs over HTTP ------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultServer, Path]]:
    folder = tmp_path_factory.mktemp("http-catalog")
    write_static_catalog(folder, veda_like_collection(), veda_like_items(months=24))
    server = FaultServer().start()
    failed_once: set[str] = set()

    def files(request: Request) -> Reply:
        path = folder / request.path.lstrip("/")
        if request.path.endswith("collection.json") and request.path not in failed_once:
            failed_once.add(request.path)  # one outage on the way, survived by retrying
            return Reply(503)
        if not path.is_file():
            return Reply(404, b"not found")
        return Reply(200, path.read_bytes(), headers={"Content-Type": "application/json"})

    for path in folder.rglob("*.json"):
        server.route("/" + path.relative_to(folder).as_posix(), files)
    yield server, folder
    server.stop()


def test_remote_static_catalog_reads_through_the_session(catalog_server: tuple[FaultServer, Path], tmp_path: Path) -> None:
    server, folder = catalog_server
    session = make_session(HttpSettings(retries=2, backoff=0.01, jitter=0.0))
    remote = StaticCatalogSource("remote", f"{server.url}/catalog.json", session=session)
    local = StaticCatalogSource("local", str(folder / "catalog.json"))
    region = box(*REGION_BBOX)
    from_remote = plan_frames(remote.items(COLLECTION_ID, None, region), None)
    from_local = plan_frames(local.items(COLLECTION_ID, None, region), None)
    assert len(from_remote) == 24
    assert [(f.datetime, [i.href for i in f.items]) for f in from_remote] == [(f.datetime, [i.href for i in f.items]) for f in from_local]
    agents = {hit.headers.get("User-Agent", "") for hit in server.requests}
    assert agents and all(agent.startswith("eo-timelapse-generator/") for agent in agents)
    assert len(server.hits(f"/{COLLECTION_ID}/collection.json")) == 2  # the 503, then the retry


def test_a_remote_static_catalogs_items_are_read_a_few_at_once_and_each_once(tmp_path: Path) -> None:
    """Each item of a static catalog is a document of its own: a remote catalog's are read up to
    the source's ``max_per_host`` at a time (here 30 ms an answer), not one after the other,
    and the items are those of the same catalog on disk."""
    import json

    from tests.servers.range_http import serve_directory

    write_static_catalog(tmp_path, veda_like_collection(), veda_like_items(months=12))
    collection_file = tmp_path / COLLECTION_ID / "collection.json"
    document = json.loads(collection_file.read_text())
    document["links"].append({"rel": "item", "href": "./items", "type": "application/geo+json"})  # an API habit
    collection_file.write_text(json.dumps(document))
    region = box(*REGION_BBOX)
    local = StaticCatalogSource("local", str(tmp_path / "catalog.json")).items(COLLECTION_ID, None, region)
    with serve_directory(tmp_path, delay=0.03) as server:
        source = StaticCatalogSource("remote", server.href("catalog.json"))
        remote = source.items(COLLECTION_ID, None, region)
        paths = [request["path"] for request in server.requests if request["method"] == "GET"]
        assert 2 <= server.most_in_flight <= HttpSettings().max_per_host
    assert [(item.id, item.datetime) for item in remote] == [(item.id, item.datetime) for item in local]
    item_paths = [path for path in paths if path not in ("/catalog.json", f"/{COLLECTION_ID}/collection.json")]
    assert len(item_paths) >= 12 and len(set(item_paths)) == len(item_paths)  # each item read once
    assert not any(path.endswith("/items") for path in paths)  # skipped, never fetched
    assert any("/items" in note and "skipped" in note for note in source.notes)


def test_a_remote_static_catalogs_missing_item_is_still_a_source_error_naming_it(tmp_path: Path) -> None:
    from tests.servers.range_http import serve_directory

    write_static_catalog(tmp_path, veda_like_collection(), veda_like_items(months=6))
    missing = sorted((tmp_path / COLLECTION_ID).rglob("*.json"))[-1]
    assert missing.name != "collection.json"
    missing.unlink()
    with serve_directory(tmp_path) as server:
        with pytest.raises(SourceError, match="HTTP 404") as raised:
            StaticCatalogSource("remote", server.href("catalog.json")).items(COLLECTION_ID, None, box(*REGION_BBOX))
    assert missing.name in str(raised.value)


def test_remote_static_catalog_missing_is_a_source_error(catalog_server: tuple[FaultServer, Path]) -> None:
    server, _ = catalog_server
    source = StaticCatalogSource("remote", f"{server.url}/nothing/catalog.json", session=make_session())
    with pytest.raises(SourceError, match="HTTP 404"):
        source.collection(COLLECTION_ID)


# --- the VEDA example -----------------------------------------------------------------------


def test_veda_example_validates_offline(capsys: pytest.CaptureFixture[str]) -> None:
    path = REPO / "examples" / "veda-no2.yml"
    config = load_config(path)
    source = config.model.sources["veda"]
    assert source.api == "https://staging.openveda.cloud/api/stac"
    assert source.raster_api == "https://staging.openveda.cloud/api/raster"
    assert source.s3.unsigned is True
    assert {a.render.renderer for a in config.model.animations or [] if a.render} == {"local", "titiler"}
    assert main(["validate", "--offline", "--config", str(path)]) == 0
    assert "is valid (2 animations)" in capsys.readouterr().out


def test_every_source_key_is_documented() -> None:
    docs = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    from generator.config import CollectionSection, HttpSection, S3Section, SourceSection

    for model in (SourceSection, HttpSection, S3Section, CollectionSection):
        for name in model.model_fields:
            assert f"`{name}`" in docs, f"{model.__name__}.{name} is not in docs/configuration.md"
