"""The numbers behind the picture: each animation's per-frame statistics as a CSV file, manifest
values, and an inline SVG time-series chart with a table for the page.

Owns ``stats.csv`` (one row per frame: mean, median, 10th/90th percentiles and valid fraction of
the region, in the style's units; empty cells for frames without data), the statistics' entries
in ``manifest.json``, and the chart: drawn here, server-side, as static SVG (the mean as a line
over a 10th–90th percentile band, axes labelled with units and dates, a ``<title>`` and
``<desc>``), so it reads without JavaScript; each point is a link to its frame's row, which the
player's script turns into a seek. No I/O.
"""

from __future__ import annotations

import csv
import io
import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from generator.core.model import MEDIA_STATUSES, AnimationRecord, FrameStats
from generator.site.weblinks import format_number, iso_utc, label_at

STATS_FILE = "stats.csv"
STATS_COLUMNS = ("frame", "datetime", "label", "mean", "median", "p10", "p90", "valid_fraction", "units")
STAT_NAMES = ("mean", "median", "p10", "p90", "valid_fraction")

# The chart's drawing box (SVG user units; the SVG scales to the column's width).
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 14, 46
MAX_DATE_TICKS = 6


def stats_path(record: AnimationRecord) -> str:
    """``stats.csv`` lives next to the animation's page."""
    return posixpath.join(posixpath.dirname(record.files.page), STATS_FILE)


def has_stats(record: AnimationRecord) -> bool:
    """Whether the animation's files include statistics (built, continuous style, some data)."""
    return record.status in MEDIA_STATUSES and any(stats is not None for stats in record.frame_stats)


def stats_at(record: AnimationRecord, index: int) -> FrameStats | None:
    return record.frame_stats[index] if index < len(record.frame_stats) else None


def stats_entry(stats: FrameStats | None) -> dict[str, float | None] | None:
    """A frame's statistics as ``manifest.json`` holds them (null for a frame without)."""
    if stats is None:
        return None
    return {name: getattr(stats, name) for name in STAT_NAMES}


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def stats_csv(record: AnimationRecord) -> str:
    """``stats.csv``: a header, then one row per frame (empty statistic cells without data)."""
    units = record.style.units if record.style and record.style.units else ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATS_COLUMNS)
    for index, frame in enumerate(record.frames):
        stats = stats_at(record, index)
        cells = [_cell(getattr(stats, name)) if stats else "" for name in STAT_NAMES]
        writer.writerow([index + 1, iso_utc(frame.datetime), label_at(record.frame_labels, index) or "", *cells, units])
    return out.getvalue()


@dataclass(frozen=True)
class StatsRow:
    """One frame in the page's table of statistics (formatted numbers, "" without data)."""

    number: int
    label: str
    datetime: str
    mean: str
    median: str
    p10: str
    p90: str
    valid_percent: str


def _short(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def stats_rows(record: AnimationRecord) -> tuple[StatsRow, ...]:
    rows = []
    for index, frame in enumerate(record.frames):
        stats = stats_at(record, index)
        rows.append(
            StatsRow(
                number=index + 1,
                label=label_at(record.frame_labels, index) or iso_utc(frame.datetime)[:10],
                datetime=iso_utc(frame.datetime),
                mean=_short(stats.mean if stats else None),
                median=_short(stats.median if stats else None),
                p10=_short(stats.p10 if stats else None),
                p90=_short(stats.p90 if stats else None),
                valid_percent="" if stats is None else f"{stats.valid_fraction * 100:.1f} %",
            )
        )
    return tuple(rows)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (about ``count`` of them)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value / step) * step)
        value += step
    if ticks[-1] < high:
        ticks.append(ticks[-1] + step)
    return ticks


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _tick_label(value: float) -> str:
    return format_number(float(f"{value:.6g}"))


def stats_chart(record: AnimationRecord) -> Markup | None:
    """The inline SVG chart of ``record``'s statistics, or None when it has none."""
    if not has_stats(record):
        return None
    count = len(record.frames)
    units = record.style.units if record.style and record.style.units else None
    known = [(index, stats) for index in range(count) if (stats := stats_at(record, index)) and stats.mean is not None]
    if not known:
        return None
    values = [v for _, stats in known for v in (stats.p10, stats.p90, stats.mean) if v is not None]
    low, high = min(values), max(values)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    ticks = nice_ticks(low, high)
    low, high = min(ticks[0], low), max(ticks[-1], high)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / (count - 1) if count > 1 else 0.0
    x0 = LEFT if count > 1 else LEFT + plot_w / 2

    def x_at(index: int) -> float:
        return x0 + index * step

    def y_at(value: float) -> float:
        return TOP + plot_h * (high - value) / (high - low)

    labels = [label_at(record.frame_labels, index) or iso_utc(frame.datetime)[:10] for index, frame in enumerate(record.frames)]
    what = f"in {units}" if units else "(no units given)"
    title = f"Mean over {record.region_title} per frame, {what}, with the 10th–90th percentile band"
    first, last = known[0], known[-1]
    lowest = min(known, key=lambda pair: pair[1].mean or 0.0)
    highest = max(known, key=lambda pair: pair[1].mean or 0.0)
    unit_text = f" {units}" if units else ""
    desc = (
        f"{count} frames from {labels[0]} to {labels[-1]}; {len(known)} with data. The mean goes from "
        f"{_short(first[1].mean)}{unit_text} ({labels[first[0]]}) to {_short(last[1].mean)}{unit_text} "
        f"({labels[last[0]]}), lowest {_short(lowest[1].mean)}{unit_text} ({labels[lowest[0]]}), "
        f"highest {_short(highest[1].mean)}{unit_text} ({labels[highest[0]]}). The numbers are in the table below."
    )
    parts: list[str] = [
        f'<svg class="stats-chart" id="stats-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="stats-chart-title stats-chart-desc" '
        f'data-x0="{_number(x0)}" data-step="{_number(step)}" data-count="{count}">',
        f'<title id="stats-chart-title">{escape(title)}</title>',
        f'<desc id="stats-chart-desc">{escape(desc)}</desc>',
    ]
    # Axes and grid: value ticks on the left, a few date ticks along the bottom.
    parts.append('<g class="stats-chart__grid" aria-hidden="true">')
    for tick in ticks:
        y = _number(y_at(tick))
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
    parts.append("</g>")
    parts.append('<g class="stats-chart__axis" aria-hidden="true">')
    for tick in ticks:
        parts.append(
            f'<text x="{LEFT - 6}" y="{_number(y_at(tick))}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(_tick_label(tick))}</text>"
        )
    shown = sorted({round(i * (count - 1) / (MAX_DATE_TICKS - 1)) for i in range(MAX_DATE_TICKS)} if count > 1 else {0})
    for index in shown:
        anchor = "start" if index == 0 and count > 1 else "end" if index == count - 1 and count > 1 else "middle"
        x = _number(x_at(index))
        parts.append(f'<line x1="{x}" x2="{x}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}"/>')
        parts.append(f'<text x="{x}" y="{TOP + plot_h + 16}" text-anchor="{anchor}">{escape(labels[index])}</text>')
    axis_title = f"Mean, 10th–90th percentile ({units})" if units else "Mean, 10th–90th percentile"
    parts.append(
        f'<text class="stats-chart__units" x="{LEFT}" y="{HEIGHT - 6}" text-anchor="start">{escape(axis_title)}</text>'
    )
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    parts.append("</g>")
    # The band and the mean line, one piece per run of consecutive frames with data.
    for run in _runs([index for index, _ in known]):
        by_index = dict(known)
        upper = [f"{_number(x_at(i))},{_number(y_at(_value(by_index[i].p90)))}" for i in run]
        lower = [f"{_number(x_at(i))},{_number(y_at(_value(by_index[i].p10)))}" for i in reversed(run)]
        mean = [f"{_number(x_at(i))},{_number(y_at(_value(by_index[i].mean)))}" for i in run]
        parts.append(f'<polygon class="stats-chart__band" points="{" ".join(upper + lower)}" aria-hidden="true"/>')
        parts.append(f'<polyline class="stats-chart__mean" points="{" ".join(mean)}" aria-hidden="true"/>')
    # The current frame's cursor (the first frame until the player moves it).
    parts.append(
        f'<line class="stats-chart__cursor" id="stats-chart-cursor" x1="{_number(x_at(0))}" x2="{_number(x_at(0))}" '
        f'y1="{TOP}" y2="{TOP + plot_h}" aria-hidden="true"/>'
    )
    # One point per frame with data: a link to its row in the frames table (the player seeks).
    for index, stats in known:
        name = f"Frame {index + 1}, {labels[index]}: mean {_short(stats.mean)}{unit_text}"
        current = " stats-chart__point--current" if index == 0 else ""
        parts.append(
            f'<a class="stats-chart__point{current}" href="#frame-{index + 1}" data-index="{index}" '
            f'aria-label="{escape(name)}"><circle cx="{_number(x_at(index))}" cy="{_number(y_at(_value(stats.mean)))}" r="4"/>'
            f"<title>{escape(name)}</title></a>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _value(value: float | None) -> float:
    assert value is not None  # frames with a mean have every statistic
    return value


def _runs(indices: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for index in indices:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def manifest_stats(record: AnimationRecord) -> dict[str, Any] | None:
    """The animation-level entry of ``manifest.json``: where ``stats.csv`` is and the units."""
    if not has_stats(record):
        return None
    return {
        "csv": stats_path(record),
        "units": record.style.units if record.style else None,
        "method": "valid pixels inside the region, values before the palette mapping; percentiles interpolate linearly",
    }
