"""Cartography overlays on palette-index frames: borders, legend, title, attribution, timeline, date.

Owns what is drawn over the data and where. :class:`OverlayPainter` is made once per animation:
it prepares every overlay listed in ``generator.overlays.registry`` (border masks, legend and
text boxes), places their boxes together, and then paints every frame cheaply. Overlays use
reserved palette entries only (see ``generator.render.palette.RESERVED_COLORS``), text is anti-aliased
through the reserved greys, so the GIF's single palette stays exact. The layout stacks boxes
away from their edges so they never cover one another (``generator.overlays.layout``). Pure: arrays and
geometries in, arrays out.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from generator.core.colors import MAX_BORDER_LAYERS
from generator.core.model import CollectionInfo, Grid, Style
from generator.core.specs import OverlaysSpec
from generator.overlays.base import (  # noqa: F401 - re-exported: the sizes were defined here
    BASE_FONT_PX,
    FONT_PX_PER_FRAME_PX,
    LEGIBLE_FRAME_PX,
    SMALL_TEXT_PX_PER_FRAME_PX,
    TITLE_PX_PER_FRAME_PX,
    Overlay,
    OverlayContext,
    border_width_px,
    label_font_px,
    timeline_px,
)
from generator.overlays.borders import boundary_lines, burn, line_mask
from generator.overlays.captions import Corner, default_attribution, default_title, draw_label
from generator.overlays.layout import Request, place
from generator.overlays.legend import Legend
from generator.overlays.registry import OVERLAY_NAMES, OVERLAYS
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


# Palette -------------------------------------------------------------------------------------


def overlay_palette(colormap: str | Sequence[str], layers: Sequence[BorderLayer] = ()) -> Palette:
    """The animation's palette: the colormap's levels plus reserved entries in layer colours."""
    if len(layers) > MAX_BORDER_LAYERS:
        raise ValueError(f"at most {MAX_BORDER_LAYERS} border layers, got {len(layers)}")
    colours: dict[str, tuple[int, int, int]] = {}
    for number, layer in enumerate(layers, start=1):
        colours[border_entry(number)] = parse_hex(layer.color)
        if layer.halo:
            colours[halo_entry(number)] = parse_hex(layer.halo)
    return build_palette(colormap, colours)


# The painter ---------------------------------------------------------------------------------


@dataclass
class OverlayPainter:
    """Paints every overlay of one animation onto palette-index frames.

    Build it with :meth:`create` once per animation (and output size); :meth:`paint` then only
    burns masks and pastes pre-rendered boxes. ``notes`` says which overlays did not fit.
    """

    palette: Palette
    grid: Grid
    overlays: list[Overlay] = field(default_factory=list)  # every overlay, in drawing order
    notes: list[str] = field(default_factory=list)

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
        painter = cls(palette=palette, grid=grid)
        painter._lay_out(OverlayContext(
            settings, grid, style, palette, border_layers=border_layers, collection=collection,
            region_title=region_title, labels=labels, frame_count=max(1, frame_count), title=title,
            attribution=attribution,
        ))
        return painter

    @property
    def legend_patch(self) -> np.ndarray | None:
        """The legend box alone (even when it did not fit the frame), for the web page."""
        return next((overlay.patch for overlay in self.overlays if isinstance(overlay, Legend)), None)

    def _lay_out(self, context: OverlayContext) -> None:
        """Prepare every overlay, then place the boxes they ask for by layout rank."""
        self.overlays = [kind() for kind, _ in OVERLAYS]
        requests: list[tuple[int, Request, Overlay]] = []
        for (_, rank), overlay in zip(OVERLAYS, self.overlays, strict=True):
            request = overlay.prepare(context)
            if request is not None:
                if rank is None:
                    raise ValueError(f"the {overlay.name} overlay asks for a box but has no layout rank")
                requests.append((rank, request, overlay))
        requests.sort(key=lambda entry: entry[0])
        width, height, margin = context.width, context.height, context.margin
        placed = place([request for _, request, _ in requests], width, height, margin=margin, gap=max(2, margin // 2))
        for _, request, overlay in requests:
            overlay.box = placed.get(request.name)
            if overlay.box is None:
                self.notes.append(f"{request.name} overlay left out: it does not fit a {width}×{height} frame")
                log.info("%s", self.notes[-1])

    def paint(
        self, indices: np.ndarray, frame_index: int, label: str | None, *, only: Collection[str] | None = None
    ) -> np.ndarray:
        """Draw the overlays on frame number ``frame_index`` (0-based), in place; returns it.

        ``label`` is the frame's date label (None: no date on this frame). ``only`` restricts
        drawing to the named overlays (see :data:`OVERLAY_NAMES`), keeping the full layout.
        """
        if indices.shape != self.grid.shape:
            raise ValueError(f"frame shape {indices.shape} differs from the grid {self.grid.shape}")
        for overlay in self.overlays:
            if only is None or overlay.name in only:
                overlay.paint(indices, frame_index, label)
        return indices
