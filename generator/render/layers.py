"""Frame production for one animation: its grid, the data layers, and the overlays on top.

Owns the per-animation geometry computed once (grid, inside-region mask, border pixels), the
data layer of each frame (palette indices before overlays, an RGBA image for true colour; the
engine runs it as a task and
keeps it in the frame cache) with the statistics of each frame's values over the region
(``render.stats``, kept beside the layer in the cache), and the share of the region each data
frame has data on, so an animation whose every frame is empty is flagged (:data:`EMPTY_COVERAGE`). The overlays on top are drawn by ``generator.overlays.painter.OverlayPainter``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from generator.core import buildcache
from generator.core.bitmask import Bitmask
from generator.core.model import FramePlan, FrameStats, Grid, Style
from generator.plan.categorical import categorical_indices
from generator.render.cache import geometry_digest
from generator.render.frames import Renderer, apply_formula, read_overlapped, reads_at_once, render_frame
from generator.render.grid import inside_mask, make_grid, output_crs, project, unwrap_antimeridian
from generator.render.palette import to_indices
from generator.render.stats import frame_stats
from generator.render.truecolor import read_rgba
from generator.sources.regions import Region

log = logging.getLogger(__name__)

# A data frame with data on less than this share of the region's pixels counts as empty: an
# animation whose every data frame is empty is almost surely wrong (an item's footprint that
# lies about where its COG is, an all-nodata COG, a rescale that misses the data).
EMPTY_COVERAGE = 0.01


@dataclass(frozen=True)
class PreparedGrid:
    """Per-animation geometry computed once: grid, inside-region mask, the projected outline.

    Serializable as it is (the mask as bits): the engine has it made by a task, so that the
    build's process needs neither PROJ nor GDAL when workers do the reading.
    """

    grid: Grid
    region_mask: Bitmask
    region_digest: str  # identifies the clip for the frame cache
    region: BaseGeometry  # the outline in the grid's CRS (remote renderers clip with it)

    @property
    def inside(self) -> np.ndarray:
        """The pixels whose centre lies inside the region (read-only)."""
        return self.region_mask.array


def prepare_grid(region: Region, crs_option: str, size: int) -> PreparedGrid:
    """The region's grid and mask, computed once per build for each (outline, CRS, size): the
    animations of several collections over one region share them."""
    return grid_of_outline(region.geometry, crs_option, size)


@buildcache.per_build
def grid_of_outline(geometry: BaseGeometry, crs_option: str, size: int) -> PreparedGrid:
    """:func:`prepare_grid` of a region's outline (lon/lat)."""
    # A region split at ±180° is made whole first, so `auto` centres on it and the clip has no seam.
    outline = unwrap_antimeridian(geometry)
    crs = output_crs(crs_option, outline)
    projected = project(outline, crs)
    grid = make_grid(projected, crs, size)
    return PreparedGrid(
        grid=grid,
        region_mask=Bitmask(inside_mask(projected, grid)),  # read-only: shared by the animations of the build
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
    A true-colour style's layer is an RGBA image without statistics, mapped to the animation's
    palette once that is known (``render.truecolor.PaletteMapper``).
    """
    if style.truecolor is not None:
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
    ``ends`` (``LayerTally.ends`` of the engine) sit at one end of the colour scale; else None."""
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
    picked = [data_frames[index] for index in picks]
    read = read_overlapped(
        lambda frame: render_frame(frame, grid, style, renderer, region), picked, reads_at_once(renderer, picked)
    )
    values = [data.values[data.valid & inside & np.isfinite(data.values)] for data in read]
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
