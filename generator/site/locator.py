"""The locator: a small orthographic globe, centred on a region, drawn as inline SVG.

Owns the projection maths and the SVG markup of the globe (sphere, land, graticule, region
outline). No network: the land is Natural Earth's 1:110m, shipped with the package
(``generator.sources.geodata``), and the outline comes from the region itself, so a page shows
where on Earth its animation is without any external map tiles or scripts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from generator.sources.geodata import globe_land

Ring = tuple[tuple[float, float], ...]

SIZE = 160  # SVG user units; CSS scales the drawing
RADIUS = 72.0
GRATICULE_STEP = 30  # degrees between graticule lines
SAMPLE_STEP = 3  # degrees between points along a graticule line
MIN_VISIBLE = 20.0  # SVG units: a region smaller than this on the globe also gets a marker ring
MAX_OUTLINE_POINTS = 400  # per region, after simplification: keeps pages small
#: Land is cut into cells this many degrees wide before projecting: a cell lies wholly on one
#: side of the horizon or straddles it by little, so pinning its hidden points to the rim
#: clips it closely, with no spherical clipping.
LAND_CELL_DEG = 10
LAND_DENSIFY_DEG = 2.0  # points along cell edges, so they bend with the globe
LAND_SIMPLIFY = 0.35  # SVG units (the globe is 144 across): finer detail only adds bytes


def outline_rings(geometry: BaseGeometry, max_points: int = MAX_OUTLINE_POINTS) -> tuple[Ring, ...]:
    """Exterior rings of a lon/lat (Multi)Polygon, simplified until they hold ≤ ``max_points``."""
    tolerance = 0.0
    while True:
        simplified = geometry.simplify(tolerance, preserve_topology=True) if tolerance else geometry
        # Counted on the geometry: only the simplification that is kept is made into rounded tuples.
        if _exterior_points(simplified) <= max_points or tolerance > 5:
            return tuple(_exterior_rings(simplified))
        tolerance = tolerance * 2 if tolerance else 0.01


def _exterior_points(geometry: BaseGeometry) -> int:
    """How many points :func:`_exterior_rings` yields for ``geometry``."""
    parts = getattr(geometry, "geoms", (geometry,))
    return sum(len(exterior.coords) for part in parts if (exterior := getattr(part, "exterior", None)) is not None)


def _exterior_rings(geometry: BaseGeometry) -> Iterator[Ring]:
    for part in getattr(geometry, "geoms", (geometry,)):
        exterior = getattr(part, "exterior", None)
        if exterior is None:
            continue
        yield tuple((round(float(x), 4), round(float(y), 4)) for x, y, *_ in exterior.coords)


def centre_of(rings: Sequence[Ring]) -> tuple[float, float]:
    """Centre (lon, lat) of the rings' bounding box; handles regions across the antimeridian."""
    points = [point for ring in rings for point in ring]
    if not points:
        return (0.0, 0.0)
    lons = [lon for lon, _ in points]
    lats = [lat for _, lat in points]
    if max(lons) - min(lons) > 180:  # crosses ±180°: measure on 0…360 instead
        lons = [lon % 360 for lon in lons]
    lon = (min(lons) + max(lons)) / 2
    lon = ((lon + 180) % 360) - 180
    return (lon, (min(lats) + max(lats)) / 2)


def project(lon: float, lat: float, centre: tuple[float, float]) -> tuple[float, float, bool]:
    """Orthographic projection on the unit disc: (x, y, visible), y pointing north."""
    lam, phi = math.radians(lon), math.radians(lat)
    lam0, phi0 = math.radians(centre[0]), math.radians(centre[1])
    x = math.cos(phi) * math.sin(lam - lam0)
    y = math.cos(phi0) * math.sin(phi) - math.sin(phi0) * math.cos(phi) * math.cos(lam - lam0)
    cos_c = math.sin(phi0) * math.sin(phi) + math.cos(phi0) * math.cos(phi) * math.cos(lam - lam0)
    return (x, y, cos_c >= 0)


def _to_svg(x: float, y: float) -> tuple[float, float]:
    return (SIZE / 2 + RADIUS * x, SIZE / 2 - RADIUS * y)


def _path(points: Sequence[tuple[float, float]], closed: bool) -> str:
    commands = [f"{'M' if i == 0 else 'L'}{x:.1f} {y:.1f}" for i, (x, y) in enumerate(points)]
    return "".join(commands) + ("Z" if closed else "")


def _visible_runs(line: Iterable[tuple[float, float]], centre: tuple[float, float]) -> list[list[tuple[float, float]]]:
    """The parts of a lon/lat polyline on the near side of the globe, in SVG units."""
    runs: list[list[tuple[float, float]]] = [[]]
    for lon, lat in line:
        x, y, visible = project(lon, lat, centre)
        if visible:
            runs[-1].append(_to_svg(x, y))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if len(run) > 1]


def graticule_lines() -> list[list[tuple[float, float]]]:
    """Meridians and parallels every ``GRATICULE_STEP`` degrees, as lon/lat polylines."""
    lines = []
    for lon in range(-180, 180, GRATICULE_STEP):
        lines.append([(float(lon), float(lat)) for lat in range(-90, 91, SAMPLE_STEP)])
    for lat in range(-90 + GRATICULE_STEP, 90, GRATICULE_STEP):
        lines.append([(float(lon), float(lat)) for lon in range(-180, 181, SAMPLE_STEP)])
    return lines


def _region_paths(rings: Sequence[Ring], centre: tuple[float, float]) -> tuple[list[str], list[tuple[float, float]]]:
    paths, points = [], []
    for ring in rings:
        projected = []
        for lon, lat in ring:
            x, y, visible = project(lon, lat, centre)
            if not visible:  # only for regions wider than a hemisphere: pin to the horizon
                norm = math.hypot(x, y) or 1.0
                x, y = x / norm, y / norm
            projected.append(_to_svg(x, y))
        if len(projected) >= 3:
            paths.append(_path(projected, closed=True))
            points.extend(projected)
    return paths, points


@lru_cache(maxsize=1)
def _land_cells() -> np.ndarray:
    """The 1:110m land cut into :data:`LAND_CELL_DEG` cells (lon/lat polygons), densified; made once."""
    land = np.array(globe_land(), dtype=object)
    step = LAND_CELL_DEG
    cells = np.array([
        shapely.box(west, south, west + step, south + step)
        for west in range(-180, 180, step) for south in range(-90, 90, step)
    ], dtype=object)
    cell_index, land_index = shapely.STRtree(land).query(cells, predicate="intersects")
    pieces = shapely.get_parts(shapely.intersection(cells[cell_index], land[land_index]))
    pieces = pieces[(shapely.get_type_id(pieces) == 3) & ~shapely.is_empty(pieces)]  # polygons only
    return np.asarray(shapely.segmentize(pieces, LAND_DENSIFY_DEG))


@lru_cache(maxsize=64)  # the pages of one region (and later builds) share its globe
def land_path(centre: tuple[float, float]) -> str:
    """SVG path data of the land on the near side of the globe centred on ``centre`` (even-odd fill)."""
    cells = _land_cells()
    coords = shapely.get_coordinates(cells)
    lam, phi = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    lam0, phi0 = math.radians(centre[0]), math.radians(centre[1])
    x = np.cos(phi) * np.sin(lam - lam0)
    y = math.cos(phi0) * np.sin(phi) - math.sin(phi0) * np.cos(phi) * np.cos(lam - lam0)
    visible = math.sin(phi0) * np.sin(phi) + math.cos(phi0) * np.cos(phi) * np.cos(lam - lam0) >= 0
    counts = shapely.get_num_coordinates(cells)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    shown = np.add.reduceat(visible, starts) > 0 if len(coords) else np.zeros(0, dtype=bool)
    norm = np.hypot(x, y)
    norm[norm == 0] = 1.0
    x = np.where(visible, x, x / norm)  # hidden points of a cell on the horizon: onto the rim
    y = np.where(visible, y, y / norm)
    svg = np.column_stack([SIZE / 2 + RADIUS * x, SIZE / 2 - RADIUS * y])
    projected = shapely.set_coordinates(cells.copy(), svg)  # the order of get_coordinates
    near = shapely.make_valid(projected[shown])
    land = shapely.simplify(shapely.union_all(near), LAND_SIMPLIFY)
    paths = []
    for polygon in shapely.get_parts(land):
        if polygon.geom_type != "Polygon" or polygon.area < 0.5:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            paths.append(_path([(float(px), float(py)) for px, py in ring.coords[:-1]], closed=True))
    return "".join(paths)


def locator_svg(rings: Sequence[Ring], label: str, element_id: str = "locator") -> str:
    """Inline SVG of the globe centred on ``rings``: land, graticule and the region outlined.

    ``label`` must already be HTML-escaped by the caller's template engine: this returns markup,
    so the caller passes it through ``markupsafe.escape`` (see ``pages.locator_markup``).
    """
    centre = centre_of(rings)
    graticule = [_path(run, closed=False) for line in graticule_lines() for run in _visible_runs(line, centre)]
    region_paths, points = _region_paths(rings, centre)
    marker = ""
    if points:
        xs, ys = [x for x, _ in points], [y for _, y in points]
        if max(max(xs) - min(xs), max(ys) - min(ys)) < MIN_VISIBLE:
            cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
            marker = f'<circle class="locator__marker" cx="{cx:.1f}" cy="{cy:.1f}" r="{MIN_VISIBLE / 2 + 3:.1f}"/>'
    centre_px = SIZE / 2
    return "".join(
        [
            f'<svg class="locator__svg" id="{element_id}-svg" viewBox="0 0 {SIZE} {SIZE}" '
            f'width="{SIZE}" height="{SIZE}" role="img" aria-labelledby="{element_id}-title" '
            'xmlns="http://www.w3.org/2000/svg">',
            f'<title id="{element_id}-title">{label}</title>',
            f'<circle class="locator__sphere" cx="{centre_px:.1f}" cy="{centre_px:.1f}" r="{RADIUS:.1f}"/>',
            f'<path class="locator__land" fill-rule="evenodd" d="{land_path(centre)}"/>',
            f'<path class="locator__graticule" d="{"".join(graticule)}"/>',
            *(f'<path class="locator__region" d="{d}"/>' for d in region_paths),
            marker,
            f'<circle class="locator__rim" cx="{centre_px:.1f}" cy="{centre_px:.1f}" r="{RADIUS:.1f}"/>',
            "</svg>",
        ]
    )
