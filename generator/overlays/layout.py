"""Where overlays go on a frame: anchored boxes stacked away from their edge, never overlapping.

Owns placing rectangles (overlay boxes of known size) on a frame. Each box is anchored at a
corner or spans the top or bottom edge; boxes are placed in priority order, and a box that
would touch one already placed moves away from its edge (up from the bottom, down from the
top) until it is clear. A box that no longer fits inside the frame is left out, so overlays
never cover one another whatever the frame size. Pure arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def place(
    requests: Sequence[Request], width: int, height: int, *, margin: int, gap: int
) -> dict[str, Placed]:
    """Positions of the requests that fit, by name; earlier requests sit closer to their edge."""
    placed: list[Placed] = []
    for request in requests:
        box = _place_one(request, placed, width, height, margin, gap)
        if box is not None:
            placed.append(box)
    return {box.name: box for box in placed}


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
