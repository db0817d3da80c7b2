"""The frame core: a frame's COG(s) read onto the animation's grid as float values + validity.

Owns reading. A ``Renderer`` returns data values on the output grid (not colours), so every
renderer (this local rasterio one; the TiTiler one in ``titiler.py``) shares the same palette
mapping and overlays downstream. The local renderer picks the COG overview whose resolution is
the coarsest still at least as fine as the output, and warps only that level into the grid;
when it downsamples with a kernel other than nearest, it reads what rio-tiler (and so TiTiler)
reads — a warped VRT at the source's resolution read at the grid's size, which GDAL answers
with one warp of the overview it picks (made here directly for float one-band files with a
nodata value: the same values bit for bit) — so both renderers weigh source pixels alike. GDAL
is never given a nodata value for the output (the grid starts as missing), which keeps it out
of its slower masked output kernels. Items of one frame are combined: the first valid pixel
wins.

Also owns what real-world assets need on the read side: sources in any CRS (GDAL warps them),
band selection by ``bidx`` or a rio-tiler ``expression``, remote hrefs (``https://`` through
``/vsicurl/``, ``s3://`` through ``/vsis3/``) with GDAL options set per read inside a
``rasterio.Env`` (never in the process environment: the source's headers, requester-pays S3),
hrefs signed just before they are read (``sources.signing``), a hint naming the missing
setting when a read is refused (``render.access``), regions crossing the antimeridian
(``unwrap_antimeridian``), a clear error for an RGB asset read through a colormap, and a cap on what one read
may cost (``ReadLimits``: source pixels and decoded bytes, from the file's metadata, before GDAL
reads anything), so a huge file without overviews fails its animation instead of the machine.

STAC ``raster:bands`` (``ItemAsset.bands``) are applied in ``render_frame``, for every renderer
alike: their ``nodata`` when the style sets none, and with ``Style.unscale`` their scale/offset
(on the values read, or inside an expression, band by band).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from generator.core import buildcache
from generator.core.errors import ConfigError, RenderError
from generator.core.model import FramePlan, Grid, ItemAsset, Style
from generator.core.redaction import public_url, redact_urls_in_text
from generator.core.specs import DEFAULT_MAX_READ_BYTES, DEFAULT_MAX_READ_PIXELS, SourceSpec
from generator.plan.formulas import BAND_NAME, expression_bands, value_transform
from generator.render.access import AccessSettings, denied_hint, refused
from generator.render.datasets import kept_open
from generator.render.registry import RendererSetup, register_renderer
from generator.sources.signing import HrefSigner, source_signer

if TYPE_CHECKING:  # rasterio is imported on the first read: a build with nothing to render needs none
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    from generator.sources.http import HttpSettings  # requests loads with the first renderer made

log = logging.getLogger(__name__)

# GDAL settings for reads, applied per read inside rasterio.Env (never to the process environment).
GDAL_READ_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
    "VSI_CACHE": "TRUE",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.ovr",
}


@dataclass(frozen=True)
class RemoteAccess:
    """How GDAL reaches remote assets of one source (``sources.<name>.s3`` in the config).

    ``s3_endpoint`` is an S3-compatible server (``http://host:port`` or ``https://…``); it is
    addressed path-style (``AWS_VIRTUAL_HOSTING=FALSE``), as such servers usually need.
    ``headers`` (the source's, ``${ENV_VAR}`` expanded) go with every HTTP request GDAL makes
    (``GDAL_HTTP_HEADERS``); ``s3_requester_pays`` sends ``AWS_REQUEST_PAYER=requester``.
    """

    s3_unsigned: bool = False
    s3_endpoint: str | None = None
    s3_region: str | None = None
    user_agent: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    s3_requester_pays: bool = False

    def gdal_options(self) -> dict[str, str]:
        options = dict(GDAL_READ_OPTIONS)
        if self.user_agent:
            options["GDAL_HTTP_USERAGENT"] = self.user_agent
        if self.headers:
            options["GDAL_HTTP_HEADERS"] = "\r\n".join(f"{name}: {value}" for name, value in self.headers)
        if self.s3_requester_pays:
            options["AWS_REQUEST_PAYER"] = "requester"
        if self.s3_unsigned:
            options["AWS_NO_SIGN_REQUEST"] = "YES"
        if self.s3_region:
            options["AWS_REGION"] = self.s3_region
        if self.s3_endpoint:
            parts = urlsplit(self.s3_endpoint)
            options["AWS_S3_ENDPOINT"] = parts.netloc + parts.path.rstrip("/")
            options["AWS_HTTPS"] = "YES" if parts.scheme == "https" else "NO"
            options["AWS_VIRTUAL_HOSTING"] = "FALSE"
        return options


@dataclass(frozen=True)
class ReadLimits:
    """What one read of an asset may touch: source pixels at the level read, and their decoded bytes.

    ``key`` names the config block the limits come from (``sources.<name>``) in messages.
    """

    max_pixels: int = DEFAULT_MAX_READ_PIXELS
    max_bytes: int = DEFAULT_MAX_READ_BYTES
    key: str = "sources.<name>"


@dataclass(frozen=True)
class ReadCost:
    """What a read would touch: ``width`` × ``height`` pixels of ``bands`` bands at one level."""

    width: int
    height: int
    bands: int
    itemsize: int
    factor: int  # the level's decimation: 1 is full resolution

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def bytes(self) -> int:
        return self.pixels * self.bands * self.itemsize


def read_cost(
    src: rasterio.io.DatasetReader, footprint: tuple[float, float, float, float], bands: tuple[int, ...], level: int | None
) -> ReadCost:
    """What reading ``footprint`` (west, south, east, north in the file's CRS) at ``level`` touches.

    Only the file's metadata is used. The window is the footprint clipped to the file, counted at
    the overview's resolution; pixel-interleaved files decode every band of a block.
    """
    west, east = sorted(footprint[0::2])
    south, north = sorted(footprint[1::2])
    left, right = sorted((src.bounds.left, src.bounds.right))
    bottom, top = sorted((src.bounds.bottom, src.bounds.top))
    width_frac = max(0.0, min(east, right) - max(west, left)) / (right - left) if right > left else 1.0
    height_frac = max(0.0, min(north, top) - max(south, bottom)) / (top - bottom) if top > bottom else 1.0
    factor = src.overviews(bands[0])[level] if level is not None else 1
    width = math.ceil(src.width * width_frac / factor)
    height = math.ceil(src.height * height_frac / factor)
    interleaved = src.interleaving is not None and src.interleaving.name == "pixel"
    touched = src.count if interleaved else len(set(bands))
    itemsize = max(np.dtype(src.dtypes[band - 1]).itemsize for band in bands)
    return ReadCost(width=width, height=height, bands=touched, itemsize=itemsize, factor=factor)


def check_read_cost(label: str, cost: ReadCost, limits: ReadLimits) -> None:
    """Refuse a read over the limits, naming the asset, what it would touch and the key to raise."""
    if cost.pixels <= limits.max_pixels and cost.bytes <= limits.max_bytes:
        return
    level = "full resolution" if cost.factor == 1 else f"its 1/{cost.factor} overview"
    what = (
        f"{cost.pixels:,} source pixels ({cost.width:,} × {cost.height:,} at {level}, {cost.bands} band(s)) "
        f"≈ {_size(cost.bytes)} decoded"
    )
    if cost.pixels > limits.max_pixels:
        over, key = f"{limits.max_pixels:,} pixels", "max_read_pixels"
    else:
        over, key = _size(limits.max_bytes), "max_read_bytes"
    hint = "add overviews to the file (make it a COG) or " if cost.factor == 1 else ""
    raise RenderError(
        f"asset {label}: one read would touch {what}, over the limit of {over}; "
        f"{hint}raise {limits.key}.{key} in the config"
    )


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class FrameData:
    """One frame's values on the grid; ``valid`` is False for nodata and pixels no item covers."""

    values: np.ndarray  # float32, grid.shape
    valid: np.ndarray  # bool, grid.shape


class Renderer(Protocol):
    """Reads one item's asset onto the grid.

    ``region`` is the region's outline projected into ``grid.crs`` (as ``layers.prepare_grid`` projects
    it); renderers that clip on the server (TiTiler) send it, the local one does not need it: the
    clip to the region is applied downstream, identically for every renderer. ``concurrency`` is
    how many frames a caller may usefully request at once (1: reads are CPU-bound here).
    """

    concurrency: int

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: BaseGeometry | None = None) -> FrameData: ...


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


def href_for_gdal(href: str) -> str:
    """A GDAL path for an asset href: local path, ``/vsicurl/`` URL or ``/vsis3/`` key."""
    if href.startswith("file://"):
        return href.removeprefix("file://")
    if href.startswith(("http://", "https://")):
        return f"/vsicurl/{href}"
    if href.startswith("s3://"):
        return f"/vsis3/{href.removeprefix('s3://')}"
    return href


def read_bands(style: Style) -> tuple[int, ...]:
    """The bands a style reads: those of its expression, else its ``bidx``."""
    return expression_bands(style.expression) if style.expression else (style.bidx,)


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
    ``signer`` signs each href just before it is read (``sources.<name>.sign``).
    """

    concurrency: int = 1  # GDAL reads here are CPU-bound in this process; no read-ahead needed

    def __init__(
        self, access: RemoteAccess | None = None, limits: ReadLimits | None = None, signer: HrefSigner | None = None
    ) -> None:
        self.access = access or RemoteAccess()
        self.limits = limits or ReadLimits()
        self.signer = signer

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: BaseGeometry | None = None) -> FrameData:
        import rasterio
        from rasterio.errors import RasterioError

        label = public_url(item.href)
        try:
            href = item.href if self.signer is None else self.signer.sign(item.href)
            with rasterio.Env(**self.access.gdal_options()):
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
                if nodata is not None and _warps_straight_to_size(src):
                    return _finish(_read_rescaled(path, self.access, src, grid, nodata, kernel), bands, style)
                return _finish(_read_decimated(src, grid, bands, nodata, kernel), bands, style)
        open_options = {} if level is None else {"overview_level": level}
        stack = np.full((len(bands), *grid.shape), np.nan, dtype="float32")
        with kept_open(path, self.access, **open_options) as level_src:
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
    from generator.sources.http import USER_AGENT

    for name, value in settings.headers.items():
        if "\r" in value or "\n" in value:  # GDAL takes a line break as the start of another header
            raise ConfigError(f"{source.where}.headers.{name}: the value (from the environment?) has a line break")
    access = RemoteAccess(
        s3_unsigned=source.s3.unsigned, s3_endpoint=source.s3.endpoint, s3_region=source.s3.region,
        user_agent=USER_AGENT, headers=tuple(settings.headers.items()), s3_requester_pays=source.s3.requester_pays,
    )
    limits = ReadLimits(max_pixels=source.max_read_pixels, max_bytes=source.max_read_bytes, key=f"sources.{source.name}")
    return RendererSetup(LocalRenderer(access, limits, source_signer(source, settings)), "local")



def _finish(stack: np.ndarray, bands: tuple[int, ...], style: Style) -> FrameData:
    valid = np.isfinite(stack)
    if style.expression:
        return evaluate_expression(style.expression, bands, stack, valid)
    return FrameData(values=stack[0], valid=valid[0])


def _warps_straight_to_size(src: rasterio.io.DatasetReader) -> bool:
    """Whether rio-tiler's read of ``src``, given a nodata value, is one warp of one overview
    straight to the output size.

    From GDAL 3.10 (the oldest this was checked against), a warped VRT read at a reduced size,
    all its bands at once, warps the overview it picks straight to that size, with the VRT's
    kernel. rio-tiler reads so when the file has one band and a nodata value (no alpha band
    added); a float file lets the output mark missing pixels without a nodata value of its own.
    """
    return _gdal_version() >= (3, 10) and src.count == 1 and np.dtype(src.dtypes[0]).kind == "f"


@functools.cache
def _gdal_version() -> tuple[int, ...]:
    """GDAL's (major, minor): the library does not change while the process runs."""
    import rasterio

    return tuple(int(part) for part in re.findall(r"\d+", rasterio.__gdal_version__)[:2])


def _read_rescaled(
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


def _read_decimated(
    src: rasterio.io.DatasetReader, grid: Grid, bands: tuple[int, ...], nodata: float | None, resampling: Resampling
) -> np.ndarray:
    """Downsampling with an averaging kernel, the way rio-tiler (and so TiTiler) reads.

    The source is warped at its own resolution into the output CRS over the grid's bounds, and
    that virtual raster is read at the grid's size; GDAL takes the overview that fits from the
    warped VRT's implicit overviews. Reading the same way as TiTiler keeps the two renderers in
    step where kernels (bilinear, cubic, average…) would otherwise weigh pixels differently.
    Used for the files ``_read_rescaled`` does not take (several bands, no nodata value, integers):
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


def empty_frame(grid: Grid) -> FrameData:
    """A frame with no valid pixel (a "no data" time step)."""
    return FrameData(values=np.full(grid.shape, np.nan, dtype="float32"), valid=np.zeros(grid.shape, dtype=bool))


def physical_expression(expression: str, item: ItemAsset) -> str:
    """``expression`` with each band ``bN`` replaced by its physical value ``(bN*scale+(offset))``."""

    def band(match: re.Match[str]) -> str:
        scaling = item.band(int(match.group(1)))
        if scaling.identity:
            return match.group(0)
        return f"({match.group(0)}*{scaling.scale!r}+({scaling.offset!r}))"

    return BAND_NAME.sub(band, expression)


def item_style(style: Style, item: ItemAsset) -> Style:
    """The style one item is read with, whatever the renderer.

    STAC ``raster:bands`` ``nodata`` marks missing values when the style sets none (so files
    without a nodata tag read right); with ``unscale``, an expression works on physical values.
    """
    bands = read_bands(style)
    changes: dict[str, object] = {}
    if style.nodata is None and item.band(bands[0]).nodata is not None:
        changes["nodata"] = item.band(bands[0]).nodata
    if style.unscale and style.expression and not all(item.band(band).identity for band in bands):
        changes["expression"] = physical_expression(style.expression, item)
    return replace(style, **changes) if changes else style  # type: ignore[arg-type]


def physical_values(data: FrameData, style: Style, item: ItemAsset) -> FrameData:
    """Values of one item in physical units (``raster:bands`` scale/offset) when the style asks.

    Applied after reading, for every renderer alike (TiTiler returns raw values); an expression
    was already rewritten by ``item_style``.
    """
    scaling = item.band(style.bidx)
    if not style.unscale or style.expression or scaling.identity:
        return data
    values = data.values.astype(np.float64) * scaling.scale + scaling.offset
    return FrameData(values=np.where(data.valid, values, np.nan).astype("float32"), valid=data.valid)


def render_frame(
    frame: FramePlan,
    grid: Grid,
    style: Style,
    renderer: Renderer,
    region: BaseGeometry | None = None,
    formula: bool = True,
) -> FrameData:
    """Combine the frame's items on the grid: each pixel comes from the first item valid there.

    A style's colour formula (see ``generator.plan.formulas.value_transform``) is applied here, once, so every
    renderer gets it the same way; ``formula=False`` leaves it out (the values as read, for
    statistics: apply it afterwards with :func:`apply_formula`). ``region``: the projected
    outline, passed to the renderer.
    """
    if not frame.items:
        return empty_frame(grid)
    combined: FrameData | None = None
    owned = False  # whether ``combined`` holds arrays of its own (a renderer's may be shared)
    for item in frame.items:
        read_style = item_style(style, item)
        # Renderers written before ``region`` existed take three arguments; keep them working.
        data = renderer.read(item, grid, read_style) if region is None else renderer.read(item, grid, read_style, region)
        data = physical_values(data, read_style, item)
        if combined is None:
            combined = data  # copied only when another item fills it in: most frames have one item
        else:
            if not owned:
                combined, owned = FrameData(values=combined.values.copy(), valid=combined.valid.copy()), True
            fill = ~combined.valid & data.valid
            combined.values[fill] = data.values[fill]
            combined.valid[fill] = True
        if combined.valid.all():
            break
    assert combined is not None
    return apply_formula(combined, style) if formula else combined


def apply_formula(data: FrameData, style: Style) -> FrameData:
    """``data`` with the style's colour formula applied (unchanged without one)."""
    transform = value_transform(style)
    if transform is None:
        return data
    return FrameData(values=np.where(data.valid, transform(data.values), np.nan).astype("float32"), valid=data.valid)


def render_frames(
    frames: Iterable[FramePlan],
    grid: Grid,
    style: Style,
    renderer: Renderer,
    region: BaseGeometry | None = None,
    workers: int | None = None,
) -> Iterator[FrameData]:
    """``render_frame`` for each frame, in order, reading up to ``workers`` frames ahead.

    ``workers`` defaults to the renderer's ``concurrency`` (TiTiler: the per-host bound), so a
    remote renderer keeps that many requests in flight while the caller encodes; memory stays
    bounded to ``workers`` frames. Gap frames (no items) come back empty.
    """
    count = max(1, workers if workers is not None else renderer.concurrency)
    if count == 1:
        for frame in frames:
            yield render_frame(frame, grid, style, renderer, region)
        return
    pending: deque[Future[FrameData]] = deque()
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="render") as pool:
        try:
            for frame in frames:
                pending.append(pool.submit(render_frame, frame, grid, style, renderer, region))
                if len(pending) >= count:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def crosses_antimeridian(geometry: BaseGeometry) -> bool:
    """True for a lon/lat geometry split at ±180° (parts touching both edges of the map)."""
    west, _, east, _ = geometry.bounds
    if east - west <= 180:
        return False
    parts = list(getattr(geometry, "geoms", [geometry]))
    touches_east = any(part.bounds[2] >= 180 - 1e-9 for part in parts)
    touches_west = any(part.bounds[0] <= -180 + 1e-9 for part in parts)
    return touches_east and touches_west


def unwrap_antimeridian(geometry: BaseGeometry) -> BaseGeometry:
    """A region split at ±180° as one continuous shape: western parts shifted by +360°.

    Projections centred near 180° (``render.crs: auto``) then see the region whole, its centroid
    falls in the region, and the clip mask has no seam. Other geometries are returned unchanged.
    """
    if not crosses_antimeridian(geometry):
        return geometry
    parts = list(getattr(geometry, "geoms", [geometry]))
    shifted = [
        shapely.transform(part, lambda xy: xy + np.array([360.0, 0.0])) if part.centroid.x < 0 else part
        for part in parts
    ]
    return shapely.unary_union(shifted)

