"""Pixel-level tests of the frame core on COGs with analytic values (value = column index)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Polygon, box

from generator.core.model import FramePlan, Grid, ItemAsset, Style
from generator.render.frames import FrameData, render_frame
from generator.render.grid import inside_mask, make_grid, output_crs, project
from generator.render.local import LocalRenderer, overview_level
from generator.render.palette import build_palette, to_indices

from .conftest import NODATA, column_values, write_cog

WHEN = datetime(2021, 1, 1, tzinfo=UTC)


def grid_at(res: float, size: int = 64) -> Grid:
    """A lon/lat grid over the test COG's extent (0..64 E, 0..64 N) at ``res`` degrees."""
    n = round(size / res)
    return Grid(crs="EPSG:4326", transform=Affine(res, 0, 0, 0, -res, 64), width=n, height=n)


@pytest.fixture(scope="module")
def analytic_cog(tmp_path_factory: pytest.TempPathFactory):
    data = column_values(64)
    data[10:14, 20:24] = NODATA  # a nodata hole
    # The 2× overview holds 500 + overview column, impossible at full resolution (max 63).
    overview = 500 + np.tile(np.arange(32, dtype="float32"), (32, 1))
    return write_cog(tmp_path_factory.mktemp("cog") / "analytic.tif", data, overview=overview)


def item(path) -> ItemAsset:
    return ItemAsset(item_id=path.stem, datetime=WHEN, href=str(path))


def test_full_resolution_read_gives_the_column_values(analytic_cog):
    data = LocalRenderer().read(item(analytic_cog), grid_at(1.0), Style(rescale=(0, 64)))
    expected = np.tile(np.arange(64, dtype="float32"), (64, 1))
    hole = np.zeros((64, 64), bool)
    hole[10:14, 20:24] = True
    assert np.array_equal(data.valid, ~hole)
    assert np.array_equal(data.values[~hole], expected[~hole])


def test_half_resolution_output_is_read_from_the_2x_overview(analytic_cog):
    data = LocalRenderer().read(item(analytic_cog), grid_at(2.0), Style(rescale=(0, 64)))
    assert data.values.shape == (32, 32)
    assert np.array_equal(data.values, 500 + np.tile(np.arange(32, dtype="float32"), (32, 1)))


def test_output_between_levels_uses_the_finer_level(analytic_cog):
    data = LocalRenderer().read(item(analytic_cog), grid_at(1.6), Style(rescale=(0, 64)))
    assert data.values[data.valid].max() < 64  # never the coarser overview's 500+ values


@pytest.mark.parametrize(
    ("target", "expected"),
    [((1.0, 1.0), None), ((1.99, 1.99), None), ((2.0, 2.0), 0), ((3.0, 3.0), 0), ((4.0, 4.0), 1), ((9.0, 9.0), 2)],
)
def test_overview_choice_is_the_coarsest_not_coarser_than_output(target, expected):
    assert overview_level((1.0, 1.0), [2, 4, 8], target) == expected


def test_palette_indices_match_hand_derived_levels(analytic_cog):
    palette = build_palette("viridis")
    n = palette.n_levels
    data = LocalRenderer().read(item(analytic_cog), grid_at(1.0), Style(rescale=(0, 64)))
    indices = to_indices(data.values, data.valid, (0, 64), palette)
    columns = np.arange(64)
    # level = floor(value / 64 * n), computed here from the formula, not by the code under test
    expected_row = (columns * n) // 64
    assert np.array_equal(indices[0], expected_row.astype(np.uint8))
    assert np.all(indices[10:14, 20:24] == palette.transparent)
    # every column is its own level: 64 distinct opaque levels
    opaque = indices[indices != palette.transparent]
    assert len(np.unique(opaque)) == 64


def test_pixels_outside_the_region_are_transparent_and_inside_opaque(analytic_cog):
    grid = grid_at(1.0)
    triangle = Polygon([(4, 4), (60, 4), (32, 60)])
    inside = inside_mask(triangle, grid)
    palette = build_palette("magma")
    data = LocalRenderer().read(item(analytic_cog), grid, Style(rescale=(0, 64)))
    indices = to_indices(data.values, data.valid & inside, (0, 64), palette)
    assert np.all(indices[~inside] == palette.transparent)
    assert np.all(indices[inside & data.valid] < palette.n_levels)
    # pixel centres: (x + 0.5, 63.5 - row); a point well inside and one well outside the triangle
    assert inside[63 - 20, 32] and not inside[63 - 50, 5]


def test_first_valid_pixel_wins_when_items_share_a_frame(tmp_path):
    first = column_values(64)
    first[:, :32] = NODATA
    second = np.full((64, 64), 7.0, dtype="float32")
    a = write_cog(tmp_path / "a.tif", first)
    b = write_cog(tmp_path / "b.tif", second)
    frame = FramePlan(datetime=WHEN, items=(item(a), item(b)))
    data = render_frame(frame, grid_at(1.0), Style(rescale=(0, 64)), LocalRenderer())
    assert data.valid.all()
    assert np.all(data.values[:, :32] == 7.0)
    assert np.array_equal(data.values[:, 32:], first[:, 32:])


def test_auto_crs_keeps_the_regions_aspect_ratio_and_size():
    france_like = box(-5.0, 42.0, 8.0, 51.0)
    crs = output_crs("auto", france_like)
    projected = project(france_like, crs)
    grid = make_grid(projected, crs, 512)
    assert max(grid.width, grid.height) == 512
    west, south, east, north = projected.bounds
    assert grid.width / grid.height == pytest.approx((east - west) / (north - south), rel=0.02)
    assert "+proj=laea" in crs


def test_epsg_4326_gives_the_lon_lat_look():
    region = box(0, 40, 20, 50)
    crs = output_crs("4326", region)
    grid = make_grid(project(region, crs), crs, 400)
    assert crs == "EPSG:4326"
    # a 2 % margin of the longest side (20°) is added on each side: 20.8° × 10.8° over 400 px
    assert (grid.width, grid.height) == (400, round(400 * 10.8 / 20.8))


def test_averaging_kernels_also_read_the_overview_when_downsampling(analytic_cog):
    """bilinear/average reads go through a warped VRT (as TiTiler does); GDAL still takes the
    2× overview, whose values (500 + column) cannot come from the full resolution (max 63)."""
    for resampling in ("bilinear", "average"):
        data = LocalRenderer().read(item(analytic_cog), grid_at(2.0), Style(rescale=(0, 64), resampling=resampling))
        assert data.values[data.valid].min() >= 500, resampling


@pytest.mark.parametrize("resampling", ["bilinear", "average", "cubic"])
def test_downsampling_kernels_read_the_warped_vrt_as_a_masked_read_would(tmp_path, resampling):
    """The warped VRT (rio-tiler's way) is read once and its nodata tested here: values and
    missing pixels equal a masked read (GDAL's nodata mask band, which warps every block again)."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rio_tiler.utils import get_vrt_transform

    rows, cols = np.mgrid[0:128, 0:128]
    data = (np.sin(cols / 7) * np.cos(rows / 5) * 50 + 50).astype("float32")
    data[40:70, 30:90] = NODATA  # a hole wider than the kernels
    path = write_cog(tmp_path / "field.tif", data, res=0.5)
    grid = grid_at(1.3)
    ours = LocalRenderer().read(item(path), grid, Style(rescale=(0, 100), resampling=resampling))
    kernel = Resampling[resampling]
    with rasterio.open(path) as src:
        transform, width, height = get_vrt_transform(src, grid.bounds, grid.height, grid.width, dst_crs=CRS.from_user_input(grid.crs))
        with WarpedVRT(
            src, crs=grid.crs, transform=transform, width=width, height=height, resampling=kernel,
            src_nodata=NODATA, nodata=NODATA,
        ) as vrt:
            masked = vrt.read(1, out_shape=grid.shape, resampling=kernel, masked=True)
    valid = ~np.ma.getmaskarray(masked)
    assert not valid.all() and valid.any()
    assert np.array_equal(ours.valid, valid)
    assert np.array_equal(ours.values[valid], masked.data[valid].astype("float32"))


def _rio_tiler_read(path, grid: Grid, resampling: str, nodata: float | None) -> np.ndarray:
    """What rio-tiler (and so TiTiler) reads: a warped VRT at the source's resolution read at the
    grid's size, missing pixels as NaN."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rio_tiler.utils import get_vrt_transform

    kernel = Resampling[resampling]
    with rasterio.open(path) as src:
        transform, width, height = get_vrt_transform(src, grid.bounds, grid.height, grid.width, dst_crs=CRS.from_user_input(grid.crs))
        with WarpedVRT(
            src, crs=grid.crs, transform=transform, width=width, height=height, resampling=kernel,
            src_nodata=nodata, nodata=nodata, dtype=src.dtypes[0],
        ) as vrt:
            masked = vrt.read(1, out_shape=grid.shape, resampling=kernel, masked=True)
    return np.ma.filled(masked.astype("float64"), np.nan)


@pytest.mark.parametrize("resampling", ["bilinear", "average", "cubic", "lanczos"])
@pytest.mark.parametrize("res", [1.3, 2.0, 2.9, 4.5, 7.0])
def test_kernel_reads_warp_the_overview_gdal_picks_straight_to_the_grid(tmp_path, resampling, res):
    """One warp from the overview GDAL's warped VRT would pick, onto the grid, with no nodata for
    the output: bit for bit rio-tiler's read, at decimations between and on the overviews'
    (2×, 4×, 8×), for a grid reaching past the file (missing pixels) and a nodata hole."""
    rows, cols = np.mgrid[0:256, 0:256]
    data = (np.sin(cols / 9) * np.cos(rows / 7) * 50 + 50).astype("float32")
    data[100:140, 60:150] = NODATA
    path = write_cog(tmp_path / "field.tif", data, west=0.0, north=64.0, res=0.25)
    grid = Grid(crs="EPSG:4326", transform=Affine(res / 4, 0, -3, 0, -res / 4, 66), width=round(72 / res), height=round(70 / res))
    ours = LocalRenderer().read(item(path), grid, Style(rescale=(0, 100), resampling=resampling))
    theirs = _rio_tiler_read(path, grid, resampling, NODATA)
    valid = np.isfinite(theirs)
    assert valid.any() and not valid.all()
    assert np.array_equal(ours.valid, valid)
    assert np.array_equal(ours.values[valid], theirs[valid].astype("float32"))


@pytest.mark.parametrize("nodata", [float("nan"), None])
def test_kernel_reads_without_a_numeric_nodata_match_rio_tiler(tmp_path, nodata):
    """A NaN nodata takes the one-warp read too; a file without nodata keeps the warped VRT with
    an alpha band (rio-tiler's read then decimates in GDAL's block reads)."""
    rows, cols = np.mgrid[0:128, 0:128]
    data = (np.sin(cols / 5) * 40 + 50 + rows / 10).astype("float32")
    if nodata is not None:
        data[30:50, 30:70] = np.nan
    path = write_cog(tmp_path / "field.tif", data, res=0.5, nodata=nodata)
    grid = grid_at(1.7)
    ours = LocalRenderer().read(item(path), grid, Style(rescale=(0, 100), resampling="bilinear"))
    if nodata is None:
        assert ours.valid.all()
        return
    theirs = _rio_tiler_read(path, grid, "bilinear", nodata)
    valid = np.isfinite(theirs)
    assert np.array_equal(ours.valid, valid) and not valid.all()
    assert np.array_equal(ours.values[valid], theirs[valid].astype("float32"))


def test_nearest_reads_leave_pixels_no_source_covers_missing(tmp_path):
    """The grid starts as NaN and GDAL is given no nodata for the output: pixels beyond the file
    and in its nodata hole are missing, every other one is the source pixel's value."""
    data = column_values(64)
    data[10:14, 20:24] = NODATA
    path = write_cog(tmp_path / "columns.tif", data)
    grid = Grid(crs="EPSG:4326", transform=Affine(1, 0, -8, 0, -1, 64), width=80, height=64)
    read = LocalRenderer().read(item(path), grid, Style(rescale=(0, 64)))
    expected = np.full((64, 80), np.nan, dtype="float32")
    expected[:, 8:72] = data
    expected[expected == NODATA] = np.nan
    assert np.array_equal(read.valid, np.isfinite(expected))
    assert np.array_equal(read.values[read.valid], expected[read.valid])


def test_a_renderers_arrays_are_not_changed_when_items_are_combined():
    """The first item's arrays are copied before a later item fills them in (a renderer may hand
    out arrays it keeps); a frame of one item is the renderer's answer as is."""
    values = np.where(np.arange(64) < 32, np.float32(1.0), np.float32(np.nan)) * np.ones((64, 1), "float32")
    shared = FrameData(values=values, valid=np.isfinite(values))
    full = FrameData(values=np.full((64, 64), 2.0, "float32"), valid=np.ones((64, 64), bool))

    class Kept:
        concurrency = 1

        def read(self, asset: ItemAsset, grid: Grid, style: Style, region=None) -> FrameData:
            return shared if asset.item_id == "a" else full

    a, b = (ItemAsset(item_id=name, datetime=WHEN, href=f"{name}.tif") for name in "ab")
    before = shared.values.copy(), shared.valid.copy()
    data = render_frame(FramePlan(datetime=WHEN, items=(a, b)), grid_at(1.0), Style(rescale=(0, 64)), Kept())
    assert data.valid.all() and np.all(data.values[:, :32] == 1.0) and np.all(data.values[:, 32:] == 2.0)
    assert np.array_equal(shared.values, before[0], equal_nan=True) and np.array_equal(shared.valid, before[1])
    alone = render_frame(FramePlan(datetime=WHEN, items=(a,)), grid_at(1.0), Style(rescale=(0, 64)), Kept())
    assert alone.values is shared.values and alone.valid is shared.valid
