"""STAC API sources against real servers on loopback.

The main fixture runs the stack NASA VEDA runs (PostgreSQL + PostGIS + pgstac behind
stac-fastapi-pgstac) with 324 VEDA-shaped items, so pagination goes through the server's own
``next`` links. A scripted server covers what a healthy pgstac never does: looping ``next`` links,
naive timestamps, rejected ``intersects``, APIs without item search, outages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from shapely.geometry import box

from generator.cli.main import main
from generator.config import parse_config
from generator.core.dates import parse_interval
from generator.core.errors import SourceError
from generator.core.model import FramePlan
from generator.engine.build import build
from generator.plan.frames import keep_last, plan_frames
from generator.plan.site import site_plan
from generator.sources.catalog import StaticCatalogSource
from generator.sources.http import HttpSettings, make_session
from generator.sources.registry import open_source
from generator.sources.stac_api import StacApiSource
from tests.conftest import column_values, write_cog
from tests.servers.common import unavailable
from tests.servers.faults import FaultServer, Reply, Request, sequence
from tests.servers.pgstac import PgStacServer, PgStacUnavailable
from tests.servers.stac_data import (
    COLLECTION_ID,
    REGION_BBOX,
    month_start,
    veda_like_collection,
    veda_like_items,
    write_static_catalog,
)

LOCAL_COLLECTION = "tiny-local"
LOCAL_MONTHS = 5
REGION = box(*REGION_BBOX)


def _local_items(cog_dir: Path) -> list[dict[str, Any]]:
    """A small collection whose assets are real COGs on disk, for an end-to-end build."""
    items = []
    for month in range(LOCAL_MONTHS):
        cog = write_cog(cog_dir / f"tiny-{month}.tif", column_values(64) + month)
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"tiny-{month}", "collection": LOCAL_COLLECTION,
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [64, 0], [64, 64], [0, 64], [0, 0]]]},
            "bbox": [0, 0, 64, 64], "links": [],
            "properties": {"datetime": f"2021-0{month + 1}-01T00:00:00Z"},
            "assets": {"cog_default": {"href": cog.as_uri(), "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]}},
        })
    return items


@pytest.fixture(scope="session")
def pgstac(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgStacServer]:
    cog_dir = tmp_path_factory.mktemp("api-cogs")
    local = {**veda_like_collection(LOCAL_COLLECTION), "renders": {"dashboard": {"rescale": [[0, 64]], "colormap_name": "viridis"}}}
    local.pop("dashboard:time_density")
    try:
        server = PgStacServer.start([veda_like_collection(), local], veda_like_items() + _local_items(cog_dir))
    except PgStacUnavailable as error:
        unavailable(str(error))
    yield server
    server.stop()


def _recording_session(settings: HttpSettings | None = None) -> tuple[requests.Session, list[str]]:
    """A project session that notes "METHOD path" of every response it gets."""
    session = make_session(settings)
    seen: list[str] = []
    session.hooks["response"].append(lambda response, *a, **k: seen.append(f"{response.request.method} {requests.utils.urlparse(response.url).path}"))
    return session, seen


def _summary(frames: list[FramePlan]) -> list[tuple[str, list[str], list[str]]]:
    return [(f.datetime.isoformat(), [i.item_id for i in f.items], [i.href for i in f.items]) for f in frames]


# --- pgstac ------------------------------------------------------------------------------


def test_pagination_follows_the_servers_next_links(pgstac: PgStacServer) -> None:
    session, seen = _recording_session()
    source = StacApiSource("veda", pgstac.url, page_size=100, session=session)
    items = source.items(COLLECTION_ID, None, REGION)
    searches = [entry for entry in seen if entry.endswith("/search")]
    assert len(searches) >= 3  # 300 matching items at 100 a page
    assert len(items) == 300 and len({item.id for item in items}) == 300
    assert not any(item.id.endswith("-far") for item in items)
    assert source.notes == []
    frames = plan_frames(items, None, ["cog_default"])
    assert len(frames) == 240
    expected_times = [month_start(index) for index in range(240)]
    assert [frame.datetime for frame in frames] == expected_times  # oldest first, whatever the server's order
    assert [len(frame.items) for frame in frames[:5]] == [2, 1, 1, 1, 2]  # + the east tile every 4th month
    assert all(item.href.startswith("s3://test-bucket/") and item.href.endswith(".tif") for f in frames for item in f.items)


def test_asset_choice_never_takes_the_rendered_preview(pgstac: PgStacServer) -> None:
    source = StacApiSource("veda", pgstac.url)
    items = source.items(COLLECTION_ID, parse_interval("2001-02"), REGION)
    frames = plan_frames(items, None)  # no renders hint: roles decide
    (frame,) = frames
    assert [item.href for item in frame.items] == ["s3://test-bucket/no2-monthly-test/no2-200102.tif"]


def test_static_catalog_and_api_give_the_same_plan(pgstac: PgStacServer, tmp_path: Path) -> None:
    catalog = write_static_catalog(tmp_path / "static", veda_like_collection(), veda_like_items())
    static = StaticCatalogSource("static", str(catalog))
    api = StacApiSource("api", pgstac.url, page_size=70)
    for interval in (None, parse_interval("2003-06-15/2005-02"), parse_interval("2010")):
        from_static = plan_frames(static.items(COLLECTION_ID, interval, REGION), None, ["cog_default"])
        from_api = plan_frames(api.items(COLLECTION_ID, interval, REGION), None, ["cog_default"])
        assert from_static and _summary(from_api) == _summary(from_static)


def test_interval_and_rolling_window(pgstac: PgStacServer) -> None:
    source = StacApiSource("veda", pgstac.url)
    frames = plan_frames(source.items(COLLECTION_ID, parse_interval("2005-01/2006-12"), REGION), None)
    assert [f.datetime for f in frames] == [month_start(index) for index in range(60, 84)]
    # "the last 24 months" as seen on 2020-01-15: the data ends 2019-12, the window starts 2018-01-15
    window = parse_interval("P24M/..", now=datetime(2020, 1, 15, tzinfo=UTC))
    frames = plan_frames(source.items(COLLECTION_ID, window, REGION), None)
    assert [f.datetime for f in frames] == [month_start(index) for index in range(216, 240)]
    newest = keep_last(frames, 6)
    assert [f.datetime for f in newest] == [month_start(index) for index in range(234, 240)]


def test_collection_document(pgstac: PgStacServer) -> None:
    info = StacApiSource("veda", pgstac.url).collection(COLLECTION_ID)
    assert info.title == "NO₂ (monthly), test copy"
    assert info.description.startswith("Monthly tropospheric NO₂")
    assert info.license == "CC0-1.0"
    assert info.providers[0]["name"] == "Test Agency"
    assert info.renders["dashboard"]["colormap_name"] == "rdbu_r"
    assert info.time_density == "month"


def test_unknown_collection_names_the_ones_there(pgstac: PgStacServer) -> None:
    with pytest.raises(SourceError) as raised:
        StacApiSource("veda", pgstac.url).collection("no2-daily")
    message = str(raised.value)
    assert "no collection 'no2-daily'" in message and COLLECTION_ID in message and LOCAL_COLLECTION in message


def test_build_from_a_stac_api(pgstac: PgStacServer, tmp_path: Path) -> None:
    config = tmp_path / "site_config.yml"
    text = f"""\
site: {{title: API}}
sources: {{api: {{api: "{pgstac.url}", page_size: 2}}}}
collections:
  - {{id: {LOCAL_COLLECTION}, source: api, datetime: "2021-02/.."}}
regions:
  - {{id: square, bbox: [8, 8, 56, 56]}}
  - {{id: inner, bbox: [10, 10, 50, 50]}}
  - {{id: corner, bbox: [8, 8, 40, 40]}}
render: {{size: 64, cadence: none}}
"""
    config.write_text(text)
    refused = build(config, tmp_path / "output").records  # this API's items point at file:// COGs
    assert [record.status for record in refused] == ["failed"] * 3
    for record in refused:
        assert record.error is not None and "source 'api': item 'tiny-1' was read over the network" in record.error
        assert "allow_local_assets: true" in record.error
    # Three searches, two items a page: they page through the server side by side (searched ahead).
    config.write_text(text.replace("page_size: 2", "page_size: 2, allow_local_assets: true"))
    result = build(config, tmp_path / "output")
    for record in result.records:
        assert record.status == "ok", record.error
        assert [f.items[0].item_id for f in record.frames] == [f"tiny-{m}" for m in range(1, LOCAL_MONTHS)]
    manifest = json.loads((tmp_path / "output" / "manifest.json").read_text())
    assert [entry["status"] for entry in manifest["animations"]] == ["ok"] * 3


def test_validate_checks_the_asset_on_the_apis_first_item(
    pgstac: PgStacServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "site_config.yml"
    config.write_text(f"""\
site: {{title: API}}
sources: {{api: {{api: "{pgstac.url}"}}}}
collections:
  - {{id: no2, stac_collection: {COLLECTION_ID}, source: api, datetime: "2001"}}
  - {{id: no2-lwir, stac_collection: {COLLECTION_ID}, source: api, datetime: "2001", asset: lwir11}}
regions:
  - {{id: r, bbox: {list(REGION_BBOX)}}}
""")
    assert main(["validate", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert "collection no2: asset cog_default (checked against its first item" in captured.out  # the render's asset
    (line,) = [line for line in captured.err.splitlines() if "lwir11" in line]
    assert f"{config}: collections[1].asset: collection '{COLLECTION_ID}' has no asset 'lwir11' in its first item" in line
    assert "(its data assets: cog_default)" in line  # never the rendered_preview


# --- a scripted STAC API for what pgstac never does --------------------------------------


ITEM_SEARCH = "https://api.stacspec.org/v1.0.0/item-search"
CORE = "https://api.stacspec.org/v1.0.0/core"
FEATURES = "https://api.stacspec.org/v1.0.0/ogcapi-features"


def _landing(url: str, conforms: list[str], search: bool = True) -> dict[str, Any]:
    links = [
        {"rel": "self", "href": f"{url}/"}, {"rel": "root", "href": f"{url}/"},
        {"rel": "data", "href": f"{url}/collections"},
    ]
    if search:
        links.append({"rel": "search", "href": f"{url}/search", "method": "POST", "type": "application/geo+json"})
    return {"type": "Catalog", "stac_version": "1.0.0", "id": "scripted", "description": "scripted API",
            "conformsTo": conforms, "links": links}


def _feature(item_id: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "c",
        "geometry": {"type": "Polygon", "coordinates": [[[0, 40], [10, 40], [10, 50], [0, 50], [0, 40]]]},
        "bbox": [0, 40, 10, 50], "properties": properties, "links": [],
        "assets": {"cog_default": {"href": f"https://data.example.org/{item_id}.tif", "roles": ["data"]}},
    }


def _page(features: list[dict[str, Any]], next_link: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, "links": [next_link] if next_link else []}


@pytest.fixture(scope="module")
def scripted() -> Iterator[FaultServer]:
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.fixture
def api(scripted: FaultServer) -> FaultServer:
    scripted.reset()
    scripted.route("/", sequence(Reply.json(_landing(scripted.url, [CORE, ITEM_SEARCH, FEATURES]))))
    scripted.route("/collections/c", sequence(Reply.json({**veda_like_collection("c"), "links": []})))
    return scripted


FAST = HttpSettings(read_timeout=1.0, retries=2, backoff=0.05, jitter=0.0)


def test_next_link_pointing_to_itself_is_stopped(api: FaultServer) -> None:
    loop = {"rel": "next", "href": f"{api.url}/search", "method": "POST", "body": {"token": "same"}}
    api.route("/search", sequence(Reply.json(_page([_feature("a", datetime="2021-01-01T00:00:00Z")], loop))))
    source = StacApiSource("loop", api.url, settings=FAST)
    items = source.items("c", None, REGION)
    assert [item.id for item in items] == ["a"]
    assert len(api.hits("/search")) == 2  # the first page, and the one repeat that shows the loop
    assert len(source.notes) == 1 and "stopped, keeping the 1 items found" in source.notes[0]


def test_page_cap_warns_and_keeps_what_was_found(api: FaultServer) -> None:
    def endless(request: Request) -> Reply:
        number = int((request.json() or {}).get("token") or 0)
        nxt = {"rel": "next", "href": f"{api.url}/search", "method": "POST", "body": {"token": str(number + 1)}, "merge": True}
        return Reply.json(_page([_feature(f"p{number}", datetime=f"2021-01-{number + 1:02d}T00:00:00Z")], nxt))

    api.route("/search", endless)
    source = StacApiSource("endless", api.url, settings=FAST, max_pages=3)
    assert sorted(item.id for item in source.items("c", None, REGION)) == ["p0", "p1", "p2"]
    assert len(api.hits("/search")) == 3
    assert "stopped after 3 pages" in source.notes[0] and "max_pages" in source.notes[0]


def test_naive_and_aware_datetimes_newest_first_sort_together(api: FaultServer) -> None:
    features = [  # newest first, as VEDA's endpoint answered
        _feature("2024-02", start_datetime="2024-02-01T00:00:00", end_datetime="2024-02-29T23:59:59"),
        _feature("2024-01", datetime="2024-01-01T00:00:00Z"),
        _feature("2023-12", datetime=None, start_datetime="2023-12-01T00:00:00", end_datetime="2023-12-31T23:59:59"),
        _feature("2023-11", datetime="2023-11-01T01:00:00+01:00"),
    ]
    api.route("/search", sequence(Reply.json(_page(features))))
    frames = plan_frames(StacApiSource("naive", api.url, settings=FAST).items("c", None, REGION), None)
    assert [f.items[0].item_id for f in frames] == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert frames[0].datetime == datetime(2023, 11, 1, tzinfo=UTC)
    assert frames[1].datetime == datetime(2023, 12, 1, tzinfo=UTC)


def test_search_survives_503_twice_and_sends_the_search_parameters(api: FaultServer) -> None:
    api.route("/search", sequence(Reply(503), Reply(503), Reply.json(_page([_feature("a", datetime="2021-03-01T00:00:00Z")]))))
    source = StacApiSource("flaky", api.url, settings=FAST, page_size=50)
    assert [item.id for item in source.items("c", parse_interval("2021-01/2021-06"), REGION)] == ["a"]
    hits = api.hits("/search")
    assert len(hits) == 3
    body = hits[-1].json()
    assert body["collections"] == ["c"] and body["limit"] == 50
    assert body["intersects"]["type"] == "Polygon"
    assert body["datetime"] == "2021-01-01T00:00:00Z/2021-06-30T23:59:59.999999Z"
    assert hits[-1].headers["User-Agent"].startswith("eo-timelapse-generator/")


def test_rejected_intersects_falls_back_to_bbox(api: FaultServer) -> None:
    def picky(request: Request) -> Reply:
        body = request.json()
        if "intersects" in body:
            return Reply.json({"detail": "intersects not supported"}, status=400)
        far = {**_feature("far", datetime="2021-01-01T00:00:00Z"), "bbox": [20, 40, 30, 50],
               "geometry": {"type": "Polygon", "coordinates": [[[20, 40], [30, 40], [30, 50], [20, 50], [20, 40]]]}}
        return Reply.json(_page([_feature("near", datetime="2021-01-01T00:00:00Z"), far]))

    api.route("/search", picky)
    region = box(0, 40, 10, 50).union(box(0, 40, 1, 60))  # an L shape: its bbox is not the region
    items = StacApiSource("picky", api.url, settings=FAST).items("c", None, region)
    assert [item.id for item in items] == ["near"]  # filtered by the exact region afterwards
    assert [("intersects" in hit.json(), "bbox" in hit.json()) for hit in api.hits("/search")] == [(True, False), (False, True)]


def test_api_without_item_search_uses_the_collection_items(api: FaultServer) -> None:
    api.route("/", sequence(Reply.json(_landing(api.url, [CORE, FEATURES], search=False))))
    nxt = {"rel": "next", "href": f"{api.url}/collections/c/items?page=2"}
    pages = sequence(
        Reply.json(_page([_feature("b", datetime="2021-02-01T00:00:00Z")], nxt)),
        Reply.json(_page([_feature("a", datetime="2021-01-01T00:00:00Z")])),
    )
    api.route("/collections/c/items", pages)
    items = StacApiSource("features", api.url, settings=FAST).items("c", parse_interval("2021"), REGION)
    assert sorted(item.id for item in items) == ["a", "b"]
    first = api.hits("/collections/c/items")[0]
    assert "bbox=0.0%2C40.0%2C10.0%2C50.0" in first.query and "datetime=2021-01-01T00" in first.query


def test_a_hung_search_is_a_source_error_quickly(api: FaultServer) -> None:
    api.route("/search", sequence(Reply(hang=True)))
    settings = HttpSettings(read_timeout=0.3, retries=1, backoff=0.05, jitter=0.0)
    with pytest.raises(SourceError, match="item search at .* failed"):
        StacApiSource("hung", api.url, settings=settings).items("c", None, REGION)


def test_a_failed_search_fails_only_its_animation(api: FaultServer, tmp_path: Path) -> None:
    api.route("/search", sequence(Reply(503, b"down for maintenance")))
    config = tmp_path / "site_config.yml"
    config.write_text(f"""\
site: {{title: Outage}}
sources: {{api: {{api: "{api.url}", http: {{retries: 1, read_timeout: 2}}}}}}
collections:
  - {{id: c, source: api, style: {{rescale: [0, 1]}}}}
regions:
  - {{id: square, bbox: [0, 40, 10, 50]}}
render: {{size: 64}}
""")
    result = build(config, tmp_path / "output")
    (record,) = result.records
    assert record.status == "failed"
    assert record.error is not None and "HTTP 503" in record.error
    manifest = json.loads((tmp_path / "output" / "manifest.json").read_text())
    assert manifest["animations"][0]["status"] == "failed"
    # Nothing half-written: the site may explain the failure on a page, but no media exists.
    folder = tmp_path / "output" / "animations" / record.slug
    media = [p for p in folder.rglob("*") if p.suffix in {".gif", ".png", ".webp", ".mp4", ".tif"}]
    assert media == []
    assert not list((tmp_path / "output").parent.glob(".output.staging-*"))


def test_open_source_builds_an_api_source_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KEY", "k")
    config = parse_config(
        """
site: {title: t}
sources: {v: {api: "https://stac.example.org/api", headers: {X-Key: "${TEST_KEY}"}, page_size: 25, max_pages: 7}}
collections: [{id: c, source: v, datetime: P24M/.., last: 12}]
regions: [{id: r, bbox: [0, 0, 1, 1]}]
""",
        tmp_path / "site_config.yml",
    )
    source = open_source(site_plan(config).sources["v"])
    assert isinstance(source, StacApiSource)
    assert (source.url, source.page_size, source.max_pages) == ("https://stac.example.org/api", 25, 7)
    assert source.settings.headers == {"X-Key": "k"}
    assert config.model.collections[0].last == 12


def test_two_animations_of_one_collection_and_region_search_once_per_build(api: FaultServer, tmp_path: Path) -> None:
    def empty(request: Request) -> Reply:
        return Reply.json(_page([]))

    api.route("/search", empty)
    config = tmp_path / "site_config.yml"
    config.write_text(f"""\
site: {{title: Twice}}
sources: {{api: {{api: "{api.url}"}}}}
collections:
  - {{id: c, source: api, style: {{rescale: [0, 1]}}}}
regions:
  - {{id: square, bbox: [0, 40, 10, 50]}}
animations:
  - {{id: big, collection: c, region: square}}
  - {{id: small, collection: c, region: square, render: {{size: 32}}}}
render: {{size: 64}}
""")  # no search cache between builds (search_ttl 0): the two animations still share one search
    result = build(config, tmp_path / "output")
    assert sorted(record.id for record in result.records) == ["big", "small"]
    assert len(api.hits("/search")) == 1
    build(config, tmp_path / "output")
    assert len(api.hits("/search")) == 2  # the next build searches again
