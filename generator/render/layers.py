"""Frame production for one animation: its grid, the data layers, and the overlays on top.

Owns the per-animation geometry computed once (grid, inside-region mask, border pixels), the
data layer of each frame (palette indices before overlays) served from the frame cache or
rendered — in parallel when a pool is given, in order, with bounded look-ahead so memory stays
flat — with the statistics of each frame's values over the region (``render.stats``, kept
beside the layer in the cache), and the share of the region each data frame has data on, so an animation whose every
frame is empty is flagged (:data:`EMPTY_COVERAGE`). The overlays on top are drawn by ``generator.overlays.painter.OverlayPainter``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from generator.core import buildcache
from generator.core.model import FramePlan, FrameStats, Grid, Style
from generator.plan.categorical import categorical_indices
from generator.render.cache import FrameCache, geometry_digest, layer_key
from generator.render.grid import inside_mask, make_grid, output_crs, project
from generator.render.local import Renderer, apply_formula, render_frame, unwrap_antimeridian
from generator.render.palette import Palette, to_indices
from generator.render.stats import frame_stats
from generator.render.truecolor import read_rgba
from generator.sources.regions import Region

log = logging.getLogger(__name__)

POOL_MIN_FRAMES = 8  # below this, starting work in a pool costs more than it saves
# A data frame with data on less than this share of the region's pixels counts as empty: an
# animation whose every data frame is empty is almost surely wrong (an item's footprint that
# lies about where its COG is, an all-nodata COG, a rescale that misses the data).
EMPTY_COVERAGE = 0.01


@dataclass(frozen=True)
class PreparedGrid:
    """Per-animation geometry computed once: grid, inside-region mask, border pixels."""

    grid: Grid
    inside: np.ndarray
    region_digest: str  # identifies the clip for the frame cache
    region: BaseGeometry  # the outline in the grid's CRS (remote renderers clip with it)


def prepare_grid(region: Region, crs_option: str, size: int) -> PreparedGrid:
    """The region's grid and mask, computed once per build for each (outline, CRS, size): the
    animations of several collections over one region share them."""
    return _prepare_grid(region.geometry, crs_option, size)


@buildcache.per_build
def _prepare_grid(geometry: BaseGeometry, crs_option: str, size: int) -> PreparedGrid:
    # A region split at ±180° is made whole first, so `auto` centres on it and the clip has no seam.
    outline = unwrap_antimeridian(geometry)
    crs = output_crs(crs_option, outline)
    projected = project(outline, crs)
    grid = make_grid(projected, crs, size)
    inside = inside_mask(projected, grid)
    inside.flags.writeable = False  # shared by the animations of the build
    return PreparedGrid(
        grid=grid,
        inside=inside,
        region_digest=geometry_digest(shapely.to_wkb(projected, output_dimension=2)),
        region=projected,
    )


@dataclass(frozen=True)
class Levels:
    """What ``to_indices`` needs of a palette, small and picklable for worker processes."""

    n_levels: int
    transparent: int
    nodata: int  # missing values inside the region


def data_layer(
    frame: FramePlan,
    grid: Grid,
    style: Style,
    inside: np.ndarray,
    levels: Levels,
    renderer: Renderer,
    region: BaseGeometry | None = None,
) -> np.ndarray:
    """One frame's data as palette indices: transparent outside the region, ``levels.nodata``
    inside it where there is no value.

    A top-level function so process pools can run it.
    """
    return layer_and_stats(frame, grid, style, inside, levels, renderer, region)[0]


def layer_and_stats(
    frame: FramePlan,
    grid: Grid,
    style: Style,
    inside: np.ndarray,
    levels: Levels,
    renderer: Renderer,
    region: BaseGeometry | None = None,
) -> tuple[np.ndarray, FrameStats | None]:
    """:func:`data_layer` and the statistics of the values it maps, from one read.

    The statistics are taken from the values as read (before any colour formula) over the
    valid pixels inside the region; a categorical style has none (class codes have no mean).
    """
    if style.truecolor is not None:  # an RGBA layer, mapped to the animation's palette later
        return read_rgba(frame, grid, style, renderer, region), None
    data = render_frame(frame, grid, style, renderer, region, formula=False)
    categories = style.categories
    stats = frame_stats(data.values, data.valid, inside) if categories is None else None
    data = apply_formula(data, style)
    if categories is not None:
        layer = categorical_indices(data.values, data.valid & inside, categories, levels)
    else:
        layer = to_indices(data.values, data.valid & inside, style.rescale, levels, style.scale)
    layer[inside & (layer == levels.transparent)] = levels.nodata
    return layer, stats


@dataclass(frozen=True)
class LayerSurvey:
    """What the overlays need to know of all the data layers before the first frame is painted."""

    nodata: bool  # some frame lacks values somewhere inside the region
    coverage: np.ndarray  # per pixel, in how many frames it holds a data value (uint16)


def survey(layers: Iterator[np.ndarray], shape: tuple[int, int], n_levels: int, nodata: int) -> LayerSurvey:
    """Count the data pixels of every layer and note whether any has no-data pixels."""
    coverage = np.zeros(shape, dtype=np.uint16)
    missing = False
    for layer in layers:
        coverage += layer < n_levels
        missing = missing or bool((layer == nodata).any())
    return LayerSurvey(nodata=missing, coverage=coverage)


Served = tuple[np.ndarray, FrameStats | None]  # a frame's data layer and its statistics


@dataclass
class LayerSource:
    """Yields the data layers of an animation's frames in order: cache first, then render."""

    prepared: PreparedGrid
    style: Style
    palette: Palette
    renderer: Renderer
    renderer_name: str
    cache: FrameCache
    pool: Executor | None = None
    look_ahead: int = 4
    # The share of the region's pixels with data, for each data frame served (gap frames have none).
    coverage: list[float] = field(default_factory=list)
    # The statistics of each frame served, in order (None for gap frames and categorical styles).
    stats: list[FrameStats | None] = field(default_factory=list)
    scratch: FrameCache | None = None  # layers go here too (a second read without a cache)
    # Pixels inside the region at the first level, at the last level, and with any data level.
    ends: list[int] = field(default_factory=lambda: [0, 0, 0])
    # True colour: RGBA layers (as cached) → palette indices (``render.truecolor.PaletteMapper``).
    mapping: Callable[[np.ndarray], np.ndarray] | None = None

    def layers(self, frames: Sequence[FramePlan]) -> Iterator[np.ndarray]:
        grid = self.prepared.grid
        levels = self.palette.n_levels if self.style.truecolor is None else 0  # RGBA layers: no levels yet
        keys = [
            layer_key(frame, grid, self.style, self.prepared.region_digest, levels, self.renderer_name)
            if frame.items
            else None
            for frame in frames
        ]
        to_render = sum(1 for key in keys if key is not None)
        pool = self.pool if self.pool is not None and to_render >= POOL_MIN_FRAMES else None
        pending: deque[tuple[str | None, Served | Future[Served], bool]] = deque()
        for frame, key in zip(frames, keys, strict=True):
            pending.append((key, *self._start(frame, key, pool)))
            if len(pending) > self.look_ahead:
                yield self._finish(*pending.popleft())
        while pending:
            yield self._finish(*pending.popleft())

    def _start(
        self, frame: FramePlan, key: str | None, pool: Executor | None
    ) -> tuple[Served | Future[Served], bool]:
        """((the layer, its statistics) or their future, whether they still have to go into the cache)."""
        grid = self.prepared.grid
        if key is None:  # a gap frame: no data anywhere in the region
            inside = self.prepared.inside
            return (np.where(inside, self.palette.index("nodata"), self.palette.transparent).astype(np.uint8), None), False
        cached = self.cache.get_entry(key, grid.shape)
        if cached is not None:
            return (cached.layer, cached.stats), False
        levels = Levels(self.palette.n_levels, self.palette.transparent, self.palette.index("nodata"))
        arguments = (frame, grid, self.style, self.prepared.inside, levels, self.renderer, self.prepared.region)
        if pool is None:
            return layer_and_stats(*arguments), True
        return pool.submit(layer_and_stats, *arguments), True

    def _finish(self, key: str | None, started: Served | Future[Served], store: bool) -> np.ndarray:
        layer, stats = started.result() if isinstance(started, Future) else started
        if store and key is not None:
            self.cache.put(key, layer, stats)
            if self.scratch is not None:
                self.scratch.put(key, layer, stats)
        if self.mapping is not None and key is not None:
            layer = self.mapping(layer)
        if key is not None and layer.ndim == 2:
            self.coverage.append(data_coverage(layer, self.prepared.inside, self.palette.n_levels))
            n_levels, inside = self.palette.n_levels, self.prepared.inside
            self.ends[0] += int(np.count_nonzero((layer == 0) & inside))
            self.ends[1] += int(np.count_nonzero((layer == n_levels - 1) & inside))
            self.ends[2] += int(np.count_nonzero((layer < n_levels) & inside))
        self.stats.append(stats)
        return layer


def data_coverage(layer: np.ndarray, inside: np.ndarray, n_levels: int) -> float:
    """The share of the pixels inside the region that hold a data level in ``layer`` (neither
    transparent nor the no-data colour: both are reserved entries after the levels)."""
    total = int(np.count_nonzero(inside))
    if total == 0:
        return 0.0
    return int(np.count_nonzero((layer < n_levels) & inside)) / total


#: Share of an animation's data pixels at one end of the rescale above which the build warns.
SATURATED_SHARE = 0.9
#: How many frames are read again to measure the data's percentiles for that warning.
SATURATION_SAMPLE_FRAMES = 3


def saturated_end(ends: Sequence[int]) -> tuple[str, float] | None:
    """("low" or "high", share) when more than ``SATURATED_SHARE`` of the data pixels counted in
    ``ends`` (``LayerSource.ends``) sit at one end of the colour scale; else None."""
    low, high, total = ends
    if total == 0:
        return None
    side, count = ("low", low) if low >= high else ("high", high)
    share = count / total
    return (side, share) if share > SATURATED_SHARE else None


def value_percentiles(
    frames: Sequence[FramePlan],
    grid: Grid,
    style: Style,
    inside: np.ndarray,
    renderer: Renderer,
    region: BaseGeometry | None = None,
    sample: int = SATURATION_SAMPLE_FRAMES,
) -> tuple[float, float] | None:
    """The 2nd and 98th percentiles of the values inside the region, over up to ``sample`` data
    frames spread through the animation (read again: layers keep palette levels, not values)."""
    data_frames = [frame for frame in frames if frame.items]
    if not data_frames:
        return None
    picks = sorted({round(i * (len(data_frames) - 1) / max(1, sample - 1)) for i in range(min(sample, len(data_frames)))})
    values = []
    for index in picks:
        data = render_frame(data_frames[index], grid, style, renderer, region)
        values.append(data.values[data.valid & inside & np.isfinite(data.values)])
    pooled = np.concatenate(values) if values else np.empty(0)
    if pooled.size == 0:
        return None
    low, high = np.percentile(pooled.astype(np.float64), [2, 98])
    return float(low), float(high)


def saturation_warning(style: Style, side: str, share: float, percentiles: tuple[float, float] | None) -> str:
    """The build's warning for an animation whose data mostly sit at one end of ``style.rescale``."""
    low, high = style.rescale
    units = "physical units, raster:bands scale/offset applied" if style.unscale else "the file's raw values"
    seen = (
        f"the data's 2nd–98th percentiles are {_number(percentiles[0])} to {_number(percentiles[1])}"
        if percentiles is not None else "the data's percentiles could not be measured"
    )
    return (
        f"{share:.0%} of the data pixels sit at the {side} end of rescale [{_number(low)}, {_number(high)}] "
        f"(in {units}), so the frames are nearly one colour; {seen}: set style.rescale to cover them"
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def empty_frames_warning(coverage: Sequence[float]) -> str | None:
    """The warning for an animation whose every data frame is empty (see :data:`EMPTY_COVERAGE`)."""
    if not coverage or max(coverage) >= EMPTY_COVERAGE:
        return None
    every = "the only data frame has" if len(coverage) == 1 else f"each of the {len(coverage)} data frames has"
    return (
        f"{every} data on less than {EMPTY_COVERAGE:.0%} of the region (at most {max(coverage):.1%}): "
        "check that the items' footprints match their COGs, the assets' nodata value and the style's rescale"
    )
