"""The colorbar legend: tick labels formatted for their magnitude and the legend's pixels.

Owns the legend as a patch of palette indices. Its colour strip is made by the same
:func:`~generator.render.palette.to_indices` mapping as the frames, and the strip pixel under each
tick holds exactly the labelled value, so a colour read at a tick is the colour a frame pixel
of that value has; :class:`Legend` is the overlay that draws it. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from generator.core.model import Style
from generator.overlays.base import SMALL_TEXT_PX_PER_FRAME_PX, OverlayContext, PatchOverlay, font_px
from generator.overlays.layout import Request
from generator.overlays.text import (
    coverage_to_indices,
    draw_line,
    fold_text,
    line_extent,
    line_height,
    padding,
    text_width,
)
from generator.render.palette import Palette, to_indices

Orientation = Literal["horizontal", "vertical"]

#: Values at or above this magnitude (or below SMALL, except 0) are written in scientific form.
LARGE = 1e5
SMALL = 1e-3


@dataclass(frozen=True)
class LegendSpec:
    """What the legend explains: the frames' rescale range (low → high colours) and units."""

    rescale: tuple[float, float]
    units: str | None = None
    nodata: bool = False  # add a "no data" swatch (the frames have missing values in the region)


#: The label of the no-data swatch.
NODATA_LABEL = "no data"


def format_ticks(values: Sequence[float]) -> list[str]:
    """Labels for tick values, in one style chosen by the largest magnitude among them.

    ``[0, 7.5e15, 1.5e16]`` → ``0, 7.5e15, 1.5e16``; ``[0, 0.125, 0.25]`` → ``0, 0.125, 0.25``;
    ``[-3, 0, 3]`` → ``-3, 0, 3``. Fixed notation keeps about four significant digits of the
    largest value, so ticks of one legend never look alike.
    """
    biggest = max((abs(v) for v in values), default=0.0)
    if biggest == 0:
        return ["0" for _ in values]
    if biggest >= LARGE or biggest < SMALL:
        return [_scientific(v) for v in values]
    decimals = min(8, max(0, 3 - math.floor(math.log10(biggest))))
    return [_fixed(v, decimals) for v in values]


def _scientific(value: float) -> str:
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def tick_labels(rescale: tuple[float, float]) -> list[tuple[float, str]]:
    """(value, label) for the min, middle and max ticks; the value is what the label says."""
    low, high = rescale
    labels = format_ticks([low, (low + high) / 2, high])
    return [(float(label), label) for label in labels]


def render_legend(
    spec: LegendSpec,
    palette: Palette,
    *,
    length_px: int,
    size_px: int,
    orientation: Orientation = "horizontal",
) -> np.ndarray:
    """The legend box as palette indices: units, colour strip in a frame, ticks, labels.

    ``length_px`` is the colour strip's length; it grows if the three labels need more room.
    """
    ticks = tick_labels(spec.rescale)
    units = fold_text(" ".join((spec.units or "").split()))
    if orientation == "vertical":
        return _vertical(spec, palette, ticks, units, length_px, size_px)
    return _horizontal(spec, palette, ticks, units, length_px, size_px)


def strip_positions(spec: LegendSpec, ticks: Sequence[tuple[float, str]], length: int) -> list[int]:
    """Offset along the strip (low end = 0) of each tick."""
    low, high = spec.rescale
    return [min(length - 1, max(0, round((value - low) / (high - low) * (length - 1)))) for value, _ in ticks]


def strip_indices(spec: LegendSpec, palette: Palette, ticks: Sequence[tuple[float, str]], length: int) -> np.ndarray:
    """Palette indices along the strip, low value first; tick positions hold the tick values."""
    low, high = spec.rescale
    values = low + (high - low) * np.arange(length, dtype=np.float64) / max(length - 1, 1)
    for position, (value, _) in zip(strip_positions(spec, ticks, length), ticks, strict=True):
        values[position] = value
    return to_indices(values, np.ones(length, dtype=bool), spec.rescale, palette)


def _sizes(size_px: int) -> tuple[int, int, int]:
    """(strip thickness, tick length, gap between parts) for a font size."""
    return max(6, round(0.8 * size_px)), max(2, round(0.3 * size_px)), max(2, round(0.3 * size_px))


def _horizontal(
    spec: LegendSpec, palette: Palette, ticks: list[tuple[float, str]], units: str, length: int, size_px: int
) -> np.ndarray:
    pad_x, pad_y, _ = padding(size_px)
    thickness, tick_len, gap = _sizes(size_px)
    widths = [text_width(label, size_px) for _, label in ticks]
    # The middle label is centred on the strip: it clears the end labels with a gap either side.
    length = max(length, 2 * max(widths[0], widths[2]) + widths[1] + 4 * gap)
    text_h, (top, _) = line_height(size_px), line_extent(size_px)
    # The no-data swatch sits right of the strip, its label right of it.
    swatch_w = 2 * gap + thickness + 2 + gap + text_width(NODATA_LABEL, size_px) if spec.nodata else 0
    box_w = max(length + 2 + swatch_w, text_width(units, size_px)) + 2 * pad_x
    strip_y = pad_y + (text_h + gap if units else 0)
    label_y = strip_y + thickness + 2 + tick_len + gap // 2
    box_h = label_y + text_h + pad_y
    coverage = Image.new("L", (box_w, box_h), 0)
    if units:
        draw_line(coverage, pad_x, pad_y - top, units, size_px)
    x0 = pad_x + 1  # first strip pixel; the frame is one pixel around it
    swatch_x = x0 + length + 1 + 2 * gap
    if spec.nodata:
        middle = strip_y + (thickness + 2) // 2
        draw_line(coverage, swatch_x + thickness + 2 + gap, middle - (top + line_extent(size_px)[1]) // 2, NODATA_LABEL, size_px)
    positions = strip_positions(spec, ticks, length)
    lefts = [x0 - 1, x0 + positions[1] - widths[1] // 2, x0 + length + 1 - widths[2]]
    for (_, label), left in zip(ticks, lefts, strict=True):
        draw_line(coverage, left, label_y - top, label, size_px)
    out = coverage_to_indices(np.asarray(coverage), palette.label_ramp())
    frame = palette.index("legend_frame")
    out[strip_y : strip_y + thickness + 2, x0 - 1 : x0 + length + 1] = frame
    out[strip_y + 1 : strip_y + 1 + thickness, x0 : x0 + length] = strip_indices(spec, palette, ticks, length)
    for position in positions:
        out[strip_y + thickness + 2 : strip_y + thickness + 2 + tick_len, x0 + position] = frame
    if spec.nodata:
        _swatch(out, palette, swatch_x, strip_y, thickness)
    return out


def _swatch(out: np.ndarray, palette: Palette, x: int, y: int, thickness: int) -> None:
    """The no-data swatch: a square of the no-data colour in the legend's frame colour."""
    out[y : y + thickness + 2, x : x + thickness + 2] = palette.index("legend_frame")
    out[y + 1 : y + 1 + thickness, x + 1 : x + 1 + thickness] = palette.index("nodata")


def _vertical(
    spec: LegendSpec, palette: Palette, ticks: list[tuple[float, str]], units: str, length: int, size_px: int
) -> np.ndarray:
    pad_x, pad_y, _ = padding(size_px)
    thickness, tick_len, gap = _sizes(size_px)
    text_h, (top, _) = line_height(size_px), line_extent(size_px)
    length = max(length, 3 * text_h + 4 * gap)
    widths = [text_width(label, size_px) for _, label in ticks]
    label_x = pad_x + thickness + 2 + tick_len + gap // 2
    box_w = max(label_x + max(widths) + pad_x, text_width(units, size_px) + 2 * pad_x)
    box_w = max(box_w, label_x + text_width(NODATA_LABEL, size_px) + pad_x) if spec.nodata else box_w
    strip_y = pad_y + (text_h + gap if units else 0) + text_h // 2 + 1  # room for the top label
    swatch_y = strip_y + length + 1 + text_h // 2 + gap  # the no-data swatch under the strip
    box_h = (swatch_y + max(thickness + 2, text_h) if spec.nodata else strip_y + length + 1 + text_h // 2) + pad_y
    coverage = Image.new("L", (box_w, box_h), 0)
    if spec.nodata:
        draw_line(coverage, label_x, swatch_y + (thickness + 2) // 2 - text_h // 2 - top, NODATA_LABEL, size_px)
    if units:
        draw_line(coverage, pad_x, pad_y - top, units, size_px)
    bottom = strip_y + length - 1  # row of the lowest value
    positions = strip_positions(spec, ticks, length)
    for (_, label), position in zip(ticks, positions, strict=True):
        row = bottom - position
        draw_line(coverage, label_x, row - text_h // 2 - top, label, size_px)
    out = coverage_to_indices(np.asarray(coverage), palette.label_ramp())
    frame = palette.index("legend_frame")
    x0 = pad_x + 1
    out[strip_y - 1 : strip_y + length + 1, x0 - 1 : x0 + thickness + 1] = frame
    column = strip_indices(spec, palette, ticks, length)[::-1]  # high values on top
    out[strip_y : strip_y + length, x0 : x0 + thickness] = column[:, np.newaxis]
    for position in positions:
        out[bottom - position, x0 + thickness + 1 : x0 + thickness + 1 + tick_len] = frame
    if spec.nodata:
        _swatch(out, palette, x0 - 1, swatch_y, thickness)
    return out


# The overlay ---------------------------------------------------------------------------------


class Legend(PatchOverlay):
    """``overlays.legend``: the colorbar of the rescale range, with ticks and units."""

    name = "legend"

    def prepare(self, context: OverlayContext) -> Request | None:
        options = context.settings.legend
        if not options:
            return None
        patch = legend_box(
            options, context.style, context.palette, context.width, context.height, context.room,
            size=options.size or context.font(SMALL_TEXT_PX_PER_FRAME_PX), nodata=context.nodata,
        )
        return self.request(patch, options.position)


def legend_box(
    options: Any, style: Style, palette: Palette, width: int, height: int, room: int,
    *, size: int | None = None, nodata: bool = False,
) -> np.ndarray:
    """The legend patch, its strip shortened if needed so the box fits the frame's width.

    ``options`` are the ``overlays.legend`` settings (``size``, ``orientation``, ``length``);
    ``nodata`` adds the no-data swatch.
    """
    size = size or options.size or font_px(SMALL_TEXT_PX_PER_FRAME_PX, width, height)
    side = width if options.orientation == "horizontal" else height
    length = max(8, round(options.length * side) - 2 * padding(size)[0] - 2)
    spec = LegendSpec(rescale=style.rescale, units=style.units, nodata=nodata)
    legend = render_legend(spec, palette, length_px=length, size_px=size, orientation=options.orientation)
    overflow = legend.shape[1] - room if options.orientation == "horizontal" else legend.shape[0] - (height - 2)
    if overflow > 0:
        legend = render_legend(
            spec, palette, length_px=max(8, length - overflow), size_px=size, orientation=options.orientation
        )
    return legend
