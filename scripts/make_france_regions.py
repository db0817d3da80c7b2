"""Derive the demo's France regions from IGN's départements (run by hand, output committed).

    python scripts/make_france_regions.py france-departements.geojson

reads the 96 départements of metropolitan France (IGN Admin Express via the france-geojson
project, Licence Ouverte / Etalab, attribution "IGN") and writes into ``regions/``:

* ``france-borders.geojson``: the départements simplified as one coverage (GEOS
  ``coverage_simplify``), so every shared border is simplified once and both neighbours keep
  exactly the same vertices; coordinates rounded to 1e-4° (about 10 m);
* ``france.geojson``: their union, the outline of metropolitan France with Corsica.

The simplification tolerance keeps every vertex within a fraction of a pixel of the original at
the demo's 512-px frames (about 2 km a pixel over France).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

#: Visvalingam–Whyatt tolerance of ``coverage_simplify`` in degrees (the square root of the area
#: of the triangles removed): at most about 1.7 km (median 0.8 km) from IGN's lines, under one 2-km pixel.
TOLERANCE_DEG = 0.008
DECIMALS = 4
SOURCE = "IGN Admin Express (via france-geojson), Licence Ouverte / Etalab"



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("departements", type=Path, help="the IGN départements GeoJSON")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "regions")
    args = parser.parse_args()

    features = json.loads(args.departements.read_text(encoding="utf-8"))["features"]
    features.sort(key=lambda feature: feature["properties"]["code"])
    geometries = [shape(feature["geometry"]) for feature in features]
    simplified = shapely.coverage_simplify(geometries, TOLERANCE_DEG)
    # RFC 7946: exterior rings counter-clockwise; orienting keeps every vertex, so shared edges stay equal.
    rounded = [
        shapely.orient_polygons(shapely.set_precision(g, 10.0**-DECIMALS, mode="pointwise"))
        for g in simplified
    ]
    if not all(geometry.is_valid for geometry in rounded):
        raise SystemExit("a simplified département is not valid: lower TOLERANCE_DEG")

    borders = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": f["properties"]["code"], "nom": f["properties"]["nom"]},
                "geometry": mapping(geometry),
            }
            for f, geometry in zip(features, rounded, strict=True)
        ],
    }
    outline = shapely.orient_polygons(shapely.coverage_union_all(rounded))
    france = {
        "type": "Feature",
        "properties": {"name": "France (metropolitan)", "source": SOURCE},
        "geometry": mapping(outline),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, document in (("france-borders.geojson", borders), ("france.geojson", france)):
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        (args.out / name).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out / name} ({len(text) // 1024} KB)")


if __name__ == "__main__":
    main()
