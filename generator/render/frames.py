"""The frame core: a frame's items read onto the animation's grid as float values + validity.

Owns what every renderer hands back and how a frame is made of it, whatever the renderer. A
``Renderer`` returns data values on the output grid (``FrameData``: not colours), so every
renderer (the local rasterio one in ``local``, the TiTiler one in ``titiler``) shares the same
palette mapping and overlays downstream. Items of one frame are combined: the first valid pixel
wins (``render_frame``); ``render_frames`` reads frames ahead, as many as the renderer can take.
Reads that wait on the network (remote COGs read in a worker) are overlapped: a renderer that
says how many of some frames are worth reading at once (``reads_at_once``) gets them read on
the process's reader threads (``read_overlapped``), so a task's reads do not queue behind each
other's round trips.

STAC ``raster:bands`` (``ItemAsset.bands``) are applied here, for every renderer alike: their
``nodata`` when the style sets none, and with ``Style.unscale`` their scale/offset (on the
values read, or inside an expression, band by band); so is a style's colour formula.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar, cast

import numpy as np
from shapely.geometry.base import BaseGeometry

from generator.core.model import FramePlan, Grid, ItemAsset, Style
from generator.core.threads import DaemonThreads
from generator.plan.formulas import BAND_NAME, expression_bands, value_transform


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
    how many frames a caller may usefully request at once (1: reads are CPU-bound here). A
    renderer whose reads never use ``region`` may say so with a class attribute
    ``needs_region = False``: the build then leaves the outline out of the tasks it sends. One
    whose reads of some frames mostly wait on the network may say how many of them are worth
    reading at once with a method ``reads_at_once(frames) -> int`` (see :func:`reads_at_once`),
    and one that reads a series differently by its length with ``for_series(frames)``, returning
    the renderer to read it with (see :func:`for_series`).
    """

    concurrency: int

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: BaseGeometry | None = None) -> FrameData: ...


def read_bands(style: Style) -> tuple[int, ...]:
    """The bands a style reads: those of its expression, else its ``bidx``."""
    return expression_bands(style.expression) if style.expression else (style.bidx,)


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

    The items are read until the grid is full. When their reads wait on the network (remote
    files, see :func:`reads_at_once`), the first is read alone — it often covers a small region
    by itself — and the others of a mosaic a few at once; they are combined in the same order,
    so the frame is the same as read one by one.
    """
    if not frame.items:
        return empty_frame(grid)

    def read(item: ItemAsset) -> FrameData:
        read_style = item_style(style, item)
        # Renderers written before ``region`` existed take three arguments; keep them working.
        data = renderer.read(item, grid, read_style) if region is None else renderer.read(item, grid, read_style, region)
        return physical_values(data, read_style, item)

    # Overlapped, every read of the frame, its only one too, is made on the renderer's "items"
    # threads: the reads in flight stay within their number however many frames are read at
    # once (the "frames" threads only wait).
    at_once = reads_at_once(renderer, [frame], reads=READS_UNBOUNDED)
    waves = [frame.items[:1]] + [frame.items[start:start + at_once] for start in range(1, len(frame.items), at_once)]

    def wave_by_wave() -> Iterator[FrameData]:  # a wave is read only when the ones before left gaps
        for wave in waves:
            yield from read_overlapped(read, wave, at_once, threads="items")

    combined: FrameData | None = None
    owned = False  # whether ``combined`` holds arrays of its own (a renderer's may be shared)
    for data in wave_by_wave():
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
    with DaemonThreads(count, "render") as pool:  # Ctrl-C waits for no request
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


T = TypeVar("T")
Read = TypeVar("Read")

#: ``reads_at_once``'s count when it is the renderer's whole bound that is asked.
READS_UNBOUNDED = 1 << 30

#: The process's reader threads, by use and width. Each level of a read — frames, a true-colour
#: frame's channels, a frame's items — has threads of its own, and only the "items" threads
#: read files: a thread never waits for work queued behind itself.
_readers: dict[tuple[str, int], DaemonThreads] = {}
_readers_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked process has none of its parent's threads: it makes reader threads of its own."""
    global _readers_lock
    _readers.clear()
    _readers_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def for_series(renderer: Renderer, frames: int) -> Renderer:
    """``renderer`` as it reads a series of ``frames`` frames: what its optional
    ``for_series(frames)`` returns (the local renderer weighs whether a read map pays), else itself."""
    method = getattr(renderer, "for_series", None)
    return cast("Renderer", method(frames)) if method is not None else renderer


def reads_at_once(renderer: Renderer, frames: Sequence[FramePlan], reads: int | None = None) -> int:
    """How many of the ``reads`` to make (by default, one per frame) of ``frames`` are worth making
    at once with ``renderer``: what its optional ``reads_at_once(frames)`` says (the local
    renderer: several for remote assets), else 1."""
    method = getattr(renderer, "reads_at_once", None)
    count = len(frames) if reads is None else reads
    return max(1, min(count, int(method(frames)))) if method is not None else 1


def read_overlapped(
    read: Callable[[T], Read], inputs: Sequence[T], at_once: int, threads: str = "frames"
) -> list[Read]:
    """``[read(x) for x in inputs]``, with up to ``at_once`` reads in flight on the process's
    reader threads for ``threads`` (made on first use and kept: each keeps the datasets it
    opened until the build ends, ``render.datasets``). The results are in the order of ``inputs``."""
    if at_once <= 1:
        return [read(one) for one in inputs]
    with _readers_lock:
        pool = _readers.get((threads, at_once))
        if pool is None:
            pool = _readers[(threads, at_once)] = DaemonThreads(at_once, f"reader-{threads}")  # Ctrl-C waits for no read
    return list(pool.map(read, inputs))
