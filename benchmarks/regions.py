"""Benchmark of a gallery of many regions (a script, not a test): does an animation cost the same?

A gallery of the 96 départements (one region each, from ``regions/france-borders.geojson``)
against one of the first 6, the demo's ``no2-monthly`` collection (24 frames), 256 px, GIF only,
cache off, as ``python -m generator build --jobs N`` runs them (whole processes). A build pays
once for its imports, the fork server and the site, and per region for a grid, its masks,
context lines and a globe; what grows with the gallery must grow linearly, or a gallery of
hundreds of regions (départements, counties, river basins) gets slower per animation the larger
it is. Prints the medians of interleaved rounds per animation — wall time, the CPU of the
build's own process (it plans, writes the files and the pages: what it does per animation
bounds the whole build however many workers there are) and of its workers (sampled from
``/proc`` every 50 ms) — and the ratios of the large gallery's to the small one's (goal: about
1×; below 1×, the fixed costs spread over more animations).

Run: ``python benchmarks/regions.py [--rounds 3] [--jobs 2] [--regions 96]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import finished_with_workers  # noqa: E402
from table import DEPARTEMENTS, ENV, REPO  # noqa: E402

SMALL = 6


def gallery(folder: Path, regions: int) -> Path:
    """A config of the first ``regions`` départements, each a region of its own."""
    features = json.loads(DEPARTEMENTS.read_text(encoding="utf-8"))["features"][:regions]
    entries = []
    for feature in features:
        code = str(feature["properties"]["code"]).lower()
        path = folder / f"d{code}.geojson"
        path.write_text(json.dumps(feature), encoding="utf-8")
        entries.append(f"  - {{id: d{code}, title: {json.dumps(feature['properties']['nom'])}, geometry: {path}}}")
    config = folder / f"regions-{regions}.yml"
    config.write_text(
        "site: {title: Départements}\n"
        f"sources: {{demo: {{catalog: {REPO / 'demo' / 'catalog.json'}}}}}\n"
        "collections:\n"
        "  - {id: no2-monthly, source: demo, asset: cog_default, style: {rescale: [0, 1.5e16], colormap: viridis}}\n"
        "regions:\n" + "\n".join(entries) + "\n"
        "render: {size: 256, formats: [gif]}\n",
        encoding="utf-8",
    )
    return config


def timed_build(config: Path, output: Path, jobs: int) -> tuple[float, float, float]:
    """(wall, the build's own CPU, its workers' CPU) of ``python -m generator build``, cache off."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "build", "-q", "--no-cache", "--jobs", str(jobs),
         "--config", str(config), "--output", str(output)],
        cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
    )
    own, workers = finished_with_workers(process)
    return time.perf_counter() - started, own, workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--regions", type=int, default=96)
    args = parser.parse_args()
    sizes = (SMALL, args.regions)
    runs: dict[int, list[tuple[float, float, float]]] = {regions: [] for regions in sizes}
    with tempfile.TemporaryDirectory(prefix="regions-bench-") as temporary:
        folder = Path(temporary)
        configs = {regions: gallery(folder, regions) for regions in sizes}
        for round_number in range(args.rounds):
            for regions in sizes:
                output = folder / f"output-{regions}-{round_number}"
                runs[regions].append(timed_build(configs[regions], output, args.jobs))
    per_animation = {
        regions: tuple(statistics.median(run[part] for run in runs[regions]) / regions for part in range(3))
        for regions in sizes
    }
    for regions in sizes:
        wall, own, workers = per_animation[regions]
        print(
            f"{regions:4d} regions, per animation: {wall * 1000:6.0f} ms wall, the build's process "
            f"{own * 1000:5.0f} ms CPU, its workers {workers * 1000:5.0f} ms CPU"
        )
    ratios = [large / small for large, small in zip(per_animation[args.regions], per_animation[SMALL], strict=True)]
    print(
        f"{args.regions} regions vs {SMALL}, per animation: {ratios[0]:.2f}× the wall time, {ratios[1]:.2f}× the "
        f"build's process's CPU, {ratios[2]:.2f}× the workers' (--jobs {args.jobs}, medians of {args.rounds} "
        "interleaved rounds)"
    )


if __name__ == "__main__":
    main()
