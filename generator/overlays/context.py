"""Geographic context: Natural Earth coastlines and country borders around and across the data.

``render.overlays.context`` lists the layers (``coastline``, ``countries``); without a
basemap the plan turns on coastline and countries by default, so a frame shows where its region
lies even offline (a basemap's tiles already show it). The layers come from the data shipped
with the package (``generator.sources.geodata``), are taken only inside the lon/lat boxes that
cover the grid, then projected into the grid's CRS (any CRS, across the antimeridian too) and
rasterized once per animation into masks, like the region's borders. Lines are thin (half a
border line's width) and muted, drawn before (so under) the region's own borders.

There is no land fill: outside the region the frame is transparent and takes the page's colour,
light or dark, which no single land tint suits, and the coastline already tells land from sea.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import shapely
from shapely.affinity import translate
from shapely.geometry.base import BaseGeometry

from generator.core import buildcache
from generator.core.bitmask import Bitmask
from generator.core.colors import CONTEXT_ENTRIES
from generator.core.model import Grid
from generator.overlays.base import Overlay, OverlayContext, border_width_px
from generator.overlays.borders import burn, line_mask
from generator.overlays.layout import Request
from generator.render.grid import transformer as _transformer  # one per pair of CRSs, shared with the grid's
from generator.render.palette import Palette
from generator.sources import geodata
from generator.sources.geodata import Box, LineLayer

#: The layers, in drawing order (later ones over earlier ones).
LAYERS: tuple[LineLayer, ...] = ("countries", "coastline")
#: Points along each edge of the grid (and per side of the interior lattice) whose lon/lat bound
#: the boxes the layers are taken from.
EDGE_SAMPLES = 64
INTERIOR_SAMPLES = 16
#: Room added around the sampled lon/lat extent (share of it, plus degrees), so a line bulging
#: between samples is still taken; the frame edge clips it in pixels anyway.
BOX_MARGIN_SHARE = 0.05
BOX_MARGIN_DEG = 0.5
#: A grid spanning more longitude than this takes the whole world.
WHOLE_WORLD_DEG = 300.0
DENSIFY_DEG = 0.25  # like the region's outline: long straight segments bend with the projection
WORLD_SPAN_3857 = 2 * np.pi * 6378137.0


def context_width_px(grid: Grid) -> int:
    """Context lines are half as thick as the region's borders (1 px up to 1500-px frames)."""
    return max(1, border_width_px(max(grid.width, grid.height)) // 2)


@buildcache.per_build
def lonlat_boxes(grid: Grid) -> tuple[Box, ...]:
    """Lon/lat boxes (within −180…180, at most two: one each side of the antimeridian) covering
    ``grid``; once per build for each grid (each of its animations and context layers asks)."""
    rows = np.linspace(0, grid.height, EDGE_SAMPLES + 1)
    columns = np.linspace(0, grid.width, EDGE_SAMPLES + 1)
    lattice_r, lattice_c = np.meshgrid(
        np.linspace(0, grid.height, INTERIOR_SAMPLES + 1), np.linspace(0, grid.width, INTERIOR_SAMPLES + 1)
    )
    pixel_c = np.concatenate([columns, columns, np.zeros_like(rows), np.full_like(rows, grid.width), lattice_c.ravel()])
    pixel_r = np.concatenate([np.zeros_like(columns), np.full_like(columns, grid.height), rows, rows, lattice_r.ravel()])
    t = grid.transform
    x, y = t.c + t.a * pixel_c + t.b * pixel_r, t.f + t.d * pixel_c + t.e * pixel_r
    with np.errstate(all="ignore"):
        lon, lat = _transformer(grid.crs, "EPSG:4326").transform(x, y)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    finite = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0)
    if not finite.any():
        return ()
    lon, lat = lon[finite], lat[finite]
    south, north = float(lat.min()), float(lat.max())
    poles = [pole for pole in (90.0, -90.0) if _inside(grid, 0.0, pole)]
    south, north = min([south, *poles]), max([north, *poles])
    pad = BOX_MARGIN_SHARE * (north - south) + BOX_MARGIN_DEG
    south, north = max(-90.0, south - pad), min(90.0, north + pad)
    west, span = _lon_extent(lon)
    if poles or span > WHOLE_WORLD_DEG:
        return ((-180.0, south, 180.0, north),)
    pad = BOX_MARGIN_SHARE * span + BOX_MARGIN_DEG
    west, east = west - pad, west + span + pad
    if east - west >= 360.0:
        return ((-180.0, south, 180.0, north),)
    if east > 180.0:
        return ((west, south, 180.0, north), (-180.0, south, east - 360.0, north))
    if west < -180.0:
        return ((west + 360.0, south, 180.0, north), (-180.0, south, east, north))
    return ((west, south, east, north),)


def _lon_extent(lon: np.ndarray) -> tuple[float, float]:
    """(west, span): the shortest arc of longitudes holding every ``lon``; west in −180…180."""
    ordered = np.unique(((lon + 180.0) % 360.0) - 180.0)
    gaps = np.diff(np.concatenate([ordered, ordered[:1] + 360.0]))
    widest = int(np.argmax(gaps))
    west = float(ordered[(widest + 1) % len(ordered)])
    return west, float(360.0 - gaps[widest])


def _inside(grid: Grid, lon: float, lat: float) -> bool:
    with np.errstate(all="ignore"):
        x, y = _transformer("EPSG:4326", grid.crs).transform(lon, lat)
    if not (np.isfinite(x) and np.isfinite(y)):
        return False
    west, south, east, north = grid.bounds
    return bool(west <= x <= east and south <= y <= north)


@lru_cache(maxsize=32)  # parsing a CRS and asking for its EPSG code is slow; every layer asks again
def _world_period(crs: str) -> float | None:
    """How far apart copies of the world sit along x, for CRSs where the world repeats."""
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    if parsed.is_geographic:
        return 360.0
    if parsed.to_epsg() == 3857:
        return WORLD_SPAN_3857
    return None


def to_grid(geometry: BaseGeometry, grid: Grid) -> BaseGeometry:
    """A lon/lat geometry in ``grid.crs``; parts that do not project (beyond the horizon) are dropped.

    Where the world repeats along x (geographic CRSs, Web Mercator) and the grid reaches past
    ±180°, copies one world over are added, so a grid across the antimeridian gets both sides.
    """
    if geometry.is_empty:
        return geometry
    transformer = _transformer("EPSG:4326", grid.crs)

    def forward(xy: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    projected = shapely.transform(shapely.segmentize(geometry, DENSIFY_DEG), forward)
    parts = [part for part in shapely.get_parts(projected) if np.isfinite(shapely.get_coordinates(part)).all()]
    period = _world_period(grid.crs)
    if period is not None:
        west, _, east, _ = grid.bounds
        shifts = [shift for shift, needed in ((-period, west < -period / 2), (period, east > period / 2)) if needed]
        parts += [translate(part, xoff=shift) for shift in shifts for part in parts]
    return shapely.MultiLineString([part for part in parts if isinstance(part, shapely.LineString)])


def context_masks(layers: Sequence[str], grid: Grid, palette: Palette) -> list[tuple[str, np.ndarray, int]]:
    """(layer, mask, palette index) of each wanted layer, in drawing order (:data:`LAYERS`)."""
    boxes = lonlat_boxes(grid)
    if not boxes:
        return []
    return [(layer, _context_mask(layer, grid), palette.index(CONTEXT_ENTRIES[layer])) for layer in LAYERS if layer in layers]


@buildcache.per_build
def _context_mask(layer: LineLayer, grid: Grid) -> np.ndarray:
    """One context layer's lines on ``grid``, once per build for each grid."""
    mask = line_mask(to_grid(geodata.lines(layer, lonlat_boxes(grid)), grid), grid, context_width_px(grid))
    mask.flags.writeable = False  # shared by the animations of the build
    return mask


class Context(Overlay):
    """``overlays.context``: Natural Earth layers under the region's borders."""

    name = "context"

    def __init__(self) -> None:
        super().__init__()
        self.masks: list[tuple[str, Bitmask, int]] = []  # as bits in the painting tasks sent to workers

    def prepare(self, context: OverlayContext) -> Request | None:
        layers = tuple(context.settings.context or ())
        if layers:
            self.masks = [
                (layer, Bitmask(mask), index) for layer, mask, index in context_masks(layers, context.grid, context.palette)
            ]
        return None  # drawn where the geography is: no box to place

    def paint(self, frame: np.ndarray, index: int, label: str | None) -> None:
        for _, mask, palette_index in self.masks:
            burn(frame, mask.array, palette_index)


__all__ = ["LAYERS", "Context", "context_masks", "context_width_px", "lonlat_boxes", "to_grid"]
