"""Choosing the items: ``collections[].query`` (evaluated here), ``filter`` and ``composite``.

The query tests check every operator on item properties. The composite tests build tiny COGs of
distinct constant values, so the value of a pixel tells which item it came from: three scenes of
one month overlap, the clear one covering only the left half, and each composite mode must show
its first-ranked item where it is valid and the next ones in its gaps — with the local renderer,
the TiTiler renderer, on the page and in ``provenance.json``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generator.cli.main import main
from generator.config import parse_config
from generator.core.errors import ConfigError, SourceError
from generator.core.model import FramePlan, ItemAsset, SourceItem, Style
from generator.core.query import QUERY_OPERATORS, ItemSearch, parse_query, query_problems
from generator.engine.build import build
from generator.plan.composite import cloud_cover, listings, rank_items
from generator.plan.schedule import AnimationPlan, plan_animation, source_opener
from generator.plan.site import SitePlan, load_site
from generator.render.cache import animation_fingerprint, layer_key
from generator.render.frames import render_frame
from generator.render.grid import make_grid, output_crs, project
from generator.render.local import LocalRenderer
from generator.sources.catalog import StaticCatalogSource
from generator.sources.regions import load_regions

from .conftest import NODATA, FakeItem, write_catalog, write_cog

# --- query evaluation --------------------------------------------------------------------

PROPERTIES = {"eo:cloud_cover": 12.5, "platform": "sentinel-2a", "sat:relative_orbit": 51, "flag": True, "gone": None}


def matches(document: dict[str, Any], properties: dict[str, Any] = PROPERTIES) -> bool:
    return parse_query(document, "c").matches(properties)


@pytest.mark.parametrize(
    ("operator", "hit", "miss"),
    [
        ("eq", 12.5, 12.4), ("neq", 13, 12.5), ("lt", 13, 12.5), ("lte", 12.5, 12), ("gt", 12, 12.5),
        ("gte", 12.5, 13), ("in", [1, 12.5], [1, 2]),
    ],
)
def test_number_operators(operator: str, hit: object, miss: object) -> None:
    assert matches({"eo:cloud_cover": {operator: hit}})
    assert not matches({"eo:cloud_cover": {operator: miss}})


@pytest.mark.parametrize(
    ("operator", "hit", "miss"),
    [
        ("eq", "sentinel-2a", "Sentinel-2A"), ("neq", "sentinel-2b", "sentinel-2a"), ("lt", "sentinel-2b", "sentinel-2a"),
        ("lte", "sentinel-2a", "sentinel-1"), ("gt", "sentinel-1", "sentinel-2a"), ("gte", "sentinel-2a", "sentinel-3"),
        ("startsWith", "sentinel-2", "landsat"), ("endsWith", "-2a", "-2b"), ("contains", "nel-2", "NEL"),
        ("in", ["landsat-8", "sentinel-2a"], ["sentinel-2b"]),
    ],
)
def test_text_operators(operator: str, hit: object, miss: object) -> None:
    assert matches({"platform": {operator: hit}})
    assert not matches({"platform": {operator: miss}})


@pytest.mark.parametrize("operator", QUERY_OPERATORS)
def test_a_missing_or_null_property_matches_no_operator(operator: str) -> None:
    value: object = ["x"] if operator == "in" else "x"
    for name in ("absent", "gone"):
        assert not matches({name: {operator: value}})


def test_types_never_mix_and_every_condition_must_hold() -> None:
    assert not matches({"eo:cloud_cover": {"lt": "20"}})  # a number against a text
    assert not matches({"platform": {"gt": 5}})
    assert not matches({"flag": {"eq": 1}}) and matches({"flag": {"eq": True}})  # true is not the number 1
    assert matches({"sat:relative_orbit": {"eq": 51.0}})  # 51 and 51.0 are one number
    assert matches({"eo:cloud_cover": {"gte": 10, "lt": 20}, "platform": {"startsWith": "sentinel"}})
    assert not matches({"eo:cloud_cover": {"gte": 10, "lt": 12}, "platform": {"startsWith": "sentinel"}})
    query = parse_query({"eo:cloud_cover": {"lt": 20}, "platform": {"in": ["a", "b"]}}, "c")
    assert query.as_json() == {"eo:cloud_cover": {"lt": 20}, "platform": {"in": ["a", "b"]}}


def test_query_problems_name_collection_property_and_operator() -> None:
    (problem,) = query_problems({"eo:cloud_cover": {"less": 20}}, "s2")
    assert "collection 's2'" in problem and "'eo:cloud_cover'" in problem and "'less'" in problem
    assert ", ".join(QUERY_OPERATORS) in problem
    assert query_problems({"platform": {"in": "a"}}, "s2")[0].endswith("takes a non-empty list of values, e.g. [a, b]")
    assert "takes a text" in query_problems({"platform": {"contains": 3}}, "s2")[0]
    assert "takes a number or a text" in query_problems({"x": {"lt": [1]}}, "s2")[0]
    assert query_problems({"x": 3}, "s2") and query_problems({"x": {}}, "s2")


CONFIG = """\
site: {{title: Choice}}
sources:
  local: {{catalog: {catalog}}}
collections:
  - id: scenes
    source: local
{extra}
regions:
  - {{id: square, bbox: [8, 8, 56, 56]}}
render: {{size: 64, cadence: monthly}}
"""


def test_validate_offline_reports_an_unknown_operator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "site_config.yml"
    config.write_text(CONFIG.format(catalog="catalog.json", extra="    query: {eo:cloud_cover: {below: 20}}"))
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "collections[0].query" in err and "collection 'scenes'" in err
    assert "'eo:cloud_cover'" in err and "'below'" in err and "known: eq, neq, lt" in err


def test_filter_needs_a_stac_api_and_composite_a_known_mode(tmp_path: Path) -> None:
    path = tmp_path / "site_config.yml"
    with pytest.raises(ConfigError) as raised:
        parse_config(CONFIG.format(catalog="c.json", extra="    filter: {op: '<', args: [{property: eo:cloud_cover}, 20]}"), path)
    assert "collections[0].filter: collection 'scenes' reads source 'local', which is not a STAC API" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        parse_config(CONFIG.format(catalog="c.json", extra="    composite: clearest"), path)
    assert "collections[0].composite" in str(raised.value) and "least-cloudy" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        parse_config(CONFIG.format(catalog="c.json", extra="    filter: {args: []}"), path)
    assert "CQL2 JSON expression" in str(raised.value)


def test_a_static_catalog_refuses_a_filter(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "cat", "scenes", [FakeItem("a", "2021-01-01T00:00:00Z", "https://example.org/a.tif")])
    with pytest.raises(SourceError, match="sets `filter` \\(CQL2\\)"):
        StaticCatalogSource("local", str(catalog)).items("scenes", None, project_box(), ItemSearch(filter='{"op":"="}'))


def project_box() -> Any:
    import shapely

    return shapely.box(8, 8, 56, 56)


# --- composite: which item shows --------------------------------------------------------

SIZE = 64
# One month, three overlapping scenes: the earliest is cloudy, the clear one covers the left half.
SCENES = [  # id, day, cloud cover, value, covers only the left half
    ("clear", 12, 1.0, 20.0, True),
    ("cloudy", 3, 94.0, 10.0, False),
    ("late", 25, 50.0, 30.0, False),
]
# What the left and right halves show in each mode (catalog lists clear, cloudy, late).
EXPECTED = {
    "least-cloudy": (20.0, 30.0, ["clear", "late", "cloudy"]),
    "newest": (30.0, 30.0, ["late", "clear", "cloudy"]),
    "oldest": (10.0, 10.0, ["cloudy", "clear", "late"]),
    "stac-order": (20.0, 10.0, ["clear", "cloudy", "late"]),
}


@pytest.fixture(scope="module")
def scenes_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    items = []
    for item_id, day, cover, value, left_only in SCENES:
        data = np.full((SIZE, SIZE), value, dtype="float32")
        if left_only:
            data[:, SIZE // 2 :] = NODATA
        cog = write_cog(folder / "cogs" / f"{item_id}.tif", data)
        items.append(FakeItem(item_id, f"2021-03-{day:02d}T10:00:00Z", cog, {"eo:cloud_cover": cover}))
    renders = {"dashboard": {"rescale": [[0, 40]], "colormap_name": "viridis"}}
    return write_catalog(folder / "catalog", "scenes", items, renders=renders)


def site_for(tmp_path: Path, catalog: Path, extra: str = "") -> SitePlan:
    config = tmp_path / "site_config.yml"
    config.write_text(CONFIG.format(catalog=catalog, extra=extra))
    return load_site(config)


def plan_of(site: SitePlan) -> AnimationPlan:
    (spec,) = site.animations
    regions = load_regions(site.regions)
    opener = source_opener(site.sources)
    return plan_animation(spec, regions[spec.region.id], opener(spec.collection.source), site.sources[spec.collection.source])


def halves(frame: FramePlan, renderer: Any = None) -> tuple[float, float]:
    """The values in the middle of the left and right halves of the rendered frame."""
    import shapely

    region = shapely.box(8, 8, 56, 56)
    crs = output_crs("EPSG:4326", region)
    projected = project(region, crs)
    grid = make_grid(projected, crs, SIZE)
    data = render_frame(frame, grid, Style(rescale=(0, 40)), renderer or LocalRenderer(), projected)
    row = grid.height // 2
    left, right = data.values[row, grid.width // 4], data.values[row, 3 * grid.width // 4]
    assert data.valid[row, grid.width // 4] and data.valid[row, 3 * grid.width // 4]
    return float(left), float(right)


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_the_first_ranked_item_shows_and_the_next_fill_its_gaps(mode: str, scenes_catalog: Path, tmp_path: Path) -> None:
    plan = plan_of(site_for(tmp_path, scenes_catalog, f"    composite: {mode}"))
    (frame,) = plan.frames
    left, right, order = EXPECTED[mode]
    assert [item.item_id for item in frame.items] == order
    assert halves(frame) == (left, right)


def test_default_is_least_cloudy_with_cloud_cover_else_newest(scenes_catalog: Path, tmp_path: Path) -> None:
    (frame,) = plan_of(site_for(tmp_path, scenes_catalog)).frames
    assert [item.item_id for item in frame.items] == EXPECTED["least-cloudy"][2]
    assert halves(frame) == EXPECTED["least-cloudy"][:2]
    # One item of the step without eo:cloud_cover: the step is ranked newest first.
    items = [
        SourceItem(item_id, datetime(2021, 3, day, tzinfo=UTC), datetime(2021, 3, day, tzinfo=UTC),
                   datetime(2021, 3, day, tzinfo=UTC), {}, properties={"eo:cloud_cover": cover} if item_id != "late" else {})
        for item_id, day, cover, _, _ in SCENES
    ]
    assets = [ItemAsset(item.id, item.datetime, f"{item.id}.tif", cloud_cover=cloud_cover(item)) for item in items]
    assert [a.item_id for a in rank_items(assets, None, listings(items))] == ["late", "clear", "cloudy"]
    # Asked for least-cloudy anyway: items without a cloud cover come last.
    assert [a.item_id for a in rank_items(assets, "least-cloudy", listings(items))] == ["clear", "cloudy", "late"]


def test_a_query_drops_items_before_they_are_ranked(scenes_catalog: Path, tmp_path: Path) -> None:
    (frame,) = plan_of(site_for(tmp_path, scenes_catalog, "    query: {eo:cloud_cover: {lt: 60}}\n    composite: oldest")).frames
    assert [item.item_id for item in frame.items] == ["clear", "late"]
    assert halves(frame) == (20.0, 30.0)
    with pytest.raises(SourceError, match="matching its `query`/`filter`"):
        plan_of(site_for(tmp_path, scenes_catalog, "    query: {eo:cloud_cover: {lt: 0.5}}"))


def test_titiler_shows_the_same_item(scenes_catalog: Path, tmp_path: Path, loopback_titiler: Any) -> None:
    from generator.render.titiler import TitilerRenderer
    from generator.sources.http import HttpSettings, make_session

    titiler = TitilerRenderer(loopback_titiler.url, make_session(HttpSettings(retries=0)))
    for mode in ("least-cloudy", "stac-order"):
        (frame,) = plan_of(site_for(tmp_path, scenes_catalog, f"    composite: {mode}")).frames
        assert halves(frame, titiler) == EXPECTED[mode][:2]


def test_composite_and_query_change_the_cache_keys(scenes_catalog: Path, tmp_path: Path) -> None:
    import shapely

    site = site_for(tmp_path, scenes_catalog)
    region = load_regions(site.regions)["square"]
    crs = output_crs("EPSG:4326", region.geometry)
    grid = make_grid(project(region.geometry, crs), crs, SIZE)
    style = Style(rescale=(0, 40))
    keys, fingerprints = {}, {}
    for extra in ("    composite: newest", "    composite: oldest", "    composite: least-cloudy",
                  "    query: {eo:cloud_cover: {lt: 60}}"):
        plan = plan_of(site_for(tmp_path, scenes_catalog, extra))
        (frame,) = plan.frames
        keys[extra] = layer_key(frame, grid, style, shapely.to_wkb(region.geometry).hex(), 200, "local")
        fingerprints[extra] = animation_fingerprint({}, region, style, plan.collection, plan.frames, "local")
    assert len(set(keys.values())) == len(keys) and len(set(fingerprints.values())) == len(fingerprints)
    # The default here is least-cloudy: the same items in the same order, the same key.
    (frame,) = plan_of(site).frames
    assert layer_key(frame, grid, style, shapely.to_wkb(region.geometry).hex(), 200, "local") == keys[
        "    composite: least-cloudy"
    ]


def test_page_and_provenance_list_items_in_rank_order(scenes_catalog: Path, tmp_path: Path) -> None:
    config = tmp_path / "site_config.yml"
    config.write_text(CONFIG.format(catalog=scenes_catalog, extra="    composite: least-cloudy"))
    (record,) = build(config, tmp_path / "output").records
    assert record.status == "ok", record.error
    order = EXPECTED["least-cloudy"][2]
    folder = tmp_path / "output" / Path(record.files.page).parent
    provenance = json.loads((folder / "provenance.json").read_text())
    (frame,) = [entry for entry in provenance["frames"] if entry["kind"] == "data"]
    assert [item["id"] for item in frame["items"]] == order
    covers = {item_id: cover for item_id, _, cover, _, _ in SCENES}
    assert [item["eo:cloud_cover"] for item in frame["items"]] == [covers[item_id] for item_id in order]
    page = (tmp_path / "output" / record.files.page).read_text()
    listed = re.findall(r"<li>(?:<a [^>]*>)?<code>([^<]+)</code>", page.split('class="item-ids"', 1)[1])
    assert listed[: len(order)] == order


def test_the_search_cache_keeps_queries_apart(scenes_catalog: Path, tmp_path: Path) -> None:
    from generator.plan.schedule import SearchCache

    calls: list[object] = []

    class Counting(StaticCatalogSource):
        def items(self, collection_id: str, interval: Any, region: Any, search: ItemSearch | None = None) -> list[SourceItem]:
            calls.append(search)
            return super().items(collection_id, interval, region, search)

    source = Counting("local", str(scenes_catalog))
    region = load_regions(site_for(tmp_path, scenes_catalog).regions)["square"]
    clear = ItemSearch(query=parse_query({"eo:cloud_cover": {"lt": 10}}, "scenes"))
    for _ in range(2):  # a second build within the TTL reads the cache
        cache = SearchCache(tmp_path / "cache", 3600)
        assert [item.id for item in cache.items(source, "s", "scenes", None, region)] == ["clear", "cloudy", "late"]
        assert [item.id for item in cache.items(source, "s", "scenes", None, region, clear)] == ["clear"]
        assert cache.items(source, "s", "scenes", None, region, clear)[0].properties["eo:cloud_cover"] == 1.0
    assert calls == [None, clear]
