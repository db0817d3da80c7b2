"""A Sentinel-2 overpass across two UTM zones, mosaicked into one frame.

Three tiles of one datatake in UTM 24S (the real Earth Search items in
``tests/data/stac/earth-search``: their CRS, ``proj:transform`` origin and extent, uint16, nodata
0, ``raster:bands`` scale/offset) and a tile in the neighbouring zone 25S (the same item's
metadata with the zone's CRS and the origin of the zone's westernmost Sentinel-2 column), each a
64-px COG of the whole tile served over loopback HTTP. The reflectance is an analytic field of
longitude and latitude, so overlapping tiles agree; one tile has a swath-edge corner of nodata,
and a strip between the tiles is covered by none. The frame is compared with an independent
mosaic: ``rasterio.warp.reproject`` of each file onto the frame's grid, in physical units, first
valid wins.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.shutil import copy as copy_dataset
from rasterio.warp import reproject

from generator.core.model import FramePlan, Grid, ItemAsset
from generator.core.specs import StyleSpec
from generator.plan.styles import resolve_style
from generator.render.frames import render_frame
from generator.render.grid import inside_mask, make_grid, output_crs, project
from generator.render.local import LocalRenderer
from generator.render.palette import build_palette, to_indices
from generator.sources.stac_common import raster_bands

from .servers.range_http import serve_directory

ITEMS = Path(__file__).parent / "data" / "stac" / "earth-search" / "items"
ZONE_24 = ("S2B_24MVV_20250731_0_L2A", "S2B_24MWV_20250731_0_L2A", "S2B_24MXV_20250731_0_L2A")
NEIGHBOUR = "S2B_25MAQ_20250731_0_L2A"  # derived from 24MXV: zone 25S, the zone's western column
NEIGHBOUR_WEST = 99960.0  # easting of a Sentinel-2 tile of a zone's westernmost 100-km column
SIZE = 64  # source pixels per tile side (a 109.8 km tile at ~1.7 km)
REGION = shapely.box(-39.6, -5.4, -35.8, -4.6)  # lon/lat: three 24S tiles, a gap, one 25S tile


def reflectance(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The analytic field: 0.03 … 0.27 over the region, smooth in both directions."""
    return 0.03 + 0.05 * (lon + 40.0) + 0.1 * (lat + 5.5)


def tile_metadata(name: str) -> dict[str, Any]:
    """CRS, transform (at SIZE px), dtype, nodata and raster:bands of one item's red asset."""
    item = json.loads((ITEMS / f"{name}.json").read_text())
    red = item["assets"]["red"]
    (band,) = red["raster:bands"]
    size = red["proj:shape"][0] * red["proj:transform"][0]
    return {
        "id": item["id"], "epsg": item["properties"]["proj:epsg"], "west": red["proj:transform"][2],
        "north": red["proj:transform"][5], "size": size, "dtype": band["data_type"], "band": band,
        "raster:bands": red["raster:bands"],
    }


def neighbour_metadata() -> dict[str, Any]:
    meta = tile_metadata(ZONE_24[-1])
    return {**meta, "id": NEIGHBOUR, "epsg": meta["epsg"] + 1, "west": NEIGHBOUR_WEST}


def write_tile(folder: Path, meta: dict[str, Any], swath_edge: bool) -> Path:
    res = meta["size"] / SIZE
    transform = Affine(res, 0, meta["west"], 0, -res, meta["north"])
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    x, y = transform * (cols + 0.5, rows + 0.5)
    lon, lat = Transformer.from_crs(f"EPSG:{meta['epsg']}", "EPSG:4326", always_xy=True).transform(x, y)
    band = meta["band"]
    dn = np.clip(np.rint((reflectance(lon, lat) - band["offset"]) / band["scale"]), 1, 65535).astype(meta["dtype"])
    if swath_edge:  # the datatake's edge: a corner of the tile without data
        dn[rows + cols < SIZE // 2] = band["nodata"]
    path = folder / meta["id"] / "B04.tif"
    path.parent.mkdir(parents=True)
    plain = path.with_suffix(".plain.tif")
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=1, dtype=meta["dtype"],
                   crs=f"EPSG:{meta['epsg']}", transform=transform, nodata=band["nodata"])
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(dn, 1)
    copy_dataset(plain, path, driver="COG", overviews="NONE")
    plain.unlink()
    return path


def independent_mosaic(paths: list[Path], metas: list[dict[str, Any]], grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Physical values on the grid, first valid wins: rasterio.warp.reproject, file by file."""
    values = np.full(grid.shape, np.nan)
    for path, meta in zip(paths, metas, strict=True):
        warped = np.full(grid.shape, np.nan)
        with rasterio.open(path) as src:
            physical = src.read(1).astype("float64") * meta["band"]["scale"] + meta["band"]["offset"]
            physical[src.read(1) == meta["band"]["nodata"]] = np.nan
            reproject(physical, warped, src_transform=src.transform, src_crs=src.crs, src_nodata=np.nan,
                      dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=np.nan, resampling=Resampling.nearest)
        fill = np.isnan(values) & np.isfinite(warped)
        values[fill] = warped[fill]
    return values, np.isfinite(values)


@pytest.mark.parametrize("size", [64, 96])
def test_an_overpass_across_two_utm_zones_matches_an_independent_mosaic(tmp_path: Path, size: int) -> None:
    metas = [tile_metadata(name) for name in ZONE_24] + [neighbour_metadata()]
    assert {meta["epsg"] for meta in metas} == {32724, 32725}
    paths = [write_tile(tmp_path, meta, swath_edge=index == 1) for index, meta in enumerate(metas)]
    crs = output_crs("auto", REGION)
    projected = project(REGION, crs)
    grid = make_grid(projected, crs, size)
    inside = inside_mask(projected, grid)
    style = resolve_style("sentinel-2-l2a", {}, StyleSpec(rescale=(0.0, 0.3), colormap="viridis"), "collections[0]").style
    with serve_directory(tmp_path) as server:
        items = tuple(
            ItemAsset(item_id=meta["id"], datetime=datetime(2025, 7, 31, 13, 3, tzinfo=UTC),
                      href=server.href(f"{meta['id']}/B04.tif"), bands=raster_bands(meta["raster:bands"]))
            for meta in metas
        )
        frame = render_frame(FramePlan(datetime(2025, 7, 31, tzinfo=UTC), items), grid, replace(style, resampling="nearest"),
                             LocalRenderer(), projected)
    expected, expected_valid = independent_mosaic(paths, metas, grid)

    palette = build_palette("viridis")
    ours = to_indices(frame.values, frame.valid & inside, style.rescale, palette).astype(int)
    theirs = to_indices(expected, expected_valid & inside, style.rescale, palette).astype(int)
    transparent = palette.index("transparent")
    assert ((ours == transparent) == (theirs == transparent)).mean() >= 0.995
    both = (ours != transparent) & (theirs != transparent)
    assert both.sum() > 0.5 * inside.sum()
    assert (np.abs(ours[both] - theirs[both]) <= 1).mean() >= 0.97
    # Both zones are in the frame, and so are the strip no tile covers and the swath edge.
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    lon, _ = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    east_of_zone_edge = inside & (lon > -36.0)
    assert frame.valid[east_of_zone_edge].mean() > 0.9  # the 25S tile fills its part
    assert (~frame.valid[inside & (lon > -37.0) & (lon < -36.7)]).all()  # the strip between the tiles
    assert (~frame.valid & inside).sum() > (inside & (lon > -37.0) & (lon < -36.7)).sum()  # + the swath edge
