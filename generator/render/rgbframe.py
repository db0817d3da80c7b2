"""Full-colour frames of true-colour animations: the painted palette frame with the data's own colours.

Owns turning a finished frame of a true-colour animation — palette indices, overlays painted
with their reserved entries — back into full colour for the formats that can show it (WebP,
MP4, the player's PNG frames, the poster and thumbnail): every data pixel takes the exact colour
of the frame's RGBA data layer (``truecolor.read_rgba``) instead of its nearest palette colour;
every other pixel (transparent, no-data, borders, text, label boxes, basemap) keeps the colour of
its palette entry, so overlays look the same in every format and the GIF (palette indices, one
palette per animation) is unchanged.

A data pixel is one the layer has a value at (alpha > 0, inside the region) whose painted index
is still a data entry: a data level (``index < palette.n_levels``), or with a basemap one of its
``basemap_*`` entries (a blend of data over the basemap may land on one). Overlays draw only
reserved entries, so a pixel they cover keeps its overlay colour. Pure numpy; no I/O.
"""

from __future__ import annotations

import numpy as np

from generator.core.colors import Palette

#: The prefix of a basemap palette entry's name (``overlays.basemap.basemap_palette``).
BASEMAP_ENTRY = "basemap_"


def data_entries(palette: Palette) -> np.ndarray:
    """A 256-entry mask: True for the indices a data pixel may be painted with (data levels and
    basemap entries), False for transparent, no-data and the overlays' entries."""
    mask = np.zeros(len(palette.colors), dtype=bool)
    mask[: palette.n_levels] = True
    for name, index in palette.reserved.items():
        if name.startswith(BASEMAP_ENTRY):
            mask[index] = True
    return mask


def palette_rgba(frame: np.ndarray, palette: Palette) -> np.ndarray:
    """A palette-index frame in its palette's colours: ``(rows, columns, 4)`` ``uint8``, alpha 0
    at the transparent entry and 255 elsewhere."""
    table = np.empty((len(palette.colors), 4), dtype=np.uint8)
    table[:, :3] = palette.colors
    table[:, 3] = 255
    table[palette.transparent, 3] = 0
    return table[frame]


def rgb_frame(
    frame: np.ndarray,
    palette: Palette,
    layer: np.ndarray,
    origin: tuple[int, int] = (0, 0),
    inside: np.ndarray | None = None,
    under: np.ndarray | None = None,
    opacity: float = 1.0,
) -> np.ndarray:
    """The full-colour twin of a painted frame: ``(rows, columns, 4)`` ``uint8`` RGBA.

    ``frame`` is the finished frame (palette indices, overlays painted); ``layer`` the frame's
    RGBA data layer on the map's grid, whose top-left pixel is at ``origin`` (x, y) in the frame
    (``OverlayPainter.map_origin``); ``inside`` the region mask on that grid (None: everywhere).
    Data pixels (see the module) take the layer's colour; with ``under`` (the grid's RGBA basemap,
    alpha 0 where none is drawn) and ``opacity`` < 1 they take the blend
    ``opacity · layer + (1 − opacity) · under`` where the basemap is drawn, rounded. Every
    other pixel takes its palette entry's colour (alpha 0 where transparent).
    """
    if frame.ndim != 2 or layer.ndim != 3 or layer.shape[2] != 4:
        raise ValueError(f"expected a 2-D frame and an RGBA layer, got shapes {frame.shape} and {layer.shape}")
    height, width = layer.shape[:2]
    x, y = origin
    if x < 0 or y < 0 or y + height > frame.shape[0] or x + width > frame.shape[1]:
        raise ValueError(f"a {width}×{height} layer at {origin} does not fit a frame of shape {frame.shape}")
    out = palette_rgba(frame, palette)
    on_map = frame[y : y + height, x : x + width]
    data = (layer[..., 3] > 0) & data_entries(palette)[on_map]
    if inside is not None:
        data &= inside
    colours = layer[..., :3]
    if under is not None and opacity < 1.0:
        blended = np.rint(opacity * colours + (1.0 - opacity) * under[..., :3].astype(np.float64)).astype(np.uint8)
        colours = np.where(under[..., 3:] > 0, blended, colours)
    target = out[y : y + height, x : x + width]
    target[data, :3] = colours[data]
    target[data, 3] = 255
    return out


__all__ = ["BASEMAP_ENTRY", "data_entries", "palette_rgba", "rgb_frame"]
