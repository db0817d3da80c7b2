"""Overlays drawn onto palette-index frames: region borders and the date label.

Everything here is pure — arrays and geometries in, arrays out, no file I/O. Borders are
rasterized once per animation into a boolean mask (:func:`line_mask`) and burnt into every
frame (:func:`burn`); the label is drawn with reserved palette entries only, so the GIF's
single palette stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from PIL import Image, ImageDraw, ImageFont

from generator.errors import RenderError
from generator.model import Grid
from generator.palette import Palette

Corner = Literal["bottom-left", "bottom-right", "top-left", "top-right"]

# Borders -------------------------------------------------------------------------------------

_POLYGONAL = ("Polygon", "MultiPolygon")
_LINEAL = ("LineString", "MultiLineString", "LinearRing")
#: Lines are simplified to this tolerance (in output pixels) before burning.
SIMPLIFY_TOLERANCE_PX = 0.5


def boundary_lines(
    geometry: shapely.Geometry | Iterable[shapely.Geometry],
) -> shapely.LineString | shapely.MultiLineString:
    """All boundary lines of ``geometry`` as one (Multi)LineString, each shared edge once.

    Polygons contribute their rings, lines are kept as they are, points are ignored. Edges
    shared by neighbouring polygons (same vertices) are merged by the union, so they are drawn
    once and end up exactly as thick as outer edges.
    """
    lines = [_as_lines(part) for part in _flatten(geometry)]
    lines = [line for line in lines if line is not None and not line.is_empty]
    if not lines:
        return shapely.MultiLineString()
    merged = shapely.line_merge(shapely.unary_union(lines))
    if merged.is_empty:
        return shapely.MultiLineString()
    return merged


def _flatten(geometry: shapely.Geometry | Iterable[shapely.Geometry]) -> list[shapely.Geometry]:
    if isinstance(geometry, shapely.Geometry):
        if geometry.geom_type == "GeometryCollection":
            return [leaf for part in shapely.get_parts(geometry) for leaf in _flatten(part)]
        return [geometry]
    if isinstance(geometry, (str, bytes)) or not isinstance(geometry, Iterable):
        raise TypeError(f"expected a shapely geometry or a list of them, got {type(geometry)}")
    return [leaf for item in geometry for leaf in _flatten(item)]


def _as_lines(geometry: shapely.Geometry) -> shapely.Geometry | None:
    if geometry.geom_type in _POLYGONAL:
        return shapely.boundary(geometry)
    if geometry.geom_type in _LINEAL:
        return geometry
    return None  # points carry no border


def line_mask(
    lines: shapely.Geometry,
    grid: Grid,
    width_px: int = 1,
) -> np.ndarray:
    """Rasterize ``lines`` (in ``grid.crs`` coordinates) to a boolean mask of ``grid.shape``.

    ``width_px == 1`` burns thin 8-connected lines (GDAL's line rasterization). Wider lines are
    buffered by half the width and burnt as polygons. Either way it is one rasterize call for
    all lines, so a shared edge can never be burnt twice side by side. Lines are simplified
    to half a pixel first. Pass lines (see :func:`boundary_lines`), not polygons: polygons
    would be filled.
    """
    if width_px < 1:
        raise ValueError(f"border width must be at least 1 pixel, got {width_px}")
    mask = np.zeros(grid.shape, dtype=bool)
    if lines is None or lines.is_empty or grid.width == 0 or grid.height == 0:
        return mask

    # Work in pixel coordinates: the buffer is then exactly width_px/2 pixels whatever the
    # pixel aspect ratio, and clipping to the frame is a plain rectangle.
    pixel_lines = _to_pixel_space(lines, grid.transform)
    margin = float(width_px) + 1.0
    pixel_lines = shapely.clip_by_rect(
        pixel_lines, -margin, -margin, grid.width + margin, grid.height + margin
    )
    # Detail finer than half a pixel only clumps the line into blobs (every vertex burns its
    # own corner); dropping it keeps 1-px borders 1 px thin and makes buffering cheap.
    pixel_lines = shapely.simplify(pixel_lines, SIMPLIFY_TOLERANCE_PX, preserve_topology=False)
    if pixel_lines.is_empty:
        return mask
    if width_px > 1:
        shape = shapely.buffer(pixel_lines, width_px / 2.0, quad_segs=4)
    else:
        shape = pixel_lines
    burnt = rasterio.features.rasterize(
        [(shape, 1)],
        out_shape=grid.shape,
        transform=Affine.identity(),
        fill=0,
        all_touched=False,
        dtype="uint8",
    )
    return burnt.astype(bool)


def _to_pixel_space(geometry: shapely.Geometry, transform: Affine) -> shapely.Geometry:
    inverse = ~transform
    matrix = np.array([[inverse.a, inverse.b], [inverse.d, inverse.e]])
    offset = np.array([inverse.c, inverse.f])
    return shapely.transform(geometry, lambda coords: coords @ matrix.T + offset)


def burn(frame: np.ndarray, mask: np.ndarray, index: int) -> np.ndarray:
    """Set ``frame`` to ``index`` where ``mask`` is True, in place; returns ``frame``."""
    if frame.shape != mask.shape:
        raise ValueError(f"mask shape {mask.shape} differs from frame shape {frame.shape}")
    np.putmask(frame, mask, index)
    return frame


# Date label ----------------------------------------------------------------------------------

#: The smallest font a label falls back to when the frame is too small for it.
MIN_FONT_PX = 6
#: Default font size never goes below this: Aileron's cap height is ≈0.7 em, so 13 px gives
#: 9-px-tall digits, the least that stays readable in a 256-px GIF.
BASE_FONT_PX = 13
#: Above ~290 px the font grows with the frame, so the label keeps the same share of the
#: image when the gallery shows GIFs of different sizes at the same display width.
FONT_PX_PER_FRAME_PX = 0.045


def label_font_px(width: int, height: int) -> int:
    """Default date-label font size (pixels) for a frame of ``width`` × ``height``."""
    return max(BASE_FONT_PX, round(FONT_PX_PER_FRAME_PX * min(width, height)))


@lru_cache(maxsize=32)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size_px)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RenderError(
            "Pillow was built without FreeType, so date labels cannot be drawn; "
            "install a Pillow wheel from PyPI"
        )
    return font


def _label_layout(font_px: int) -> tuple[int, int, int]:
    """(horizontal padding, vertical padding, margin from the frame edge) for a font size."""
    pad_x = max(2, round(0.45 * font_px))
    pad_y = max(1, round(0.3 * font_px))
    margin = max(2, round(0.5 * font_px))
    return pad_x, pad_y, margin


def _render_label(text: str, font_px: int) -> tuple[np.ndarray, int]:
    """Glyph coverage (uint8 0..255) of the whole label box, and the margin to keep."""
    font = _font(font_px)
    pad_x, pad_y, margin = _label_layout(font_px)
    # Vertical extent from fixed reference glyphs, not from ``text``: the box must not jump
    # between frames whose labels have different letters.
    _, ascent_top, _, descent_bottom = font.getbbox("Hg", anchor="ls")
    left, _, right, _ = font.getbbox(text, anchor="ls")
    text_width = max(right, round(font.getlength(text))) - min(left, 0)
    box_width = text_width + 2 * pad_x
    box_height = (descent_bottom - ascent_top) + 2 * pad_y
    coverage = Image.new("L", (box_width, box_height), 0)
    ImageDraw.Draw(coverage).text(
        (pad_x - min(left, 0), pad_y - ascent_top), text, font=font, fill=255, anchor="ls"
    )
    return np.asarray(coverage), margin


def _fitting_label(text: str, font_px: int, width: int, height: int) -> tuple[np.ndarray, int]:
    """Shrink the font until the label fits the frame (with its margin), down to a floor."""
    size = max(font_px, 1)
    while True:
        coverage, margin = _render_label(text, size)
        box_h, box_w = coverage.shape
        fits = box_w + 2 * margin <= width and box_h + 2 * margin <= height
        if fits or size <= MIN_FONT_PX:
            if not fits:
                margin = 0  # at the floor: hug the corner and let the frame crop the rest
            return coverage, margin
        size -= 1


def _coverage_to_indices(coverage: np.ndarray, ramp: tuple[int, ...]) -> np.ndarray:
    # Snap coverage to the nearest ramp step; the ramp's greys sit at the matching blends of
    # box and text colour, so edges look smooth without inventing colours.
    steps = len(ramp) - 1
    levels = (coverage.astype(np.uint16) * steps + 127) // 255
    return np.asarray(ramp, dtype=np.uint8)[levels]


def _corner_origin(
    corner: Corner, box_w: int, box_h: int, width: int, height: int, margin: int
) -> tuple[int, int]:
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
    text = " ".join(text.split())  # one line: labels are short dates
    if not text or width == 0 or height == 0:
        return frame
    size = font_px if font_px is not None else label_font_px(width, height)
    coverage, margin = _fitting_label(text, size, width, height)
    label = _coverage_to_indices(coverage, palette.label_ramp())
    box_h, box_w = label.shape
    x, y = _corner_origin(corner, box_w, box_h, width, height, margin)
    _paste_clipped(frame, label, x, y)
    return frame


def _paste_clipped(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    height, width = frame.shape
    patch_h, patch_w = patch.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + patch_w, width), min(y + patch_h, height)
    if x0 >= x1 or y0 >= y1:
        return
    frame[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
