"""The local renderer: a frame's COG(s) read onto the animation's grid with rasterio/GDAL.

Owns the local read. It picks the COG overview whose resolution is the coarsest still at least
as fine as the output, and warps only that level into the grid; when it downsamples with a
kernel other than nearest, it reads what rio-tiler (and so TiTiler) reads (``warp``), so both
renderers weigh source pixels alike; at nearest resampling (the default) the warp is a map made
once per file layout and grid (``nearest``), as is the warp of a bilinear read that does not
downsample (``bilinear``). GDAL is never given a nodata value for the output (the grid
starts as missing), which keeps it out of its slower masked output kernels. What a read returns
and how a frame's items are combined is ``frames``' (the same for every renderer).

Also owns what real-world assets need on the read side: sources in any CRS (GDAL warps them),
band selection by ``bidx`` or a rio-tiler ``expression`` (evaluated here, on the bands read),
remote hrefs (``https://`` through ``/vsicurl/``, ``s3://`` through ``/vsis3/``) with GDAL
options set per read inside a ``rasterio.Env`` (``render.access``: never in the process
environment), hrefs signed just before they are read (``sources.signing``), a hint naming the
missing setting when a read is refused (``render.access``), a clear error for an RGB asset read
through a colormap, and a cap on what one read may cost (``render.limits``), checked before GDAL
reads anything.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from shapely.geometry.base import BaseGeometry

from generator.core.errors import ConfigError, RenderError
from generator.core.model import FramePlan, Grid, ItemAsset, Style
from generator.core.paths import is_remote_href
from generator.core.redaction import public_url, redact_urls_in_text
from generator.core.specs import SourceSpec
from generator.render.access import AccessSettings, RemoteAccess, denied_hint, href_for_gdal, refused
from generator.render.bilinear import map_pays, read_bilinear
from generator.render.datasets import kept_open
from generator.render.frames import FrameData, read_bands
from generator.render.frames import Renderer as Renderer  # imported from here by the engine
from generator.render.frames import render_frames as render_frames  # imported from here by the benchmarks
from generator.render.limits import ReadLimits, check_read_cost, read_cost
from generator.render.nearest import read_nearest
from generator.render.registry import RendererSetup, register_renderer
from generator.render.warp import grid_crs, grid_in_source_crs, read_decimated, read_rescaled, warps_straight_to_size
from generator.sources.signing import HrefSigner, source_signer

if TYPE_CHECKING:  # rasterio is imported on the first read: a build with nothing to render needs none
    import rasterio

    from generator.sources.http_settings import HttpSettings

log = logging.getLogger(__name__)

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


def _is_rgb(src: rasterio.io.DatasetReader) -> bool:
    from rasterio.enums import ColorInterp

    interp = tuple(src.colorinterp[:3])
    return src.count >= 3 and interp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


def check_bands(path: str, src: rasterio.io.DatasetReader, style: Style) -> None:
    """Refuse reads that cannot make a one-band frame, with what to change."""
    if _is_rgb(src) and not style.band_chosen:
        raise RenderError(
            f"{path}: a multi-band RGB image mapped through a colormap: pick one band with style.bidx, or "
            "render it in true colour with style.bidx: [1, 2, 3] (and no colormap)"
        )
    for band in read_bands(style):
        if band > src.count:
            raise RenderError(f"{path}: band {band} requested but the file has {src.count} band(s)")


def evaluate_expression(expression: str, bands: tuple[int, ...], stack: np.ndarray, valid: np.ndarray) -> FrameData:
    """rio-tiler band math on bands read onto the grid (``stack``: one layer per band)."""
    from rio_tiler.errors import InvalidExpression
    from rio_tiler.expression import (
        apply_expression,
        get_expression_blocks,
        validate_expression,
    )

    try:
        blocks = get_expression_blocks(validate_expression(expression))
        with np.errstate(divide="ignore", invalid="ignore"):
            result = apply_expression(blocks, [f"b{band}" for band in bands], np.ma.MaskedArray(stack, mask=~valid))
    except (InvalidExpression, SyntaxError, NameError, TypeError, ValueError) as error:
        raise RenderError(f"expression {expression!r} cannot be evaluated: {error}") from None
    values = np.asarray(np.ma.getdata(result)[0], dtype="float32")
    ok = valid.all(axis=0) & np.isfinite(values)
    return FrameData(values=np.where(ok, values, np.nan).astype("float32"), valid=ok)


class LocalRenderer:
    """Reads COGs with rasterio/GDAL, local or remote (``/vsicurl/``, ``/vsis3/``).

    ``access`` sets how remote assets are reached (headers, unsigned or requester-pays S3, an
    S3-compatible endpoint); the options live only inside the ``rasterio.Env`` of each read.
    ``signer`` signs each href just before it is read (``sources.<name>.sign``); ``maps`` is
    the folder where the build's processes share their read maps, if any, and ``series`` how
    many frames the series being read has (``for_series``; ``None``: unknown). Reads of remote
    assets mostly wait on the network: up to ``remote_reads`` of them are made at once by a
    task (the source's ``http.max_cog_reads``, shared out between the build's processes), local
    files one after the other.
    """

    concurrency: int = 1  # GDAL reads here are CPU-bound in this process; no read-ahead needed
    needs_region = False  # the clip to the region is applied downstream (``render.layers``)

    def __init__(
        self, access: RemoteAccess | None = None, limits: ReadLimits | None = None, signer: HrefSigner | None = None,
        remote_reads: int = 1, maps: str | None = None,
    ) -> None:
        self.access = access or RemoteAccess()
        self.limits = limits or ReadLimits()
        self.signer = signer
        self.remote_reads = max(1, remote_reads)
        self.maps = maps
        self.series: int | None = None

    def sharing_maps(self, folder: str) -> LocalRenderer:
        """This renderer, its processes sharing their read maps in ``folder`` (``nearest.shared_map``)."""
        shared = copy.copy(self)
        shared.maps = folder
        return shared

    def for_series(self, frames: int) -> LocalRenderer:
        """This renderer, reading a series of ``frames`` frames (``render.frames.for_series``): a
        bilinear read map is made only for a series long enough to pay for it (``bilinear.map_pays``)."""
        reading = copy.copy(self)
        reading.series = frames
        return reading

    def reads_at_once(self, frames: Sequence[FramePlan]) -> int:
        """``remote_reads`` when some of ``frames``' assets are remote, else 1 (``render.frames``)."""
        remote = any(is_remote_href(item.href) for frame in frames for item in frame.items)
        return self.remote_reads if remote else 1

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: BaseGeometry | None = None) -> FrameData:
        import rasterio
        from rasterio.errors import RasterioError

        label = public_url(item.href)
        try:
            href = item.href if self.signer is None else self.signer.sign(item.href)
            with rasterio.Env(**self.access.gdal_options(href)):
                return self._read(href_for_gdal(href), label, grid, style)
        except RenderError as error:
            raise RenderError(f"item {item.item_id!r}: {error}") from None
        except RasterioError as error:
            message = redact_urls_in_text(str(error))
            hint = f"; {denied_hint(item.href, self.access_settings())}" if refused(str(error)) else ""
            raise RenderError(f"item {item.item_id!r}: cannot read asset {label}: {message}{hint}") from None

    def access_settings(self) -> AccessSettings:
        """What this renderer reads with, for the hint on a refused read."""
        return AccessSettings(
            key=self.limits.key, headers=bool(self.access.headers), signed=self.signer is not None,
            s3_unsigned=self.access.s3_unsigned, s3_requester_pays=self.access.s3_requester_pays,
        )

    def _read(self, path: str, label: str, grid: Grid, style: Style) -> FrameData:
        """Read ``path`` (a GDAL path) onto the grid; messages name the asset as ``label``."""
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.warp import reproject

        bands = read_bands(style)
        with kept_open(path, self.access) as src:  # one open per asset and build
            check_bands(label, src, style)
            if src.crs is None:
                raise RenderError(f"{label}: the file has no CRS; it cannot be placed on a map")
            nodata = style.nodata if style.nodata is not None else src.nodata
            target, width, height = grid_in_source_crs(grid, src.crs)
            native = (abs(src.transform.a), abs(src.transform.e))
            level = overview_level(native, src.overviews(bands[0]), (abs(target.a), abs(target.e)))
            west, north = target.c, target.f
            east, south = west + width * target.a, north + height * target.e
            check_read_cost(label, read_cost(src, (west, south, east, north), bands, level), self.limits)
            downsampling = abs(target.a) > native[0] * (1 + 1e-9) or abs(target.e) > native[1] * (1 + 1e-9)
            if downsampling and style.resampling != "nearest":
                kernel = Resampling[style.resampling]
                if nodata is not None and warps_straight_to_size(src):
                    return _finish(read_rescaled(path, self.access, src, grid, nodata, kernel), bands, style)
                return _finish(read_decimated(src, grid, bands, nodata, kernel), bands, style)
        open_options = {} if level is None else {"overview_level": level}
        with kept_open(path, self.access, **open_options) as level_src:
            taken = None
            if style.resampling == "nearest":
                taken = read_nearest(level_src, grid, bands, nodata, self.maps)
            elif style.resampling == "bilinear" and not downsampling and (self.series is None or map_pays(self.series, grid)):
                taken = read_bilinear(level_src, grid, bands, nodata, self.maps)
            if taken is not None:
                return _finish(taken, bands, style)
            stack = np.full((len(bands), *grid.shape), np.nan, dtype="float32")
            for layer, band in enumerate(bands):
                # The grid starts as NaN and GDAL leaves alone what it cannot fill: the same
                # pixels as telling it NaN is the output's nodata, which would make it keep a
                # validity mask of the output and warp through its slower masked kernels.
                reproject(
                    source=rasterio.band(level_src, band),
                    destination=stack[layer],
                    src_nodata=nodata,
                    dst_transform=grid.transform,
                    dst_crs=grid_crs(grid.crs),
                    dst_nodata=None,
                    init_dest_nodata=False,
                    resampling=Resampling[style.resampling],
                )
        return _finish(stack, bands, style)


@register_renderer("local")
def local_renderer(source: SourceSpec, settings: HttpSettings) -> RendererSetup:
    """Local reads are CPU-bound: they run in the build's process pool."""
    from generator.sources.http_settings import USER_AGENT

    for name, value in settings.headers.items():
        if "\r" in value or "\n" in value:  # GDAL takes a line break as the start of another header
            raise ConfigError(f"{source.where}.headers.{name}: the value (from the environment?) has a line break")
    access = RemoteAccess(
        s3_unsigned=source.s3.unsigned, s3_endpoint=source.s3.endpoint, s3_region=source.s3.region,
        user_agent=USER_AGENT, headers=tuple(settings.headers.items()), s3_requester_pays=source.s3.requester_pays,
    )
    limits = ReadLimits(max_pixels=source.max_read_pixels, max_bytes=source.max_read_bytes, key=f"sources.{source.name}")
    renderer = LocalRenderer(access, limits, source_signer(source, settings), remote_reads=settings.max_cog_reads)
    return RendererSetup(renderer, "local")


def _finish(stack: np.ndarray, bands: tuple[int, ...], style: Style) -> FrameData:
    valid = np.isfinite(stack)
    if style.expression:
        return evaluate_expression(style.expression, bands, stack, valid)
    return FrameData(values=stack[0], valid=valid[0])
