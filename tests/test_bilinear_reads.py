"""Bilinear reads that do not downsample, through weights made once per file layout and grid,
give GDAL's warp of the file.

Each case compares ``render.bilinear.read_bilinear`` with GDAL's bilinear warp of the same file
(``rasterio.warp.reproject`` with the file's nodata value, as the local renderer read before):
equal bit for bit, NaN where GDAL leaves a pixel unwritten. Where the map cannot reproduce GDAL
(no nodata value, an internal mask, the file's first half column shown, a grid that
downsamples), ``read_bilinear`` says so with ``None`` and the renderer still reads GDAL's values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from generator.cli.main import main
from generator.core import buildcache
from generator.core.model import Grid, ItemAsset, Style
from generator.render import bilinear
from generator.render.local import LocalRenderer
from tests.conftest import FakeItem, column_values, write_catalog, write_cog
from tests.test_nearest_reads import LAEA_FRANCE, france_grid, gdal_warp, random_values, write_tif
from tests.test_nearest_reads import assert_same_as_gdal as same_as_gdal


@pytest.fixture(autouse=True)
def _fresh_maps() -> None:
    buildcache.clear()
    yield
    buildcache.clear()


def paris_grid(size: int = 96, metres: float = 300_000) -> Grid:
    """A grid over northern France fine enough that the test files are upsampled."""
    pixel = metres / size
    return Grid(crs=LAEA_FRANCE, transform=Affine(pixel, 0, -150_000, 0, -pixel, 400_000), width=size, height=size)


def gdal_bilinear(src: rasterio.io.DatasetReader, grid: Grid, bands: tuple[int, ...], nodata: float | None) -> np.ndarray:
    return gdal_warp(src, grid, bands, nodata, Resampling.bilinear)


def assert_same_as_gdal(path: Path, grid: Grid, bands: tuple[int, ...] = (1,), nodata: float | None = None) -> np.ndarray:
    return same_as_gdal(path, grid, bands, nodata, read=bilinear.read_bilinear, resampling=Resampling.bilinear)


def geographic(path: Path, data: np.ndarray, nodata: float | None, west: float = -4, north: float = 52) -> Path:
    return write_tif(path, data, crs="EPSG:4326", transform=from_origin(west, north, 0.1, 0.1), nodata=nodata)


@pytest.mark.parametrize("chunk", [bilinear._CHUNK, 1000])
def test_a_geographic_float_file_with_missing_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(bilinear, "_CHUNK", chunk)  # 1000: the grid weighed in ten chunks, missing taps in several
    data = random_values((1, 80, 120), "float32") / 3
    data[0, 30:34, 40:60] = -9999
    data[0, 50, 50] = -9999
    weighed = assert_same_as_gdal(geographic(tmp_path / "a.tif", data, -9999), paris_grid())
    assert np.isnan(weighed).any() and np.isfinite(weighed).all(axis=0).mean() > 0.9
    # Pixels beside missing ones are weighed over the valid taps only: not all NaN, not all GDAL-free.
    assert np.unique(weighed[np.isfinite(weighed)]).size > 1000


def test_a_file_without_a_missing_pixel_and_a_nan_value(tmp_path: Path) -> None:
    data = random_values((1, 80, 120), "float32", seed=2)
    assert_same_as_gdal(geographic(tmp_path / "full.tif", data, -9999), paris_grid())
    data[0, 40, 30:70] = np.nan  # a value, not the nodata value
    assert_same_as_gdal(geographic(tmp_path / "nan.tif", data, -9999), paris_grid())


@pytest.mark.parametrize("zone", [30, 31])
def test_utm_tiles_of_two_zones(tmp_path: Path, zone: int) -> None:
    data = random_values((1, 200, 200), "uint16", seed=zone)
    data[0, :30] = 0
    west = 150_000 if zone == 31 else 650_000
    path = write_tif(tmp_path / f"{zone}.tif", data, crs=f"EPSG:326{zone}", transform=from_origin(west, 5_650_000, 4_000, 4_000), nodata=0)
    assert_same_as_gdal(path, paris_grid())


def test_a_grid_ending_in_the_files_last_half_column_and_row(tmp_path: Path) -> None:
    """The last column and row of pixels have taps beyond the file: GDAL weighs the others alone."""
    data = random_values((1, 80, 120), "float32", seed=3)
    path = geographic(tmp_path / "corner.tif", data, -1)  # east edge 8°, south edge 44°
    grid = Grid(crs="EPSG:4326", transform=from_origin(7.0, 45.0, 0.03, 0.03), width=33, height=33)  # to 7.99°, 44.01°
    with rasterio.open(path) as src:
        found = bilinear.bilinear_map(src, grid)
    assert found is not None
    # Some upper left taps are in the window's last column or row: their next taps in the padding.
    stride = found.window.width + 1
    assert ((found.corners % stride == found.window.width - 1) | (found.corners // stride == found.window.height - 1)).any()
    assert_same_as_gdal(path, grid)


@pytest.mark.parametrize(("west", "north"), [(1, 50), (-2, 50.5)])
def test_a_grid_reaching_beyond_a_files_edge_is_left_to_gdal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, west: float, north: float
) -> None:
    """Over the first half column and row GDAL's kernel moves its taps; just beyond the last ones
    it transforms pixels again, exactly: no map holds those weights, and none is made."""
    data = random_values((1, 30, 40), "float32", seed=4)
    path = geographic(tmp_path / "edge.tif", data, -1, west=west, north=north)
    grid = paris_grid()
    monkeypatch.setattr(bilinear, "_warped_patterns", lambda *args: pytest.fail("patterns warped for nothing"))
    with rasterio.open(path) as src:
        assert bilinear.read_bilinear(src, grid, (1,), -1) is None
        expected = gdal_bilinear(src, grid, (1,), -1)
    assert np.isnan(expected).any() and np.isfinite(expected).any()
    style = Style(rescale=(0, 100), resampling="bilinear")
    read = LocalRenderer().read(ItemAsset("edge", datetime(2024, 1, 1, tzinfo=UTC), str(path)), grid, style)
    np.testing.assert_array_equal(read.values, expected[0])


@pytest.mark.parametrize(("dtype", "nodata"), [("uint8", 7), ("uint8", 0.5), ("int16", -3), ("float64", 7), ("float32", float("nan"))])
def test_nodata_is_tested_as_gdal_tests_it(tmp_path: Path, dtype: str, nodata: float) -> None:
    """An integer file whose type cannot hold the nodata value has no missing pixel in GDAL."""
    data = random_values((1, 80, 120), dtype) % 10
    if np.dtype(dtype).kind == "f":
        data[0, 20:24] = nodata
    assert_same_as_gdal(geographic(tmp_path / "n.tif", data, None), paris_grid(), nodata=nodata)


def test_several_bands_of_one_file(tmp_path: Path) -> None:
    data = random_values((3, 80, 120), "uint16")
    data[1, 10:20, 10:20] = 1
    assert_same_as_gdal(geographic(tmp_path / "rgb.tif", data, 1), paris_grid(), bands=(3, 2))


def test_files_read_otherwise_are_left_to_gdal(tmp_path: Path) -> None:
    """No nodata value, an internal mask, or a grid that downsamples: ``None``."""
    data = random_values((1, 80, 120), "uint8")
    plain = geographic(tmp_path / "plain.tif", data, None)
    mask = np.full((80, 120), 255, dtype="uint8")
    mask[:10] = 0
    masked = write_tif(tmp_path / "m.tif", data, crs="EPSG:4326", transform=from_origin(-4, 52, 0.1, 0.1), nodata=None, mask=mask)
    with rasterio.open(plain) as src:
        assert bilinear.read_bilinear(src, paris_grid(), (1,), None) is None
        assert bilinear.read_bilinear(src, france_grid(24), (1,), 0) is None  # 58 km pixels of 0.1° ones
    with rasterio.open(masked) as src:
        assert bilinear.read_bilinear(src, paris_grid(), (1,), None) is None


def test_the_renderer_reads_through_the_map_once_per_layout_and_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    warp = bilinear._warped_patterns
    monkeypatch.setattr(bilinear, "_warped_patterns", lambda *args: made.append(1) or warp(*args))
    paths = [geographic(tmp_path / f"{day}.tif", random_values((1, 80, 120), "float32", seed=day), -9999) for day in range(4)]
    style = Style(rescale=(0, 100), resampling="bilinear")
    renderer = LocalRenderer()
    for day, path in enumerate(paths):
        read = renderer.read(ItemAsset(str(day), datetime(2024, 1, 1 + day, tzinfo=UTC), str(path)), paris_grid(), style)
        with rasterio.open(path) as src:
            np.testing.assert_array_equal(read.values, gdal_bilinear(src, paris_grid(), (1,), -9999)[0])
        assert (read.valid == np.isfinite(read.values)).all()
    renderer.read(ItemAsset("other", datetime(2024, 2, 1, tzinfo=UTC), str(paths[0])), paris_grid(64), style)
    assert len(made) == 2  # the four dates share one map; another grid has its own


def _read_in_a_process(path: str, grid: Grid, folder: str, result: str) -> None:
    """A worker's read (GDAL's while the other process is making the map, then through it)."""
    buildcache.clear()  # a worker of its own: no map inherited
    style = Style(rescale=(0, 100), resampling="bilinear")
    read = LocalRenderer(maps=folder).read(ItemAsset("a", datetime(2024, 1, 1, tzinfo=UTC), path), grid, style)
    np.save(result, read.values)


def test_the_processes_of_a_build_share_their_maps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes reading files of one layout: one makes the map, the other loads it (or, if
    it comes while the map is being made, reads that file with GDAL)."""
    import multiprocessing
    import os

    made = tmp_path / "made"
    made.mkdir()
    make = bilinear._make_map

    def counted(src: rasterio.io.DatasetReader, grid: Grid) -> bilinear.BilinearMap | None:
        (made / str(os.getpid())).touch()
        return make(src, grid)

    monkeypatch.setattr(bilinear, "_make_map", counted)  # the forked processes inherit it
    paths = [str(geographic(tmp_path / f"{day}.tif", random_values((1, 80, 120), "float32", seed=day), -9999)) for day in range(2)]
    maps = tmp_path / "maps"
    maps.mkdir()
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_read_in_a_process, args=(path, paris_grid(), str(maps), str(tmp_path / f"{day}.npy")))
        for day, path in enumerate(paths)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(list(made.iterdir())) == 1  # made once, by one of the two
    for day, path in enumerate(paths):
        with rasterio.open(path) as src:
            np.testing.assert_array_equal(np.load(tmp_path / f"{day}.npy"), gdal_bilinear(src, paris_grid(), (1,), -9999)[0])
    with rasterio.open(paths[0]) as src:  # a process without the folder (another machine) makes its own
        assert bilinear.read_bilinear(src, paris_grid(), (1,), -9999, str(tmp_path / "elsewhere")) is not None
    assert len(list(made.iterdir())) == 2


def test_another_gdal_is_checked_and_one_that_weighs_otherwise_warps_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The maps follow GDAL 3.10's kernel: another version is compared with them once, on a
    small file, and warps every file itself if any pixel differs."""
    path = geographic(tmp_path / "a.tif", random_values((1, 80, 120), "float32"), -9999)
    monkeypatch.setattr(bilinear, "gdal_version", lambda: (3, 11))
    bilinear.gdal_weighs_as_maps.cache_clear()
    assert bilinear.gdal_weighs_as_maps()  # the check passes where GDAL does weigh so
    weighed = bilinear.weighed

    def skewed(found: bilinear.BilinearMap, values: np.ndarray, missing: np.ndarray | None, out: np.ndarray) -> None:
        weighed(found, values, missing, out)
        out *= np.float32(1.000001)

    monkeypatch.setattr(bilinear, "weighed", skewed)
    bilinear.gdal_weighs_as_maps.cache_clear()
    try:
        assert not bilinear.gdal_weighs_as_maps()
        with rasterio.open(path) as src:
            assert bilinear.read_bilinear(src, paris_grid(), (1,), -9999) is None
        style = Style(rescale=(0, 100), resampling="bilinear")
        read = LocalRenderer().read(ItemAsset("a", datetime(2024, 1, 1, tzinfo=UTC), str(path)), paris_grid(), style)
        with rasterio.open(path) as src:
            np.testing.assert_array_equal(read.values, gdal_bilinear(src, paris_grid(), (1,), -9999)[0])
    finally:
        bilinear.gdal_weighs_as_maps.cache_clear()


def test_a_series_too_short_for_a_map_is_warped_by_gdal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A map costs about what ``MAP_PAYS_AFTER`` reads through it save: a shorter series leaves
    every frame to GDAL's warp (the same values), a series that long reads through the map."""
    made: list[Grid] = []
    make = bilinear._make_map
    monkeypatch.setattr(bilinear, "_make_map", lambda src, grid: made.append(grid) or make(src, grid))
    path = geographic(tmp_path / "a.tif", random_values((1, 80, 120), "float32"), -9999)
    item = ItemAsset("a", datetime(2024, 1, 1, tzinfo=UTC), str(path))
    style = Style(rescale=(0, 100), resampling="bilinear")
    with rasterio.open(path) as src:
        expected = gdal_bilinear(src, paris_grid(), (1,), -9999)[0]
    short = LocalRenderer().for_series(bilinear.MAP_PAYS_AFTER - 1).read(item, paris_grid(), style)
    assert made == []
    np.testing.assert_array_equal(short.values, expected)
    long = LocalRenderer().for_series(bilinear.MAP_PAYS_AFTER).read(item, paris_grid(), style)
    assert made == [paris_grid()]
    np.testing.assert_array_equal(long.values, expected)


@pytest.mark.parametrize("months", [3, bilinear.MAP_PAYS_AFTER])
def test_a_build_makes_a_read_map_for_a_series_long_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, months: int) -> None:
    """The build tells the renderer how many data frames the series has."""
    made: list[Grid] = []
    make = bilinear._make_map
    monkeypatch.setattr(bilinear, "_make_map", lambda src, grid: made.append(grid) or make(src, grid))
    cogs = [write_cog(tmp_path / "cogs" / f"{month}.tif", column_values(64) + month) for month in range(1, months + 1)]
    items = [FakeItem(f"i{month}", f"2020-{month:02d}-01T00:00:00Z", cog) for month, cog in enumerate(cogs, start=1)]
    write_catalog(tmp_path / "cat", "c", items)
    config = tmp_path / "site_config.yml"
    config.write_text(  # 64 px over 48°: finer than the files' 1° pixels, read without downsampling
        "site: {title: Series}\nsources: {s: {catalog: cat/catalog.json}}\n"
        "collections: [{id: c, source: s, style: {rescale: [0, 80], resampling: bilinear}}]\n"
        "regions: [{id: a, bbox: [8, 8, 56, 56]}]\nrender: {size: 64, formats: [gif]}\n"
    )
    assert main(["build", "--jobs", "1", "--no-cache", "--config", str(config)]) == 0
    assert len(made) == (0 if months < bilinear.MAP_PAYS_AFTER else 1)


def test_a_larger_grid_needs_a_longer_series_for_a_map() -> None:
    """A map grows with its grid: beyond 512 × 512 px it takes proportionally more reads to pay."""
    assert bilinear.map_pays(bilinear.MAP_PAYS_AFTER, paris_grid(64))
    assert bilinear.map_pays(bilinear.MAP_PAYS_AFTER, paris_grid(512))
    assert not bilinear.map_pays(bilinear.MAP_PAYS_AFTER, paris_grid(1024))
    assert bilinear.map_pays(4 * bilinear.MAP_PAYS_AFTER, paris_grid(1024))
