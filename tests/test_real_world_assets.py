"""Real-world assets: sources in other CRSs than the output (UTM, sinusoidal, polar stereographic),
regions across the antimeridian, categorical colormaps, band selection by ``bidx``/``expression``,
``color_formula``, and the clear error for multi-band RGB assets. Expected values come from pyproj
and numpy, independently of the renderers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.shutil import copy as copy_dataset
from rasterio.warp import transform_bounds

from generator.core.errors import RenderError, StyleError
from generator.core.model import FramePlan, Grid, ItemAsset, Style
from generator.core.specs import RegionSpec
from generator.plan.categorical import categorical_indices, categorical_palette, legend_entries
from generator.plan.styles import resolve_style
from generator.render.frames import render_frame
from generator.render.grid import crosses_antimeridian, inside_mask, make_grid, output_crs, project, unwrap_antimeridian
from generator.render.local import LocalRenderer
from generator.render.titiler import TitilerRenderer
from generator.sources.http import HttpSettings, make_session
from generator.sources.regions import load_region, region_outline

from .servers.titiler import TitilerServer

SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"


def write_raster(path: Path, bands: np.ndarray, crs: str, transform: Affine, *, nodata: float | None = -9999.0,
                 dtype: str = "float32", photometric: str | None = None) -> Path:
    """A COG with one layer per entry of ``bands`` (shape: bands × rows × cols)."""
    count, height, width = bands.shape
    plain = path.with_suffix(".plain.tif")
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=crs,
                   transform=transform, nodata=nodata)
    if photometric:
        profile["photometric"] = photometric
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(bands.astype(dtype))
    copy_dataset(plain, path, driver="COG", overviews="NONE")
    plain.unlink()
    return path


def item(path: Path, name: str = "asset") -> ItemAsset:
    return ItemAsset(item_id=name, datetime=datetime(2024, 1, 1, tzinfo=UTC), href=str(path))


def setting(region: shapely.Geometry, size: int = 64) -> tuple[Grid, shapely.Geometry, np.ndarray]:
    crs = output_crs("auto", region)
    projected = project(region, crs)
    grid = make_grid(projected, crs, size)
    return grid, projected, inside_mask(projected, grid)


def pixel_centres_in(grid: Grid, crs: str) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    return Transformer.from_crs(grid.crs, crs, always_xy=True).transform(x, y)


# --- sources in other CRSs --------------------------------------------------------------------

CASES = {
    "utm": ("EPSG:32631", shapely.box(1.0, 44.0, 5.0, 47.0)),
    "sinusoidal": (SINUSOIDAL, shapely.box(20.0, 5.0, 30.0, 15.0)),  # a MODIS-like tile in Africa
    "polar-stereographic": ("EPSG:3413", shapely.box(-60.0, 68.0, -25.0, 80.0)),  # Greenland, NSIDC north
}


def linear_cog(tmp_path: Path, crs: str, region: shapely.Geometry) -> tuple[Path, Affine]:
    """64×64 pixels over the region (plus a margin) in ``crs``; value = 2·col + 0.5·row."""
    west, south, east, north = transform_bounds("EPSG:4326", crs, *region.bounds, densify_pts=51)
    margin = 0.15 * max(east - west, north - south)
    west, south, east, north = west - margin, south - margin, east + margin, north + margin
    transform = Affine((east - west) / 64, 0, west, 0, -(north - south) / 64, north)
    rows, cols = np.mgrid[0:64, 0:64]
    path = write_raster(tmp_path / "linear.tif", (2.0 * cols + 0.5 * rows)[None], crs, transform)
    return path, transform


@pytest.mark.parametrize("case", sorted(CASES))
def test_sources_in_other_crs(case: str, tmp_path: Path, loopback_titiler: TitilerServer) -> None:
    crs, region = CASES[case]
    path, transform = linear_cog(tmp_path, crs, region)
    grid, projected, inside = setting(region)
    data = LocalRenderer().read(item(path), grid, Style(rescale=(0, 160)))
    assert data.valid[inside].all()
    # Where each output pixel centre falls in the source, computed with pyproj: the value there
    # (nearest = the source pixel containing it) is within one pixel step of the continuous field.
    x, y = pixel_centres_in(grid, crs)
    col, row = ~transform * (x, y)
    expected = 2.0 * np.floor(col) + 0.5 * np.floor(row)
    error = np.abs(data.values - expected)[inside]
    assert (error == 0).mean() >= 0.9  # GDAL warps with an approximate transformer (1/8 px)
    assert error.max() <= 2.5  # at worst the neighbouring source pixel
    titiler = TitilerRenderer(loopback_titiler.url, make_session(HttpSettings(retries=0)))
    remote = titiler.read(item(path), grid, Style(rescale=(0, 160)), projected)
    assert (remote.values[inside] == data.values[inside]).mean() >= 0.999


# --- antimeridian -----------------------------------------------------------------------------


def side_cogs(tmp_path: Path) -> tuple[Path, Path]:
    """East of 180° … west of it: two 4326 COGs with values 1000 + column and 2000 + column."""
    rows, cols = np.mgrid[0:32, 0:32]
    east = write_raster(tmp_path / "east.tif", (1000.0 + cols)[None], "EPSG:4326", Affine(0.25, 0, 172.0, 0, -0.25, -12.0))
    west = write_raster(tmp_path / "west.tif", (2000.0 + cols)[None], "EPSG:4326", Affine(0.25, 0, -180.0, 0, -0.25, -12.0))
    return east, west


def expected_side_values(grid: Grid) -> np.ndarray:
    lon, lat = pixel_centres_in(grid, "EPSG:4326")
    lon = (np.asarray(lon) + 180.0) % 360.0 - 180.0
    return np.where(lon >= 0, 1000.0 + np.floor((lon - 172.0) / 0.25), 2000.0 + np.floor((lon + 180.0) / 0.25))


FIJI_BBOX = RegionSpec(id="fiji", title="fiji", where="site_config.yml: regions[0]", bbox=(177.0, -19.0, -178.0, -15.0))


def test_bbox_across_the_antimeridian_is_a_region(tmp_path: Path) -> None:
    region = load_region(FIJI_BBOX)
    assert region.geometry.geom_type == "MultiPolygon"
    assert region.geometry.bounds == (-180.0, -19.0, 180.0, -15.0)  # valid lon/lat for STAC searches
    assert crosses_antimeridian(region.geometry)
    unwrapped = unwrap_antimeridian(region.geometry)
    assert unwrapped.bounds == (177.0, -19.0, 182.0, -15.0)
    assert unwrapped.area == pytest.approx(20.0)
    assert unwrap_antimeridian(shapely.box(1, 2, 3, 4)).equals(shapely.box(1, 2, 3, 4))


@pytest.mark.parametrize("source", ["bbox", "natural-earth"])
def test_fiji_renders_across_the_antimeridian(
    source: str, tmp_path: Path, test_geo: Path, loopback_titiler: TitilerServer
) -> None:
    if source == "bbox":
        geometry = load_region(FIJI_BBOX).geometry
    else:
        countries = json.loads((test_geo / "ne_110m_admin_0_countries.geojson").read_text())
        fiji = next(feature for feature in countries["features"] if feature["properties"]["admin"] == "Fiji")
        geometry = region_outline(fiji, "Fiji")
    region = unwrap_antimeridian(geometry)
    grid, projected, inside = setting(region, 96)
    assert "+lon_0=17" in grid.crs or "+lon_0=18" in grid.crs  # centred on the region, not on 0°
    east, west = side_cogs(tmp_path)
    frame = FramePlan(datetime=datetime(2024, 1, 1, tzinfo=UTC), items=(item(east, "east"), item(west, "west")))
    expected = expected_side_values(grid)
    titiler = TitilerRenderer(loopback_titiler.url, make_session(HttpSettings(retries=0)))
    for renderer in (LocalRenderer(), titiler):
        data = render_frame(frame, grid, Style(rescale=(1000, 2032)), renderer, projected)
        assert data.valid[inside].all(), type(renderer).__name__
        assert (data.values[inside] == expected[inside]).mean() >= 0.97, type(renderer).__name__
        # Both sides of the antimeridian are drawn.
        assert (data.values[inside] >= 2000).any() and (data.values[inside] < 2000).any()


# --- categorical colormaps --------------------------------------------------------------------

CLASSES = {"1": [230, 25, 75, 255], "2": "#3cb44b", "4": [0, 130, 200], "9": [0, 0, 0, 0]}  # 9 = transparent


def test_categorical_colormap(tmp_path: Path) -> None:
    renders = {"dashboard": {"colormap": CLASSES, "resampling": "bilinear", "assets": ["landcover"]}}
    resolved = resolve_style("landcover", renders, None, "collections[0]")
    style = resolved.style
    assert isinstance(style, Style) and style.categories is not None
    assert style.resampling == "nearest"  # classes are never averaged
    rows, cols = np.mgrid[0:16, 0:16]
    classes = np.choose((rows // 4 + cols // 4) % 5, [1, 2, 4, 9, 7]).astype("float32")  # 7 is no class
    path = write_raster(tmp_path / "classes.tif", classes[None], "EPSG:4326", Affine(1, 0, 0, 0, -1, 16), nodata=255)
    grid = Grid(crs="EPSG:4326", transform=Affine(1, 0, 0, 0, -1, 16), width=16, height=16)
    data = LocalRenderer().read(item(path), grid, style)
    palette = categorical_palette(style.categories)
    indices = categorical_indices(data.values, data.valid, style.categories, palette)
    colours = {1.0: (230, 25, 75), 2.0: (60, 180, 75), 4.0: (0, 130, 200)}
    for value, rgb in colours.items():
        assert (palette.colors[indices[classes == value]] == rgb).all()
    assert (indices[(classes == 9) | (classes == 7)] == palette.transparent).all()
    assert legend_entries(style.categories) == (("1", "#e6194b"), ("2", "#3cb44b"), ("4", "#0082c8"))


def test_categorical_colormap_errors() -> None:
    with pytest.raises(StyleError, match="not a class value"):
        resolve_style("c", {"r": {"colormap": {"water": [0, 0, 255]}}}, None, "collections[0]")
    with pytest.raises(StyleError, match=r"\[r, g, b\]"):
        resolve_style("c", {"r": {"colormap": {"1": [0, 0]}}}, None, "collections[0]")


# --- band selection, expressions, colour formulas, RGB ----------------------------------------


@pytest.fixture
def two_bands(tmp_path: Path) -> Path:
    rows, cols = np.mgrid[0:16, 0:16]
    bands = np.stack([cols.astype("float32"), (3.0 * rows + 1).astype("float32")])
    return write_raster(tmp_path / "two.tif", bands, "EPSG:4326", Affine(1, 0, 0, 0, -1, 16))


GRID16 = Grid(crs="EPSG:4326", transform=Affine(1, 0, 0, 0, -1, 16), width=16, height=16)


def test_bidx_and_expression(two_bands: Path, loopback_titiler: TitilerServer) -> None:
    rows, cols = np.mgrid[0:16, 0:16]
    band2 = resolve_style("c", {"r": {"bidx": [2], "rescale": [[0, 50]]}}, None, "collections[0]").style
    ratio = resolve_style("c", {"r": {"expression": "(b2-b1)/(b2+b1)", "rescale": [[-1, 1]]}}, None, "collections[0]").style
    expected_ratio = ((3.0 * rows + 1) - cols) / ((3.0 * rows + 1) + cols)
    titiler = TitilerRenderer(loopback_titiler.url, make_session(HttpSettings(retries=0)))
    region = shapely.box(0, 0, 16, 16)
    for renderer in (LocalRenderer(), titiler):
        data = renderer.read(item(two_bands), GRID16, band2, region)
        assert np.array_equal(data.values, (3.0 * rows + 1).astype("float32"))
        data = renderer.read(item(two_bands), GRID16, ratio, region)
        assert data.valid.all()
        np.testing.assert_allclose(data.values, expected_ratio, rtol=1e-6)


def test_color_formula_gamma_is_applied_exactly_and_the_rest_warned_once(
    two_bands: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from color_operations.operations import gamma

    render = {"r": {"rescale": [[0, 16]], "color_formula": "gamma r 1.8 saturation 1.3"}}
    with caplog.at_level(logging.WARNING, logger="generator.plan.formulas"):
        style = resolve_style("gamma-test", render, None, "collections[0]").style
        resolve_style("gamma-test", render, None, "collections[0]")
    warnings = [record for record in caplog.records if "color_formula" in record.getMessage()]
    assert len(warnings) == 1 and "saturation" in warnings[0].getMessage()
    frame = FramePlan(datetime=datetime(2024, 1, 1, tzinfo=UTC), items=(item(two_bands),))
    data = render_frame(frame, GRID16, style, LocalRenderer())
    cols = np.tile(np.arange(16, dtype="float64"), (16, 1))
    expected = 16.0 * gamma(cols / 16.0, 1.8)  # color-operations' own gamma on the rescaled value
    np.testing.assert_allclose(data.values, expected, rtol=1e-5)


def test_multiband_rgb_through_a_colormap_is_a_clear_error(tmp_path: Path) -> None:
    rgb = np.stack([np.full((16, 16), value, dtype="uint8") for value in (200, 100, 50)])
    path = write_raster(tmp_path / "rgb.tif", rgb, "EPSG:4326", Affine(1, 0, 0, 0, -1, 16), nodata=None,
                        dtype="uint8", photometric="RGB")
    with pytest.raises(RenderError, match="multi-band RGB image mapped through a colormap: pick one band"):
        LocalRenderer().read(item(path), GRID16, Style(rescale=(0, 255)))
    # A render's three bands are a true-colour render.
    rendered = resolve_style("c", {"r": {"bidx": [1, 2, 3], "rescale": [[0, 255]]}}, None, "collections[0]").style
    assert rendered.truecolor is not None and rendered.truecolor.bands == (1, 2, 3)
    # Naming one band explicitly maps that band.
    red = resolve_style("c", {"r": {"bidx": [1], "rescale": [[0, 255]]}}, None, "collections[0]").style
    assert (LocalRenderer().read(item(path), GRID16, red).values == 200).all()
