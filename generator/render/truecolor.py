"""True colour: three channels read as red, green and blue, on one palette per animation.

Owns what a true-colour style (``core.model.TrueColor``) does to pixels, as pure functions:
reading the three channels of a frame (three bands of one asset, or band 1 of three assets,
each with its own STAC ``raster:bands`` scale/offset, through any renderer), turning them into
colours (:func:`to_rgb`: rescale per channel, then gamma, then saturation), the animation's one
palette made from the colours of all its frames (:func:`palette_colors`, :func:`truecolor_palette`)
and each frame's colours mapped to it (:class:`PaletteMapper`).

Frames stay palette-indexed (the GIF needs one palette): a frame's data layer is an RGBA image
(alpha 0 where a channel has no value) — that is what the frame cache keeps, so the palette can
change without reading anything again — and it becomes palette indices only when the
animation's palette is known. One palette for the whole animation means a colour never changes
index from one frame to the next (no flicker). Mapping is to the nearest palette colour through a
lookup table on an RGB cube of :data:`CUBE_BITS` bits per channel, filled lazily; no dithering
(dither patterns change from frame to frame, which reads as shimmer and makes the GIF larger).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image
from shapely.geometry.base import BaseGeometry

from generator.core.model import FramePlan, Grid, Style, TrueColor
from generator.render.frames import FrameData, Renderer, read_overlapped, reads_at_once, render_frame
from generator.render.palette import Palette, nodata_rgb, with_reserved

#: Pixels taken from each frame's layer to make the palette (evenly spaced, so deterministic).
SAMPLE_PER_FRAME = 20_000
#: At most this many sampled pixels make the palette (taken evenly from every frame's sample).
SAMPLE_TOTAL = 100_000
#: Rounds of k-means that refine the median-cut palette (each: one nearest-colour pass over the sample).
KMEANS_ROUNDS = 8
#: Bits per channel of the lookup cube: a cell spans 4 values, so the colour a pixel gets is at
#: most 2 × 1.5·√3 ≈ 5.2 (RGB distance) farther than its nearest palette colour.
CUBE_BITS = 6
#: Rec. 709 luma weights: the grey that saturation moves a colour away from or towards.
LUMA = np.array([0.2126, 0.7152, 0.0722])


def channel_style(style: Style, channel: int) -> Style:
    """The one-band style channel ``channel`` (0 red, 1 green, 2 blue) is read with."""
    rgb = style.truecolor
    assert rgb is not None
    band = 1 if rgb.assets else rgb.bands[channel]
    return replace(
        style, truecolor=None, bidx=band, band_chosen=True, expression=None, color_ops=(), categories=None,
        rescale=rgb.rescale[channel],
    )


def channel_frame(frame: FramePlan, channel: int) -> FramePlan:
    """``frame`` with each item's asset of ``channel`` (three assets); unchanged for one asset."""
    if not any(item.channels for item in frame.items):
        return frame
    items = tuple(
        replace(item, href=part.href, updated=part.updated, bands=part.bands, channels=())
        for item in frame.items
        for part in (item.channels[channel],)
    )
    return replace(frame, items=items)


def read_rgba(
    frame: FramePlan, grid: Grid, style: Style, renderer: Renderer, region: BaseGeometry | None = None
) -> np.ndarray:
    """One frame as an RGBA layer (height × width × 4, uint8); alpha 0 where a channel has no value.

    The three channels are read side by side when their reads wait on the network (remote
    assets: ``render.frames.reads_at_once``), one after the other otherwise."""
    rgb = style.truecolor
    assert rgb is not None

    def channel_data(channel: int) -> FrameData:
        return render_frame(channel_frame(frame, channel), grid, channel_style(style, channel), renderer, region)

    at_once = reads_at_once(renderer, [channel_frame(frame, 0)], reads=3)
    values, valid = [], np.ones(grid.shape, dtype=bool)
    for data in read_overlapped(channel_data, range(3), at_once, threads="channels"):
        values.append(data.values)
        valid &= data.valid
    layer = np.zeros((*grid.shape, 4), dtype=np.uint8)
    layer[..., :3] = to_rgb(np.stack(values), rgb)
    layer[..., 3] = np.where(valid, 255, 0)
    layer[~valid, :3] = 0
    return layer


def to_rgb(values: np.ndarray, rgb: TrueColor) -> np.ndarray:
    """Channel values (3 × height × width) → colours (height × width × 3, uint8).

    Each channel c: t = clip((v − low_c) / (high_c − low_c), 0, 1); then t ← t ** (1 / gamma);
    then saturation s moves the colour from its grey y (Rec. 709 luma of the three t) by s:
    t ← clip(y + s · (t − y), 0, 1); colour = round(255 · t). NaN reads as 0.
    """
    stack = np.asarray(values, dtype=np.float64)
    t = np.empty_like(stack)
    for channel, (low, high) in enumerate(rgb.rescale):
        t[channel] = (stack[channel] - low) / (high - low)
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    if rgb.gamma != 1.0:
        t **= 1.0 / rgb.gamma
    if rgb.saturation != 1.0:
        grey = np.tensordot(LUMA, t, axes=1)
        t = np.clip(grey + rgb.saturation * (t - grey), 0.0, 1.0)
    return np.rint(np.moveaxis(t, 0, -1) * 255.0).astype(np.uint8)


def sample_colors(layer: np.ndarray, count: int = SAMPLE_PER_FRAME) -> np.ndarray:
    """Up to ``count`` colours (n × 3) of an RGBA layer's valid pixels, evenly spaced."""
    pixels = layer.reshape(-1, 4)
    valid = pixels[pixels[:, 3] > 0, :3]
    step = max(1, len(valid) // count)
    return valid[::step][:count]


def palette_colors(layers: Iterable[np.ndarray], count: int) -> np.ndarray:
    """``count`` colours (count × 3, uint8) representing every layer's colours.

    Median cut on a sample of every frame (at most :data:`SAMPLE_TOTAL` pixels), refined by a few
    rounds of k-means (:data:`KMEANS_ROUNDS`) on the sample's distinct colours weighted by their
    counts. Exact when the frames have ``count`` colours or fewer; the table is padded with its
    last colour (a repeated entry is never the nearest of anything new).
    """
    return sampled_palette_colors([sample_colors(layer) for layer in layers], count)


def sampled_palette_colors(samples: Sequence[np.ndarray], count: int) -> np.ndarray:
    """:func:`palette_colors` from each layer's :func:`sample_colors`, in frame order (a build
    samples each layer as it arrives and keeps only the samples)."""
    pooled = np.concatenate(samples) if samples else np.zeros((0, 3), dtype=np.uint8)
    if len(pooled) == 0:
        pooled = np.zeros((1, 3), dtype=np.uint8)
    pooled = pooled[:: max(1, len(pooled) // SAMPLE_TOTAL)]
    distinct, counts = np.unique(pooled, axis=0, return_counts=True)
    if len(distinct) <= count:
        colors = distinct
    else:
        image = Image.fromarray(np.ascontiguousarray(pooled.reshape(1, -1, 3)), mode="RGB")
        quantized = image.quantize(colors=count, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        table = np.frombuffer(bytes(quantized.getpalette() or []), dtype=np.uint8).reshape(-1, 3)
        colors = _kmeans(table[np.unique(np.asarray(quantized))], distinct, counts)
    padded = np.empty((count, 3), dtype=np.uint8)
    padded[: len(colors)] = colors[:count]
    padded[len(colors):] = colors[-1]
    return padded


def _kmeans(start: np.ndarray, colors: np.ndarray, weights: np.ndarray, rounds: int = KMEANS_ROUNDS) -> np.ndarray:
    """``start`` moved by Lloyd's k-means towards the weighted ``colors`` (a deterministic refinement)."""
    from scipy.spatial import cKDTree  # deferred: scipy takes ~0.3 s to import, only true colour needs it

    points = colors.astype(np.float64)
    centres = start.astype(np.float64)
    for _ in range(rounds):
        _, nearest = cKDTree(centres).query(points)
        totals = np.bincount(nearest, weights, minlength=len(centres))
        used = totals > 0
        for channel in range(3):
            sums = np.bincount(nearest, weights * points[:, channel], minlength=len(centres))
            centres[used, channel] = sums[used] / totals[used]
    return np.unique(np.rint(centres).astype(np.uint8), axis=0)


def truecolor_palette(colors: np.ndarray, base: Palette, nodata_color: str | None = None) -> Palette:
    """``base`` (its reserved entries: borders, text, no-data, transparent) with ``colors`` as its data
    levels; the no-data grey is chosen again against those colours (``style.nodata_color``)."""
    table = np.array(base.colors)
    table[: base.n_levels] = colors[: base.n_levels]
    palette = Palette(colors=table, n_levels=base.n_levels, reserved=base.reserved)
    nodata = nodata_rgb(nodata_color, palette)
    return with_reserved(palette, {"nodata": nodata}) if nodata else palette


class PaletteMapper:
    """RGBA layers → palette indices: each colour to the nearest data level (Euclidean RGB).

    Outside the region: transparent; inside where the layer has no value: the no-data entry.
    The nearest level is looked up per cell of a 2^:data:`CUBE_BITS`-per-channel cube, computed
    the first time a cell is met and kept for the rest of the animation.
    """

    def __init__(self, palette: Palette, inside: np.ndarray) -> None:
        self.levels = palette.data_colors().astype(np.float64)
        self.transparent = palette.transparent
        self.nodata = palette.index("nodata")
        self.inside = inside
        self.table = np.full(1 << (3 * CUBE_BITS), -1, dtype=np.int16)
        self.tree: Any = None  # a scipy cKDTree of the data levels, made on the first lookup

    def __getstate__(self) -> dict[str, Any]:
        """Sent to a worker without the lookups made so far (512 KB; it fills its own table)."""
        return {**self.__dict__, "table": None, "tree": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.table = np.full(1 << (3 * CUBE_BITS), -1, dtype=np.int16)

    def __call__(self, layer: np.ndarray) -> np.ndarray:
        shift = 8 - CUBE_BITS
        cells = layer[..., :3].astype(np.int32) >> shift
        codes = (cells[..., 0] << (2 * CUBE_BITS)) | (cells[..., 1] << CUBE_BITS) | cells[..., 2]
        data = (layer[..., 3] > 0) & self.inside
        missing = np.unique(codes[data & (self.table[codes] < 0)])
        if missing.size:
            self.table[missing] = self._nearest(missing)
        out = np.where(self.inside, self.nodata, self.transparent).astype(np.uint8)
        out[data] = self.table[codes[data]].astype(np.uint8)
        return out

    def _nearest(self, codes: np.ndarray) -> np.ndarray:
        from scipy.spatial import cKDTree  # deferred, as in _kmeans

        if self.tree is None:
            self.tree = cKDTree(self.levels)
        half = (1 << (8 - CUBE_BITS)) / 2 - 0.5  # a cell's centre, from its lowest value
        mask = (1 << CUBE_BITS) - 1
        cells = np.stack([(codes >> (2 * CUBE_BITS)) & mask, (codes >> CUBE_BITS) & mask, codes & mask], axis=1)
        _, found = self.tree.query(cells.astype(np.float64) * (1 << (8 - CUBE_BITS)) + half)
        return np.asarray(found, dtype=np.int16)


__all__ = [
    "CUBE_BITS", "PaletteMapper", "channel_frame", "channel_style",
    "palette_colors", "read_rgba", "sample_colors", "sampled_palette_colors", "to_rgb", "truecolor_palette",
]
