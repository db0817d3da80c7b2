"""``collections[].min_coverage``: a time step with data on too little of the region is a gap.

Owns turning the data frames whose measured coverage (the share of the region's pixels that
hold a value, measured on the layers' first read) is below the collection's ``min_coverage``
into "no data" gap frames — or leaving them out with ``render.gaps: skip`` — and the build note
naming them. Pure logic, no I/O: the engine measures, this decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from generator.core.errors import RenderError
from generator.core.model import FramePlan


@dataclass(frozen=True)
class CoverageCheck:
    """The time steps to show after ``min_coverage``, and the note saying what changed (None: nothing)."""

    frames: tuple[FramePlan, ...]
    note: str | None = None


def apply_min_coverage(
    frames: Sequence[FramePlan],
    coverage: Sequence[float],
    min_coverage: float,
    gaps: str,
    date_format: str,
) -> CoverageCheck:
    """``frames`` with each data frame covering less than ``min_coverage`` of the region made a gap.

    ``coverage`` holds one share (0–1) per data frame (a frame with items), in order. With
    ``gaps == "skip"`` such frames are left out instead. Raises ``RenderError`` when no data
    frame reaches ``min_coverage``: an animation of nothing but gaps shows nothing.
    """
    data_at = [index for index, frame in enumerate(frames) if frame.items]
    if len(coverage) != len(data_at):
        raise ValueError(f"{len(coverage)} coverage values for {len(data_at)} data frames")
    share = dict(zip(data_at, coverage, strict=True))
    thin = [index for index in data_at if share[index] < min_coverage]
    if not thin:
        return CoverageCheck(tuple(frames))
    if len(thin) == len(data_at):
        raise RenderError(
            f"every time step has data on less than {_percent(min_coverage)} of the region (at most "
            f"{_percent(max(coverage))}): lower the collection's `min_coverage`, or check its items and the region"
        )
    kept: list[FramePlan] = []
    for index, frame in enumerate(frames):
        if index not in share or share[index] >= min_coverage:
            kept.append(frame)
        elif gaps != "skip":
            kept.append(FramePlan(datetime=frame.datetime, items=(), kind="gap"))
    named = ", ".join(f"{frames[index].datetime.strftime(date_format)} ({_percent(share[index])})" for index in thin)
    steps = "1 time step has" if len(thin) == 1 else f"{len(thin)} time steps have"
    shown = "left out (gaps: skip)" if gaps == "skip" else "shown as “no data”"
    return CoverageCheck(
        tuple(kept),
        f"{steps} data on less than {_percent(min_coverage)} of the region (min_coverage), {shown}: {named}",
    )


def _percent(share: float) -> str:
    return f"{100 * share:.3g}%"
