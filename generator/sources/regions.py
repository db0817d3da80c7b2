"""Regions of interest: GeoJSON (path, URL or inline) or a bbox → shapely geometry in lon/lat.

Owns: reading and validating a region's outline and its optional border overlay layers. A
FeatureCollection region is the union of its features. Every problem is a ``RegionError`` naming
the config file, the dotted key and the GeoJSON source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from generator.core.colors import DEFAULT_BORDER_COLOR
from generator.core.errors import RegionError
from generator.core.paths import is_url
from generator.core.redaction import public_url
from generator.core.specs import GeoJsonRef, RegionSpec

POLYGONAL = ("Polygon", "MultiPolygon")  # the geometry types that outline an area
_LINEAR = ("LineString", "MultiLineString")
_GEOMETRY_TYPES = {
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection",
}


@dataclass(frozen=True)
class BorderLayer:
    """One border overlay layer in lon/lat, with how it is drawn.

    ``width`` is in output pixels (None: grows with the frame); ``halo`` is the colour of an
    outline ``halo_width`` px wide on each side of the line, so thin lines read over any data.
    """

    geometry: BaseGeometry
    color: str = DEFAULT_BORDER_COLOR
    width: int | None = None
    halo: str | None = None
    halo_width: int = 1
    attribution: str | None = None  # who to credit for the lines, drawn and published with them


@dataclass(frozen=True)
class Region:
    """A region ready for rendering: outline (lon/lat, EPSG:4326) and optional border layers.

    ``borders`` is every layer's geometry in one collection (None without layers), for code
    that draws all borders alike; ``border_layers`` keeps each layer with its own styling.
    """

    id: str
    title: str
    geometry: BaseGeometry
    borders: BaseGeometry | None = None
    border_layers: tuple[BorderLayer, ...] = ()

    @property
    def border_credit(self) -> str | None:
        """The border layers' attributions, each once, in layer order (None when none has one)."""
        credits = dict.fromkeys(layer.attribution for layer in self.border_layers if layer.attribution)
        return " · ".join(credits) or None


def _fetch(location: str, where: str) -> str:
    """One retried, size-limited fetch per URL and process (requests loads with the first one)."""
    import requests

    from generator.sources.http import describe_error, fetch_text_cached

    try:
        return fetch_text_cached(location)
    except requests.RequestException as error:
        raise RegionError(f"{where}: cannot read GeoJSON {public_url(location)}: {describe_error(error)}") from None


def _read_geojson(ref: GeoJsonRef, where: str) -> dict[str, Any]:
    if ref.inline is not None:
        return dict(ref.inline)
    location = ref.location
    assert location is not None  # a ref is inline or has a location
    try:
        if is_url(location) and not location.startswith("file://"):
            text = _fetch(location, where)
        else:
            text = Path(location.removeprefix("file://")).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegionError(f"{where}: GeoJSON file not found: {public_url(location)}") from None
    except OSError as error:
        raise RegionError(f"{where}: cannot read GeoJSON {public_url(location)}: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RegionError(
            f"{where}: {public_url(location)} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    except RecursionError:
        raise RegionError(f"{where}: {location} is nested too deeply to be GeoJSON") from None
    if not isinstance(data, dict):
        raise RegionError(f"{where}: {public_url(location)} is not a GeoJSON object")
    return data


def _geometries(data: dict[str, Any], where: str) -> list[BaseGeometry]:
    """Every geometry in a Feature, FeatureCollection or bare geometry object."""
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise RegionError(f"{where}: FeatureCollection without a `features` list")
        found: list[BaseGeometry] = []
        for index, feature in enumerate(features):
            found += _geometries(feature, f"{where} (feature {index})") if isinstance(feature, dict) else []
        return found
    if kind == "Feature":
        geometry = data.get("geometry")
        return _geometries(geometry, where) if geometry else []
    if kind in _GEOMETRY_TYPES:
        try:
            return [_polygonal(data) or shape(data)]
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
            raise RegionError(f"{where}: invalid {kind} coordinates ({error})") from None
        except shapely.errors.GEOSException as error:
            raise RegionError(f"{where}: invalid {kind} coordinates ({error})") from None
    raise RegionError(
        f"{where}: not GeoJSON (type {kind!r}); expected a Feature, FeatureCollection or geometry"
    )


def _polygonal(data: dict[str, Any]) -> BaseGeometry | None:
    """A GeoJSON (Multi)Polygon made from its rings as arrays; None for anything else.

    What shapely's ``shape`` makes, without its walk over every point of every ring in Python:
    half the time for France's 96 départements. Coordinates that are not a plain array of points
    give None, and ``shape`` then raises (or not) as it always did.
    """
    kind, coordinates = data.get("type"), data.get("coordinates")
    try:
        if kind == "Polygon":
            return _polygon(coordinates)
        if kind == "MultiPolygon" and isinstance(coordinates, list) and coordinates:
            return shapely.MultiPolygon([_polygon(rings) for rings in coordinates])
    except (ValueError, TypeError, shapely.errors.GEOSException):
        return None
    return None


def _polygon(rings: object) -> shapely.Polygon:
    if not isinstance(rings, list) or not rings:
        raise ValueError("no rings")
    arrays = [np.asarray(ring, dtype=np.float64) for ring in rings]
    if any(ring.ndim != 2 or ring.shape[1] not in (2, 3) for ring in arrays):
        raise ValueError("a ring is not a list of positions")
    return shapely.Polygon(arrays[0], arrays[1:])


def _check_lonlat(geometry: BaseGeometry, where: str) -> None:
    west, south, east, north = geometry.bounds
    if west < -180.5 or east > 180.5 or south < -90.5 or north > 90.5:
        raise RegionError(
            f"{where}: coordinates {geometry.bounds} are not longitude/latitude degrees; "
            "GeoJSON must be in WGS 84 (EPSG:4326)"
        )


def region_outline(data: dict[str, Any], where: str) -> BaseGeometry:
    """The union of every polygon in a GeoJSON object, validated."""
    parts = _geometries(data, where)
    polygons = [part for part in parts if part.geom_type in POLYGONAL and not part.is_empty]
    if not polygons:
        kinds = sorted({part.geom_type for part in parts})
        found = f" (found only {', '.join(kinds)})" if kinds else ""
        raise RegionError(f"{where}: no Polygon or MultiPolygon in the GeoJSON{found}; a region needs an area")
    for polygon in polygons:
        if not polygon.is_valid:
            raise RegionError(
                f"{where}: invalid polygon ({explain_validity(polygon)}); fix the GeoJSON, "
                "e.g. with shapely.make_valid or `ogr2ogr -makevalid`"
            )
    outline = shapely.unary_union(polygons)
    _check_lonlat(outline, where)
    if outline.is_empty or outline.area == 0:
        raise RegionError(f"{where}: the region's polygons have no area")
    return outline


def border_geometry(data: dict[str, Any], where: str) -> BaseGeometry:
    """Polygons and lines of a border overlay, as one geometry collection (lines kept as lines)."""
    parts = [
        part
        for part in _geometries(data, where)
        if part.geom_type in POLYGONAL + _LINEAR and not part.is_empty
    ]
    if not parts:
        raise RegionError(f"{where}: no polygons or lines to draw as borders")
    collection = shapely.GeometryCollection(parts)
    _check_lonlat(collection, where)
    return collection


def load_region(spec: RegionSpec) -> Region:
    """Load one ``regions[i]`` entry into a ``Region``."""
    prefix = spec.where
    if spec.bbox is not None:
        west, south, east, north = spec.bbox
        outline: BaseGeometry
        if west > east:
            # Crosses the antimeridian (GeoJSON/STAC convention): two boxes split at ±180°, so the
            # outline stays valid lon/lat for searches; rendering unwraps it (render.unwrap_antimeridian).
            outline = shapely.MultiPolygon([box(west, south, 180.0, north), box(-180.0, south, east, north)])
        else:
            outline = box(west, south, east, north)
    else:
        assert spec.geometry is not None
        where = f"{prefix}.geometry ({spec.geometry.label})"
        outline = region_outline(_read_geojson(spec.geometry, where), where)
    layers = load_border_layers(spec)
    borders = shapely.GeometryCollection([layer.geometry for layer in layers]) if layers else None
    return Region(id=spec.id, title=spec.title, geometry=outline, borders=borders, border_layers=layers)


def load_border_layers(spec: RegionSpec) -> tuple[BorderLayer, ...]:
    """``borders:`` as layers: a single GeoJSON (path, URL, inline) is one default layer."""
    prefix = spec.where
    if spec.borders is None:
        return ()
    if isinstance(spec.borders, GeoJsonRef):
        where = f"{prefix}.borders ({spec.borders.label})"
        return (BorderLayer(border_geometry(_read_geojson(spec.borders, where), where)),)
    layers = []
    for number, layer in enumerate(spec.borders):
        where = f"{prefix}.borders[{number}].geometry ({layer.geometry.label})"
        geometry = border_geometry(_read_geojson(layer.geometry, where), where)
        layers.append(
            BorderLayer(geometry, layer.color, layer.width, layer.halo_color, layer.halo_width, layer.attribution)
        )
    return tuple(layers)


def load_regions(specs: Iterable[RegionSpec]) -> dict[str, Region]:
    """Load every region; all problems are reported together."""
    regions: dict[str, Region] = {}
    problems: list[str] = []
    for spec in specs:
        try:
            regions[spec.id] = load_region(spec)
        except RegionError as error:
            problems += error.problems
    if problems:
        raise RegionError(problems)
    return regions
