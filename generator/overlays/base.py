"""What every overlay shares: the :class:`Overlay` interface, the context it is prepared in, and
the default sizes that grow with the frame.

An overlay is made per animation (and output size). :meth:`Overlay.prepare` measures it and
asks the layout for a box (``generator.overlays.layout.Request``; None when it needs none);
the painter places the boxes of every overlay together, sets :attr:`Overlay.box` on those that
fit, then calls :meth:`Overlay.paint` on every frame. An overlay with a box paints on the whole
frame (its box is in frame coordinates); one without a box (borders) paints on the map alone,
which is the whole frame with ``render.layout: inset`` and the part between the bands with
``bands``. The overlays and their order are listed in ``generator.overlays.registry``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from generator.core.model import CollectionInfo, Grid, Style
from generator.core.specs import Layout, OverlaysSpec
from generator.overlays.layout import Anchor, Placed, Request
from generator.overlays.text import MIN_FONT_PX, padding, paste
from generator.render.palette import Palette
from generator.sources.regions import BorderLayer

# Sizes ---------------------------------------------------------------------------------------

#: Default font size never goes below this: Aileron's cap height is ≈0.7 em, so 13 px gives
#: 9-px-tall capitals and digits, the least that stays readable in a 256-px GIF.
BASE_FONT_PX = 13
#: Above ~290 px the date label grows with the frame, so it keeps the same share of the image
#: when the gallery shows GIFs of different sizes at the same display width.
FONT_PX_PER_FRAME_PX = 0.045
TITLE_PX_PER_FRAME_PX = 0.05
SMALL_TEXT_PX_PER_FRAME_PX = 0.032  # attribution and legend labels
#: Below this short side the default fonts shrink with the frame (and stop being legible).
LEGIBLE_FRAME_PX = 256


def label_font_px(width: int, height: int) -> int:
    """Default date-label font size (pixels) for a frame of ``width`` × ``height``."""
    return max(BASE_FONT_PX, round(FONT_PX_PER_FRAME_PX * min(width, height)))


def font_px(share: float, width: int, height: int) -> int:
    """Default font size of a text that takes ``share`` of the frame's short side."""
    short = min(width, height)
    if short < LEGIBLE_FRAME_PX:
        return max(MIN_FONT_PX, round(BASE_FONT_PX * short / LEGIBLE_FRAME_PX))
    return max(BASE_FONT_PX, round(share * short))


def border_width_px(size: int) -> int:
    """Border lines thicken with the frame so they read the same at 256 and 1024 px."""
    return max(1, round(size / 512))


def timeline_px(width: int, height: int) -> int:
    return max(3, round(min(width, height) / 85))


def band_type_side(width: int, height: int) -> int:
    """The side text is sized for in bands: the map's short side, but at least what keeps the
    default text legible (or the long side, if shorter), so a 5:1 strip still gets 13-px text."""
    return min(max(width, height), max(min(width, height), LEGIBLE_FRAME_PX))


# The interface -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverlayContext:
    """What the overlays of one animation are prepared from.

    ``settings`` are the config's ``render.overlays`` (read by attribute, one per overlay name);
    ``labels`` the date labels of all frames; ``title``/``attribution`` override the config text
    and the STAC defaults.
    """

    settings: OverlaysSpec
    grid: Grid
    style: Style
    palette: Palette
    border_layers: Sequence[BorderLayer] = ()
    collection: CollectionInfo | None = None
    region_title: str | None = None
    labels: Sequence[str] = ()
    frame_count: int = 1
    title: str | None = None
    attribution: str | None = None
    layout: Layout = "inset"
    nodata: bool = False  # some frame lacks values inside the region: the legend shows a swatch

    @property
    def width(self) -> int:
        """The width boxes are measured against: the map's, or with bands the frame's (a narrow
        map gets a frame as wide as its text needs)."""
        if self.layout == "bands":
            return max(self.grid.width, band_type_side(self.grid.width, self.grid.height))
        return self.grid.width

    @property
    def height(self) -> int:
        return self.grid.height

    def font(self, share: float) -> int:
        """Default font size of a text that takes ``share`` of the frame's short side."""
        return font_px(share, *self._type_frame)

    def label_font(self) -> int:
        """Default font size of the date label."""
        return label_font_px(*self._type_frame)

    @property
    def _type_frame(self) -> tuple[int, int]:
        if self.layout == "bands":
            side = band_type_side(self.grid.width, self.grid.height)
            return side, side
        return self.grid.width, self.grid.height

    @property
    def margin(self) -> int:
        """Room between corner boxes and the frame edge (and, halved, between boxes)."""
        return padding(self.font(SMALL_TEXT_PX_PER_FRAME_PX))[2]

    @property
    def room(self) -> int:
        """The widest box that fits between the margins."""
        return max(1, self.width - 2 * self.margin)


class Overlay:
    """One overlay of one animation: measured once by :meth:`prepare`, drawn by :meth:`paint`."""

    #: The overlay's name: its key in ``render.overlays``, in layout notes and in ``paint(only=…)``.
    name: ClassVar[str]

    def __init__(self) -> None:
        self.box: Placed | None = None  # where the layout put it; None: not placed (or no box)

    def prepare(self, context: OverlayContext) -> Request | None:
        """Get ready to paint; the box to place, or None when nothing needs one."""
        return None

    def paint(self, frame: np.ndarray, index: int, label: str | None) -> None:
        """Draw on ``frame`` (frame number ``index``, 0-based; ``label`` its date label), in place."""


class PatchOverlay(Overlay):
    """An overlay drawn as one patch made in :meth:`prepare` and pasted into its box."""

    def __init__(self) -> None:
        super().__init__()
        self.patch: np.ndarray | None = None

    def request(self, patch: np.ndarray, anchor: Anchor) -> Request:
        """Keep ``patch`` and ask for a box its size at ``anchor``."""
        self.patch = patch
        return Request(self.name, patch.shape[1], patch.shape[0], anchor)

    def paint(self, frame: np.ndarray, index: int, label: str | None) -> None:
        if self.box is not None and self.patch is not None:
            paste(frame, self.patch, self.box.x, self.box.y)
