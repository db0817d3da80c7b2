"""Make the Natural Earth files shipped in ``generator/geodata/`` (run by hand, output committed).

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python scripts/make_geodata.py package/

reads the TopoJSON of the ``world-atlas`` npm package (ISC license, © Michael Bostock; the data
is Natural Earth 4.1.0, public domain) and writes into ``generator/geodata/``:

* ``countries-50m.json.gz``: the 1:50m countries, the topology unchanged (arcs, quantization)
  but for the ``land`` object, dropped, and country properties trimmed to ``name``; frames draw
  coastlines and country borders from it;
* ``land-110m.json.gz``: the 1:110m land, unchanged; the page's locator globe fills it;
* ``LICENSE-world-atlas.txt``: the package's ISC license.

The JSON is written compact and gzipped with a fixed timestamp, so running the script again on
the same package gives byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "generator" / "geodata"
FILES = {"countries-50m.json": "countries-50m.json.gz", "land-110m.json": "land-110m.json.gz"}
#: The objects kept in each file.
OBJECTS = {"countries-50m.json": ("countries",), "land-110m.json": ("land",)}


def trimmed(topology: dict[str, Any], objects: tuple[str, ...]) -> dict[str, Any]:
    """The topology with only ``objects``, every geometry's properties cut down to its name."""
    topology["objects"] = {name: topology["objects"][name] for name in objects}
    for collection in topology["objects"].values():
        for geometry in collection.get("geometries", ()):
            properties = geometry.get("properties") or {}
            if "name" in properties:
                geometry["properties"] = {"name": properties["name"]}
            else:
                geometry.pop("properties", None)
    return topology


def write_gzip_json(path: Path, value: Any) -> None:
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as out:
        out.write(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the unpacked world-atlas npm package (its package/ folder)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    manifest = json.loads((args.package / "package.json").read_text(encoding="utf-8"))
    if manifest.get("name") != "world-atlas" or manifest.get("version") != "2.0.2":
        raise SystemExit(f"expected world-atlas 2.0.2, got {manifest.get('name')} {manifest.get('version')}")
    args.out.mkdir(parents=True, exist_ok=True)
    for source, target in FILES.items():
        topology = json.loads((args.package / source).read_text(encoding="utf-8"))
        write_gzip_json(args.out / target, trimmed(topology, OBJECTS[source]))
        print(f"{target}: {(args.out / target).stat().st_size:,} bytes")
    shutil.copyfile(args.package / "LICENSE", args.out / "LICENSE-world-atlas.txt")


if __name__ == "__main__":
    main()
