"""Region border lines: each shared edge once, burnt into palette-index frames at a set width.

Pure — geometries in, boolean masks out. Lines are rasterized once per animation into a mask
(:func:`line_mask`) and burnt into every frame (:func:`burn`) with a reserved palette entry;
:class:`Borders` is the overlay that does so for a region's border layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from generator.core import buildcache
from generator.core.bitmask import Bitmask
from generator.core.model import Grid
from generator.overlays.base import Overlay, OverlayContext, border_width_px
from generator.overlays.layout import Request
from generator.render.grid import project
from generator.render.palette import Palette, border_entry, halo_entry
from generator.sources.regions import POLYGONAL, BorderLayer

if TYPE_CHECKING:
    from affine import Affine

_LINEAL = ("LineString", "MultiLineString", "LinearRing")
#: Lines are simplified to this tolerance (in output pixels) before burning.
SIMPLIFY_TOLERANCE_PX = 0.5


def boundary_lines(
    geometry: BaseGeometry | Iterable[BaseGeometry],
) -> BaseGeometry:
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


def _flatten(geometry: BaseGeometry | Iterable[BaseGeometry]) -> list[BaseGeometry]:
    if isinstance(geometry, BaseGeometry):
        if geometry.geom_type == "GeometryCollection":
            return [leaf for part in shapely.get_parts(geometry) for leaf in _flatten(part)]
        return [geometry]
    if isinstance(geometry, (str, bytes)) or not isinstance(geometry, Iterable):
        raise TypeError(f"expected a shapely geometry or a list of them, got {type(geometry)}")
    return [leaf for item in geometry for leaf in _flatten(item)]


def _as_lines(geometry: BaseGeometry) -> BaseGeometry | None:
    if geometry.geom_type in POLYGONAL:
        return shapely.boundary(geometry)
    if geometry.geom_type in _LINEAL:
        return geometry
    return None  # points carry no border


def line_mask(
    lines: BaseGeometry,
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
    shape: BaseGeometry
    if width_px > 1:
        shape = shapely.buffer(pixel_lines, width_px / 2.0, quad_segs=4)
    else:
        shape = pixel_lines
    import rasterio.features  # deferred: a build with nothing to draw needs no rasterio
    from affine import Affine

    burnt = rasterio.features.rasterize(
        [(shape, 1)],
        out_shape=grid.shape,
        transform=Affine.identity(),
        fill=0,
        all_touched=False,
        dtype="uint8",
    )
    return burnt.astype(bool)


def _to_pixel_space(geometry: BaseGeometry, transform: Affine) -> BaseGeometry:
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




# The overlay ---------------------------------------------------------------------------------


class Borders(Overlay):
    """``overlays.borders``: the region's border layers, each a halo then a line, in layer order."""

    name = "borders"

    def __init__(self) -> None:
        super().__init__()
        # (mask, palette index), in drawing order; as bits in the painting tasks sent to workers
        self.masks: list[tuple[Bitmask, int]] = []

    def prepare(self, context: OverlayContext) -> Request | None:
        if context.settings.borders:
            self.masks = [
                (Bitmask(mask), index) for mask, index in border_masks(context.border_layers, context.grid, context.palette)
            ]
        return None  # lines are drawn where they are: no box to place

    def paint(self, frame: np.ndarray, index: int, label: str | None) -> None:
        for mask, palette_index in self.masks:
            burn(frame, mask.array, palette_index)


def border_masks(layers: Sequence[BorderLayer], grid: Grid, palette: Palette) -> list[tuple[np.ndarray, int]]:
    """(mask, palette index) of every layer's halo then line, in layer order."""
    default_width = border_width_px(max(grid.width, grid.height))
    masks: list[tuple[np.ndarray, int]] = []
    for number, layer in enumerate(layers, start=1):
        line, halo = _layer_masks(layer.geometry, grid, layer.width or default_width, layer.halo_width if layer.halo else 0)
        if halo is not None:
            masks.append((halo, palette.index(halo_entry(number))))
        masks.append((line, palette.index(border_entry(number))))
    return masks


@buildcache.per_build
def _layer_masks(geometry: BaseGeometry, grid: Grid, width: int, halo_width: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A border layer's line mask and halo mask (None: no halo), once per build for each grid."""
    lines = project(boundary_lines(geometry), grid.crs)
    line = line_mask(lines, grid, width)
    halo = line_mask(lines, grid, width + 2 * halo_width) & ~line if halo_width else None
    for mask in (line, halo):
        if mask is not None:
            mask.flags.writeable = False  # shared by the animations of the build
    return line, halo
