"""Bilinear reads through their map vs GDAL's warp of each file, by grid size (a script, not a test).

Reads the demo's 24 no2 COGs (coarse, so a bilinear read does not downsample) onto grids over
France of several sizes, as a build reads them: each round opens the files and makes the map
again (``buildcache.clear``). The contenders alternate within each round: GDAL warping every
file (as for a GDAL whose kernel the maps do not follow), and the local renderer as it reads,
through the map. Prints, per size and as medians of the rounds, the CPU of a read each way, the
map's own cost, and after how many reads of a series the map has paid for itself. Nothing
leaves the machine.

Run: ``python benchmarks/maps.py [rounds] [sizes…]`` (default 5 rounds, sizes 256 512 1024).
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from table import NO2_RESCALE, demo_no2_items, france_grid  # noqa: E402

from generator.core import buildcache  # noqa: E402
from generator.core.model import ItemAsset, Style  # noqa: E402
from generator.render import bilinear  # noqa: E402
from generator.render.grid import make_grid  # noqa: E402
from generator.render.local import LocalRenderer  # noqa: E402


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    sizes = [int(size) for size in sys.argv[2:]] or [256, 512, 1024]
    france, projected = france_grid()
    crs = france.crs
    when = datetime(2021, 1, 1, tzinfo=UTC)
    items = [ItemAsset(date, when, href) for href, date in demo_no2_items()]
    style = Style(rescale=NO2_RESCALE, resampling="bilinear")
    renderer = LocalRenderer()
    weighs_as_maps = bilinear.gdal_weighs_as_maps
    make_map = bilinear._make_map
    making: list[float] = []

    def timed_make(*args: object) -> object:
        started = time.process_time()
        try:
            return make_map(*args)  # type: ignore[arg-type]
        finally:
            making.append(time.process_time() - started)

    bilinear._make_map = timed_make  # type: ignore[assignment]
    print(f"{len(items)} reads of the demo's no2 COGs onto a grid over France, medians of {rounds} rounds (CPU)")
    for size in sizes:
        grid = make_grid(projected, crs, size)
        cpu: dict[str, list[float]] = {"gdal": [], "map": [], "making": []}
        for _ in range(rounds):
            for name in ("gdal", "map"):
                # GDAL's own warp of every file, as for a GDAL whose kernel the maps do not follow.
                bilinear.gdal_weighs_as_maps = weighs_as_maps if name == "map" else (lambda: False)  # type: ignore[assignment]
                buildcache.clear()  # a build's own opens and maps
                making.clear()
                started = time.process_time()
                for item in items:
                    renderer.read(item, grid, style)
                cpu[name].append(time.process_time() - started)
                if name == "map":
                    cpu["making"].append(sum(making))
        bilinear.gdal_weighs_as_maps = weighs_as_maps
        gdal, mapped, made = (statistics.median(cpu[name]) for name in ("gdal", "map", "making"))
        gdal_read, map_read = gdal / len(items), (mapped - made) / len(items)
        paid = made / (gdal_read - map_read) if gdal_read > map_read else float("inf")
        print(
            f"{grid.width}×{grid.height} px: GDAL {1000 * gdal_read:5.1f} ms a read; through the map "
            f"{1000 * map_read:5.1f} ms a read, the map {1000 * made:5.0f} ms; {len(items)} reads "
            f"{gdal / mapped:4.2f}× faster; the map pays for itself after {paid:4.1f} reads"
        )


if __name__ == "__main__":
    main()
