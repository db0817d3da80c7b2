"""Bilinear reads that do not downsample, through GDAL's own weights worked out once per file
layout and grid.

Owns the local renderer's read at bilinear resampling when the grid is as fine as the file or
finer (coarse data over a region: the demo's NO2, monthly products at 0.1°). GDAL's bilinear
warp there weighs the four source pixels around each grid pixel's position, and which pixels
and weights depend only on the file's layout (CRS, transform, size) and the grid, shared by every
date of a series. So the weights are read back from GDAL's warp, once per layout and grid, of
a raster of the four row/column parity classes (each grid pixel's four taps fall in four classes,
and a warp of a class's 0/1 pattern gives that tap's weight exactly, as GDAL multiplies it) and
of the source rows and columns (which pixel is the upper left tap); each read then applies them
as GDAL's kernel does for a file with a nodata value: the valid taps' weighted sum over their
weights, in GDAL's order and in doubles, missing where the weights of the valid taps are
(almost) nothing or where the pixel under the grid pixel's centre is missing. The values are
GDAL's warp of the file, bit for bit (tested against GDAL 3.10; another GDAL is compared with
the maps once per process, ``gdal_weighs_as_maps``), for a fraction of its CPU (the demo's
frames at 512 px: ≈ 12 ms a warp, ≈ 4.5 ms a read through the map, a map ≈ 80 ms; at 1024 px
34 ms, 10 ms and 0.3 s: ``benchmarks/maps.py``). A series too short for its map to pay
(:func:`map_pays`: 12 frames up to 512 × 512 px, more beyond) is warped by GDAL
(``LocalRenderer.for_series``).

Files without a nodata value (GDAL then warps with another formula, whose inputs a warp cannot
hand back exactly), files with an internal mask or alpha band, grids that reach a file's edge
(GDAL's kernel shifts its taps over the first half row and column, and transforms the pixels
just beyond the edge again, exactly: told from the grid's footprint before any map is made),
windows too large and files the grid does not show are warped by GDAL as before (``None``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from generator.core.model import Grid
from generator.render.nearest import (
    MAPS,
    array_window,
    footprint_window,
    grown_window,
    missing_values,
    takes_by_nodata,
    window_array,
)
from generator.render.warp import gdal_version, grid_crs, grid_in_source_crs

if TYPE_CHECKING:
    import rasterio
    from rasterio.windows import Window

#: The largest source window weighed, in pixels: its six layers of doubles are warped at once
#: (48 bytes a pixel). A grid that does not downsample shows at most about its own size.
MAX_WINDOW_PIXELS = 1_500_000
_PAD = 2  # pattern pixels beyond the window: every tap of a pixel GDAL writes falls inside them
_GROWTHS = 3  # times a window whose taps reach beyond it is grown before GDAL warps the file
#: A series reading a grid of up to :data:`MAP_PIXELS` fewer times than this is warped by GDAL
#: frame by frame: a map costs about as much as this many reads through it save
#: (``benchmarks/maps.py``: 6 reads at 256 px, 9–13 at 512 px).
MAP_PAYS_AFTER = 12
#: Beyond this many grid pixels a map costs proportionally more reads: it grows with the grid
#: (1024 px: 16–30 reads in ``benchmarks/maps.py``), and builds of 24 frames at 1024 px with
#: maps took more CPU than without, the first touch of their memory included.
MAP_PIXELS = 512 * 512
#: GDAL's bilinear kernel leaves a pixel unwritten when its valid taps weigh less than this.
_MIN_DIVISOR = 0.00001
#: A tap position is taken from the warped row/column only when its parity class's weight
#: explains the warped value to within this (it does to ≈ 1e-13).
_TOLERANCE = 1e-9


def map_pays(reads: int, grid: Grid) -> bool:
    """Whether a series of ``reads`` reads of ``grid`` is long enough to pay for a bilinear map."""
    return reads >= MAP_PAYS_AFTER * max(1.0, grid.width * grid.height / MAP_PIXELS)


@dataclass(frozen=True, eq=False)
class BilinearMap:
    """Where and how the grid weighs a file of one layout: grid pixel ``positions`` (flat) get
    four taps (upper left, upper right, lower left, lower right) weighed by ``weights``. The taps
    are pixels of ``window`` with a zero column and row after it (:func:`padded`): ``corners``
    holds each upper left tap's flat index there, and the others follow it (+1, + a row, + a row
    and 1). A tap beyond the file falls in the zeros, and weighs zero. ``centres`` is the tap
    under each pixel's centre, flat in the same layout. Every other grid pixel is missing."""

    window: Window
    positions: np.ndarray
    corners: np.ndarray
    weights: np.ndarray
    centres: np.ndarray
    divisor: np.ndarray  # the weights' sum where no tap is missing, added as GDAL adds them

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays().values())

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "window": window_array(self.window), "positions": self.positions, "corners": self.corners,
            "weights": self.weights, "centres": self.centres, "divisor": self.divisor,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> BilinearMap:
        return cls(
            array_window(arrays["window"]), arrays["positions"], arrays["corners"], arrays["weights"], arrays["centres"],
            arrays["divisor"],
        )


def read_bilinear(
    src: rasterio.io.DatasetReader, grid: Grid, bands: tuple[int, ...], nodata: float | None, maps: str | None = None
) -> np.ndarray | None:
    """``bands`` of ``src`` on the grid (one float32 layer per band, NaN where missing), as GDAL's
    bilinear warp with ``nodata`` as the source's gives them when it does not downsample;
    ``None`` for a file read otherwise. ``maps``: the folder the build's processes share their
    maps in (``nearest.shared_map``)."""
    if nodata is None or not takes_by_nodata(src, bands) or not gdal_weighs_as_maps():
        return None
    found = bilinear_map(src, grid, maps)
    return None if found is None else _weighed_layers(src, grid, bands, nodata, found)


def _weighed_layers(
    src: rasterio.io.DatasetReader, grid: Grid, bands: tuple[int, ...], nodata: float, found: BilinearMap
) -> np.ndarray:
    size = grid.height * grid.width
    whole = found.positions.size == size  # every grid pixel is weighed: no scatter, none left missing
    layers = np.empty((len(bands), size), dtype="float32") if whole else np.full((len(bands), size), np.nan, dtype="float32")
    for layer, values in enumerate(src.read(list(bands), window=found.window)):
        missing = np.isnan(values) if math.isnan(nodata) and values.dtype.kind == "f" else missing_values(values, nodata)
        if whole:
            weighed(found, values, missing, layers[layer])
        else:
            taken = np.empty(found.positions.size, dtype="float32")
            weighed(found, values, missing, taken)
            layers[layer, found.positions] = taken
    return layers.reshape(len(bands), *grid.shape)


@functools.cache
def gdal_weighs_as_maps() -> bool:
    """Whether this process's GDAL warps as the maps weigh. The rules they follow were read from
    GDAL 3.10's results (and are tested against them); another GDAL is checked once per process
    on a small file (missing pixels, a NaN value, another CRS, upsampled), and one whose bilinear
    kernel differs warps every file itself."""
    return gdal_version() == (3, 10) or _weighs_as_gdal_here()


def _weighs_as_gdal_here() -> bool:
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin
    from rasterio.warp import reproject

    values = np.random.default_rng(0).uniform(0, 100, (24, 32)).astype("float32")
    values[5:8, 10:14] = values[15, 20] = -9999
    values[12, 3] = np.nan
    laea = "+proj=laea +lat_0=46 +lon_0=2 +datum=WGS84 +units=m +no_defs"
    grid = Grid(crs=laea, transform=Affine(5000, 0, -60_000, 0, -5000, 60_000), width=24, height=24)
    profile = dict(
        driver="GTiff", width=32, height=24, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(0.4, 47.5, 0.1, 0.1), nodata=-9999,
    )
    with MemoryFile() as memory:  # about 30 ms, once per process
        with memory.open(**profile) as written:
            written.write(values, 1)
        with memory.open() as src:
            found = _make_map(src, grid)
            if found is None:
                return False
            weighed_here = _weighed_layers(src, grid, (1,), -9999.0, found)
            warped = np.full((1, *grid.shape), np.nan, dtype="float32")
            reproject(
                source=rasterio.band(src, 1), destination=warped[0], src_nodata=-9999.0,
                dst_transform=grid.transform, dst_crs=grid_crs(grid.crs), dst_nodata=None, init_dest_nodata=False,
                resampling=Resampling.bilinear,
            )
    return bool(np.array_equal(weighed_here, warped, equal_nan=True))


#: Grid pixels weighed at a time: a chunk's values, weights and sums stay in the CPU's caches,
#: and no array the size of the grid is made but the layer itself (whole 1024-px grids streamed
#: through memory took twice as long, and each fresh array pays its pages' first touch).
_CHUNK = 1 << 15


def padded(values: np.ndarray, fill: float | bool = 0) -> np.ndarray:
    """``values`` (a window) with one more column and row of ``fill``, flat, in the dtype a
    map weighs in: where the taps beyond the file fall."""
    height, width = values.shape
    out = np.full((height + 1, width + 1), fill, dtype=np.float64 if values.dtype != bool else bool)
    out[:height, :width] = values
    return out.reshape(-1)


def weighed(found: BilinearMap, values: np.ndarray, missing: np.ndarray | None, out: np.ndarray) -> None:
    """GDAL's bilinear kernel over ``values`` (the window's) at the map's pixels, in doubles,
    into ``out`` (one value per map pixel, rounded to its type as GDAL's warp rounds)."""
    flat = padded(values)
    skipped = None if missing is None or not missing.any() else padded(missing, False)
    if skipped is not None:
        flat[skipped] = np.nan  # marks the pixels with a missing tap: their sum comes out NaN
    shifts = _shifts(values.shape[1])
    taps = [flat[shift:] for shift in shifts]  # each tap's value at its corner's index
    count = found.corners.size
    sums, product = np.empty(min(_CHUNK, count)), np.empty(min(_CHUNK, count))
    for start in range(0, count, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        corners, weights = found.corners[chunk], found.weights[:, chunk]
        total, part = sums[: corners.size], product[: corners.size]
        np.take(taps[0], corners, out=total, mode="clip")  # every index is in range: no check
        total *= weights[0]
        total += 0.0  # GDAL's sum starts at zero: -0.0 + 0.0 is 0.0, as it has it
        for tap, tap_weights in zip(taps[1:], weights[1:], strict=True):
            np.take(tap, corners, out=part, mode="clip")
            part *= tap_weights
            total += part
        divisor = found.divisor[chunk]  # ≥ 0.25 where no tap is missing: none too small
        if skipped is None:
            out[chunk] = _divided(total, divisor)
            continue
        touched = np.flatnonzero(np.isnan(total))
        gone = _weighed_again(found, flat, skipped, shifts, start, touched, total, divisor)
        out[chunk] = total
        out[start + gone] = np.nan


def _weighed_again(
    found: BilinearMap, flat: np.ndarray, skipped: np.ndarray, shifts: tuple[int, ...], start: int,
    touched: np.ndarray, total: np.ndarray, divisor: np.ndarray,
) -> np.ndarray:
    """Divide ``total`` (a chunk's sums from ``start``) by ``divisor``, the ``touched`` pixels (a
    missing tap or a NaN value among their taps) weighed again over their valid taps alone; the
    chunk's pixels that are missing: their valid taps weigh too little or the tap under their
    centre is missing."""
    if touched.size == 0:
        _divided(total, divisor)
        return touched
    pixels = start + touched
    corners = found.corners.take(pixels)
    again, weighs = np.zeros(touched.size), np.zeros(touched.size)
    for shift, tap_weights in zip(shifts, found.weights, strict=True):
        taps_here = corners + shift
        kept = ~skipped.take(taps_here)
        weights = np.where(kept, tap_weights.take(pixels), 0.0)  # zero where the tap is missing: GDAL skips it
        again += np.where(kept, flat.take(taps_here), 0.0) * weights
        weighs += weights
    total[touched] = again
    divisor = divisor.copy()
    divisor[touched] = weighs
    _divided(total, divisor)
    return touched[(weighs < _MIN_DIVISOR) | skipped.take(found.centres.take(pixels))]


def _shifts(width: int) -> tuple[int, int, int, int]:
    """How far each tap is from the upper left one, flat in a window ``width`` wide, padded."""
    return (0, 1, width + 1, width + 2)


def _divided(total: np.ndarray, divisor: np.ndarray) -> np.ndarray:
    """``total`` over ``divisor`` where it is not 1, in place, as GDAL divides."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(total, divisor, out=total, where=divisor != 1.0)


def bilinear_map(src: rasterio.io.DatasetReader, grid: Grid, maps: str | None = None) -> BilinearMap | None:
    """The map of ``src``'s layout onto ``grid``, kept for the build (with the nearest maps);
    ``None`` when GDAL is to warp the file itself."""
    key = ("bilinear", src.crs, src.width, src.height, src.transform, grid)
    return MAPS.get(key, lambda: _make_map(src, grid), BilinearMap, maps)


def _make_map(src: rasterio.io.DatasetReader, grid: Grid) -> BilinearMap | None:
    """The weights GDAL's warp gives each grid pixel, read back from a warp of patterns over the
    grid's footprint in the file, grown while some taps fall in the file beyond it."""
    if not _well_inside(src, grid):
        return None  # the grid reaches an edge: no need to warp the patterns to learn it
    window = footprint_window(src, grid)
    for _ in range(_GROWTHS + 1):
        if window is None or window.width * window.height > MAX_WINDOW_PIXELS:
            return None
        warped = _warped_patterns(src, window, grid)
        positions = np.flatnonzero(np.isfinite(warped[0]).reshape(-1))
        if positions.size == 0:
            return None
        written = warped.reshape(6, -1)
        if positions.size < written.shape[1]:  # else every pixel is written: no copy
            written = written[:, positions]
        cols, rows, weights, centre_cols, centre_rows, exact = _decoded(written)
        # Back from the patterns (the window with _PAD around it) to the file's pixels.
        for numbers, start in ((cols, window.col_off), (rows, window.row_off), (centre_cols, window.col_off), (centre_rows, window.row_off)):
            numbers += int(start) - _PAD
        inside = (centre_cols >= 0) & (centre_cols < src.width) & (centre_rows >= 0) & (centre_rows < src.height)
        if not inside.any():
            return None
        at_an_edge = _at_an_edge(src, cols, rows, weights, inside)
        positions, cols, rows, weights = positions[inside], cols[inside], rows[inside], weights[:, inside]
        centre_cols, centre_rows, exact = centre_cols[inside], centre_rows[inside], exact[inside]
        grown = _grown(src, window, cols, rows, exact)
        if grown is not None:
            window = grown
            continue
        if not exact.all() or (cols < 0).any() or (rows < 0).any() or at_an_edge:
            return None  # some pixel is not four taps' blend (GDAL downsamples), or the grid reaches an edge
        return _tightened(src, positions, cols, rows, weights, centre_cols, centre_rows)
    return None


def _well_inside(src: rasterio.io.DatasetReader, grid: Grid) -> bool:
    """Whether the grid's footprint (its sampled edges) lies inside the file, clear of its first
    half row and column; where it does not, some grid pixel almost surely falls there or beyond
    the file."""
    transform, width, height = grid_in_source_crs(grid, src.crs)
    inverse = ~src.transform
    cols, rows = zip(*(inverse * corner for corner in (transform * (0, 0), transform * (width, height))), strict=True)
    return min(cols) >= 0.5 and min(rows) >= 0.5 and max(cols) <= src.width and max(rows) <= src.height


def _at_an_edge(src: rasterio.io.DatasetReader, cols: np.ndarray, rows: np.ndarray, weights: np.ndarray, inside: np.ndarray) -> bool:
    """Whether some grid pixel falls within a pixel beyond the file's edge: GDAL transforms those
    again without its approximation and warps the ones that land inside at positions no warp of
    the patterns hands back."""
    left, upper = weights[0] + weights[2], weights[0] + weights[1]
    x, y = cols + 1.5 - left, rows + 1.5 - upper  # the pixels' positions in the file, ± 1e-13
    near = (x > -1) & (x < src.width + 1) & (y > -1) & (y < src.height + 1)
    return bool((near & ~inside).any())


def _warped_patterns(src: rasterio.io.DatasetReader, window: Window, grid: Grid) -> np.ndarray:
    """GDAL's bilinear warp onto the grid of six patterns over ``window`` and ``_PAD`` pixels
    around it: the four row/column parity classes (0 or 1) and the column and row numbers, in
    doubles, with the transformer and error threshold of a read of the file. NaN where GDAL
    writes nothing."""
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    height, width = int(window.height) + 2 * _PAD, int(window.width) + 2 * _PAD
    rows, cols = np.mgrid[0:height, 0:width]
    classes = (rows % 2) * 2 + cols % 2
    patterns = np.empty((6, height, width))
    for number in range(4):
        patterns[number] = classes == number
    patterns[4], patterns[5] = cols, rows
    warped = np.full((6, *grid.shape), np.nan)
    reproject(
        source=patterns,
        destination=warped,
        src_transform=src.transform * Affine.translation(int(window.col_off) - _PAD, int(window.row_off) - _PAD),
        src_crs=src.crs,
        dst_transform=grid.transform,
        dst_crs=grid_crs(grid.crs),
        src_nodata=None,
        dst_nodata=None,
        init_dest_nodata=False,
        resampling=Resampling.bilinear,
    )
    return warped


def _decoded(warped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From the warped patterns at each pixel GDAL wrote: the upper left tap's column and row (in
    the patterns), the four taps' weights (upper left, upper right, lower left, lower right), the
    column and row under the pixel's centre, and whether the pixel is a blend of those four taps
    (not where GDAL's kernel met the patterns' edge, or downsampled)."""
    classes = warped[:4]
    by_column = (classes[0] + classes[2], classes[1] + classes[3])  # weights of even, odd columns
    by_row = (classes[0] + classes[1], classes[2] + classes[3])
    cols, left, cols_exact = _first_taps(warped[4], by_column)
    rows, upper, rows_exact = _first_taps(warped[5], by_row)
    # The upper left tap's class, and the others' by flipping its column and row parities.
    upper_left = (rows & 1) * 2 + (cols & 1)
    weights = np.empty_like(classes)
    pixels = np.arange(classes.shape[1])
    for tap in range(4):  # class number × pixel count + pixel: the tap's class, flat
        np.take(classes.reshape(-1), (upper_left ^ tap) * classes.shape[1] + pixels, out=weights[tap])
    exact = cols_exact & rows_exact & (np.abs(weights.sum(axis=0) - 1) < _TOLERANCE)
    # The centre lies in the first tap's pixel when that tap weighs more than half (GDAL:
    # ratio = 1.5 - (position - first tap)), else in the next one's.
    return cols, rows, weights, cols + (left <= 0.5), rows + (upper <= 0.5), exact


def _first_taps(warped: np.ndarray, by_parity: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first tap along one axis, its weight and whether it explains the warped value.

    GDAL's blend of numbers n and n + 1 with weights w and 1 - w is n + 1 - w, whose integer
    part is n; and n's parity class weighs w. (A tap weighing less than the blend's rounding,
    ≈ 1e-13, cannot be told from the one beyond the other tap: its share is below a float's.)"""
    found = np.floor(warped)
    weight = np.where(found % 2 == 1, by_parity[1], by_parity[0])
    explained = np.abs(weight - (found + 1 - warped)) < _TOLERANCE
    return found.astype(np.int64), weight, explained


def _grown(
    src: rasterio.io.DatasetReader, window: Window, cols: np.ndarray, rows: np.ndarray, exact: np.ndarray
) -> Window | None:
    """A larger window when some taps fall in the file beyond ``window`` (or where a pixel is
    no blend of four pattern pixels: it met the patterns' edge); ``None`` if it needs none or
    already spans the file."""
    cols, rows = np.clip(cols[exact], 0, src.width - 2), np.clip(rows[exact], 0, src.height - 2)
    reached = not exact.all() or (
        cols.size > 0 and (
            cols.min() < window.col_off or rows.min() < window.row_off
            or cols.max() + 1 >= window.col_off + window.width or rows.max() + 1 >= window.row_off + window.height
        )
    )
    if not reached:
        return None
    grown = grown_window(src, window)
    return None if grown == window else grown


def _tightened(
    src: rasterio.io.DatasetReader, positions: np.ndarray, cols: np.ndarray, rows: np.ndarray, weights: np.ndarray,
    centre_cols: np.ndarray, centre_rows: np.ndarray,
) -> BilinearMap:
    """The map over the smallest window of the file holding every tap (only those are read)."""
    from rasterio.windows import Window

    col_start, row_start = int(cols.min()), int(rows.min())
    col_stop = min(int(cols.max()) + 2, src.width)
    row_stop = min(int(rows.max()) + 2, src.height)
    width, height = col_stop - col_start, row_stop - row_start
    stride = width + 1  # the padded window's row (``padded``)
    for number, (down, right) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        beyond = (cols + right >= src.width) | (rows + down >= src.height)  # in the padding
        weights[number, beyond] = 0.0
    divisor = np.zeros(positions.size)
    for tap_weights in weights:
        divisor += tap_weights
    corners = ((rows - row_start) * stride + cols - col_start).astype(np.intp)
    centres = ((centre_rows - row_start) * stride + centre_cols - col_start).astype(np.intp)
    window = Window(col_start, row_start, width, height)
    # Each tap's weights in a row of their own (``weights[:, inside]`` laid them out by pixel):
    # a read takes a row a chunk at a time, and a take from a strided row copies the whole row.
    weights = np.ascontiguousarray(weights)
    return BilinearMap(window, positions.astype(np.int32), corners, weights, centres, divisor)
