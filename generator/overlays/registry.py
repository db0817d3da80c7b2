"""The overlays, in one place: each overlay class with its layout rank, in drawing order.

Adding an overlay is a module with an :class:`~generator.overlays.base.Overlay` subclass, a
line here, and its settings in the config's ``render.overlays`` (plus reserved palette entries
if it needs colours of its own).
"""

from __future__ import annotations

from generator.overlays.base import Overlay
from generator.overlays.borders import Borders
from generator.overlays.captions import Attribution, DateLabel, Title
from generator.overlays.context import Context
from generator.overlays.legend import Legend
from generator.overlays.scale_bar import ScaleBar
from generator.overlays.timeline import Timeline

#: Every overlay, in drawing order (later ones are drawn over earlier ones), with its layout
#: rank: boxes are placed by rank, lowest first, and earlier boxes sit closest to their frame
#: edge. None: the overlay has no box to place.
OVERLAYS: tuple[tuple[type[Overlay], int | None], ...] = (
    (Context, None),
    (Borders, None),
    (Timeline, 0),
    (Title, 4),
    (Attribution, 2),
    (Legend, 3),
    (DateLabel, 1),
    (ScaleBar, 5),
)

#: Every overlay's name, in drawing order.
OVERLAY_NAMES = tuple(overlay.name for overlay, _ in OVERLAYS)
