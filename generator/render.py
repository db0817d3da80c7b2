"""The frame core: a frame's COG(s) read onto the animation's grid as float values + validity.

Owns reading. A ``Renderer`` returns data values on the output grid (not colours), so every
renderer (this local rasterio one; a TiTiler one later) shares the same palette mapping and
overlays downstream. The local renderer picks the COG overview whose resolution is the coarsest
still at least as fine as the output, and warps only that level into the grid. Items of one frame
are combined: the first valid pixel wins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import calculate_default_transform, reproject

from .errors import RenderError
from .model import FramePlan, Grid, ItemAsset, Style

log = logging.getLogger(__name__)

# GDAL settings for reads, applied per read inside rasterio.Env (never to the process environment).
GDAL_READ_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "VSI_CACHE": "TRUE",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.ovr",
}


@dataclass(frozen=True)
class FrameData:
    """One frame's values on the grid; ``valid`` is False for nodata and pixels no item covers."""

    values: np.ndarray  # float32, grid.shape
    valid: np.ndarray  # bool, grid.shape


class Renderer(Protocol):
    """Reads one item's asset onto the grid."""

    def read(self, item: ItemAsset, grid: Grid, style: Style) -> FrameData: ...


def overview_level(native_res: tuple[float, float], factors: list[int], target_res: tuple[float, float]) -> int | None:
    """Index of the overview to read (``None`` = full resolution).

    The coarsest overview whose pixels are still no larger than the output's pixels (expressed in
    the source CRS), so the frame loses nothing and reads as few bytes as possible.
    """
    decimation = min(target_res[0] / native_res[0], target_res[1] / native_res[1])
    best: int | None = None
    for index, factor in enumerate(factors):
        if factor <= decimation * (1 + 1e-9):
            best = index
    return best


def _href_for_gdal(href: str) -> str:
    if href.startswith("file://"):
        return href.removeprefix("file://")
    if href.startswith(("http://", "https://")):
        return f"/vsicurl/{href}"
    if href.startswith("s3://"):
        return f"/vsis3/{href.removeprefix('s3://')}"
    return href


class LocalRenderer:
    """Reads COGs with rasterio/GDAL, local or remote (``/vsicurl/``, ``/vsis3/``)."""

    def read(self, item: ItemAsset, grid: Grid, style: Style) -> FrameData:
        path = _href_for_gdal(item.href)
        try:
            with rasterio.Env(**GDAL_READ_OPTIONS):
                return self._read(path, grid, style)
        except RasterioError as error:
            raise RenderError(f"item {item.item_id!r}: cannot read asset {item.href}: {error}") from None

    def _read(self, path: str, grid: Grid, style: Style) -> FrameData:
        with rasterio.open(path) as src:
            if style.bidx > src.count:
                raise RenderError(f"{path}: band {style.bidx} requested but the file has {src.count} band(s)")
            if src.crs is None:
                raise RenderError(f"{path}: the file has no CRS; it cannot be placed on a map")
            nodata = style.nodata if style.nodata is not None else src.nodata
            target, _, _ = calculate_default_transform(grid.crs, src.crs, grid.width, grid.height, *grid.bounds)
            level = overview_level(
                (abs(src.transform.a), abs(src.transform.e)),
                src.overviews(style.bidx),
                (abs(target.a), abs(target.e)),
            )
        open_options = {} if level is None else {"overview_level": level}
        with rasterio.open(path, **open_options) as level_src:
            destination = np.full(grid.shape, np.nan, dtype="float32")
            reproject(
                source=rasterio.band(level_src, style.bidx),
                destination=destination,
                src_nodata=nodata,
                dst_transform=grid.transform,
                dst_crs=grid.crs,
                dst_nodata=np.nan,
                resampling=Resampling[style.resampling],
            )
        valid = np.isfinite(destination)
        return FrameData(values=destination, valid=valid)


def empty_frame(grid: Grid) -> FrameData:
    """A frame with no valid pixel (a "no data" time step)."""
    return FrameData(values=np.full(grid.shape, np.nan, dtype="float32"), valid=np.zeros(grid.shape, dtype=bool))


def render_frame(frame: FramePlan, grid: Grid, style: Style, renderer: Renderer) -> FrameData:
    """Combine the frame's items on the grid: each pixel comes from the first item valid there."""
    combined: FrameData | None = None
    for item in frame.items:
        data = renderer.read(item, grid, style)
        if combined is None:
            combined = FrameData(values=data.values.copy(), valid=data.valid.copy())
        else:
            fill = ~combined.valid & data.valid
            combined.values[fill] = data.values[fill]
            combined.valid[fill] = True
        if combined.valid.all():
            break
    if combined is None:
        raise RenderError(f"frame {frame.datetime.isoformat()} has no items")
    return combined
