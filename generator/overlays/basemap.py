"""Basemaps: XYZ tiles under the data, in Web Mercator, with one exact-where-it-matters palette.

Owns everything ``render.basemap`` adds to an animation:

- the zoom level that matches the output grid (tiles no finer than the frame's pixels) and the
  tiles that cover the grid (wrapping across ±180°, nothing fetched beyond the poles);
- fetching them through the project's HTTP session (retries, timeouts, the project's
  User-Agent) with at most :data:`TILE_HOST_CONCURRENCY` requests per tile host, and an on-disk
  tile cache shared between builds. A 403/404 (or anything that is not an image) fails the
  animation with a :class:`~generator.core.errors.RenderError` naming the tile URL: a blank or
  "access blocked" tile is never baked into a map;
- the mosaic resampled once onto the animation's grid;
- the animation's palette: the data levels (fewer than without a basemap, so the colormap stays
  exact), then the basemap's colours quantized once, then the usual reserved overlay entries;
- compositing each frame's data layer over the basemap with fixed lookups built once per
  animation (no per-frame quantization): at data opacity 1 data pixels keep their exact
  colormap index; below 1 a (data level × basemap colour) table gives the blended colour.

Pure numpy apart from :class:`TileFetcher` (HTTP and the disk cache).
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
from PIL import Image, UnidentifiedImageError

from generator.core.atomic import write_bytes_atomic
from generator.core.errors import RenderError
from generator.core.model import Grid
from generator.core.redaction import public_url
from generator.core.specs import BasemapSpec
from generator.core.threads import DaemonThreads
from generator.render.palette import PALETTE_SIZE, Palette, colormap_levels
from generator.sources.http import HttpSettings, describe_error, make_session

log = logging.getLogger(__name__)

WEB_MERCATOR = "EPSG:3857"
EARTH_RADIUS = 6378137.0  # the sphere of EPSG:3857, metres
WORLD_SPAN = 2 * math.pi * EARTH_RADIUS  # width (and height) of the Web Mercator square
TILE_PX = 256
#: Tile servers ask clients to be gentle; OpenStreetMap's usage policy allows 2 connections.
TILE_HOST_CONCURRENCY = 2
#: Data levels with a basemap: half the palette keeps a colormap smooth and leaves room for the
#: basemap's colours (see :func:`basemap_palette`).
BASEMAP_DATA_LEVELS = 128
#: Fewer basemap colours than this would show as posterized blotches.
MIN_BASEMAP_COLORS = 16
#: A resampled basemap pixel at least this opaque is drawn (tiles are opaque; edges of the
#: mosaic beyond the poles are not).
OPAQUE_ALPHA = 128
SAMPLE_PIXELS = 50_000  # colours the palette is made from, drawn evenly from the mosaic
TILE_MAX_BYTES = 8 * 1024 * 1024


# Geometry ---------------------------------------------------------------------------------


def tile_resolution(zoom: int) -> float:
    """Metres per tile pixel at ``zoom`` (EPSG:3857 units, at every latitude)."""
    return WORLD_SPAN / (TILE_PX * 2**zoom)


def zoom_for(grid: Grid, max_zoom: int) -> int:
    """The coarsest zoom whose tiles are at least as fine as the grid's pixels (≤ ``max_zoom``).

    Coarser tiles would be upscaled (blurry); finer ones cost 4× the tiles per level for detail
    the frame cannot show.
    """
    pixel = abs(grid.transform.a)
    needed = math.log2(tile_resolution(0) / pixel)
    zoom = math.ceil(needed - 1e-9)  # a grid exactly at a zoom's resolution uses that zoom
    return max(0, min(max_zoom, zoom))


@dataclass(frozen=True)
class TileRange:
    """Tiles ``x0..x1`` × ``y0..y1`` (inclusive) at ``zoom``; x may run past the antimeridian."""

    zoom: int
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def columns(self) -> int:
        return self.x1 - self.x0 + 1

    @property
    def rows(self) -> int:
        return self.y1 - self.y0 + 1

    def tiles(self) -> list[tuple[int, int, int]]:
        """(z, x, y) of the tiles that exist (rows beyond the poles have none), x wrapped."""
        count = 2**self.zoom
        return [
            (self.zoom, x % count, y)
            for y in range(self.y0, self.y1 + 1) if 0 <= y < count
            for x in range(self.x0, self.x1 + 1)
        ]


def tile_range(grid: Grid, zoom: int) -> TileRange:
    """The tiles that cover ``grid`` (a Web Mercator grid) at ``zoom``."""
    left, bottom, right, top = grid.bounds
    span = WORLD_SPAN / 2**zoom
    half = WORLD_SPAN / 2
    x0 = math.floor((left + half) / span)
    x1 = math.ceil((right + half) / span) - 1
    y0 = math.floor((half - top) / span)
    y1 = math.ceil((half - bottom) / span) - 1
    return TileRange(zoom, x0, y0, max(x0, x1), max(y0, y1))


def tile_url(template: str, z: int, x: int, y: int) -> str:
    return template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))


# Fetching ---------------------------------------------------------------------------------

TileSource = Callable[[int, int, int], np.ndarray]  # (z, x, y) → (256, 256, 4) uint8 RGBA


def decode_tile(data: bytes, where: str) -> np.ndarray:
    """PNG/JPEG/WebP bytes → (256, 256, 4) RGBA; a non-image or another size is a RenderError."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgba = np.asarray(image.convert("RGBA"))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise RenderError(f"basemap tile {where} is not an image ({error}); check render.basemap.url") from None
    if rgba.shape[:2] != (TILE_PX, TILE_PX):
        raise RenderError(
            f"basemap tile {where} is {rgba.shape[1]}×{rgba.shape[0]} px; only {TILE_PX}-px XYZ tiles are "
            "supported (use the server's 256-px tile URL, not a @2x or 512-px one)"
        )
    return rgba


def _status_message(url: str, response: requests.Response, zoom: int) -> str:
    status = f"HTTP {response.status_code} {response.reason or ''}".strip()
    if response.status_code == 404:
        hint = f"the server has no tile there (zoom {zoom}); check render.basemap.url and max_zoom"
    elif response.status_code in (401, 403):
        hint = (
            "the tile server refused access; check its usage policy and whether the URL needs an API key "
            "(render.basemap.url)"
        )
    else:
        hint = "check render.basemap.url"
    return f"basemap tile {public_url(url)}: {status}: {hint}"


@dataclass
class TileFetcher:
    """Fetches XYZ tiles once: from the disk cache under ``root``, else over HTTP (then cached)."""

    template: str
    root: Path
    session: requests.Session = field(default_factory=lambda: tile_session())
    downloaded: int = 0
    from_cache: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # tiles come in on 2 threads

    def _path(self, z: int, x: int, y: int) -> Path:
        # The template is hashed: it may hold an API key, which must not become a folder name.
        folder = hashlib.sha256(self.template.encode()).hexdigest()[:16]
        return self.root / folder / str(z) / str(x) / f"{y}.tile"

    def __call__(self, z: int, x: int, y: int) -> np.ndarray:
        url = tile_url(self.template, z, x, y)
        path = self._path(z, x, y)
        if path.is_file():
            try:
                tile = decode_tile(path.read_bytes(), public_url(url))
                with self._lock:
                    self.from_cache += 1
                return tile
            except (RenderError, OSError):
                path.unlink(missing_ok=True)  # a damaged cache entry: fetch it again
        try:
            response = self.session.get(url)
        except requests.RequestException as error:
            raise RenderError(f"basemap tile {public_url(url)}: {describe_error(error)}") from None
        if response.status_code != 200:
            raise RenderError(_status_message(url, response, z))
        tile = decode_tile(response.content, public_url(url))
        with self._lock:
            self.downloaded += 1
        write_bytes_atomic(path, response.content)
        return tile


def tile_session(settings: HttpSettings | None = None) -> requests.Session:
    """The project's HTTP session, bounded to :data:`TILE_HOST_CONCURRENCY` per tile host."""
    settings = settings or HttpSettings()
    return make_session(
        HttpSettings(
            connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
            retries=settings.retries, retry_after_max=settings.retry_after_max,
            max_per_host=min(settings.max_per_host, TILE_HOST_CONCURRENCY), max_body_bytes=TILE_MAX_BYTES,
        )
    )


# The mosaic -------------------------------------------------------------------------------


def fetch_mosaic(tiles: TileRange, source: TileSource, workers: int = TILE_HOST_CONCURRENCY) -> np.ndarray:
    """The tiles of ``tiles`` side by side, RGBA; rows beyond the poles stay transparent.

    Tiles are fetched by ``workers`` threads (the session bounds each host on its own too).
    """
    mosaic = np.zeros((tiles.rows * TILE_PX, tiles.columns * TILE_PX, 4), dtype=np.uint8)
    wanted = [
        (row, column, y, x)
        for row, y in enumerate(range(tiles.y0, tiles.y1 + 1)) if 0 <= y < 2**tiles.zoom
        for column, x in enumerate(range(tiles.x0, tiles.x1 + 1))
    ]
    count = 2**tiles.zoom
    with DaemonThreads(workers, "tiles") as pool:  # a tile server that never answers does not hold Ctrl-C
        images = pool.map(lambda job: source(tiles.zoom, job[3] % count, job[2]), wanted)
        for (row, column, _, _), image in zip(wanted, images, strict=True):
            mosaic[row * TILE_PX : (row + 1) * TILE_PX, column * TILE_PX : (column + 1) * TILE_PX] = image
    return mosaic


def mosaic_on_grid(mosaic: np.ndarray, tiles: TileRange, grid: Grid) -> np.ndarray:
    """Resample the mosaic onto ``grid`` → (height, width, 4) RGBA.

    Lanczos over the exact fractional window keeps map lettering crisp; Pillow resamples RGBA
    with premultiplied alpha, so transparent edges do not bleed black.
    """
    left, bottom, right, top = grid.bounds
    span = WORLD_SPAN / 2**tiles.zoom
    origin_x = tiles.x0 * span - WORLD_SPAN / 2
    origin_y = WORLD_SPAN / 2 - tiles.y0 * span
    pixel = span / TILE_PX
    height, width = mosaic.shape[:2]
    box = (
        min(max((left - origin_x) / pixel, 0.0), width),
        min(max((origin_y - top) / pixel, 0.0), height),
        min(max((right - origin_x) / pixel, 0.0), width),
        min(max((origin_y - bottom) / pixel, 0.0), height),
    )
    image = Image.fromarray(mosaic, mode="RGBA")
    resized = image.resize((grid.width, grid.height), Image.Resampling.LANCZOS, box=box)
    return np.asarray(resized)


# Palette ----------------------------------------------------------------------------------


def data_level_colors(colormap: str | Sequence[str], n_levels: int = BASEMAP_DATA_LEVELS) -> np.ndarray:
    """The colormap resampled to ``n_levels`` exactly as a palette without basemap does it."""
    return colormap_levels(colormap, n_levels)


def _even_sample(pixels: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` rows of ``pixels``, evenly spaced (deterministic, no random state)."""
    if len(pixels) <= limit:
        return pixels
    return pixels[np.linspace(0, len(pixels) - 1, limit).astype(int)]


def quantize_colors(sample: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` colours representing ``sample`` (n, 3) uint8; exact when it has few."""
    distinct = np.unique(sample.reshape(-1, 3), axis=0)
    if len(distinct) <= count:
        return distinct.astype(np.uint8)
    image = Image.fromarray(sample.reshape(1, -1, 3).astype(np.uint8), mode="RGB")
    quantized = image.quantize(colors=count, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    table = np.frombuffer(bytes(quantized.getpalette() or []), dtype=np.uint8).reshape(-1, 3)
    used = np.unique(np.asarray(quantized))
    return table[used]


def basemap_palette(data_colors: np.ndarray, reserved_from: Palette, basemap_colors: np.ndarray) -> Palette:
    """Data levels, then basemap entries, then ``reserved_from``'s reserved entries (same colours).

    ``basemap_colors`` must leave room for the reserved entries; the basemap entries are named
    ``basemap_<n>`` so nothing mistakes them for data levels.
    """
    reserved_names = sorted(reserved_from.reserved, key=lambda name: reserved_from.reserved[name])
    n_levels = len(data_colors)
    room = PALETTE_SIZE - n_levels - len(reserved_names)
    if len(basemap_colors) > room:
        raise ValueError(f"{len(basemap_colors)} basemap colours do not fit the {room} free palette entries")
    colors = np.zeros((PALETTE_SIZE, 3), dtype=np.uint8)
    colors[:n_levels] = data_colors
    reserved: dict[str, int] = {}
    for offset, rgb in enumerate(basemap_colors):
        reserved[f"basemap_{offset}"] = n_levels + offset
        colors[n_levels + offset] = rgb
    start = n_levels + len(basemap_colors)
    for offset, name in enumerate(reserved_names):
        reserved[name] = start + offset
        colors[start + offset] = reserved_from.colors[reserved_from.reserved[name]]
    return Palette(colors=colors, n_levels=n_levels, reserved=reserved)


def _nearest(colors: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Index into ``candidates`` of the colour nearest each of ``colors`` (Euclidean RGB)."""
    from scipy.spatial import cKDTree  # deferred: scipy takes ~0.3 s to import, only basemaps need it

    tree = cKDTree(candidates.astype(np.float64))
    _, index = tree.query(colors.reshape(-1, 3).astype(np.float64))
    return np.asarray(index, dtype=np.intp).reshape(colors.shape[:-1])


# Compositing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Basemap:
    """An animation's basemap on its grid: the palette and the lookups every frame uses."""

    palette: Palette
    base: np.ndarray  # (height, width) palette indices; transparent where the basemap is not drawn
    blend: np.ndarray | None  # (n_levels, 256): data level × base index → index; None at opacity 1

    def composite(self, layer: np.ndarray) -> np.ndarray:
        """The data layer (palette indices) over the basemap, as a new array.

        The basemap shows wherever the layer has no value, inside the region as outside.
        """
        transparent = self.palette.transparent
        empty = (layer == transparent) | (layer == self.palette.index("nodata"))
        frame = np.where(empty, self.base, layer).astype(np.uint8)
        if self.blend is not None:
            under = ~empty & (self.base != transparent)
            frame[under] = self.blend[layer[under], self.base[under]]
        return frame


def make_basemap(
    settings: BasemapSpec,
    rgba: np.ndarray,
    inside: np.ndarray,
    data_colors: np.ndarray,
    reserved_from: Palette,
) -> Basemap:
    """Palette and lookups from the basemap resampled to the grid (``rgba``), built once.

    ``inside`` is the region mask (``outside: hide`` leaves the basemap out beyond it);
    ``data_colors`` are the data levels; ``reserved_from`` supplies the reserved overlay entries.
    """
    drawn = rgba[..., 3] >= OPAQUE_ALPHA
    if settings.outside == "hide":
        drawn &= inside
    rgb = rgba[..., :3]
    n_levels = len(data_colors)
    room = PALETTE_SIZE - n_levels - len(reserved_from.reserved)
    if room < MIN_BASEMAP_COLORS:
        raise RenderError(
            f"{n_levels} data classes leave only {room} palette entries for the basemap "
            f"(at least {MIN_BASEMAP_COLORS} are needed); use fewer classes or remove render.basemap"
        )
    pixels = rgb[drawn] if drawn.any() else np.zeros((1, 3), dtype=np.uint8)
    sample = _even_sample(pixels, SAMPLE_PIXELS)
    opacity = settings.opacity
    if opacity < 1.0:
        # Half the entries for the basemap alone (outside the data), half for data-over-basemap
        # blends: random (seeded, so builds are reproducible) pairs of a data level and a
        # basemap pixel, so every level meets the basemap's colours in their proportions.
        pairs = np.random.default_rng(0)
        levels = data_colors[pairs.integers(0, n_levels, SAMPLE_PIXELS)].astype(np.float64)
        under = sample[pairs.integers(0, len(sample), SAMPLE_PIXELS)].astype(np.float64)
        mixed = np.rint(opacity * levels + (1.0 - opacity) * under).astype(np.uint8)
        plain = quantize_colors(sample, room // 2)
        blends = quantize_colors(mixed, room - len(plain))
        basemap_colors = np.unique(np.concatenate([plain, blends]), axis=0)
    else:
        basemap_colors = quantize_colors(sample, room)
    palette = basemap_palette(data_colors, reserved_from, basemap_colors)
    # Basemap and blended pixels may use any data level or basemap entry, never a reserved one.
    candidates = palette.colors[: n_levels + len(basemap_colors)]
    base = np.full(inside.shape, palette.transparent, dtype=np.uint8)
    base[drawn] = _nearest(rgb[drawn], candidates).astype(np.uint8)
    blend = None
    if opacity < 1.0:
        mixed_table = opacity * data_colors[:, None, :].astype(np.float64) + (1.0 - opacity) * palette.colors[None].astype(np.float64)
        blend = _nearest(np.rint(mixed_table), candidates).astype(np.uint8)
    return Basemap(palette=palette, base=base, blend=blend)


def basemap_attribution(basemap: BasemapSpec, data_attribution: str | None) -> str:
    """The attribution line with a basemap: the data's (if any), then the basemap's (always)."""
    parts = [part.strip() for part in (data_attribution, basemap.attribution) if part and part.strip()]
    return " · ".join(dict.fromkeys(parts))


def load_basemap(
    settings: BasemapSpec,
    grid: Grid,
    inside: np.ndarray,
    data_colors: np.ndarray,
    reserved_from: Palette,
    source: TileSource,
) -> Basemap:
    """Fetch the tiles covering ``grid`` (once), resample them and build the animation's lookups."""
    if grid.crs != WEB_MERCATOR:
        raise ValueError(f"a basemap needs a {WEB_MERCATOR} grid, got {grid.crs}")
    zoom = zoom_for(grid, settings.max_zoom)
    tiles = tile_range(grid, zoom)
    log.info("basemap: %d tiles at zoom %d for a %d×%d frame", len(tiles.tiles()), zoom, grid.width, grid.height)
    rgba = mosaic_on_grid(fetch_mosaic(tiles, source), tiles, grid)
    return make_basemap(settings, rgba, inside, data_colors, reserved_from)


__all__ = [
    "BASEMAP_DATA_LEVELS", "Basemap", "TILE_HOST_CONCURRENCY", "TileFetcher", "TileRange", "WEB_MERCATOR",
    "basemap_attribution", "basemap_palette", "data_level_colors", "decode_tile", "fetch_mosaic", "load_basemap",
    "make_basemap", "mosaic_on_grid", "quantize_colors", "tile_range", "tile_resolution",
    "tile_session", "tile_url", "zoom_for",
]
