"""Shared fixtures: tiny synthetic COGs, static STAC catalogs and configs made by the tests."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.shutil import copy as copy_dataset
from rasterio.transform import from_origin

from generator.engine.build import BuildOptions, BuildResult, build

# Session-scoped loopback servers shared by several test modules (each starts once per session).
from .servers.titiler import loopback_s3, loopback_titiler  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
TEST_GEO = REPO / "tests" / "data" / "geo"
NODATA = -9999.0


def write_cog(
    path: Path,
    data: np.ndarray,
    *,
    west: float = 0.0,
    north: float = 64.0,
    res: float = 1.0,
    crs: str = "EPSG:4326",
    nodata: float | None = NODATA,
    overview: np.ndarray | None = None,
) -> Path:
    """Write ``data`` (2-D float32) as a COG. ``overview`` (half size) replaces the 2× overview
    with chosen values, so a test can tell which level a read came from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = data.shape
    profile = dict(
        driver="GTiff", width=width, height=height, count=1, dtype="float32", crs=crs,
        transform=from_origin(west, north, res, res), nodata=nodata,
    )
    plain = path.with_suffix(".plain.tif")
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(data.astype("float32"), 1)
    if overview is not None:
        # GDAL takes `<file>.ovr` as the file's overviews and the COG driver copies them in.
        ovr_profile = dict(profile, width=width // 2, height=height // 2, transform=from_origin(west, north, res * 2, res * 2))
        with rasterio.open(str(plain) + ".ovr", "w", **ovr_profile) as dst:
            dst.write(overview.astype("float32"), 1)
        copy_dataset(plain, path, driver="COG", blocksize=32)
    else:
        copy_dataset(plain, path, driver="COG", blocksize=32, overviews="AUTO")
    plain.unlink()
    Path(str(plain) + ".ovr").unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class FakeItem:
    id: str
    datetime: str | None
    cog: Path | str
    properties: dict[str, Any] | None = None


def write_catalog(
    root: Path,
    collection_id: str,
    items: Sequence[FakeItem],
    *,
    renders: dict[str, Any] | None = None,
    bbox: Sequence[float] = (0.0, 0.0, 64.0, 64.0),
    title: str | None = None,
    description: str = "A test collection.",
) -> Path:
    """A STAC 1.0 static catalog with one collection; returns the catalog.json path."""
    root.mkdir(parents=True, exist_ok=True)
    west, south, east, north = bbox
    footprint = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]]}
    collection_dir = root / collection_id
    links = []
    for item in items:
        item_dir = collection_dir / item.id
        item_dir.mkdir(parents=True, exist_ok=True)
        href = item.cog
        if isinstance(item.cog, Path):
            local = item_dir / item.cog.name
            if item.cog.exists() and item.cog.resolve() != local.resolve() and not local.exists():
                shutil.copy(item.cog, local)  # kept when already there: its mtime is part of cache keys
            href = f"./{item.cog.name}"
        properties = {"datetime": item.datetime, **(item.properties or {})}
        document = {
            "type": "Feature", "stac_version": "1.0.0", "id": item.id, "geometry": footprint,
            "bbox": list(bbox), "properties": properties,
            "assets": {"cog_default": {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]}},
            "links": [
                {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                {"rel": "parent", "href": "../collection.json", "type": "application/json"},
                {"rel": "collection", "href": "../collection.json", "type": "application/json"},
            ],
            "collection": collection_id,
        }
        (item_dir / f"{item.id}.json").write_text(json.dumps(document, indent=2))
        links.append({"rel": "item", "href": f"./{item.id}/{item.id}.json", "type": "application/json"})
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": collection_id, "title": title or collection_id,
        "description": description, "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [[None, None]]}},
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            *links,
        ],
    }
    if renders is not None:
        collection["renders"] = renders
    (collection_dir / "collection.json").write_text(json.dumps(collection, indent=2))
    catalog = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "test", "description": "test catalog",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {"rel": "child", "href": f"./{collection_id}/collection.json", "type": "application/json"},
        ],
    }
    (root / "catalog.json").write_text(json.dumps(catalog, indent=2))
    return root / "catalog.json"


def column_values(size: int = 64) -> np.ndarray:
    """value = column index: expected palette levels can be derived by hand."""
    return np.tile(np.arange(size, dtype="float32"), (size, 1))


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The default config's demo gallery, built once per test session."""
    folder = tmp_path_factory.mktemp("demo")
    return build(REPO / "site_config.yml", folder / "output", options=BuildOptions(jobs=2, cache_dir=folder / "cache"))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def test_geo() -> Path:
    """Real boundaries committed with the tests (sources and licenses in its README.md)."""
    return TEST_GEO
