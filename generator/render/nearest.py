"""Nearest-neighbour reads whose warp is worked out once per file layout and grid.

Owns the local renderer's read at nearest resampling (the default). Which source pixel each grid
pixel shows depends only on the file's layout (CRS, transform, size) and the grid, and the files
of a time series share it: the demo's monthly COGs, every date of one Sentinel-2 tile. So GDAL's
own nearest warp is made once per layout and grid, of a raster whose values are the source
pixels' positions (``nearest_map``), and each read takes the file's values at those positions:
the values GDAL's warp of the file gives, bit for bit, for a fraction of its CPU (the demo's
frames: ≈ 7 ms a warp, ≈ 0.5 ms a take). The maps are kept for the build, within a memory budget
(``Maps``, which keeps the bilinear ones too), and the processes of a build share them through a
folder of the build's (``shared_map``).

Files whose missing pixels are not told by a nodata value alone (an alpha band, an internal
mask), data types GDAL's nodata test treats apart, source windows too large to index (heavy
downsampling of a file without overviews) and files the grid does not show are warped by GDAL as
before (``None``).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, cast

import numpy as np

from generator.core import buildcache
from generator.core.model import Grid
from generator.render.warp import grid_crs, grid_in_source_crs

if TYPE_CHECKING:
    import rasterio
    from rasterio.windows import Window

#: The largest source window indexed, in pixels (its positions raster takes 4 bytes a pixel).
MAX_WINDOW_PIXELS = 4_000_000
#: Bytes of maps kept per process; the least recently used go first. A nearest map takes 8 bytes
#: per grid pixel the file covers (a 1024 px grid's maps for a mosaic of many tiles: 8 MB in all),
#: a bilinear one 60 (``render.bilinear``: 58 MB for a 1024 px grid the file covers).
BUDGET_BYTES = 128 * 2**20
#: Bytes of maps a build's processes leave for each other on disk (``shared_map``): beyond them,
#: each process makes its own. A bilinear map of a 512 px grid is 14.6 MB.
SHARED_BYTES = 1 << 30
#: Source pixels around the grid's footprint (its edges are sampled, not traced).
_PAD = 2
_GROWTHS = 3  # times a window whose warp reaches its edge is grown before GDAL warps the file


@dataclass(frozen=True, eq=False)
class NearestMap:
    """Where the grid shows a file of one layout: ``positions`` (flat, in the grid) show the
    source pixels ``sources`` (flat, in ``window``); every other grid pixel is missing."""

    window: Window
    positions: np.ndarray
    sources: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.positions.nbytes + self.sources.nbytes

    def arrays(self) -> dict[str, np.ndarray]:
        return {"window": window_array(self.window), "positions": self.positions, "sources": self.sources}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> NearestMap:
        return cls(array_window(arrays["window"]), arrays["positions"], arrays["sources"])


def window_array(window: Window) -> np.ndarray:
    return np.array([window.col_off, window.row_off, window.width, window.height], dtype=np.int64)


def array_window(numbers: np.ndarray) -> Window:
    from rasterio.windows import Window

    return Window(*(int(number) for number in numbers))


def read_nearest(
    src: rasterio.io.DatasetReader, grid: Grid, bands: tuple[int, ...], nodata: float | None, maps: str | None = None
) -> np.ndarray | None:
    """``bands`` of ``src`` on the grid (one float32 layer per band, NaN where missing), as GDAL's
    nearest warp with ``nodata`` as the source's gives them; ``None`` for a file read otherwise.
    ``maps``: the folder the build's processes share their maps in (``shared_map``)."""
    if not takes_by_nodata(src, bands):
        return None
    found = nearest_map(src, grid, maps)
    if found is None:
        return None
    stack = np.full((len(bands), grid.height * grid.width), np.nan, dtype="float32")
    data = src.read(list(bands), window=found.window)
    for layer, values in enumerate(data):
        taken = values.reshape(-1).take(found.sources)
        missing = missing_values(taken, nodata)
        taken = taken.astype("float32")
        if missing is not None:
            taken[missing] = np.nan
        stack[layer, found.positions] = taken
    return stack.reshape(len(bands), *grid.shape)


def takes_by_nodata(src: rasterio.io.DatasetReader, bands: tuple[int, ...]) -> bool:
    """Whether the file's missing pixels are its nodata value's alone, in a type tested here."""
    from rasterio.enums import MaskFlags

    for band in bands:
        if src.mask_flag_enums[band - 1] not in ([MaskFlags.nodata], [MaskFlags.all_valid]):
            return False
        if np.dtype(src.dtypes[band - 1]).kind not in "uif":
            return False
    return True


def missing_values(values: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """The values equal to ``nodata`` as GDAL's warp tests them: in the file's type, and none at
    all for an integer type that cannot hold the value. NaN stays NaN in the float output."""
    if nodata is None or math.isnan(nodata):
        return None
    if values.dtype.kind == "f":
        with np.errstate(over="ignore"):
            return values == values.dtype.type(nodata)
    limits = np.iinfo(values.dtype)
    if not (limits.min <= nodata <= limits.max) or nodata != math.floor(nodata):
        return None
    return values == int(nodata)


def nearest_map(src: rasterio.io.DatasetReader, grid: Grid, maps: str | None = None) -> NearestMap | None:
    """The map of ``src``'s layout onto ``grid``, kept for the build; ``None`` when its window is
    too large to index or the warp shows none of it (GDAL then has the last word)."""
    key = (src.crs, src.width, src.height, src.transform, grid)
    return MAPS.get(key, lambda: _make_map(src, grid), NearestMap, maps)


def _make_map(src: rasterio.io.DatasetReader, grid: Grid) -> NearestMap | None:
    """GDAL's nearest warp of a raster of source positions over the grid's footprint in the file.

    The footprint comes from the grid's sampled edges, so a warp that still reaches the window's
    edge inside the file is made again in a larger window."""
    window = footprint_window(src, grid)
    for _ in range(_GROWTHS + 1):
        if window is None or window.width * window.height > MAX_WINDOW_PIXELS:
            return None
        index = _warped_positions(src, window, grid)
        positions = np.flatnonzero(index >= 0)
        if positions.size == 0:
            return None
        sources = index.reshape(-1)[positions]
        rows, cols = np.divmod(sources, window.width)
        grown = _grown(src, window, rows, cols)
        if grown is None:
            return _tightened(window, positions, rows, cols)
        window = grown
    return None


def footprint_window(src: rasterio.io.DatasetReader, grid: Grid) -> Window | None:
    """The file's pixels under the grid's footprint (plus a margin), within the file."""
    from rasterio.windows import Window

    transform, width, height = grid_in_source_crs(grid, src.crs)
    corners = [transform * (0, 0), transform * (width, height)]
    inverse = ~src.transform
    cols, rows = zip(*(inverse * corner for corner in corners), strict=True)
    col_start = max(0, math.floor(min(cols)) - _PAD)
    row_start = max(0, math.floor(min(rows)) - _PAD)
    col_stop = min(src.width, math.ceil(max(cols)) + _PAD)
    row_stop = min(src.height, math.ceil(max(rows)) + _PAD)
    if col_stop <= col_start or row_stop <= row_start:
        return None
    return Window(col_start, row_start, col_stop - col_start, row_stop - row_start)


def _warped_positions(src: rasterio.io.DatasetReader, window: Window, grid: Grid) -> np.ndarray:
    """Each grid pixel's source position in ``window`` (row-major), -1 where none: GDAL's nearest
    warp, with the transformer and error threshold of a read of the file."""
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    positions = np.arange(window.width * window.height, dtype=np.int32).reshape(int(window.height), int(window.width))
    index = np.full(grid.shape, -1, dtype=np.int32)
    reproject(
        source=positions,
        destination=index,
        src_transform=src.window_transform(window),
        src_crs=src.crs,
        dst_transform=grid.transform,
        dst_crs=grid_crs(grid.crs),
        dst_nodata=None,
        init_dest_nodata=False,
        resampling=Resampling.nearest,
    )
    return index


def _grown(src: rasterio.io.DatasetReader, window: Window, rows: np.ndarray, cols: np.ndarray) -> Window | None:
    """A larger window when the warp reached an edge of ``window`` that is not the file's."""
    reached = (
        (window.col_off > 0 and cols.min() == 0)
        or (window.row_off > 0 and rows.min() == 0)
        or (window.col_off + window.width < src.width and cols.max() == window.width - 1)
        or (window.row_off + window.height < src.height and rows.max() == window.height - 1)
    )
    return grown_window(src, window) if reached else None


def grown_window(src: rasterio.io.DatasetReader, window: Window) -> Window:
    """``window`` with half its size (8 pixels at least) more on every side, within the file."""
    from rasterio.windows import Window

    pad_cols, pad_rows = max(8, window.width // 2), max(8, window.height // 2)
    col_start, row_start = max(0, window.col_off - pad_cols), max(0, window.row_off - pad_rows)
    col_stop = min(src.width, window.col_off + window.width + pad_cols)
    row_stop = min(src.height, window.row_off + window.height + pad_rows)
    return Window(col_start, row_start, col_stop - col_start, row_stop - row_start)


def _tightened(window: Window, positions: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> NearestMap:
    """The map over the smallest window holding the pixels the grid shows (only those are read)."""
    from rasterio.windows import Window

    row_start, col_start = int(rows.min()), int(cols.min())
    width = int(cols.max()) - col_start + 1
    height = int(rows.max()) - row_start + 1
    sources = ((rows - row_start) * width + (cols - col_start)).astype(np.int32)
    tight = Window(window.col_off + col_start, window.row_off + row_start, width, height)
    return NearestMap(tight, positions.astype(np.int32), sources)


class _Sized(Protocol):
    @property
    def nbytes(self) -> int: ...

    def arrays(self) -> dict[str, np.ndarray]: ...

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Self: ...


_Map = TypeVar("_Map", bound=_Sized)


class Maps:
    """Maps by (kind, layout, grid), least recently used first out beyond ``BUDGET_BYTES``; emptied
    when a build ends: the nearest maps here and the bilinear ones (``render.bilinear``). Threads
    of one process share it (a map is read-only once made); a map being made is waited for, not
    made again (the remote reads of a build's first frames run at once)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._maps: OrderedDict[Hashable, _Sized | None] = OrderedDict()
        self._making: dict[Hashable, threading.Event] = {}
        self._bytes = 0

    def get(
        self, key: Hashable, make: Callable[[], _Map | None], kind: type[_Map], folder: str | None = None
    ) -> _Map | None:
        """The map of ``key`` (a ``kind``), made by ``make`` once per process, or once per build
        when the build's processes share ``folder`` (``shared_map``); ``None`` while another
        process is making it."""
        while True:
            with self._lock:
                if key in self._maps:
                    self._maps.move_to_end(key)
                    return cast("_Map | None", self._maps[key])
                making = self._making.get(key)
                if making is None:
                    self._making[key] = threading.Event()
                    break
            making.wait()  # then kept, unless dropped already (the loop makes it again)
        try:
            # Outside the lock: other layouts' maps are made and read meanwhile.
            try:
                made = make() if folder is None else shared_map(folder, key, make, kind)
            except MapBeingMade:
                return None  # not kept: the next read looks for the map again
            with self._lock:
                self._maps[key] = made
                self._bytes += 0 if made is None else made.nbytes
                while self._bytes > self.budget and len(self._maps) > 1:
                    _, dropped = self._maps.popitem(last=False)
                    self._bytes -= 0 if dropped is None else dropped.nbytes
            return made
        finally:
            with self._lock:
                self._making.pop(key).set()

    def clear(self) -> None:
        with self._lock:
            self._maps.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._maps)


class MapBeingMade(Exception):
    """Another process of the build is making this map: read with GDAL meanwhile."""


def shared_map(folder: str, key: Hashable, make: Callable[[], _Map | None], kind: type[_Map]) -> _Map | None:
    """The map of ``key`` as another process of the build left it in ``folder``, or made here
    and left there for the others.

    The processes of a ``--jobs N`` build each read some frames of every animation, and would
    each make the same maps (a bilinear map costs what 6–9 reads through it save). The first to need one makes it,
    holding its lock file, and leaves its arrays in a NumPy file (``kind.from_arrays``), written
    whole under a temporary name, or an empty file for no map; the others load that. One that
    needs it while it is being made does not wait (:class:`MapBeingMade`: that read is GDAL's,
    the same values). A process without the folder (another machine of a cluster) or without
    file locks makes its own, as do all once the folder holds :data:`SHARED_BYTES` of maps.
    """
    import tempfile

    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        return make()
    if not os.path.isdir(folder):
        return make()
    path = map_path(folder, key)
    found = _left(path, kind)
    if found is not _NOT_LEFT:
        return found
    with open(f"{path}.lock", "ab") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
        except BlockingIOError:
            raise MapBeingMade(key) from None
        found = _left(path, kind)  # made and released since the look above
        if found is not _NOT_LEFT:
            return found
        made = make()
        try:
            if made is None:
                open(f"{path}.none", "wb").close()
            elif _folder_bytes(folder) + made.nbytes <= SHARED_BYTES:
                with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as part:
                    np.savez(part, **cast("dict[str, Any]", made.arrays()))
                os.replace(part.name, f"{path}.npz")
        except OSError:  # a full disk: the others make theirs
            pass
        return made


_NOT_LEFT: Any = object()


def _folder_bytes(folder: str) -> int:
    """What the maps already left in ``folder`` take on disk."""
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.name.endswith(".npz"))


def map_path(folder: str, key: Hashable) -> str:
    """The files of ``key``'s map in ``folder``, without their suffix."""
    import hashlib

    return os.path.join(folder, hashlib.sha256(repr(key).encode()).hexdigest()[:40])


def _left(path: str, kind: type[_Map]) -> Any:
    """The map another process left at ``path`` (``None``: no map), or ``_NOT_LEFT``."""
    if os.path.exists(f"{path}.none"):
        return None
    try:
        with np.load(f"{path}.npz") as arrays:  # plain arrays only: NumPy loads no objects
            return kind.from_arrays(dict(arrays))
    except FileNotFoundError:
        return _NOT_LEFT


MAPS = Maps(BUDGET_BYTES)
buildcache.on_clear(MAPS.clear)
