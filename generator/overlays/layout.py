"""Where overlays go: boxes on the map (``inset``) or rows in bands around it (``bands``).

Owns placing rectangles (overlay boxes of known size). On the map (:func:`place`), each box is
anchored at a corner or spans the top or bottom edge; boxes are placed in priority order, and a
box that would touch one already placed moves away from its edge (up from the bottom, down from
the top) until it is clear; given a ``cost`` (the data a box would hide), the boxes take the
corners where together they hide the least, their own corners winning ties. A box that no longer fits inside the
frame is left out, so overlays never cover one another whatever the frame size. In bands
(:func:`stack_bands`), boxes go in rows above the map (anchors ``top…``) or below it
(``bottom…``), at most one box per side in a row, so nothing is ever drawn over the map. Pure
arithmetic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Anchor = Literal["top-left", "top-right", "bottom-left", "bottom-right", "top", "bottom"]


@dataclass(frozen=True)
class Request:
    """A box to place: ``name``, size in pixels and where it wants to sit.

    ``top`` and ``bottom`` anchors span the full frame width (the box width is ignored).
    """

    name: str
    width: int
    height: int
    anchor: Anchor


@dataclass(frozen=True)
class Placed:
    name: str
    x: int
    y: int
    width: int
    height: int

    def touches(self, other: Placed, gap: int) -> bool:
        """Whether the boxes overlap or come closer than ``gap`` pixels."""
        return not (
            self.x + self.width + gap <= other.x
            or other.x + other.width + gap <= self.x
            or self.y + self.height + gap <= other.y
            or other.y + other.height + gap <= self.y
        )


CORNERS: tuple[Anchor, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")


def place(
    requests: Sequence[Request],
    width: int,
    height: int,
    *,
    margin: int,
    gap: int,
    cost: Callable[[Placed], float] | None = None,
) -> dict[str, Placed]:
    """Positions of the requests that fit, by name; earlier requests sit closer to their edge.

    With ``cost``, every way of putting the boxes in corners (a spanning bar: at either edge) is
    tried, and the one that fits the most boxes at the least total cost wins; among equal ones,
    the one that moves the fewest boxes from their own anchor.
    """
    if cost is None:
        return _place_all(requests, width, height, margin, gap)
    choices = [_alternatives(request.anchor) for request in requests]
    if math.prod(len(options) for options in choices) > MAX_ARRANGEMENTS:
        choices = [(request.anchor,) for request in requests]  # too many boxes to try them all
    best: tuple[tuple[int, float, int], dict[str, Placed]] | None = None
    for anchors in itertools.product(*choices):
        trial = [Request(r.name, r.width, r.height, anchor) for r, anchor in zip(requests, anchors, strict=True)]
        placed = _place_all(trial, width, height, margin, gap)
        moved = sum(anchor != request.anchor for request, anchor in zip(requests, anchors, strict=True))
        score = (len(requests) - len(placed), sum(cost(box) for box in placed.values()), moved)
        if best is None or score < best[0]:
            best = (score, placed)
    assert best is not None
    return best[1]


#: Beyond this many corner arrangements, boxes keep their own anchors.
MAX_ARRANGEMENTS = 4096


def _place_all(requests: Sequence[Request], width: int, height: int, margin: int, gap: int) -> dict[str, Placed]:
    placed: list[Placed] = []
    for request in requests:
        box = _place_one(request, placed, width, height, margin, gap)
        if box is not None:
            placed.append(box)
    return {box.name: box for box in placed}


def _alternatives(anchor: Anchor) -> tuple[Anchor, ...]:
    if anchor in ("top", "bottom"):
        return (anchor, "bottom" if anchor == "top" else "top")
    return (anchor, *(corner for corner in CORNERS if corner != anchor))


def _place_one(
    request: Request, placed: list[Placed], width: int, height: int, margin: int, gap: int
) -> Placed | None:
    spans = request.anchor in ("top", "bottom")
    box_w = width if spans else request.width
    inset = 0 if spans else margin  # a full-width bar hugs the edge; corner boxes keep a margin
    if box_w + 2 * inset > width or request.height + 2 * inset > height:
        return None
    from_top = request.anchor.startswith("top")
    x = 0 if spans else (margin if request.anchor.endswith("left") else width - margin - box_w)
    y = inset if from_top else height - inset - request.height
    while True:
        candidate = Placed(request.name, x, y, box_w, request.height)
        blocking = [other for other in placed if candidate.touches(other, gap)]
        if not blocking:
            return candidate
        # Step past every blocking box at once; each step moves strictly away from the edge.
        if from_top:
            y = max(other.y + other.height for other in blocking) + gap
        else:
            y = min(other.y for other in blocking) - gap - request.height
        if y < inset or y + request.height > height - inset:
            return None


@dataclass(frozen=True)
class Bands:
    """A frame made of a band above the map, the map, and a band below it."""

    width: int  # the frame's width
    top: int  # height of the band above the map (0: none)
    bottom: int  # height of the band below the map (0: none)
    boxes: Mapping[str, Placed]  # in frame coordinates


def stack_bands(
    requests: Sequence[Request], width: int, map_height: int, *, margin: int, gap: int
) -> Bands:
    """Rows of boxes in a band above (``top…`` anchors) and below (``bottom…``) the map.

    ``requests`` come in order from the map outward. Each row holds one box on the left and
    one on the right when both fit side by side; a spanning box (``top``/``bottom``) has a row of
    its own, hugging the map when it comes first. Boxes wider than the frame are left out.
    """
    above = [request for request in requests if request.anchor.startswith("top")]
    below = [request for request in requests if request.anchor.startswith("bottom")]
    top_rows, top = _rows(above, width, margin, gap)
    bottom_rows, bottom = _rows(below, width, margin, gap)
    boxes: dict[str, Placed] = {}
    for request, x, offset in top_rows:  # offsets from the map's edge, outward
        boxes[request.name] = Placed(request.name, x, top - offset - request.height, *_size(request, width))
    for request, x, offset in bottom_rows:
        boxes[request.name] = Placed(request.name, x, top + map_height + offset, *_size(request, width))
    return Bands(width=width, top=top, bottom=bottom, boxes=boxes)


def _size(request: Request, width: int) -> tuple[int, int]:
    return (width if request.anchor in ("top", "bottom") else request.width), request.height


def _rows(
    requests: Sequence[Request], width: int, margin: int, gap: int
) -> tuple[list[tuple[Request, int, int]], int]:
    """(request, x, offset of its top from the map's edge) for each box that fits, and the band's height."""
    rows: list[list[Request]] = []
    for request in requests:
        spans = request.anchor in ("top", "bottom")
        if not spans and request.width + 2 * margin > width:
            continue
        last = rows[-1] if rows else None
        if (
            last is not None and not spans and len(last) == 1 and last[0].anchor not in ("top", "bottom")
            and _side(last[0]) != _side(request) and last[0].width + request.width + gap + 2 * margin <= width
        ):
            last.append(request)
        else:
            rows.append([request])
    out: list[tuple[Request, int, int]] = []
    cursor = 0
    previous_spans = True  # the map's edge: a first spanning row hugs it, a first box row keeps a margin
    for number, row in enumerate(rows):
        spans = row[0].anchor in ("top", "bottom")
        cursor += (0 if previous_spans else gap) if spans else (margin if previous_spans else gap)
        row_height = max(request.height for request in row)
        for request in row:
            if spans:
                x = 0
            else:
                x = margin if _side(request) == "left" else width - margin - request.width
            out.append((request, x, cursor + (row_height - request.height) // 2))
        cursor += row_height
        previous_spans = spans
        if number == len(rows) - 1 and not spans:
            cursor += margin
    return out, cursor


def _side(request: Request) -> str:
    return "right" if request.anchor.endswith("right") else "left"
