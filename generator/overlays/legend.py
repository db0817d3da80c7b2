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
from generator.core.scales import DEFAULT_SCALE, position, value_at
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
    """What the legend explains: the frames' rescale range (low → high colours), how values are
    spread along it (``scale``), the ticks asked for (None: chosen for the scale) and units."""

    rescale: tuple[float, float]
    units: str | None = None
    nodata: bool = False  # add a "no data" swatch (the frames have missing values in the region)
    scale: str = DEFAULT_SCALE
    ticks: tuple[float, ...] | None = None


#: The label of the no-data swatch.
NODATA_LABEL = "no data"
#: A log legend spanning fewer powers of ten than this gets 2× and 5× ticks between them.
FEW_DECADES = 3
#: A log legend labels at most this many powers of ten (every 2nd, 3rd… beyond).
MAX_DECADE_TICKS = 6


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


def magnitude_label(value: float) -> str:
    """A label written for the value's own magnitude, as log legends need (their ticks span
    several): ``0.01``, ``1``, ``500``, ``1e5``, ``2e15``, ``1e-4``."""
    if value == 0:
        return "0"
    if abs(value) >= LARGE or abs(value) < SMALL:
        return _scientific(value)
    return _fixed(value, 8)


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


def log_ticks(rescale: tuple[float, float]) -> list[float]:
    """Tick values of a log legend: the powers of ten within the range (every 2nd, 3rd… when
    there are more than :data:`MAX_DECADE_TICKS`), with 2× and 5× between them when there are
    fewer than :data:`FEW_DECADES`; the bounds when that gives fewer than two ticks."""
    low, high = sorted(float(bound) for bound in rescale)
    slack = 1e-9
    first = math.ceil(math.log10(low) - slack)
    last = math.floor(math.log10(high) + slack)
    decades = list(range(first, last + 1))
    if len(decades) >= FEW_DECADES:
        step = math.ceil(len(decades) / MAX_DECADE_TICKS)
        values = [10.0**exponent for exponent in decades if exponent % step == 0]
    else:
        values = [
            float(f"{mantissa}e{exponent}")
            for exponent in range(first - 1, last + 1)
            for mantissa in (1, 2, 5)
            if low * (1 - slack) <= mantissa * 10.0**exponent <= high * (1 + slack)
        ]
    if len(values) < 2:
        values = sorted({low, high, *values})
    return values


def tick_labels(
    rescale: tuple[float, float], scale: str = DEFAULT_SCALE, ticks: Sequence[float] | None = None
) -> list[tuple[float, str]]:
    """(value, label) of each tick, low end of the strip first; the value is what the label says.

    Linear: the min, middle and max; log: :func:`log_ticks`; ``ticks``: those (``style.ticks``).
    """
    log = scale != DEFAULT_SCALE
    if ticks is not None:
        values = list(ticks)
    elif log:
        values = log_ticks(rescale)
    else:
        low, high = rescale
        values = [low, (low + high) / 2, high]
    labels = [magnitude_label(value) for value in values] if log else format_ticks(values)
    pairs = [(float(label), label) for label in labels]
    along = position(np.array([value for value, _ in pairs]), rescale, scale)
    return [pair for _, pair in sorted(zip(along.tolist(), pairs, strict=True), key=lambda item: item[0])]


def render_legend(
    spec: LegendSpec,
    palette: Palette,
    *,
    length_px: int,
    size_px: int,
    orientation: Orientation = "horizontal",
    max_length_px: int | None = None,
) -> np.ndarray:
    """The legend box as palette indices: units, colour strip in a frame, ticks, labels.

    ``length_px`` is the colour strip's length; it grows if the labels need more room, up to
    ``max_length_px``; labels that still do not fit are left out (their ticks stay), the end
    ones last.
    """
    ticks = tick_labels(spec.rescale, spec.scale, spec.ticks)
    units = fold_text(" ".join((spec.units or "").split()))
    if orientation == "vertical":
        return _vertical(spec, palette, ticks, units, length_px, size_px, max_length_px)
    return _horizontal(spec, palette, ticks, units, length_px, size_px, max_length_px)


def _fractions(spec: LegendSpec, ticks: Sequence[tuple[float, str]]) -> list[float]:
    along = position(np.array([value for value, _ in ticks], dtype=np.float64), spec.rescale, spec.scale)
    return np.clip(along, 0.0, 1.0).tolist()


def strip_positions(spec: LegendSpec, ticks: Sequence[tuple[float, str]], length: int) -> list[int]:
    """Offset along the strip (low end = 0) of each tick."""
    return [min(length - 1, max(0, round(fraction * (length - 1)))) for fraction in _fractions(spec, ticks)]


def strip_indices(spec: LegendSpec, palette: Palette, ticks: Sequence[tuple[float, str]], length: int) -> np.ndarray:
    """Palette indices along the strip, low value first; tick positions hold the tick values."""
    low, high = spec.rescale
    if spec.scale == DEFAULT_SCALE:
        values = low + (high - low) * np.arange(length, dtype=np.float64) / max(length - 1, 1)
    else:
        values = value_at(np.arange(length, dtype=np.float64) / max(length - 1, 1), spec.rescale, spec.scale)
    for position_px, (value, _) in zip(strip_positions(spec, ticks, length), ticks, strict=True):
        values[position_px] = value
    return to_indices(values, np.ones(length, dtype=bool), spec.rescale, palette, spec.scale)


def _needed_length(fractions: Sequence[float], extents: Sequence[tuple[float, float]], space: float) -> int:
    """The strip length at which no two labels come closer than ``space``: ``extents`` are how
    far each label reaches before and after its tick."""
    needed = 0.0
    for index in range(len(fractions) - 1):
        step = fractions[index + 1] - fractions[index]
        if step > 0:
            needed = max(needed, (extents[index][1] + extents[index + 1][0] + space) / step)
    return math.ceil(needed)


def _shown(spans: Sequence[tuple[int, int]], space: int) -> list[bool]:
    """Which labels to draw (spans: first and last pixel along the strip, in tick order) so
    none comes closer than ``space`` to another: the first and last first, then the others."""
    count = len(spans)
    keep = [False] * count
    if not count:
        return keep
    keep[0] = True
    if count > 1 and spans[-1][0] - spans[0][1] > space:
        keep[-1] = True
    end = spans[0][1]
    limit = spans[-1][0] if keep[-1] else None
    for index in range(1, count - 1):
        start, stop = spans[index]
        if start - end > space and (limit is None or limit - stop > space):
            keep[index] = True
            end = stop
    return keep


def _sizes(size_px: int) -> tuple[int, int, int]:
    """(strip thickness, tick length, gap between parts) for a font size."""
    return max(6, round(0.8 * size_px)), max(2, round(0.3 * size_px)), max(2, round(0.3 * size_px))


def _capped(length: int, needed: int, max_length: int | None) -> int:
    length = max(length, needed)
    return length if max_length is None else min(length, max(8, max_length))


def _horizontal(
    spec: LegendSpec, palette: Palette, ticks: list[tuple[float, str]], units: str, length: int, size_px: int,
    max_length: int | None = None,
) -> np.ndarray:
    pad_x, pad_y, _ = padding(size_px)
    thickness, tick_len, gap = _sizes(size_px)
    widths = [text_width(label, size_px) for _, label in ticks]
    # Inner labels are centred on their tick, end labels flush with the strip's ends: each
    # clears its neighbours by two gaps.
    fractions = _fractions(spec, ticks)
    extents = [(0.0, w) if f <= 0 else (w, 0.0) if f >= 1 else (w / 2, w / 2) for f, w in zip(fractions, widths, strict=True)]
    length = _capped(length, _needed_length(fractions, extents, 2 * gap), max_length)
    text_h, (top, _) = line_height(size_px), line_extent(size_px)
    swatch_w = _swatch_width(spec, size_px)
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
    lefts = [
        min(max(x0 + position_px - width // 2, x0 - 1), x0 + length + 1 - width)
        for position_px, width in zip(positions, widths, strict=True)
    ]
    shown = _shown([(left, left + width - 1) for left, width in zip(lefts, widths, strict=True)], gap)
    for (_, label), left, show in zip(ticks, lefts, shown, strict=True):
        if show:
            draw_line(coverage, left, label_y - top, label, size_px)
    out = coverage_to_indices(np.asarray(coverage), palette.label_ramp())
    frame = palette.index("legend_frame")
    out[strip_y : strip_y + thickness + 2, x0 - 1 : x0 + length + 1] = frame
    out[strip_y + 1 : strip_y + 1 + thickness, x0 : x0 + length] = strip_indices(spec, palette, ticks, length)
    for position_px in positions:
        out[strip_y + thickness + 2 : strip_y + thickness + 2 + tick_len, x0 + position_px] = frame
    if spec.nodata:
        _swatch(out, palette, swatch_x, strip_y, thickness)
    return out


def _swatch_width(spec: LegendSpec, size_px: int) -> int:
    """What the no-data swatch adds right of a horizontal strip (it and its label; 0 without)."""
    if not spec.nodata:
        return 0
    thickness, _, gap = _sizes(size_px)
    return 2 * gap + thickness + 2 + gap + text_width(NODATA_LABEL, size_px)


def _swatch(out: np.ndarray, palette: Palette, x: int, y: int, thickness: int) -> None:
    """The no-data swatch: a square of the no-data colour in the legend's frame colour."""
    out[y : y + thickness + 2, x : x + thickness + 2] = palette.index("legend_frame")
    out[y + 1 : y + 1 + thickness, x + 1 : x + 1 + thickness] = palette.index("nodata")


def _vertical(
    spec: LegendSpec, palette: Palette, ticks: list[tuple[float, str]], units: str, length: int, size_px: int,
    max_length: int | None = None,
) -> np.ndarray:
    pad_x, pad_y, _ = padding(size_px)
    thickness, tick_len, gap = _sizes(size_px)
    text_h, (top, _) = line_height(size_px), line_extent(size_px)
    fractions = _fractions(spec, ticks)
    needed = _needed_length(fractions, [(text_h / 2, text_h / 2)] * len(ticks), gap)
    length = _capped(length, max(3 * text_h + 4 * gap, needed), max_length)
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
    spans = [(position_px - text_h // 2, position_px - text_h // 2 + text_h - 1) for position_px in positions]
    shown = _shown(spans, 0)
    for (_, label), position_px, show in zip(ticks, positions, shown, strict=True):
        if show:
            row = bottom - position_px
            draw_line(coverage, label_x, row - text_h // 2 - top, label, size_px)
    out = coverage_to_indices(np.asarray(coverage), palette.label_ramp())
    frame = palette.index("legend_frame")
    x0 = pad_x + 1
    out[strip_y - 1 : strip_y + length + 1, x0 - 1 : x0 + thickness + 1] = frame
    column = strip_indices(spec, palette, ticks, length)[::-1]  # high values on top
    out[strip_y : strip_y + length, x0 : x0 + thickness] = column[:, np.newaxis]
    for position_px in positions:
        out[bottom - position_px, x0 + thickness + 1 : x0 + thickness + 1 + tick_len] = frame
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
    spec = LegendSpec(rescale=style.rescale, units=style.units, nodata=nodata, scale=style.scale, ticks=style.ticks)
    legend = render_legend(spec, palette, length_px=length, size_px=size, orientation=options.orientation)
    overflow = legend.shape[1] - room if options.orientation == "horizontal" else legend.shape[0] - (height - 2)
    if overflow > 0:
        # The strip as drawn (grown for its labels) gives up the overflow; its labels thin out.
        drawn = legend.shape[1] - 2 * padding(size)[0] - 2 - _swatch_width(spec, size)
        shorter = max(8, (drawn if options.orientation == "horizontal" else length) - overflow)
        legend = render_legend(
            spec, palette, length_px=shorter, size_px=size, orientation=options.orientation, max_length_px=shorter,
        )
    return legend
