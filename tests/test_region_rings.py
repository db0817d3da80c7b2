"""Region and border polygons are made from their rings as arrays: the very geometries shapely's
``shape`` makes, and the same errors for coordinates that are not polygons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from generator.core.errors import RegionError
from generator.sources.regions import border_geometry, region_outline

REGIONS = Path(__file__).resolve().parents[1] / "regions"

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
HOLE = [[2, 2], [2, 4], [4, 4], [4, 2], [2, 2]]
POLYGONS = {
    "polygon": {"type": "Polygon", "coordinates": [SQUARE]},
    "with a hole": {"type": "Polygon", "coordinates": [SQUARE, HOLE]},
    "floats": {"type": "Polygon", "coordinates": [[[0.5, 1.25], [3.0, 1.25], [3.0, 7.125], [0.5, 1.25]]]},
    "three dimensions": {"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 6], [0, 0, 5]]]},
    "ring not closed": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},
    "multipolygon": {
        "type": "MultiPolygon",
        "coordinates": [[SQUARE, HOLE], [[[20, 20], [30, 20], [30, 30], [20, 20]]]],
    },
}


def wkb(geometry: shapely.Geometry) -> bytes:
    return shapely.to_wkb(geometry, output_dimension=3)


@pytest.mark.parametrize("geometry", POLYGONS.values(), ids=POLYGONS.keys())
def test_a_polygon_is_what_shapely_makes_of_it(geometry: dict[str, Any]) -> None:
    feature = {"type": "Feature", "properties": {}, "geometry": geometry}
    made = border_geometry({"type": "FeatureCollection", "features": [feature]}, "test")
    assert [wkb(part) for part in made.geoms] == [wkb(shape(geometry))]


def test_france_and_its_departements_are_what_shapely_makes_of_them() -> None:
    for name in ("france.geojson", "france-borders.geojson"):
        data = json.loads((REGIONS / name).read_text(encoding="utf-8"))
        features = data["features"] if data["type"] == "FeatureCollection" else [data]
        expected = [wkb(shape(feature["geometry"])) for feature in features]
        assert [wkb(part) for part in border_geometry(data, name).geoms] == expected
    outline = region_outline(json.loads((REGIONS / "france.geojson").read_text(encoding="utf-8")), "France")
    assert outline.is_valid and outline.geom_type in ("Polygon", "MultiPolygon")


ODD = {
    "ragged positions": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0, 2], [1, 1], [0, 0]]]},
    "a ring of one position": {"type": "Polygon", "coordinates": [[[0, 0]]]},
    "numbers for rings": {"type": "Polygon", "coordinates": [0, 1, 2]},
    "positions of one number": {"type": "Polygon", "coordinates": [[[0], [1], [2], [0]]]},
    "no rings": {"type": "Polygon", "coordinates": []},
    "empty multipolygon": {"type": "MultiPolygon", "coordinates": []},
    "text": {"type": "Polygon", "coordinates": [[["a", "b"], ["c", "d"], ["e", "f"], ["a", "b"]]]},
}


@pytest.mark.parametrize("geometry", ODD.values(), ids=ODD.keys())
def test_odd_coordinates_end_as_shapely_ends_them(geometry: dict[str, Any]) -> None:
    """Either the same geometry as ``shape``'s or, where ``shape`` fails, a ``RegionError``."""
    try:
        expected = shape(geometry)
    except Exception:  # whatever shapely raises, the region is refused
        with pytest.raises(RegionError, match="invalid Polygon coordinates|invalid MultiPolygon coordinates"):
            border_geometry(geometry, "test")
        return
    if expected.is_empty:
        with pytest.raises(RegionError, match="no polygons or lines"):
            border_geometry(geometry, "test")
        return
    assert [wkb(part) for part in border_geometry(geometry, "test").geoms] == [wkb(expected)]
