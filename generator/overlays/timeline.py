"""The timeline: a bar along the top or bottom edge that grows with the frame number."""

from __future__ import annotations

import numpy as np

from generator.overlays.base import Overlay, OverlayContext, timeline_px
from generator.overlays.layout import Request
from generator.render.palette import Palette


class Timeline(Overlay):
    """``overlays.timeline``: the track spans the frame's width; the bar shows how far we are."""

    name = "timeline"

    def __init__(self) -> None:
        super().__init__()
        self.frame_count = 1
        self.palette: Palette | None = None

    def prepare(self, context: OverlayContext) -> Request | None:
        options = context.settings.timeline
        if not options:
            return None
        self.frame_count = max(1, context.frame_count)
        self.palette = context.palette
        thickness = options.thickness or timeline_px(*context.grid.shape[::-1])
        return Request(self.name, context.width, thickness, options.position)

    def paint(self, frame: np.ndarray, index: int, label: str | None) -> None:
        box = self.box
        if box is None or self.palette is None:
            return
        shown = min(max(index + 1, 0), self.frame_count) / self.frame_count
        rows = slice(box.y, box.y + box.height)
        frame[rows, box.x : box.x + box.width] = self.palette.index("timeline_track")
        frame[rows, box.x : box.x + round(box.width * shown)] = self.palette.index("timeline_bar")
