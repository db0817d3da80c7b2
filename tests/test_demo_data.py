"""The committed demo catalog (``demo/``) and demo regions (``regions/``).

They must be exactly what ``demo/make_demo.py`` produces, readable and schema-valid STAC without
any network access, and made of rasters the renderer can use (tiled float32 COGs with
overviews, nodata holes) and region outlines that are valid and close to the real ones.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import socket
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.ops import unary_union

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo"
REGIONS = REPO / "regions"
SCRIPT = DEMO / "make_demo.py"
TEST_GEO = REPO / "tests" / "data" / "geo"

COLLECTION_IDS = ("no2-monthly", "lst-anomaly-monthly")
MONTHS = [f"{year}-{month:02d}" for year in (2021, 2022) for month in range(1, 13)]
REGION_FILES = ("france.geojson", "france-borders.geojson", "british-isles.geojson")
GENERATED_REGION_FILES = ("british-isles.geojson",)  # the France files are IGN's (scripts/make_france_regions.py)
COMMITTED_COGS = sorted(DEMO.glob("*/*/*.tif"))

# What the renders must say, copied from the specification of the demo catalog.
EXPECTED_RENDERS = {
    "no2-monthly": {
        "dashboard": {
            "assets": ["cog_default"],
            "rescale": [[0, 1.5e16]],
            "colormap_name": "viridis",
            "resampling": "bilinear",
        }
    },
    "lst-anomaly-monthly": {
        "dashboard": {
            "assets": ["cog_default"],
            "rescale": [[-6, 6]],
            "colormap_name": "rdbu_r",
            "resampling": "bilinear",
            "nodata": -9999,
        }
    },
}
# Plausible value ranges of valid pixels (physical knowledge, not the generator's constants).
PLAUSIBLE_RANGE = {"no2-monthly": (5e13, 3e16), "lst-anomaly-monthly": (-8.0, 8.0)}


# ------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def make_demo() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("make_demo_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being built.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def regenerated(make_demo: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh run of the generator: ``<root>/demo`` and ``<root>/regions``."""
    root = tmp_path_factory.mktemp("regenerated")
    make_demo.generate(root / "demo", root / "regions")
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly on any connection that is not to the loopback interface."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access attempted: {address!r}")
        return real_connect(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"name lookup attempted: {host!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _relative_files(root: Path, pattern: str) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob(pattern)}


def _region(name: str) -> dict[str, Any]:
    document: dict[str, Any] = _load_json(REGIONS / name)
    return document


def _exterior_rings(geometry: Polygon | MultiPolygon) -> list[Any]:
    polygons = [geometry] if isinstance(geometry, Polygon) else list(geometry.geoms)
    return [polygon.exterior for polygon in polygons]


def _iou(a: Any, b: Any) -> float:
    return float(a.intersection(b).area / a.union(b).area)


def _test_geo(name: str) -> dict[str, Any]:
    document: dict[str, Any] = _load_json(TEST_GEO / name)
    return document


# ------------------------------------------------------------------------------------------
# The committed files are exactly what the script makes
# ------------------------------------------------------------------------------------------


def test_committed_demo_has_every_expected_file() -> None:
    expected_tifs = {
        f"{collection}/{collection}-{month}/{collection}-{month}.tif"
        for collection in COLLECTION_IDS
        for month in MONTHS
    }
    assert _relative_files(DEMO, "*.tif") == expected_tifs
    assert len(COMMITTED_COGS) == 48
    for name in REGION_FILES:
        assert (REGIONS / name).is_file()


def test_committed_json_documents_equal_a_fresh_run(regenerated: Path) -> None:
    committed = _relative_files(DEMO, "*.json")
    assert committed == _relative_files(regenerated / "demo", "*.json")
    assert len(committed) == 1 + 2 + 48
    for relative in sorted(committed):
        assert _load_json(DEMO / relative) == _load_json(regenerated / "demo" / relative), relative


def test_committed_regions_equal_a_fresh_run(regenerated: Path) -> None:
    assert _relative_files(REGIONS, "*.geojson") >= set(REGION_FILES)
    assert _relative_files(regenerated / "regions", "*.geojson") == set(GENERATED_REGION_FILES)
    for name in GENERATED_REGION_FILES:
        assert _load_json(REGIONS / name) == _load_json(regenerated / "regions" / name), name


def test_committed_rasters_equal_a_fresh_run(regenerated: Path) -> None:
    fresh_cogs = sorted((regenerated / "demo").glob("*/*/*.tif"))
    assert [p.relative_to(regenerated / "demo") for p in fresh_cogs] == [
        p.relative_to(DEMO) for p in COMMITTED_COGS
    ]
    for committed_path, fresh_path in zip(COMMITTED_COGS, fresh_cogs, strict=True):
        with rasterio.open(committed_path) as committed, rasterio.open(fresh_path) as fresh:
            assert committed.profile["transform"] == fresh.profile["transform"]
            assert committed.crs == fresh.crs
            old = committed.read(1, masked=True)
            new = fresh.read(1, masked=True)
        assert np.array_equal(np.ma.getmaskarray(old), np.ma.getmaskarray(new)), committed_path
        assert np.allclose(old.compressed(), new.compressed(), rtol=1e-6, atol=0.0), committed_path


# ------------------------------------------------------------------------------------------
# STAC metadata
# ------------------------------------------------------------------------------------------


def test_catalog_reads_with_pystac_and_validates_offline(no_network: None) -> None:
    catalog = pystac.Catalog.from_file(str(DEMO / "catalog.json"))
    collections = {collection.id: collection for collection in catalog.get_collections()}
    assert set(collections) == set(COLLECTION_IDS)
    for collection_id, collection in collections.items():
        items = sorted(collection.get_items(), key=lambda item: item.id)
        assert [item.id for item in items] == [f"{collection_id}-{month}" for month in MONTHS]
        for item in items:
            asset_path = Path(item.assets["cog_default"].get_absolute_href() or "")
            assert asset_path.is_file(), asset_path
    # pystac validates with the core JSON schemas it bundles; any download would hit the guard.
    validated_items = catalog.validate_all()
    assert validated_items == 48


def test_no_link_or_href_is_absolute() -> None:
    for path in DEMO.rglob("*.json"):
        document = _load_json(path)
        hrefs = [link["href"] for link in document["links"]]
        hrefs += [asset["href"] for asset in document.get("assets", {}).values()]
        for href in hrefs:
            assert href.startswith(("./", "../")), (path.name, href)
        assert all(link["rel"] != "self" for link in document["links"]), path.name
        for href in hrefs:
            assert (path.parent / href).resolve().is_file(), (path.name, href)


def test_catalog_document() -> None:
    catalog = _load_json(DEMO / "catalog.json")
    assert catalog["stac_version"] == "1.0.0"
    assert catalog["id"] == "demo"
    assert catalog["title"] == "Synthetic demo catalog"
    assert "synthetic" in catalog["description"].lower()
    assert "demo/make_demo.py" in catalog["description"]
    children = [link["href"] for link in catalog["links"] if link["rel"] == "child"]
    assert children == [f"./{collection}/collection.json" for collection in COLLECTION_IDS]


@pytest.mark.parametrize("collection_id", COLLECTION_IDS)
def test_collection_document(collection_id: str) -> None:
    collection = _load_json(DEMO / collection_id / "collection.json")
    assert collection["stac_version"] == "1.0.0"
    assert collection["stac_extensions"] == []  # renders stays undeclared: no schema to fetch
    assert collection["renders"] == EXPECTED_RENDERS[collection_id]
    assert collection["dashboard:time_density"] == "month"
    assert collection["license"] == "CC0-1.0"
    assert {"synthetic", "demo"} <= set(collection["keywords"])
    assert "synthetic" in collection["description"].lower()
    assert "synthetic" in collection["title"].lower()
    assert any("producer" in provider["roles"] for provider in collection["providers"])
    assert collection["extent"]["spatial"]["bbox"] == [[-12, 36, 20, 62]]
    assert collection["extent"]["temporal"]["interval"] == [
        ["2021-01-01T00:00:00Z", "2022-12-31T23:59:59Z"]
    ]


@pytest.mark.parametrize("collection_id", COLLECTION_IDS)
def test_item_documents(collection_id: str) -> None:
    # Neither 2021 nor 2022 is a leap year.
    days_in_month = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    for month in MONTHS:
        item_id = f"{collection_id}-{month}"
        item = _load_json(DEMO / collection_id / item_id / f"{item_id}.json")
        last_day = days_in_month[int(month[5:]) - 1]
        assert item["id"] == item_id
        assert item["collection"] == collection_id
        assert item["properties"]["datetime"] == f"{month}-01T00:00:00Z"
        assert item["properties"]["start_datetime"] == f"{month}-01T00:00:00Z"
        assert item["properties"]["end_datetime"] == f"{month}-{last_day}T23:59:59Z"
        assert item["bbox"] == [-12, 36, 20, 62]
        assert shape(item["geometry"]).equals(Polygon([(-12, 36), (20, 36), (20, 62), (-12, 62)]))
        asset = item["assets"]["cog_default"]
        assert asset["href"] == f"./{item_id}.tif"
        assert asset["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
        assert asset["roles"] == ["data"]
        rels = {link["rel"]: link["href"] for link in item["links"]}
        assert rels == {
            "root": "../../catalog.json",
            "parent": "../collection.json",
            "collection": "../collection.json",
        }


# ------------------------------------------------------------------------------------------
# Rasters
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", COMMITTED_COGS, ids=lambda path: path.stem)
def test_cog_structure_and_content(path: Path) -> None:
    with rasterio.open(path) as dataset:
        assert dataset.count == 1
        assert dataset.dtypes[0] == "float32"
        assert dataset.nodata == -9999
        assert dataset.crs.to_epsg() == 4326
        assert (dataset.width, dataset.height) == (320, 260)
        assert dataset.bounds == pytest.approx((-12, 36, 20, 62), abs=1e-9)
        assert dataset.profile["tiled"] is True
        assert dataset.block_shapes == [(128, 128)]
        assert len(dataset.overviews(1)) >= 2
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert dataset.compression is not None and dataset.compression.value == "DEFLATE"
        data = dataset.read(1, masked=True)
    nodata_fraction = float(np.ma.getmaskarray(data).mean())
    assert 0.005 < nodata_fraction < 0.15
    low, high = PLAUSIBLE_RANGE[path.parent.parent.name]
    assert low <= float(data.min()) and float(data.max()) <= high


def test_no2_shows_cities_and_a_winter_maximum() -> None:
    """Spot checks against geography and physics, not against the generator's numbers."""

    def no2(month: str) -> tuple[np.ma.MaskedArray, Any]:
        path = DEMO / "no2-monthly" / f"no2-monthly-{month}" / f"no2-monthly-{month}.tif"
        with rasterio.open(path) as dataset:
            return dataset.read(1, masked=True), dataset.transform

    def around(values: np.ma.MaskedArray, transform: Any, lon: float, lat: float) -> float:
        """Mean of the valid pixels within 0.3 degree: a cloud rarely hides all of them."""
        row, col = rasterio.transform.rowcol(transform, lon, lat)
        return float(values[row - 3 : row + 4, col - 3 : col + 4].mean())

    for month in ("2021-03", "2022-10"):
        values, transform = no2(month)
        open_atlantic = around(values, transform, -11.0, 45.0)
        for city, lon, lat in (("Paris", 2.35, 48.86), ("Madrid", -3.70, 40.42)):
            assert around(values, transform, lon, lat) > 4 * open_atlantic, (month, city)
    winter = no2("2021-01")[0].mean() + no2("2022-01")[0].mean()
    summer = no2("2021-07")[0].mean() + no2("2022-07")[0].mean()
    assert 1.4 < winter / summer < 2.6


def test_lst_anomaly_is_diverging_around_zero() -> None:
    values = []
    for month in MONTHS:
        name = f"lst-anomaly-monthly-{month}"
        with rasterio.open(DEMO / "lst-anomaly-monthly" / name / f"{name}.tif") as dataset:
            values.append(dataset.read(1, masked=True).compressed())
    everything = np.concatenate(values)
    assert everything.min() < -4 and everything.max() > 4
    assert abs(float(np.median(everything))) < 1.5


def test_demo_and_regions_stay_small() -> None:
    total = sum(path.stat().st_size for root in (DEMO, REGIONS) for path in root.rglob("*"))
    assert total <= 6 * 1024 * 1024


# ------------------------------------------------------------------------------------------
# Regions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REGION_FILES)
def test_region_coordinates_are_rounded_and_rings_counter_clockwise(name: str) -> None:
    document = _region(name)
    features = document["features"] if document["type"] == "FeatureCollection" else [document]
    for feature in features:
        geometry = shape(feature["geometry"])
        assert geometry.is_valid, feature["properties"]
        for ring in _exterior_rings(geometry):
            assert ring.is_ccw  # RFC 7946 exterior ring orientation
            for x, y in ring.coords:
                assert round(x, 4) == x and round(y, 4) == y


def test_france_is_metropolitan_france_with_corsica_close_to_the_real_outline() -> None:
    feature = _region("france.geojson")
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "MultiPolygon"
    france = shape(feature["geometry"])
    assert france.is_valid
    for city, lon, lat in (
        ("Paris", 2.35, 48.86), ("Brest", -4.49, 48.39), ("Nice", 7.26, 43.71), ("Ajaccio", 8.74, 41.93),
    ):
        assert france.contains(Point(lon, lat)), city
    for place, lon, lat in (("London", -0.12, 51.51), ("Geneva", 6.14, 46.20), ("Andorra", 1.52, 42.51)):
        assert not france.contains(Point(lon, lat)), place
    assert _iou(france, shape(_test_geo("france-metropole.geojson")["geometry"])) > 0.97


def test_france_borders_are_the_96_departements_tiling_france_with_identical_shared_edges() -> None:
    france = shape(_region("france.geojson")["geometry"])
    features = _region("france-borders.geojson")["features"]
    codes = [feature["properties"]["code"] for feature in features]
    assert len(features) == 96 and len(set(codes)) == 96 and {"2A", "2B", "75", "29"} <= set(codes)
    assert all(feature["properties"]["nom"] for feature in features)
    departements = [shape(feature["geometry"]) for feature in features]
    assert all(d.geom_type in ("Polygon", "MultiPolygon") and d.is_valid for d in departements)

    union = unary_union(departements)
    assert union.symmetric_difference(france).area < 1e-9
    assert sum(d.area for d in departements) == pytest.approx(france.area, rel=1e-9)

    # Every edge is either on the outline (used once) or shared with a neighbour that has exactly
    # the same edge (used twice): a vertex on only one side of a shared border would leave extra
    # "used once" segments inside the country, drawn as a double line.
    segments: Counter[frozenset[tuple[float, float]]] = Counter()
    for departement in departements:
        for polygon in getattr(departement, "geoms", [departement]):
            for ring in (polygon.exterior, *polygon.interiors):
                segments.update(frozenset(pair) for pair in itertools.pairwise(ring.coords))
    assert set(segments.values()) <= {1, 2}
    outline_length = sum(math.dist(*sorted(segment)) for segment, count in segments.items() if count == 1)
    assert outline_length == pytest.approx(france.boundary.length, rel=1e-9)
    assert sum(count == 2 for count in segments.values()) > 1000


def test_simplified_departements_stay_within_a_pixel_of_igns_lines() -> None:
    original = {f["properties"]["code"]: shape(f["geometry"]) for f in _test_geo("france-departements.geojson")["features"]}
    simplified = {f["properties"]["code"]: shape(f["geometry"]) for f in _region("france-borders.geojson")["features"]}
    assert simplified.keys() == original.keys()
    # 0.02° is about 2 km, one pixel of the demo's 512-px France frames.
    assert max(shapely.hausdorff_distance(original[code], simplified[code]) for code in original) < 0.02
    for code in original:
        assert _iou(original[code], simplified[code]) > 0.97, code


def test_british_isles_is_great_britain_and_ireland() -> None:
    feature = _region("british-isles.geojson")
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "MultiPolygon"
    isles = shape(feature["geometry"])
    assert isles.is_valid and len(isles.geoms) == 2
    for city, lon, lat in (
        ("London", -0.12, 51.51),
        ("Edinburgh", -3.19, 55.95),
        ("Cardiff", -3.18, 51.48),
        ("Dublin", -6.26, 53.35),
        ("Belfast", -5.93, 54.60),
        ("Galway", -9.05, 53.27),
    ):
        assert isles.buffer(0.05).contains(Point(lon, lat)), city
    assert not isles.contains(Point(2.35, 48.86))
    countries = _test_geo("ne_110m_admin_0_countries.geojson")["features"]
    reference = unary_union(
        [
            shape(country["geometry"])
            for country in countries
            if country["properties"].get("name") in ("United Kingdom", "Ireland")
        ]
    )
    assert _iou(isles, reference) > 0.8
