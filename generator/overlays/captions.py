"""The text overlays: title, attribution and date label (and the stand-alone date label).

Text is anti-aliased through the palette's reserved greys (``Palette.label_ramp``) on a solid
box, so the frame stays one exact 256-colour image.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from generator.core.model import CollectionInfo
from generator.overlays.base import (
    SMALL_TEXT_PX_PER_FRAME_PX,
    TITLE_PX_PER_FRAME_PX,
    Overlay,
    OverlayContext,
    PatchOverlay,
    label_font_px,
)
from generator.overlays.layout import Anchor, Request
from generator.overlays.text import (
    MIN_FONT_PX,
    Align,
    boxed_text,
    coverage_to_indices,
    fold_text,
    padding,
    paste,
    text_width,
    wrap,
)
from generator.render.palette import Palette

Corner = Literal["bottom-left", "bottom-right", "top-left", "top-right"]

# Defaults from STAC --------------------------------------------------------------------------


def default_title(collection: CollectionInfo | None, region_title: str | None) -> str:
    """``"<collection title> — <region title>"`` (either part alone when the other is missing)."""
    parts = [collection.title if collection else None, region_title]
    return " — ".join(part for part in parts if part)


def default_attribution(collection: CollectionInfo | None) -> str | None:
    """``"Data: <providers> · <license>"`` from the STAC collection; None if it names neither."""
    if collection is None:
        return None
    names = list(dict.fromkeys(
        str(provider["name"]).strip() for provider in collection.providers
        if isinstance(provider, dict) and str(provider.get("name") or "").strip()
    ))
    license_ = (collection.license or "").strip()
    parts = [", ".join(names)] if names else []
    if license_ and license_.lower() not in ("other", "various"):
        parts.append(license_)
    return f"Data: {' · '.join(parts)}" if parts else None


# Title and attribution -----------------------------------------------------------------------


class _TextBox(PatchOverlay):
    """Wrapped text in the label colours, aligned to the side of its corner."""

    def text_request(self, context: OverlayContext, text: str, size: int, position: Anchor) -> Request:
        # In a band a long text may take a third line: it hides nothing there.
        lines = wrap(fold_text(text), size, context.room - 2 * padding(size)[0], 3 if context.layout == "bands" else 2)
        align: Align = "right" if position.endswith("right") else "left"
        return self.request(coverage_to_indices(boxed_text(lines, size, align), context.palette.label_ramp()), position)


class Title(_TextBox):
    """``overlays.title``: the config's text, else "<collection title> — <region title>"."""

    name = "title"

    def prepare(self, context: OverlayContext) -> Request | None:
        options = context.settings.title
        text = context.title if context.title is not None else options.text
        text = text if text is not None else default_title(context.collection, context.region_title)
        if not (options and text and text.strip()):
            return None
        size = options.size or context.font(TITLE_PX_PER_FRAME_PX)
        return self.text_request(context, text, size, options.position)


class Attribution(_TextBox):
    """``overlays.attribution``: the config's text, else providers and license from STAC."""

    name = "attribution"

    def prepare(self, context: OverlayContext) -> Request | None:
        options = context.settings.attribution
        text = context.attribution if context.attribution is not None else options.text
        text = text if text is not None else default_attribution(context.collection)
        if not (options and text and text.strip()):
            return None
        size = options.size or context.font(SMALL_TEXT_PX_PER_FRAME_PX)
        return self.text_request(context, text, size, options.position)


# The date label ------------------------------------------------------------------------------


class DateLabel(Overlay):
    """``overlays.date``: each frame's date in a box sized for the widest label, so it never moves."""

    name = "date"

    def __init__(self) -> None:
        super().__init__()
        self.font_px = 0
        self.align = "left"
        self.palette: Palette | None = None
        self._patches: dict[str, np.ndarray] = {}

    def prepare(self, context: OverlayContext) -> Request | None:
        options = context.settings.date
        if not options:
            return None
        self.palette = context.palette
        self.font_px = options.size or context.label_font()
        texts = [fold_text(" ".join(label.split())) for label in context.labels] or ["0000-00-00"]
        widest = max(texts, key=lambda text: text_width(text, self.font_px))
        self.align = "right" if options.position.endswith("right") else "left"
        coverage = boxed_text([widest], self.font_px)
        return Request(self.name, coverage.shape[1], coverage.shape[0], options.position)

    def paint(self, frame: np.ndarray, index: int, label: str | None) -> None:
        if self.box is not None and label is not None:
            paste(frame, self._patch(label), self.box.x, self.box.y)

    def _patch(self, label: str) -> np.ndarray:
        """The date box for ``label``: the layout's fixed size, text aligned to its corner side."""
        if label not in self._patches:
            box = self.box
            assert box is not None and self.palette is not None
            text = fold_text(" ".join(label.split()))
            coverage = boxed_text([text], self.font_px)
            patch = np.zeros((box.height, box.width), dtype=np.uint8)
            clipped = coverage[:, : box.width]
            x = box.width - clipped.shape[1] if self.align == "right" else 0
            patch[:, x : x + clipped.shape[1]] = clipped
            self._patches[label] = coverage_to_indices(patch, self.palette.label_ramp())
        return self._patches[label]


# Date label (stand-alone) --------------------------------------------------------------------


def _fitting_label(text: str, font_px: int, width: int, height: int) -> tuple[np.ndarray, int]:
    """Shrink the font until the label fits the frame (with its margin), down to a floor."""
    size = max(font_px, 1)
    while True:
        coverage = boxed_text([text], size)
        margin = padding(size)[2]
        box_h, box_w = coverage.shape
        fits = box_w + 2 * margin <= width and box_h + 2 * margin <= height
        if fits or size <= MIN_FONT_PX:
            return coverage, margin if fits else 0  # at the floor: hug the corner, crop the rest
        size -= 1


def _corner_origin(corner: str, box_w: int, box_h: int, width: int, height: int, margin: int) -> tuple[int, int]:
    if corner not in ("bottom-left", "bottom-right", "top-left", "top-right"):
        raise ValueError(f"unknown label corner {corner!r}")
    vertical, horizontal = corner.split("-")
    x = margin if horizontal == "left" else width - margin - box_w
    y = margin if vertical == "top" else height - margin - box_h
    return x, y


def draw_label(
    frame: np.ndarray,
    text: str,
    palette: Palette,
    *,
    corner: Corner = "bottom-left",
    font_px: int | None = None,
) -> np.ndarray:
    """Draw ``text`` in a solid box at ``corner`` of a palette-index ``frame``, in place.

    The box uses ``label_box``, glyphs ``label_text``, and glyph edges the reserved greys in
    between. The font defaults to :func:`label_font_px` and shrinks if the frame is too small;
    at the smallest size a label that still does not fit is cropped. Returns ``frame``.
    """
    if frame.ndim != 2:
        raise ValueError(f"expected a 2-D palette-index frame, got shape {frame.shape}")
    height, width = frame.shape
    text = fold_text(" ".join(text.split()))  # one line: labels are short dates
    if not text or width == 0 or height == 0:
        return frame
    size = font_px if font_px is not None else label_font_px(width, height)
    coverage, margin = _fitting_label(text, size, width, height)
    label = coverage_to_indices(coverage, palette.label_ramp())
    x, y = _corner_origin(corner, label.shape[1], label.shape[0], width, height, margin)
    paste(frame, label, x, y)
    return frame
