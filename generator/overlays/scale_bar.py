"""The scale bar: a round ground length, true at the map's centre whatever the projection.

Owns measuring the map: the ground length of a horizontal run of pixels through the map's
centre, converted to longitude/latitude and measured as a geodesic on the ellipsoid of the
grid's own CRS (pyproj ``Geod``), so the bar is right in a conformal, equal-area or plain
longitude/latitude grid alike (where a degree of longitude shrinks with latitude, and Web
Mercator, where the scale grows away from the equator). It then picks a round length (1, 2 or
5 × 10ⁿ m or km) that spans up to a quarter of the map's width and draws the bar, its end ticks
and its label with the label colours. Elsewhere than at the centre the scale differs: the bar
says what is true where the eye usually rests.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from generator.core.model import Grid
from generator.overlays.base import SMALL_TEXT_PX_PER_FRAME_PX, OverlayContext, PatchOverlay
from generator.overlays.layout import Request
from generator.overlays.text import coverage_to_indices, draw_line, line_extent, line_height, padding, text_width

log = logging.getLogger(__name__)

#: The bar spans at most this share of the map's width (and, with 1-2-5 steps, at least 2/5 of it).
BAR_SHARE = 0.25
#: Segments the measured run is split into: the geodesic of each is summed, so the length is the
#: run's own (along a parallel in longitude/latitude) rather than the chord between its ends.
SEGMENTS = 32
ROUND_STEPS = (5, 2, 1)


@dataclass(frozen=True)
class ScaleBarLength:
    """A bar: its ground length (metres), its length in pixels and its label."""

    metres: float
    pixels: int
    label: str


def ground_metres(grid: Grid, run_px: float) -> float:
    """The ground length (metres) of a horizontal run of ``run_px`` pixels centred on the map's
    centre, measured on the ellipsoid of the grid's CRS."""
    from pyproj import CRS, Geod, Transformer  # imported when a scale bar is drawn: pyproj is slow to load

    crs = CRS.from_user_input(grid.crs)
    geodetic = crs.geodetic_crs
    if geodetic is None:
        raise ValueError(f"the CRS {grid.crs!r} has no ellipsoid to measure on")
    geod = crs.get_geod() or Geod(ellps="WGS84")
    to_lonlat = Transformer.from_crs(crs, geodetic, always_xy=True)
    columns = grid.width / 2 + np.linspace(-run_px / 2, run_px / 2, SEGMENTS + 1)
    row = grid.height / 2
    t = grid.transform
    xs, ys = t.a * columns + t.b * row + t.c, t.d * columns + t.e * row + t.f
    lons, lats = to_lonlat.transform(xs, ys)
    metres = float(geod.line_length(np.asarray(lons), np.asarray(lats)))
    if not math.isfinite(metres) or metres <= 0:
        raise ValueError(f"no ground length at the centre of the map in {grid.crs!r}")
    return metres


def length_label(metres: float) -> str:
    """``500 m``, ``2 km``, ``1000 km``."""
    if metres >= 1000:
        return f"{metres / 1000:g} km"
    return f"{metres:g} m"


def round_length(most_metres: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not above ``most_metres``."""
    power = 10.0 ** math.floor(math.log10(most_metres))
    for step in ROUND_STEPS:
        if step * power <= most_metres * (1 + 1e-9):
            return step * power
    return power  # not reached: 1 × 10^floor(log10) is always ≤ most_metres


def scale_bar_length(grid: Grid, most_px: float) -> ScaleBarLength:
    """The round length whose bar, centred on the map, is at most ``most_px`` pixels long."""
    per_px = ground_metres(grid, most_px) / most_px
    metres = round_length(most_px * per_px)
    pixels = metres / per_px
    # Measure again over the bar's own run: where the scale changes across the map (far from a
    # projection's centre) the centre's scale over a shorter run is slightly different.
    pixels = metres / (ground_metres(grid, pixels) / pixels)
    return ScaleBarLength(metres=metres, pixels=max(1, round(pixels)), label=length_label(metres))


def scale_bar_patch(bar: ScaleBarLength, size_px: int, ramp: list[int] | tuple[int, ...]) -> np.ndarray:
    """The box: the bar with ticks at both ends, then its label, in the label colours."""
    pad_x, pad_y, _ = padding(size_px)
    text_h, (top, _) = line_height(size_px), line_extent(size_px)
    gap = max(2, round(0.3 * size_px))
    thick = max(2, round(size_px / 7))
    label_w = text_width(bar.label, size_px)
    box_w = pad_x + bar.pixels + 2 * thick + gap + label_w + pad_x
    box_h = text_h + 2 * pad_y
    coverage = Image.new("L", (box_w, box_h), 0)
    draw = ImageDraw.Draw(coverage)
    x0 = pad_x + thick  # the bar's first pixel: its ticks stand just outside it
    bottom = pad_y + text_h - 1 - max(1, text_h // 6)
    draw.rectangle((x0, bottom - thick + 1, x0 + bar.pixels - 1, bottom), fill=255)
    tick_top = bottom - max(thick + 2, text_h // 2)
    draw.rectangle((x0 - thick, tick_top, x0 - 1, bottom), fill=255)
    draw.rectangle((x0 + bar.pixels, tick_top, x0 + bar.pixels + thick - 1, bottom), fill=255)
    draw_line(coverage, x0 + bar.pixels + thick + gap, pad_y - top, bar.label, size_px)
    return coverage_to_indices(np.asarray(coverage), ramp)


class ScaleBar(PatchOverlay):
    """``overlays.scale_bar``: a round ground length, true at the map's centre."""

    name = "scale_bar"

    def __init__(self) -> None:
        super().__init__()
        self.length: ScaleBarLength | None = None

    def prepare(self, context: OverlayContext) -> Request | None:
        options = context.settings.scale_bar
        if not options:
            return None
        size = options.size or context.font(SMALL_TEXT_PX_PER_FRAME_PX)
        pad_x = padding(size)[0]
        # The box must fit the frame: the bar gives up what the label and padding take.
        label_room = 2 * pad_x + 2 * max(2, round(size / 7)) + max(2, round(0.3 * size)) + text_width("5000 km", size)
        most = min(BAR_SHARE * context.grid.width, context.room - label_room)
        if most < 4:
            return None
        try:
            self.length = scale_bar_length(context.grid, most)
        except Exception as error:  # a CRS pyproj cannot measure on: no bar, the rest is drawn
            log.warning("no scale bar: %s", error)
            return None
        return self.request(scale_bar_patch(self.length, size, context.palette.label_ramp()), options.position)
