"""Natural Earth shipped with the package: coastlines, country borders and land, read once.

Owns reading ``generator/geodata/`` (TopoJSON of Natural Earth 4.1.0 via the world-atlas
package; sources and licenses in its README) and decoding it: quantized, delta-encoded arcs and
the transform that turns them into lon/lat. In the 1:50m countries topology every edge is one
arc, so the layers come out exact and each edge once: an arc used by one country is coastline,
an arc shared by two countries is a land border. The 1:110m land fills the locator globe. The
topology stitches polygons and arcs across the antimeridian; they come back cut at ±180°, so
every part stays within −180…180. Files are read once per process (cached); callers ask for
the lines inside a few lon/lat boxes, so a small region costs little. Everything is lon/lat
(EPSG:4326), never projected here.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapely
from shapely.affinity import translate
from shapely.geometry.base import BaseGeometry

GEODATA = Path(__file__).resolve().parents[1] / "geodata"
COUNTRIES_50M = "countries-50m.json.gz"
LAND_110M = "land-110m.json.gz"
#: What frames credit for the context layers (Natural Earth asks for no credit, but welcomes it).
CREDIT = "Natural Earth"

#: Lines this close to a pole are the edge of Antarctica's polygon in lon/lat, not a coast.
POLE_EDGE = 89.9

#: A lon/lat box: west, south, east, north, with west ≤ east (a box never crosses ±180°).
Box = tuple[float, float, float, float]
LineLayer = Literal["coastline", "countries"]


@dataclass(frozen=True, eq=False)
class Topology:
    """A decoded TopoJSON topology: each arc as lon/lat points, with its bounds."""

    arcs: tuple[np.ndarray, ...]  # (n, 2) float64 lon/lat per arc
    bounds: np.ndarray  # (arcs, 4): west, south, east, north
    objects: Mapping[str, Any]

    def ring(self, refs: Sequence[int]) -> np.ndarray:
        """The points of a ring made of arcs ``refs`` (``~i``: arc ``i`` reversed), joined."""
        parts = []
        for position, ref in enumerate(refs):
            points = self.arcs[ref] if ref >= 0 else self.arcs[~ref][::-1]
            parts.append(points if position == 0 else points[1:])  # arcs share their end points
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    def polygons(self, name: str) -> list[shapely.Polygon]:
        """Every polygon of the object ``name`` (a GeometryCollection of (Multi)Polygons).

        A polygon across the antimeridian (the topology stitches them: Russia, Fiji, Antarctica)
        comes back cut at ±180° into polygons that each stay within −180…180.
        """
        found: list[shapely.Polygon] = []
        for polygon in _polygon_arcs(self.objects[name]):
            rings = [self.ring(refs) for refs in polygon]
            rings = [ring for ring in rings if len(ring) >= 4]
            if rings:
                found.extend(_within_world(rings))
        return found


def _crosses(points: np.ndarray) -> bool:
    return bool(len(points) > 1 and np.any(np.abs(np.diff(points[:, 0])) > 180))


def _unwrapped(points: np.ndarray) -> np.ndarray:
    return np.column_stack([np.unwrap(points[:, 0], period=360), points[:, 1]])


def _shifts(west: float, east: float) -> range:
    """The multiples of 360° by which parts of [west, east] lie outside −180…180."""
    return range(int(np.floor((west + 180) / 360)), int(np.floor((east + 180) / 360)) + 1)


def _within_world(rings: Sequence[np.ndarray]) -> list[shapely.Polygon]:
    """A polygon (exterior, holes) as polygons within −180…180, cut at the antimeridian."""
    if not any(_crosses(ring) for ring in rings):
        polygon = shapely.Polygon(rings[0], rings[1:])
        return [polygon] if polygon.is_valid else _polygons_of(shapely.make_valid(polygon))
    exterior = _unwrapped(rings[0])
    if abs(exterior[-1, 0] - exterior[0, 0]) > 180:  # it goes round a pole: close it over the pole
        pole = -90.0 if exterior[:, 1].mean() < 0 else 90.0
        exterior = np.vstack([exterior, [[exterior[-1, 0], pole], [exterior[0, 0], pole]], exterior[:1]])
    centre = (exterior[:, 0].min() + exterior[:, 0].max()) / 2
    holes = []
    for ring in rings[1:]:
        hole = _unwrapped(ring)
        hole[:, 0] += 360 * np.round((centre - hole[:, 0].mean()) / 360)
        holes.append(hole)
    stitched = shapely.make_valid(shapely.Polygon(exterior, holes))
    west, _, east, _ = stitched.bounds
    found: list[shapely.Polygon] = []
    for turn in _shifts(west, east):
        shift = 360.0 * turn
        part = shapely.clip_by_rect(stitched, -180 + shift, -90, 180 + shift, 90)
        found.extend(_polygons_of(translate(part, xoff=-shift)))
    return found


def _polygons_of(geometry: BaseGeometry) -> list[shapely.Polygon]:
    return [part for part in shapely.get_parts(geometry) if part.geom_type == "Polygon" and not part.is_empty]


def _line_pieces(points: np.ndarray) -> list[np.ndarray]:
    """An arc as lines within −180…180, cut (not broken) where it crosses the antimeridian."""
    if not _crosses(points):
        return [points]
    line = shapely.LineString(_unwrapped(points))
    west, _, east, _ = line.bounds
    pieces = []
    for turn in _shifts(west, east):
        shift = 360.0 * turn
        part = shapely.clip_by_rect(line, -180 + shift, -90, 180 + shift, 90)
        for piece in shapely.get_parts(shapely.line_merge(part)):
            if piece.geom_type == "LineString" and not piece.is_empty:
                pieces.append(shapely.get_coordinates(piece) - (shift, 0))
    return pieces


def decode(topology: Mapping[str, Any]) -> Topology:
    """Arcs of a (quantized) TopoJSON topology in lon/lat.

    All arcs are decoded at once into one flat array (a world's 2000 arcs would otherwise cost
    thousands of small numpy calls); each arc is a read-only view of it. The values are those of
    decoding each arc alone: quantized deltas are whole numbers, so their running sums are exact.
    """
    raw_arcs = topology["arcs"]
    counts = np.fromiter((len(arc) for arc in raw_arcs), dtype=np.int64, count=len(raw_arcs))
    values = chain.from_iterable(chain.from_iterable(raw_arcs))
    dtype = np.float64 if topology.get("transform") is None else np.int64
    numbers = np.fromiter(values, dtype=dtype, count=2 * int(counts.sum()))
    return _decoded(topology, counts, numbers)


def _decoded(topology: Mapping[str, Any], counts: np.ndarray, numbers: np.ndarray) -> Topology:
    """The topology from its arcs' point counts and their numbers, in order (whole-number deltas
    when quantized, else lon/lat)."""
    transform = topology.get("transform")
    starts = np.cumsum(counts) - counts
    if transform is None:
        flat = numbers.astype(np.float64).reshape(-1, 2)
    else:
        running = np.cumsum(numbers.reshape(-1, 2), axis=0)
        # Each arc's running sum starts afresh: take away the total of the arcs before it.
        before = np.zeros((len(counts), 2), dtype=np.int64)
        later = starts > 0
        before[later] = running[starts[later] - 1]
        absolute = (running - np.repeat(before, counts, axis=0)).astype(np.float64)
        flat = absolute * transform["scale"] + transform["translate"]
    flat.flags.writeable = False
    arcs = tuple(flat[start : start + count] for start, count in zip(starts.tolist(), counts.tolist(), strict=True))
    return Topology(arcs=arcs, bounds=_arc_bounds(flat, starts, counts), objects=topology["objects"])


#: A quantized topology's arcs as the shipped files write them: whole numbers and brackets only.
_QUANTIZED_ARCS = re.compile(r"\[[\[\]0-9,-]*\]")
_NO_BRACKETS = str.maketrans("", "", "[]")


def parse_topology(text: str) -> Topology:
    """:func:`decode` of a TopoJSON text, its quantized arcs read by numpy.

    Most of a world topology is its arcs: 160,000 small numbers that ``json`` would make into
    as many Python objects in lists (and the collector would then walk them all), for
    :func:`decode` to flatten again. The rest of the document is read by ``json`` key by key and
    the arcs, found among the top-level keys, are read by numpy in one go; the numbers are the
    same. A text this does not recognise (arcs not quantized, spaces or anything else in them)
    is read by ``json`` whole.
    """
    found = _split_arcs(text)
    if found is None:
        return decode(json.loads(text))
    document, arcs = found
    inner = arcs[1:-1]
    if not inner:
        return _decoded(document, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if not (inner.startswith("[[") and inner.endswith("]]")):
        return decode(json.loads(text))
    # Arcs are separated by "]],[[" and their points by "],[" (no spaces: _QUANTIZED_ARCS).
    counts = np.array([arc.count("],[") + 1 for arc in inner[2:-2].split("]],[[")], dtype=np.int64)
    try:
        numbers = np.fromstring(inner.translate(_NO_BRACKETS), dtype=np.int64, sep=",")
    except ValueError:  # an empty arc or point, a stray comma: json says what is wrong
        return decode(json.loads(text))
    if len(numbers) != 2 * int(counts.sum()):  # a point that is not a pair (or numbers left unread)
        return decode(json.loads(text))
    return _decoded(document, counts, numbers)


def _split_arcs(text: str) -> tuple[dict[str, Any], str] | None:
    """The top-level object without ``arcs``, and the text of its quantized ``arcs``; None when
    the text is not such a topology (let ``json`` read it, or say what is wrong with it)."""
    decoder = json.JSONDecoder()
    document: dict[str, Any] = {}
    arcs = None
    try:
        at = _blank_end(text, 0)
        if text[at] != "{":
            return None
        at = _blank_end(text, at + 1)
        while text[at] != "}":
            key, at = decoder.raw_decode(text, at)
            at = _blank_end(text, at)
            if not isinstance(key, str) or text[at] != ":":
                return None
            at = _blank_end(text, at + 1)
            if key == "arcs":
                match = _QUANTIZED_ARCS.match(text, at)
                if match is None or arcs is not None:
                    return None
                arcs, at = match.group(), match.end()
            else:
                document[key], at = decoder.raw_decode(text, at)
            at = _blank_end(text, at)
            if text[at] == ",":
                at = _blank_end(text, at + 1)
            elif text[at] != "}":
                return None
        if text[at + 1 :].strip():
            return None
    except (ValueError, IndexError):  # json.JSONDecodeError is a ValueError
        return None
    if arcs is None or "objects" not in document or document.get("transform") is None:
        return None
    return document, arcs


def _blank_end(text: str, at: int) -> int:
    while text[at] in " \t\r\n":
        at += 1
    return at


def _arc_bounds(flat: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(west, south, east, north) of each arc of ``flat`` (inf, inf, −inf, −inf for an empty one)."""
    bounds = np.tile(np.array([np.inf, np.inf, -np.inf, -np.inf]), (len(counts), 1))
    full = counts > 0
    if full.any():
        bounds[full, :2] = np.minimum.reduceat(flat, starts[full], axis=0)
        bounds[full, 2:] = np.maximum.reduceat(flat, starts[full], axis=0)
    return bounds


def _polygon_arcs(value: Mapping[str, Any]) -> Iterator[list[list[int]]]:
    """The arc lists (one per ring) of every polygon in a TopoJSON geometry."""
    kind = value.get("type")
    if kind == "GeometryCollection":
        for geometry in value.get("geometries", ()):
            yield from _polygon_arcs(geometry)
    elif kind == "Polygon":
        yield value["arcs"]
    elif kind == "MultiPolygon":
        yield from value["arcs"]


@lru_cache(maxsize=4)
def read_topology(name: str) -> Topology:
    """The shipped file ``name`` (gzipped TopoJSON), decoded once per process."""
    with gzip.open(GEODATA / name, "rt", encoding="utf-8") as file:
        return parse_topology(file.read())


@dataclass(frozen=True, eq=False)
class Lines:
    """Polylines in lon/lat, each within −180…180, with their bounds."""

    lines: tuple[np.ndarray, ...]
    bounds: np.ndarray  # (lines, 4)

    @classmethod
    def of(cls, topology: Topology, arcs: np.ndarray) -> Lines:
        """The ``arcs`` of ``topology`` as lines, cut at the antimeridian, without the pole edges.

        Most arcs cross nothing: they are kept as they are, with the bounds the topology has
        for them; only the few that cross ±180° are cut piece by piece.
        """
        chosen = [topology.arcs[arc] for arc in arcs.tolist()]
        crosses, polar = _arc_flags(chosen)
        pieces: list[np.ndarray] = []
        bounds: list[np.ndarray] = []
        for arc, points, crossing, at_pole in zip(arcs.tolist(), chosen, crosses.tolist(), polar.tolist(), strict=True):
            if len(points) < 2:
                continue
            if not crossing:
                if not at_pole:
                    pieces.append(points)
                    bounds.append(topology.bounds[arc])
                continue
            for piece in _line_pieces(points):
                if len(piece) > 1 and np.abs(piece[:, 1]).min() < POLE_EDGE:
                    pieces.append(piece)
                    bounds.append(np.array([*piece.min(axis=0), *piece.max(axis=0)]))
        return cls(tuple(pieces), np.array(bounds, dtype=np.float64).reshape(-1, 4))


def _arc_flags(arcs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """For each arc: whether it crosses ±180° (as :func:`_crosses`), and whether all of it lies
    within :data:`POLE_EDGE` of a pole; worked out for all arcs at once."""
    sizes = np.fromiter((len(points) for points in arcs), dtype=np.int64, count=len(arcs))
    crosses = np.zeros(len(arcs), dtype=bool)
    polar = np.ones(len(arcs), dtype=bool)
    full = sizes > 0
    if not full.any():
        return crosses, polar
    flat = np.concatenate([points for points in arcs if len(points)])
    starts = (np.cumsum(sizes) - sizes)[full]
    jumps = np.zeros(len(flat), dtype=np.int64)
    jumps[:-1] = np.abs(np.diff(flat[:, 0])) > 180
    jumps[starts[1:] - 1] = 0  # from one arc's last point to the next arc's first: no jump
    crosses[full] = np.add.reduceat(jumps, starts) > 0
    polar[full] = np.minimum.reduceat(np.abs(flat[:, 1]), starts) >= POLE_EDGE
    return crosses, polar


@dataclass(frozen=True, eq=False)
class NaturalEarth:
    """The 1:50m lines: coastline (arcs of one country) and land borders (arcs shared by two)."""

    coastline: Lines
    countries: Lines


@lru_cache(maxsize=1)
def natural_earth() -> NaturalEarth:
    """The shipped 1:50m countries as coastline, border and land layers (read once)."""
    topology = read_topology(COUNTRIES_50M)
    users: list[set[int]] = [set() for _ in topology.arcs]
    uses = np.zeros(len(topology.arcs), dtype=np.int64)
    for number, country in enumerate(topology.objects["countries"]["geometries"]):
        for polygon in _polygon_arcs(country):
            for ring in polygon:
                for ref in ring:
                    arc = ref if ref >= 0 else ~ref
                    users[arc].add(number)
                    uses[arc] += 1
    owners = np.array([len(countries) for countries in users])
    return NaturalEarth(
        coastline=Lines.of(topology, np.flatnonzero((owners == 1) & (uses == 1))),
        countries=Lines.of(topology, np.flatnonzero(owners >= 2)),
    )


def _touching(bounds: np.ndarray, box: Box) -> np.ndarray:
    west, south, east, north = box
    return (bounds[:, 0] <= east) & (bounds[:, 2] >= west) & (bounds[:, 1] <= north) & (bounds[:, 3] >= south)


def lines(layer: LineLayer, boxes: Sequence[Box]) -> BaseGeometry:
    """The ``coastline`` or ``countries`` (land border) lines inside ``boxes``, clipped to them."""
    data = natural_earth()
    chosen = data.coastline if layer == "coastline" else data.countries
    parts: list[shapely.LineString] = []
    for box in boxes:
        touching = [chosen.lines[i] for i in np.flatnonzero(_touching(chosen.bounds, box))]
        if touching:
            clipped = shapely.clip_by_rect(shapely.MultiLineString(touching), *box)
            parts.extend(
                part for part in shapely.get_parts(clipped)
                if isinstance(part, shapely.LineString) and not part.is_empty
            )
    return shapely.MultiLineString(parts)


@lru_cache(maxsize=1)
def globe_land() -> tuple[shapely.Polygon, ...]:
    """The 1:110m land polygons (for the small locator globe), read once."""
    return tuple(read_topology(LAND_110M).polygons("land"))


__all__ = [
    "CREDIT", "Box", "LineLayer", "Lines", "NaturalEarth", "Topology", "decode", "globe_land", "lines", "natural_earth",
    "parse_topology", "read_topology",
]
