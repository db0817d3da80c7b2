"""The warp geometry of local reads, and the kernel read that mirrors rio-tiler's warp.

Owns the grid's CRS as rasterio's object (parsed once per build and thread) and the grid's
footprint in a source's CRS, both shared by every local read. Also owns downsampling with a
kernel other than nearest the way rio-tiler (and so TiTiler) reads: a warped VRT at the source's
resolution read at the grid's size, which GDAL answers with one warp of the overview it picks
(``_vrt_overview``). From GDAL 3.10 that warp is made here directly for float one-band files with
a nodata value (``read_rescaled``: the same values bit for bit); the other files are read the
rio-tiler way (``read_decimated``). So both renderers weigh source pixels alike.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from typing import TYPE_CHECKING

import numpy as np

from generator.core import buildcache
from generator.core.model import Grid
from generator.render.datasets import kept_open

if TYPE_CHECKING:  # rasterio is imported on the first read: a build with nothing to render needs none
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    from generator.render.access import RemoteAccess

def warps_straight_to_size(src: rasterio.io.DatasetReader) -> bool:
    """Whether rio-tiler's read of ``src``, given a nodata value, is one warp of one overview
    straight to the output size.

    From GDAL 3.10 (the oldest this was checked against), a warped VRT read at a reduced size,
    all its bands at once, warps the overview it picks straight to that size, with the VRT's
    kernel. rio-tiler reads so when the file has one band and a nodata value (no alpha band
    added); a float file lets the output mark missing pixels without a nodata value of its own.
    """
    return gdal_version() >= (3, 10) and src.count == 1 and np.dtype(src.dtypes[0]).kind == "f"


@functools.cache
def gdal_version() -> tuple[int, ...]:
    """GDAL's (major, minor): the library does not change while the process runs."""
    import rasterio

    return tuple(int(part) for part in re.findall(r"\d+", rasterio.__gdal_version__)[:2])


def read_rescaled(
    path: str, access: RemoteAccess, src: rasterio.io.DatasetReader, grid: Grid, nodata: float, resampling: Resampling
) -> np.ndarray:
    """Downsampling with an averaging kernel, the very warp rio-tiler's read comes down to.

    rio-tiler reads a warped VRT at the source's resolution (``_vrt_transform``) at the grid's
    size; GDAL answers by warping the overview it picks (``_vrt_overview``) into a VRT over the
    same extent at the grid's size. That warp is made here directly, without the implicit
    overviews and the rescaled copy of the VRT GDAL builds for each read, and without a nodata
    value for the output: missing pixels start as -inf and stay so (with an output nodata, GDAL's
    bilinear warp here took 1.6× the CPU). The values are those of the VRT read, bit for bit.
    """
    from affine import Affine
    from rasterio.vrt import WarpedVRT

    layout = _SourceLayout(src)
    vrt, vrt_width, vrt_height = _vrt_transform(layout, grid)
    level = _vrt_overview(src, vrt_width, vrt_height, grid.width, grid.height)
    transform = Affine(vrt.a * vrt_width / grid.width, vrt.b, vrt.c, vrt.d, vrt.e * vrt_height / grid.height, vrt.f)
    with kept_open(path, access, **({} if level is None else {"overview_level": level})) as level_src:
        with WarpedVRT(
            level_src, crs=grid_crs(grid.crs), transform=transform, width=grid.width, height=grid.height, resampling=resampling,
            src_nodata=nodata, nodata=None, init_dest_nodata=False, init_dest="-inf",
        ) as warped:
            values = warped.read(1).astype("float32", copy=False)
    values[np.isinf(values)] = np.nan
    return values[np.newaxis]


def _vrt_overview(src: rasterio.io.DatasetReader, vrt_width: int, vrt_height: int, width: int, height: int) -> int | None:
    """The source overview a warped VRT of ``src`` (``vrt_width`` × ``vrt_height``) warps from when
    read at ``width`` × ``height`` with a kernel (GDAL's ``VRTWarpedRasterBand::GetBestOverviewLevel``):
    the most reduced implicit overview still less reduced than the request on its least reduced
    axis (GDAL's 1 % tolerance)."""
    if width >= vrt_width and height >= vrt_height:
        return None
    desired = min(vrt_width / width, vrt_height / height)
    best: int | None = None
    best_factor = 0.0
    for index, factor in enumerate(src.overviews(1)):
        ratio = src.width / math.ceil(src.width / factor)  # the overview's width, as GTiff makes it
        pixels, lines = int(vrt_width / ratio + 0.5), int(vrt_height / ratio + 0.5)
        if pixels < 1 or lines < 1:
            break
        reduction = min(vrt_width / pixels, vrt_height / lines)
        if reduction < desired * 1.01 and reduction > best_factor:
            best, best_factor = index, reduction
    return best


def read_decimated(
    src: rasterio.io.DatasetReader, grid: Grid, bands: tuple[int, ...], nodata: float | None, resampling: Resampling
) -> np.ndarray:
    """Downsampling with an averaging kernel, the way rio-tiler (and so TiTiler) reads.

    The source is warped at its own resolution into the output CRS over the grid's bounds, and
    that virtual raster is read at the grid's size; GDAL takes the overview that fits from the
    warped VRT's implicit overviews. Reading the same way as TiTiler keeps the two renderers in
    step where kernels (bilinear, cubic, average…) would otherwise weigh pixels differently.
    Used for the files ``read_rescaled`` does not take (several bands, no nodata value, integers):
    GDAL's answer to the read then depends on more than one warp.
    """
    from rasterio.vrt import WarpedVRT

    vrt_transform, vrt_width, vrt_height = _vrt_transform(_SourceLayout(src), grid)
    options: dict[str, object] = dict(
        crs=grid_crs(grid.crs), transform=vrt_transform, width=vrt_width, height=vrt_height, resampling=resampling,
    )
    if nodata is None:
        options.update(add_alpha=True)
        with WarpedVRT(src, **options) as vrt:
            data = vrt.read(list(bands), out_shape=(len(bands), *grid.shape), resampling=resampling, masked=True)
        return np.ma.filled(data.astype("float32"), np.nan)
    options.update(src_nodata=nodata, nodata=nodata)
    with WarpedVRT(src, **options) as vrt:
        # Not ``masked=True``: GDAL would warp every block twice, once more for the nodata mask;
        # the mask is the same test done here (an output pixel equal to nodata is missing).
        values = vrt.read(list(bands), out_shape=(len(bands), *grid.shape), resampling=resampling).astype("float32")
    values[np.isnan(values) if math.isnan(nodata) else values == np.float32(nodata)] = np.nan
    return values


def grid_crs(text: str) -> rasterio.crs.CRS:
    """The grid's CRS (``Grid.crs`` is text, to stay hashable) as rasterio's object, parsed once
    per build and thread: given the text, every warp would parse it again (≈ 0.1–0.4 ms a
    frame). One per thread, as GDAL's spatial reference objects are not shared between threads."""
    return _parsed_crs(text, threading.get_ident())


@buildcache.per_build
def _parsed_crs(text: str, thread: int) -> rasterio.crs.CRS:
    from rasterio.crs import CRS

    return CRS.from_user_input(text)


@buildcache.per_build
def grid_in_source_crs(grid: Grid, crs: rasterio.crs.CRS) -> tuple[Affine, int, int]:
    """The grid's footprint at its resolution in ``crs`` (``calculate_default_transform``): the
    same for every frame of a grid whose files share a CRS, so worked out once per build."""
    from rasterio.warp import calculate_default_transform

    transform, width, height = calculate_default_transform(grid_crs(grid.crs), crs, grid.width, grid.height, *grid.bounds)
    return transform, int(width), int(height)


class _SourceLayout:
    """A dataset as far as rio-tiler's ``get_vrt_transform`` looks at it (CRS, size, transform,
    blocks): files of one layout get one warped-VRT transform per grid and build."""

    def __init__(self, src: rasterio.io.DatasetReader) -> None:
        self.src: rasterio.io.DatasetReader | None = src
        self.key = (src.crs, src.width, src.height, src.transform, tuple(src.block_shapes))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SourceLayout) and self.key == other.key


@buildcache.per_build
def _vrt_transform(layout: _SourceLayout, grid: Grid) -> tuple[Affine, int, int]:
    from rio_tiler.utils import get_vrt_transform  # deferred: rio-tiler takes ~0.2 s to import

    assert layout.src is not None
    found = get_vrt_transform(layout.src, grid.bounds, grid.height, grid.width, dst_crs=grid_crs(grid.crs))
    layout.src = None  # the cache keeps the layout, not the dataset
    return found
