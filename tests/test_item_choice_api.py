"""``collections[].query`` and ``filter`` against STAC APIs on loopback.

pgstac behind stac-fastapi-pgstac declares the query and filter extensions: the query goes with
the search and the server answers only matching items. The same config read from a static
catalog of the same items (the query evaluated here) must give the same frames, items in the
same ranked order. A scripted API that declares neither extension gets no query (it is applied
here) and refuses a filter with a message naming the source.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from generator.core.errors import SourceError
from generator.core.query import ItemSearch, parse_query
from generator.plan.schedule import plan_animation
from generator.plan.site import SitePlan, load_site
from generator.sources.catalog import StaticCatalogSource
from generator.sources.http import HttpSettings, make_session
from generator.sources.regions import load_regions
from generator.sources.registry import Source
from generator.sources.stac_api import StacApiSource
from tests.conftest import write_cog
from tests.servers.common import unavailable
from tests.servers.faults import FaultServer, Reply, Request, sequence
from tests.servers.pgstac import PgStacServer, PgStacUnavailable
from tests.servers.stac_data import veda_like_collection, write_static_catalog

COLLECTION = "scenes-api"
QUERY = {"eo:cloud_cover": {"lt": 40}, "platform": {"in": ["sentinel-2a", "sentinel-2b"]}}
CQL2 = {"op": "and", "args": [
    {"op": "<", "args": [{"property": "eo:cloud_cover"}, 40]},
    {"op": "in", "args": [{"property": "platform"}, ["sentinel-2a", "sentinel-2b"]]},
]}


def scene_items(cog: Path) -> list[dict[str, Any]]:
    """Four months of scenes, three a month, with cloud covers and platforms that the query splits."""
    items = []
    covers = [85.0, 5.0, 30.0, 12.0, 60.0, 39.9, 40.0, 1.0, 22.0, 95.0, 15.0, 35.0]
    platforms = ["sentinel-2a", "sentinel-2b", "sentinel-2a", "landsat-9"]
    for number, cover in enumerate(covers):
        month, slot = divmod(number, 3)
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"s{number:02d}", "collection": COLLECTION,
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [64, 0], [64, 64], [0, 64], [0, 0]]]},
            "bbox": [0, 0, 64, 64], "links": [],
            "properties": {
                "datetime": f"2022-0{month + 1}-{3 + 9 * slot:02d}T10:30:00Z", "eo:cloud_cover": cover,
                "platform": platforms[number % 4],
            },
            "assets": {"data": {"href": cog.as_uri(), "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                                "roles": ["data"]}},
        })
    return items


def expected_ids(items: list[dict[str, Any]]) -> set[str]:
    query = parse_query(QUERY, COLLECTION)
    return {item["id"] for item in items if query.matches(item["properties"])}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    folder = tmp_path_factory.mktemp("scene-cogs")
    cog = write_cog(folder / "scene.tif", np.full((64, 64), 7.0, dtype="float32"))
    items = scene_items(cog)
    collection = {**veda_like_collection(COLLECTION), "renders": {"dashboard": {"rescale": [[0, 10]], "colormap_name": "viridis"}}}
    catalog = write_static_catalog(folder / "static", collection, items)
    return items, catalog


@pytest.fixture(scope="module")
def pgstac(scenes: tuple[list[dict[str, Any]], Path]) -> Iterator[PgStacServer]:
    items, _ = scenes
    collection = {**veda_like_collection(COLLECTION), "renders": {"dashboard": {"rescale": [[0, 10]], "colormap_name": "viridis"}}}
    try:
        server = PgStacServer.start([collection], items)
    except PgStacUnavailable as error:
        unavailable(str(error))
    yield server
    server.stop()


def recording_session() -> tuple[requests.Session, list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """A session noting each POST /search body with the features the server answered."""
    session = make_session()
    searches: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []

    def note(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "POST" and response.url.split("?")[0].endswith("/search"):
            searches.append((json.loads(response.request.body or b"{}"), response.json().get("features", [])))

    session.hooks["response"].append(note)
    return session, searches


def config_site(tmp_path: Path, source: str, choice: str) -> SitePlan:
    config = tmp_path / f"{abs(hash((source, choice)))}.yml"
    config.write_text(f"""\
site: {{title: Scenes}}
sources:
  scenes: {{{source}, allow_local_assets: true}}
collections:
  - id: {COLLECTION}
    source: scenes
{choice}
regions:
  - {{id: square, bbox: [8, 8, 56, 56]}}
render: {{size: 64, cadence: monthly}}
""")
    return load_site(config)


def frames_of(site: SitePlan, source: Source) -> list[tuple[str, list[str]]]:
    (spec,) = site.animations
    region = load_regions(site.regions)["square"]
    plan = plan_animation(spec, region, source, site.sources["scenes"])
    return [(frame.datetime.isoformat(), [item.item_id for item in frame.items]) for frame in plan.frames]


CHOICES = {
    "query": "    query: " + json.dumps(QUERY),
    "query, oldest first": "    query: " + json.dumps(QUERY) + "\n    composite: oldest",
}


@pytest.mark.parametrize("choice", list(CHOICES))
def test_the_api_and_a_static_catalog_give_the_same_frames(
    choice: str, pgstac: PgStacServer, scenes: tuple[list[dict[str, Any]], Path], tmp_path: Path
) -> None:
    items, catalog = scenes
    session, searches = recording_session()
    api_site = config_site(tmp_path, f'api: "{pgstac.url}"', CHOICES[choice])
    from_api = frames_of(api_site, StacApiSource("scenes", pgstac.url, session=session))
    static_site = config_site(tmp_path, f'catalog: "{catalog}"', CHOICES[choice])
    from_static = frames_of(static_site, StaticCatalogSource("scenes", str(catalog)))
    assert from_api == from_static
    assert {item_id for _, ids in from_api for item_id in ids} == expected_ids(items)
    # The query's portable conditions went to the server, which answered only items matching them;
    # `in` (not every server takes it) was checked here.
    assert searches and all(body["query"] == {"eo:cloud_cover": {"lt": 40}} for body, _ in searches)
    answered = [feature for _, features in searches for feature in features]
    assert answered and all(feature["properties"]["eo:cloud_cover"] < 40 for feature in answered)
    assert len(answered) < len(items) and any(feature["properties"]["platform"] == "landsat-9" for feature in answered)


def test_least_cloudy_ranks_each_month_from_the_api(pgstac: PgStacServer, scenes: tuple[list[dict[str, Any]], Path], tmp_path: Path) -> None:
    items, _ = scenes
    covers = {item["id"]: item["properties"]["eo:cloud_cover"] for item in items}
    site = config_site(tmp_path, f'api: "{pgstac.url}"', "    query: " + json.dumps(QUERY))
    frames = frames_of(site, StacApiSource("scenes", pgstac.url))
    assert len(frames) == 4 and all(frame_ids for _, frame_ids in frames)
    for _, frame_ids in frames:
        assert [covers[i] for i in frame_ids] == sorted(covers[i] for i in frame_ids)


def test_a_cql2_filter_gives_the_frames_of_the_same_query(
    pgstac: PgStacServer, scenes: tuple[list[dict[str, Any]], Path], tmp_path: Path
) -> None:
    session, searches = recording_session()
    with_filter = config_site(tmp_path, f'api: "{pgstac.url}"', "    filter: " + json.dumps(CQL2))
    by_filter = frames_of(with_filter, StacApiSource("scenes", pgstac.url, session=session))
    with_query = config_site(tmp_path, f'api: "{pgstac.url}"', "    query: " + json.dumps(QUERY))
    assert by_filter == frames_of(with_query, StacApiSource("scenes", pgstac.url))
    assert searches and all(body["filter"] == CQL2 and body["filter-lang"] == "cql2-json" for body, _ in searches)


# --- an API without the extensions -----------------------------------------------------------

CORE = "https://api.stacspec.org/v1.0.0/core"
ITEM_SEARCH = "https://api.stacspec.org/v1.0.0/item-search"


@pytest.fixture
def plain_api(scenes: tuple[list[dict[str, Any]], Path]) -> Iterator[FaultServer]:
    items, _ = scenes
    server = FaultServer().start()
    landing = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "plain", "description": "no query, no filter",
        "conformsTo": [CORE, ITEM_SEARCH],
        "links": [{"rel": "self", "href": f"{server.url}/"}, {"rel": "root", "href": f"{server.url}/"},
                  {"rel": "search", "href": f"{server.url}/search", "method": "POST",
                   "type": "application/geo+json"}],
    }
    server.route("/", sequence(Reply.json(landing)))

    def search(request: Request) -> Reply:
        return Reply.json({"type": "FeatureCollection", "features": items, "links": []})

    server.route("/search", search)
    yield server
    server.stop()


def test_an_api_without_the_query_extension_gets_no_query_and_the_items_are_checked_here(
    plain_api: FaultServer, scenes: tuple[list[dict[str, Any]], Path]
) -> None:
    items, _ = scenes
    import shapely

    source = StacApiSource("plain", plain_api.url, settings=HttpSettings(retries=0))
    found = source.items(COLLECTION, None, shapely.box(8, 8, 56, 56), ItemSearch(query=parse_query(QUERY, COLLECTION)))
    assert {item.id for item in found} == expected_ids(items)
    assert [item.id for item in found] == [item["id"] for item in items if item["id"] in expected_ids(items)]  # API order
    assert all("query" not in hit.json() for hit in plain_api.hits("/search"))
    with pytest.raises(SourceError) as raised:
        source.items(COLLECTION, None, shapely.box(8, 8, 56, 56), ItemSearch(filter=json.dumps(CQL2)))
    message = str(raised.value)
    assert "source 'plain'" in message and f"collection {COLLECTION!r}" in message and "filter extension" in message
