"""Cartography overlays on palette-index frames: borders, legend, title, attribution, timeline, date.

Owns what is drawn over the data and where. :class:`OverlayPainter` is made once per animation
(border masks, layout, legend and text boxes) and then paints every frame cheaply. Overlays use
reserved palette entries only (see ``generator.render.palette.RESERVED_COLORS``), text is anti-aliased
through the reserved greys, so the GIF's single palette stays exact. The layout stacks boxes
away from their edges so they never cover one another (``generator.overlays.layout``). Pure: arrays and
geometries in, arrays out.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from shapely.geometry.base import BaseGeometry

from generator.core.model import CollectionInfo, Grid, Style
from generator.core.specs import OverlaysSpec
from generator.overlays.borders import boundary_lines, burn, line_mask
from generator.overlays.layout import Anchor, Placed, Request, place
from generator.overlays.legend import LegendSpec, render_legend
from generator.overlays.text import (
    MIN_FONT_PX,
    boxed_text,
    coverage_to_indices,
    fold_text,
    padding,
    paste,
    text_width,
    wrap,
)
from generator.render.grid import project
from generator.render.palette import (
    Palette,
    border_entry,
    build_palette,
    halo_entry,
    parse_hex,
)
from generator.sources.regions import BorderLayer

__all__ = [
    "OVERLAY_NAMES", "Corner", "OverlayPainter", "boundary_lines", "burn", "default_attribution",
    "default_title", "draw_label", "label_font_px", "line_mask", "overlay_palette",
]

log = logging.getLogger(__name__)

Corner = Literal["bottom-left", "bottom-right", "top-left", "top-right"]
#: Every overlay, in drawing order (later ones are drawn over earlier ones).
OVERLAY_NAMES = ("borders", "timeline", "title", "attribution", "legend", "date")
#: Layout priority: earlier boxes sit closest to their frame edge.
_LAYOUT_ORDER = ("timeline", "date", "attribution", "legend", "title")

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


def _font_px(share: float, width: int, height: int) -> int:
    short = min(width, height)
    if short < LEGIBLE_FRAME_PX:
        return max(MIN_FONT_PX, round(BASE_FONT_PX * short / LEGIBLE_FRAME_PX))
    return max(BASE_FONT_PX, round(share * short))


def border_width_px(size: int) -> int:
    """Border lines thicken with the frame so they read the same at 256 and 1024 px."""
    return max(1, round(size / 512))


def timeline_px(width: int, height: int) -> int:
    return max(3, round(min(width, height) / 85))


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


# Palette -------------------------------------------------------------------------------------


def overlay_palette(colormap: str | Sequence[str], layers: Sequence[BorderLayer] = ()) -> Palette:
    """The animation's palette: the colormap's levels plus reserved entries in layer colours."""
    if len(layers) > 4:
        raise ValueError(f"at most 4 border layers, got {len(layers)}")
    colours: dict[str, tuple[int, int, int]] = {}
    for number, layer in enumerate(layers, start=1):
        colours[border_entry(number)] = parse_hex(layer.color)
        if layer.halo:
            colours[halo_entry(number)] = parse_hex(layer.halo)
    return build_palette(colormap, colours)


# The painter ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Patch:
    """A pre-rendered overlay box and where it goes."""

    indices: np.ndarray
    x: int
    y: int


@dataclass
class OverlayPainter:
    """Paints every overlay of one animation onto palette-index frames.

    Build it with :meth:`create` once per animation (and output size); :meth:`paint` then only
    burns masks and pastes pre-rendered boxes. ``notes`` says which overlays did not fit.
    """

    palette: Palette
    grid: Grid
    borders: list[tuple[np.ndarray, int]] = field(default_factory=list)  # (mask, index), in order
    patches: dict[str, _Patch] = field(default_factory=dict)
    date_box: Placed | None = None
    date_px: int = BASE_FONT_PX
    date_align: str = "left"
    timeline_box: Placed | None = None
    frame_count: int = 1
    legend_patch: np.ndarray | None = None  # the legend box alone, for the web page
    notes: list[str] = field(default_factory=list)
    _labels: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        settings: OverlaysSpec,
        grid: Grid,
        style: Style,
        *,
        border_layers: Sequence[BorderLayer] = (),
        collection: CollectionInfo | None = None,
        region_title: str | None = None,
        labels: Sequence[str] = (),
        frame_count: int = 1,
        title: str | None = None,
        attribution: str | None = None,
        palette: Palette | None = None,
    ) -> OverlayPainter:
        """Prepare the overlays of an animation on ``grid``.

        ``labels`` are the date labels of all frames (the date box is sized for the longest).
        ``title``/``attribution`` override the config text and the STAC defaults.
        """
        palette = palette or overlay_palette(style.colormap, border_layers)
        painter = cls(palette=palette, grid=grid, frame_count=max(1, frame_count))
        if settings.borders:
            painter.borders = _border_masks(border_layers, grid, palette)
        painter._lay_out(settings, style, collection, region_title, labels, title, attribution)
        return painter

    def _lay_out(
        self,
        settings: OverlaysSpec,
        style: Style,
        collection: CollectionInfo | None,
        region_title: str | None,
        labels: Sequence[str],
        title: str | None,
        attribution: str | None,
    ) -> None:
        width, height = self.grid.width, self.grid.height
        margin = padding(_font_px(SMALL_TEXT_PX_PER_FRAME_PX, width, height))[2]
        room = max(1, width - 2 * margin)
        boxes: dict[str, np.ndarray] = {}
        anchors: dict[str, Anchor] = {}
        if settings.timeline:
            thickness = settings.timeline.thickness or timeline_px(width, height)
            boxes["timeline"] = np.zeros((thickness, width), dtype=np.uint8)
            anchors["timeline"] = settings.timeline.position
        if settings.date:
            self.date_px = settings.date.size or label_font_px(width, height)
            texts = [fold_text(" ".join(label.split())) for label in labels] or ["0000-00-00"]
            widest = max(texts, key=lambda text: text_width(text, self.date_px))
            boxes["date"] = boxed_text([widest], self.date_px)
            anchors["date"] = settings.date.position
            self.date_align = "right" if settings.date.position.endswith("right") else "left"
        text = attribution if attribution is not None else settings.attribution.text
        text = text if text is not None else default_attribution(collection)
        if settings.attribution and text and text.strip():
            size = settings.attribution.size or _font_px(SMALL_TEXT_PX_PER_FRAME_PX, width, height)
            boxes["attribution"] = self._text_box(text, size, settings.attribution.position, room)
            anchors["attribution"] = settings.attribution.position
        if settings.legend:
            legend = _legend_box(settings, style, self.palette, width, height, room)
            self.legend_patch = legend
            boxes["legend"] = legend
            anchors["legend"] = settings.legend.position
        text = title if title is not None else settings.title.text
        text = text if text is not None else default_title(collection, region_title)
        if settings.title and text and text.strip():
            size = settings.title.size or _font_px(TITLE_PX_PER_FRAME_PX, width, height)
            boxes["title"] = self._text_box(text, size, settings.title.position, room)
            anchors["title"] = settings.title.position
        requests = [
            Request(name, boxes[name].shape[1], boxes[name].shape[0], anchors[name])
            for name in _LAYOUT_ORDER if name in boxes
        ]
        placed = place(requests, width, height, margin=margin, gap=max(2, margin // 2))
        for request in requests:
            box = placed.get(request.name)
            if box is None:
                self.notes.append(f"{request.name} overlay left out: it does not fit a {width}×{height} frame")
                log.info("%s", self.notes[-1])
            elif request.name == "date":
                self.date_box = box
            elif request.name == "timeline":
                self.timeline_box = box
            else:
                self.patches[request.name] = _Patch(boxes[request.name], box.x, box.y)

    def _text_box(self, text: str, size: int, position: str, room: int) -> np.ndarray:
        """A wrapped text box in the label colours, aligned to the side of its corner."""
        lines = wrap(fold_text(text), size, room - 2 * padding(size)[0])
        align = "right" if position.endswith("right") else "left"
        return coverage_to_indices(boxed_text(lines, size, align), self.palette.label_ramp())

    def paint(
        self, indices: np.ndarray, frame_index: int, label: str | None, *, only: Collection[str] | None = None
    ) -> np.ndarray:
        """Draw the overlays on frame number ``frame_index`` (0-based), in place; returns it.

        ``label`` is the frame's date label (None: no date on this frame). ``only`` restricts
        drawing to the named overlays (see :data:`OVERLAY_NAMES`), keeping the full layout.
        """
        if indices.shape != self.grid.shape:
            raise ValueError(f"frame shape {indices.shape} differs from the grid {self.grid.shape}")
        wanted = set(OVERLAY_NAMES if only is None else only)
        if "borders" in wanted:
            for mask, index in self.borders:
                burn(indices, mask, index)
        if "timeline" in wanted and self.timeline_box is not None:
            self._paint_timeline(indices, frame_index)
        for name in ("title", "attribution", "legend"):
            patch = self.patches.get(name)
            if name in wanted and patch is not None:
                paste(indices, patch.indices, patch.x, patch.y)
        if "date" in wanted and self.date_box is not None and label is not None:
            paste(indices, self._date_patch(label), self.date_box.x, self.date_box.y)
        return indices

    def _paint_timeline(self, indices: np.ndarray, frame_index: int) -> None:
        box = self.timeline_box
        assert box is not None
        shown = min(max(frame_index + 1, 0), self.frame_count) / self.frame_count
        rows = slice(box.y, box.y + box.height)
        indices[rows, box.x : box.x + box.width] = self.palette.index("timeline_track")
        indices[rows, box.x : box.x + round(box.width * shown)] = self.palette.index("timeline_bar")

    def _date_patch(self, label: str) -> np.ndarray:
        """The date box for ``label``: the layout's fixed size, text aligned to its corner side."""
        if label not in self._labels:
            box = self.date_box
            assert box is not None
            text = fold_text(" ".join(label.split()))
            coverage = boxed_text([text], self.date_px)
            patch = np.zeros((box.height, box.width), dtype=np.uint8)
            clipped = coverage[:, : box.width]
            x = box.width - clipped.shape[1] if self.date_align == "right" else 0
            patch[:, x : x + clipped.shape[1]] = clipped
            self._labels[label] = coverage_to_indices(patch, self.palette.label_ramp())
        return self._labels[label]


def _legend_box(
    settings: OverlaysSpec, style: Style, palette: Palette, width: int, height: int, room: int
) -> np.ndarray:
    """The legend patch, its strip shortened if needed so the box fits the frame's width."""
    options = settings.legend
    size = options.size or _font_px(SMALL_TEXT_PX_PER_FRAME_PX, width, height)
    side = width if options.orientation == "horizontal" else height
    length = max(8, round(options.length * side) - 2 * padding(size)[0] - 2)
    spec = LegendSpec(rescale=style.rescale, units=style.units)
    legend = render_legend(spec, palette, length_px=length, size_px=size, orientation=options.orientation)
    overflow = legend.shape[1] - room if options.orientation == "horizontal" else legend.shape[0] - (height - 2)
    if overflow > 0:
        legend = render_legend(
            spec, palette, length_px=max(8, length - overflow), size_px=size, orientation=options.orientation
        )
    return legend


def _border_masks(layers: Sequence[BorderLayer], grid: Grid, palette: Palette) -> list[tuple[np.ndarray, int]]:
    """(mask, palette index) of every layer's halo then line, in layer order."""
    default_width = border_width_px(max(grid.width, grid.height))
    masks: list[tuple[np.ndarray, int]] = []
    for number, layer in enumerate(layers, start=1):
        lines: BaseGeometry = project(boundary_lines(layer.geometry), grid.crs)
        width = layer.width or default_width
        line = line_mask(lines, grid, width)
        if layer.halo:
            halo = line_mask(lines, grid, width + 2 * layer.halo_width) & ~line
            masks.append((halo, palette.index(halo_entry(number))))
        masks.append((line, palette.index(border_entry(number))))
    return masks
