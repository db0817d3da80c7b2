"""Nearest reads through a map made once per file layout and grid give GDAL's warp of the file.

Each case compares ``render.nearest.read_nearest`` with GDAL's nearest warp of the same file
(``rasterio.warp.reproject``, as the local renderer read before): equal bit for bit, NaN where
GDAL leaves a pixel unwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import reproject
from rasterio.windows import Window

from generator.core import buildcache
from generator.core.model import Grid, ItemAsset, Style
from generator.render import nearest
from generator.render.local import LocalRenderer

LAEA_FRANCE = "+proj=laea +lat_0=46 +lon_0=2 +datum=WGS84 +units=m +no_defs"


@pytest.fixture(autouse=True)
def _fresh_maps() -> None:
    buildcache.clear()
    yield
    buildcache.clear()


def write_tif(
    path: Path, data: np.ndarray, *, crs: str, transform: Affine, nodata: float | None, mask: np.ndarray | None = None
) -> Path:
    bands, height, width = data.shape
    profile = dict(
        driver="GTiff", width=width, height=height, count=bands, dtype=data.dtype.name, crs=crs,
        transform=transform, nodata=nodata, tiled=True, blockxsize=32, blockysize=32,
    )
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if mask is not None:
            dst.write_mask(mask)
    return path


def gdal_warp(
    src: rasterio.io.DatasetReader, grid: Grid, bands: tuple[int, ...], nodata: float | None,
    resampling: Resampling = Resampling.nearest,
) -> np.ndarray:
    """GDAL's warp of ``bands`` onto the grid, as the local renderer called it before its maps."""
    stack = np.full((len(bands), *grid.shape), np.nan, dtype="float32")
    for layer, band in enumerate(bands):
        reproject(
            source=rasterio.band(src, band), destination=stack[layer], src_nodata=nodata,
            dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=None, init_dest_nodata=False,
            resampling=resampling,
        )
    return stack


def assert_same_as_gdal(
    path: Path, grid: Grid, bands: tuple[int, ...] = (1,), nodata: float | None = None, *,
    read: Callable[..., np.ndarray | None] = nearest.read_nearest, resampling: Resampling = Resampling.nearest,
) -> np.ndarray:
    """``read`` (a read through a map) gives GDAL's warp of the file at ``resampling``, bit for bit."""
    with rasterio.open(path) as src:
        nodata = src.nodata if nodata is None else nodata
        taken = read(src, grid, bands, nodata)
        expected = gdal_warp(src, grid, bands, nodata, resampling)
    assert taken is not None
    np.testing.assert_array_equal(taken, expected)  # NaN equals NaN here
    return taken


def france_grid(size: int = 96) -> Grid:
    pixel = 1_400_000 / size
    return Grid(crs=LAEA_FRANCE, transform=Affine(pixel, 0, -700_000, 0, -pixel, 650_000), width=size, height=size)


def random_values(shape: tuple[int, ...], dtype: str, seed: int = 1) -> np.ndarray:
    values = np.random.default_rng(seed).integers(0, 200, size=shape)
    return values.astype(dtype)


def test_a_geographic_float_file_with_nodata_upsampled(tmp_path: Path) -> None:
    data = random_values((1, 40, 50), "float32") / 3
    data[0, 10:14, 20:30] = -9999
    path = write_tif(tmp_path / "a.tif", data, crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=-9999)
    taken = assert_same_as_gdal(path, france_grid())
    assert np.isnan(taken).any() and np.isfinite(taken).any()


@pytest.mark.parametrize("zone", [30, 31, 32])
def test_utm_tiles_of_several_zones_downsampled(tmp_path: Path, zone: int) -> None:
    data = random_values((1, 300, 300), "uint16", seed=zone)
    data[0, :40] = 0
    transform = from_origin(300_000, 5_300_000, 2_000, 2_000)
    path = write_tif(tmp_path / f"{zone}.tif", data, crs=f"EPSG:326{zone}", transform=transform, nodata=0)
    assert_same_as_gdal(path, france_grid(128))


def test_a_file_half_off_the_grid_and_one_beside_it(tmp_path: Path) -> None:
    data = random_values((1, 30, 30), "float32")
    half = write_tif(tmp_path / "half.tif", data, crs="EPSG:4326", transform=from_origin(6, 48, 0.5, 0.5), nodata=None)
    taken = assert_same_as_gdal(half, france_grid())
    assert np.isnan(taken).any() and np.isfinite(taken).any()
    beside = write_tif(tmp_path / "beside.tif", data, crs="EPSG:4326", transform=from_origin(60, 48, 0.5, 0.5), nodata=None)
    with rasterio.open(beside) as src:
        assert nearest.read_nearest(src, france_grid(), (1,), None) is None  # GDAL has the last word


@pytest.mark.parametrize(
    ("dtype", "nodata"), [("uint8", 7), ("uint8", 0.5), ("int16", -3), ("float64", 7), ("float32", float("nan"))]
)
def test_nodata_is_tested_as_gdal_tests_it(tmp_path: Path, dtype: str, nodata: float) -> None:
    """An integer file whose type cannot hold the nodata value has no missing pixel in GDAL."""
    data = random_values((1, 40, 50), dtype) % 10
    if np.dtype(dtype).kind == "f":
        data[0, 5:9] = nodata
    path = write_tif(tmp_path / "n.tif", data, crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None)
    assert_same_as_gdal(path, france_grid(), nodata=nodata)


def test_several_bands_of_one_file(tmp_path: Path) -> None:
    data = random_values((3, 40, 50), "uint16")
    path = write_tif(tmp_path / "rgb.tif", data, crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=1)
    assert_same_as_gdal(path, france_grid(), bands=(3, 1))


def test_a_file_with_an_internal_mask_is_left_to_gdal(tmp_path: Path) -> None:
    data = random_values((1, 40, 50), "uint8")
    mask = np.full((40, 50), 255, dtype="uint8")
    mask[:10] = 0
    path = write_tif(tmp_path / "m.tif", data, crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None, mask=mask)
    with rasterio.open(path) as src:
        assert nearest.read_nearest(src, france_grid(), (1,), None) is None


def test_the_map_is_made_once_per_layout_and_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    warp = nearest._warped_positions
    monkeypatch.setattr(nearest, "_warped_positions", lambda *args: made.append(1) or warp(*args))
    transform = from_origin(-8, 53, 0.4, 0.4)
    paths = [
        write_tif(tmp_path / f"{day}.tif", random_values((1, 40, 50), "float32", seed=day), crs="EPSG:4326", transform=transform, nodata=None)
        for day in range(4)
    ]
    other = write_tif(tmp_path / "other.tif", random_values((1, 40, 50), "float32"), crs="EPSG:4326", transform=from_origin(-8, 54, 0.4, 0.4), nodata=None)
    for path in [*paths, other]:
        assert_same_as_gdal(path, france_grid())
    assert_same_as_gdal(paths[0], france_grid(64))
    assert len(made) == 3  # the four dates share one map; another origin and another grid have theirs
    buildcache.clear()
    assert len(nearest.MAPS) == 0


def test_maps_beyond_the_budget_are_dropped_oldest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nearest.MAPS, "budget", 96 * 96 * 8 + 1)  # one full map
    path = write_tif(tmp_path / "a.tif", random_values((1, 40, 50), "float32"), crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None)
    for size in (96, 95, 94):
        assert_same_as_gdal(path, france_grid(size))
        assert len(nearest.MAPS) == 1


def test_a_footprint_too_small_grows_until_the_warp_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The footprint samples the grid's edges; a window that still cuts the warp is grown."""
    monkeypatch.setattr(nearest, "footprint_window", lambda src, grid: Window(20, 15, 4, 4))
    path = write_tif(tmp_path / "a.tif", random_values((1, 40, 50), "float32"), crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None)
    assert_same_as_gdal(path, france_grid())


def test_a_window_too_large_to_index_is_left_to_gdal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nearest, "MAX_WINDOW_PIXELS", 100)
    path = write_tif(tmp_path / "a.tif", random_values((1, 40, 50), "float32"), crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None)
    with rasterio.open(path) as src:
        assert nearest.read_nearest(src, france_grid(), (1,), None) is None


def test_the_local_renderer_reads_nearest_through_the_map(tmp_path: Path) -> None:
    """Overview level, scale and the frame's validity as the renderer's GDAL read gave them."""
    data = random_values((1, 256, 256), "uint16")
    data[0, :30] = 0
    path = write_tif(tmp_path / "s.tif", data, crs="EPSG:32631", transform=from_origin(300_000, 5_300_000, 1_000, 1_000), nodata=0)
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], Resampling.nearest)
    grid = france_grid(64)
    item = ItemAsset(item_id="s", datetime=datetime(2024, 1, 1, tzinfo=UTC), href=str(path))
    frame = LocalRenderer().read(item, grid, Style(rescale=(0, 200)))
    with rasterio.open(path, overview_level=1) as level:  # 22 km pixels: the 4× overview (4 km) is read
        expected = gdal_warp(level, grid, (1,), 0)[0]
    np.testing.assert_array_equal(frame.values, expected)
    np.testing.assert_array_equal(frame.valid, np.isfinite(expected))
    assert len(nearest.MAPS) == 1


def test_a_grid_across_the_antimeridian_over_a_global_file(tmp_path: Path) -> None:
    """The footprint of a grid centred on 180° spans the whole file's width in lon/lat."""
    data = random_values((1, 180, 360), "float32")
    path = write_tif(tmp_path / "world.tif", data, crs="EPSG:4326", transform=from_origin(-180, 90, 1, 1), nodata=None)
    pixel = 4_000_000 / 96
    pacific = Grid(
        crs="+proj=laea +lat_0=-15 +lon_0=180 +datum=WGS84 +units=m +no_defs",
        transform=Affine(pixel, 0, -2_000_000, 0, -pixel, 2_000_000), width=96, height=96,
    )
    taken = assert_same_as_gdal(path, pacific)
    assert np.isfinite(taken).all()


def test_threads_reading_one_layout_at_once_make_its_map_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The remote reads of a build's first frames run side by side: they wait for one map."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    made = []
    warp = nearest._warped_positions
    started = threading.Barrier(4)

    def slow_warp(*args: object) -> np.ndarray:
        made.append(1)
        time.sleep(0.2)  # the other threads arrive meanwhile
        return warp(*args)

    monkeypatch.setattr(nearest, "_warped_positions", slow_warp)
    transform = from_origin(-8, 53, 0.4, 0.4)
    paths = [
        write_tif(tmp_path / f"{day}.tif", random_values((1, 40, 50), "float32", seed=day), crs="EPSG:4326", transform=transform, nodata=None)
        for day in range(4)
    ]

    def read(path: Path) -> None:
        started.wait()
        assert_same_as_gdal(path, france_grid())

    with ThreadPoolExecutor(4) as threads:
        list(threads.map(read, paths))
    assert len(made) == 1


def test_a_map_left_in_the_builds_folder_is_loaded_not_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As another process of the build finds it (its own memory cache empty): the same map, and
    no map for a file the grid does not show."""
    made = []
    make = nearest._make_map
    monkeypatch.setattr(nearest, "_make_map", lambda *args: made.append(1) or make(*args))
    data = random_values((1, 40, 50), "float32")
    shown = write_tif(tmp_path / "a.tif", data, crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None)
    beside = write_tif(tmp_path / "b.tif", data, crs="EPSG:4326", transform=from_origin(60, 48, 0.5, 0.5), nodata=None)
    folder = tmp_path / "maps"
    folder.mkdir()
    with rasterio.open(shown) as src, rasterio.open(beside) as other:
        first = nearest.nearest_map(src, france_grid(), str(folder))
        assert nearest.nearest_map(other, france_grid(), str(folder)) is None
        buildcache.clear()
        again = nearest.nearest_map(src, france_grid(), str(folder))
        assert nearest.nearest_map(other, france_grid(), str(folder)) is None
        assert first is not None and again is not None and again is not first
        assert again.window == first.window
        np.testing.assert_array_equal(again.positions, first.positions)
        np.testing.assert_array_equal(again.sources, first.sources)
        np.testing.assert_array_equal(nearest.read_nearest(src, france_grid(), (1,), None, str(folder)), gdal_warp(src, france_grid(), (1,), None))
    assert len(made) == 2  # one map and one "no map", each made once


def test_a_map_another_process_is_making_is_not_waited_for(tmp_path: Path) -> None:
    """Its read is GDAL's meanwhile (``None``, nothing kept), and the next read finds the map."""
    import fcntl

    data = random_values((1, 40, 50), "float32")
    path = write_tif(tmp_path / "a.tif", data, crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None)
    folder = tmp_path / "maps"
    folder.mkdir()
    with rasterio.open(path) as src:
        key = (src.crs, src.width, src.height, src.transform, france_grid())
        with open(nearest.map_path(str(folder), key) + ".lock", "ab") as other:
            fcntl.flock(other, fcntl.LOCK_EX)  # as another process making it
            assert nearest.nearest_map(src, france_grid(), str(folder)) is None
            assert len(nearest.MAPS) == 0
            with pytest.raises(nearest.MapBeingMade):
                nearest.shared_map(str(folder), key, lambda: pytest.fail("made while being made"), nearest.NearestMap)
        found = nearest.nearest_map(src, france_grid(), str(folder))  # the lock released: made now
        assert found is not None and len(nearest.MAPS) == 1
        np.testing.assert_array_equal(nearest.read_nearest(src, france_grid(), (1,), None, str(folder)), gdal_warp(src, france_grid(), (1,), None))


def test_maps_beyond_the_folders_budget_are_not_left_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_values((1, 40, 50), "float32")
    path = write_tif(tmp_path / "a.tif", data, crs="EPSG:4326", transform=from_origin(-8, 53, 0.4, 0.4), nodata=None)
    folder = tmp_path / "maps"
    folder.mkdir()
    monkeypatch.setattr(nearest, "SHARED_BYTES", 100)
    with rasterio.open(path) as src:
        assert nearest.nearest_map(src, france_grid(), str(folder)) is not None
    assert not list(folder.glob("*.npz"))  # too large for the budget: the others make their own
