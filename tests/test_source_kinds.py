"""Source kinds: found by name in one registry; a kind of your own is one module and one registration."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shapely.geometry import box

from generator.core.errors import ConfigError
from generator.core.model import AssetRef, SourceItem
from generator.engine.build import BuildOptions, build
from generator.plan.schedule import SearchCache
from generator.plan.site import load_site
from generator.sources.catalog import StaticCatalogSource
from generator.sources.regions import Region
from generator.sources.registry import open_source, source_kinds, unregister_source
from generator.sources.stac_api import StacApiSource

from .conftest import column_values, write_cog
from .test_build import readme_example


@pytest.fixture
def dated_folder() -> Iterator[None]:
    """The README's toy source kind (GeoTIFFs named by date), registered for one test."""
    module = types.ModuleType("readme_dated_folder")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    try:
        exec(readme_example("### A new source kind"), module.__dict__)
        yield
    finally:
        unregister_source("dated-folder")
        del sys.modules[module.__name__]
    assert "dated-folder" not in source_kinds()


def _config(tmp_path: Path, source: str, search_ttl: int = 0) -> Path:
    config = tmp_path / "site_config.yml"
    config.write_text(f"""\
site: {{title: Folder}}
sources: {{tiffs: {source}}}
collections:
  - {{id: lst, source: tiffs, datetime: 2021-01/2021-03, style: {{rescale: [0, 64], colormap: viridis}}}}
regions:
  - {{id: square, bbox: [8, 8, 56, 56]}}
render: {{size: 64, frame_ms: 200}}
cache: {{search_ttl: {search_ttl}}}
""")
    return config


def test_the_built_in_kinds_are_registered_and_opened_by_kind(tmp_path: Path) -> None:
    assert {"catalog", "api"} <= set(source_kinds())
    config = tmp_path / "site_config.yml"
    config.write_text("""\
site: {title: T}
sources: {a: {catalog: catalog.json}, b: {api: "https://stac.example.org"}}
collections: [{id: c, source: a}]
regions: [{id: r, bbox: [0, 0, 1, 1]}]
""")
    site = load_site(config)
    assert (site.sources["a"].kind, site.sources["b"].kind) == ("catalog", "api")
    assert isinstance(open_source(site.sources["a"]), StaticCatalogSource)
    assert isinstance(open_source(site.sources["b"]), StacApiSource)


def test_a_source_kind_of_your_own_builds_a_gallery(tmp_path: Path, dated_folder: None) -> None:
    for month in range(1, 5):  # April is outside the collection's datetime
        write_cog(tmp_path / "rasters" / "lst" / f"2021-0{month}-01.tif", column_values(64) + month)
    config = _config(tmp_path, "{kind: dated-folder, options: {folder: rasters, title: Surface}}", search_ttl=3600)
    for _ in range(2):  # the second build reads the items back from the search cache
        result = build(config, options=BuildOptions(cache_dir=tmp_path / "cache"))
        (record,) = result.records
        assert record.status == "ok", record.error
        assert record.title == "Surface: lst — square"
        assert [frame.items[0].item_id for frame in record.frames] == ["2021-01-01", "2021-02-01", "2021-03-01"]
        assert record.frames[0].items[0].href == str(tmp_path / "rasters" / "lst" / "2021-01-01.tif")
    assert len(list((tmp_path / "cache" / "searches").glob("*.json"))) == 1
    manifest = json.loads((result.output_dir / "manifest.json").read_text())
    assert [frame["items"] for frame in manifest["animations"][0]["frames"]] == [["2021-01-01"], ["2021-02-01"], ["2021-03-01"]]
    assert (result.output_dir / record.files.gif).stat().st_size > 0


def test_a_kinds_options_are_checked_against_what_it_registered(tmp_path: Path, dated_folder: None) -> None:
    with pytest.raises(ConfigError) as raised:
        load_site(_config(tmp_path, "{kind: dated-folder, options: {folder: rasters, colour: red}}"))
    assert "sources.tiffs.options.colour: unknown key (allowed keys here: folder, title)" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        load_site(_config(tmp_path, "{kind: dated-folder, options: {title: T}}"))
    assert "sources.tiffs.options.folder: Field required" in str(raised.value)


def test_an_unknown_kind_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_site(_config(tmp_path, "{kind: zarr-store}"))
    message = str(raised.value)
    assert "sources.tiffs.kind: unknown source kind 'zarr-store' (known: api, catalog" in message
    assert "import the module that registers it" in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{catalog: c.json, kind: dated-folder}", "give exactly one of `catalog`"),
        ("{kind: catalog}", "is written `catalog: <where>`"),
        ("{catalog: c.json, options: {a: 1}}", "`options` go with `kind`"),
    ],
)
def test_a_source_names_one_kind(tmp_path: Path, source: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_site(_config(tmp_path, source))


def test_the_search_cache_keeps_source_items_as_json_and_gives_them_back_equal(tmp_path: Path) -> None:
    moment = datetime(2021, 1, 1, tzinfo=UTC)
    item = SourceItem(
        id="a", datetime=moment, start=moment, end=moment + timedelta(days=30),
        assets={"data": AssetRef("https://x.org/a.tif", ("data",), "image/tiff", "2024-01-01"), "p": AssetRef("/p.png")},
        footprint={"type": "Point", "coordinates": [1.5, 2.5]}, bbox=(1.5, 2.5, 1.5, 2.5),
        href="https://x.org/a.json", updated="2024-02-01", remote=True,
    )

    class Counting:
        name, notes, searches = "counting", [], 0

        def items(self, collection_id: str, interval: object, region: object) -> list[SourceItem]:
            self.searches += 1
            return [item]

    source = Counting()
    cache = SearchCache(tmp_path, ttl=3600)
    region = Region(id="r", title="R", geometry=box(0, 0, 4, 4))
    first = cache.items(source, "{}", "c", None, region)  # type: ignore[arg-type]
    again = cache.items(source, "{}", "c", None, region)  # type: ignore[arg-type]
    assert first == again == [item] and again[0].footprint == item.footprint and source.searches == 1
    (entry,) = (tmp_path / "searches").glob("*.json")
    assert json.loads(entry.read_text())["items"][0]["assets"]["data"]["roles"] == ["data"]
