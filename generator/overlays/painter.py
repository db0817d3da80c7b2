"""Cartography overlays on palette-index frames: borders, legend, title, attribution, timeline, date.

Owns what is drawn over the data and where. :class:`OverlayPainter` is made once per animation:
it prepares every overlay listed in ``generator.overlays.registry`` (border masks, legend and
text boxes), places their boxes together, and then paints every frame cheaply. Overlays use
reserved palette entries only (see ``generator.render.palette.RESERVED_COLORS``), text is anti-aliased
through the reserved greys, so the GIF's single palette stays exact. ``render.layout`` says where
the boxes go (``generator.overlays.layout``): ``bands`` puts them in bands above and below the map,
so the frame (:attr:`OverlayPainter.frame_shape`) is taller than the map and no overlay covers
data; ``inset`` puts them on the map, each in the corner where it hides the fewest data pixels.
:meth:`OverlayPainter.compose` turns a data layer into a finished frame. Pure: arrays and
geometries in, arrays out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generator.core.colors import MAX_BORDER_LAYERS
from generator.core.model import CollectionInfo, Grid, Style
from generator.core.specs import Layout, OverlaysSpec
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
from generator.overlays.layout import Placed, Request, place, stack_bands
from generator.overlays.legend import Legend
from generator.overlays.registry import OVERLAY_NAMES, OVERLAYS
from generator.overlays.text import using_font
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

#: With ``render.layout: bands``, the order of the rows from the map outward: the timeline hugs
#: the map, the date and the legend share the next row, the attribution comes last. Overlays
#: not named here come after the legend.
BAND_ORDER = {"timeline": 0, "date": 1, "legend": 2, "title": 3, "attribution": 4}


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
    layout: Layout = "inset"
    #: (height, width) of the finished frames: the map's grid, plus the bands with ``bands``.
    frame_shape: tuple[int, int] = (0, 0)
    #: (x, y) of the map's top-left pixel in the frame.
    map_origin: tuple[int, int] = (0, 0)
    #: Paint missing values inside the region transparent (``style.nodata_color: transparent``).
    nodata_transparent: bool = False
    #: Some frame lacks values inside the region, and they are drawn: legends show a swatch.
    nodata_swatch: bool = False
    _on_map: set[str] = field(default_factory=set)  # overlays that asked for no box: drawn on the map
    #: The TrueType/OpenType font of every text (``render.font``); None: the bundled DejaVu Sans.
    font: Path | None = None

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
        layout: Layout = "inset",
        coverage: np.ndarray | None = None,
        nodata: bool = False,
        font: Path | None = None,
    ) -> OverlayPainter:
        """Prepare the overlays of an animation on ``grid``.

        ``labels`` are the date labels of all frames (the date box is sized for the longest).
        ``title``/``attribution`` override the config text and the STAC defaults. ``coverage``
        (grid-shaped: how many frames hold data at each pixel) lets ``inset`` boxes pick the
        corner where they hide least; ``nodata`` adds the legend's no-data swatch.
        """
        palette = palette or overlay_palette(style.colormap, border_layers)
        transparent = style.nodata_color == "transparent"
        painter = cls(
            palette=palette, grid=grid, layout=layout, nodata_transparent=transparent,
            nodata_swatch=nodata and not transparent, font=font,
        )
        with using_font(font):
            painter._lay_out(OverlayContext(
                settings, grid, style, palette, border_layers=border_layers, collection=collection,
                region_title=region_title, labels=labels, frame_count=max(1, frame_count), title=title,
                attribution=attribution, layout=layout, nodata=nodata and not transparent,
            ), coverage)
        return painter

    @property
    def legend_patch(self) -> np.ndarray | None:
        """The legend box alone (even when it did not fit the frame), for the web page."""
        return next((overlay.patch for overlay in self.overlays if isinstance(overlay, Legend)), None)

    def _lay_out(self, context: OverlayContext, coverage: np.ndarray | None = None) -> None:
        """Prepare every overlay, then place the boxes they ask for by layout rank."""
        self.overlays = [kind() for kind, _ in OVERLAYS]
        requests: list[tuple[int, Request, Overlay]] = []
        for (_, rank), overlay in zip(OVERLAYS, self.overlays, strict=True):
            request = overlay.prepare(context)
            if request is None:
                self._on_map.add(overlay.name)
            else:
                if rank is None:
                    raise ValueError(f"the {overlay.name} overlay asks for a box but has no layout rank")
                requests.append((rank, request, overlay))
        requests.sort(key=lambda entry: entry[0])
        margin, gap = context.margin, max(2, context.margin // 2)
        self.frame_shape, self.map_origin = self.grid.shape, (0, 0)
        if self.layout == "bands" and requests:
            order = sorted(requests, key=lambda entry: BAND_ORDER.get(entry[1].name, BAND_ORDER["legend"]))
            bands = stack_bands([request for _, request, _ in order], context.width, self.grid.height, margin=margin, gap=gap)
            self.frame_shape = (bands.top + self.grid.height + bands.bottom, bands.width)
            self.map_origin = ((bands.width - self.grid.width) // 2, bands.top)
            placed: dict[str, Placed] = dict(bands.boxes)
        else:
            cost = _data_under(coverage) if coverage is not None else None
            placed = place(
                [request for _, request, _ in requests], context.width, context.height, margin=margin, gap=gap, cost=cost
            )
        height, width = self.frame_shape
        for _, request, overlay in requests:
            overlay.box = placed.get(request.name)
            if overlay.box is None:
                self.notes.append(f"{request.name} overlay left out: it does not fit a {width}×{height} frame")
                log.info("%s", self.notes[-1])

    def compose(self, layer: np.ndarray, frame_index: int, label: str | None) -> np.ndarray:
        """The finished frame number ``frame_index`` from its (grid-shaped) data layer: the map in
        the frame, bands filled with the label box colour, the overlays on top.

        With no bands the layer itself is painted (in place) and returned.
        """
        if layer.shape != self.grid.shape:
            raise ValueError(f"layer shape {layer.shape} differs from the grid {self.grid.shape}")
        if self.nodata_transparent:
            layer[layer == self.palette.index("nodata")] = self.palette.transparent
        if self.frame_shape == self.grid.shape:
            frame = layer
        else:
            frame = np.full(self.frame_shape, self.palette.index("label_box"), dtype=np.uint8)
            x, y = self.map_origin
            frame[y : y + self.grid.height, x : x + self.grid.width] = layer
        return self.paint(frame, frame_index, label)

    def paint(
        self, indices: np.ndarray, frame_index: int, label: str | None, *, only: Collection[str] | None = None
    ) -> np.ndarray:
        """Draw the overlays on frame number ``frame_index`` (0-based), in place; returns it.

        ``label`` is the frame's date label (None: no date on this frame). ``only`` restricts
        drawing to the named overlays (see :data:`OVERLAY_NAMES`), keeping the full layout.
        ``indices`` has :attr:`frame_shape`; overlays without a box draw on its map part.
        """
        if indices.shape != self.frame_shape:
            raise ValueError(f"frame shape {indices.shape} differs from the painter's frame {self.frame_shape}")
        x, y = self.map_origin
        on_map = indices[y : y + self.grid.height, x : x + self.grid.width]
        with using_font(self.font):  # a date label is drawn when its frame comes
            for overlay in self.overlays:
                if only is None or overlay.name in only:
                    overlay.paint(on_map if overlay.name in self._on_map else indices, frame_index, label)
        return indices


def _data_under(coverage: np.ndarray) -> Callable[[Placed], float]:
    """How many data pixels (summed over frames) a box on the map would hide."""
    table = np.zeros((coverage.shape[0] + 1, coverage.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = coverage.astype(np.int64).cumsum(axis=0).cumsum(axis=1)

    def cost(box: Placed) -> float:
        y0, x0 = max(box.y, 0), max(box.x, 0)
        y1, x1 = min(box.y + box.height, coverage.shape[0]), min(box.x + box.width, coverage.shape[1])
        if y0 >= y1 or x0 >= x1:
            return 0.0
        return float(table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0])

    return cost
