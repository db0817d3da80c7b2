"""Benchmark of builds whose COGs are remote (a script, not a test): reads one at a time vs overlapped.

A remote COG's read mostly waits on the network: a header, then the tiles, each a round trip.
This serves 24 COGs (512 px, 0.02° over France, like a month of a VEDA collection) from a
Range-capable HTTP server on 127.0.0.1 that answers each request after ``--latency`` seconds
(default 0.04: a cloud store seen from a CI runner in another region), and builds the one
animation over them with ``--jobs 1`` and ``--jobs 2``, each time with the source's
``http.max_cog_reads: 1`` (one read at a time per process, as builds once read), with 4 (the
bound these reads once shared with the STAC API's requests), the default 16
(``render.frames.read_overlapped``: a task's reads overlap, the processes share the bound) and
32. Prints wall-time medians of interleaved rounds, the ratios to one read at a time and the
most requests the server had in flight.
Nothing leaves the machine.

Run: ``python benchmarks/remote.py [--rounds 3] [--latency 0.04]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.engine.build import BuildOptions, build  # noqa: E402
from tests.conftest import FakeItem, write_catalog, write_cog  # noqa: E402
from tests.servers.range_http import serve_directory  # noqa: E402

FRAMES = 24
COG_READS = (1, 4, 16, 32)  # the source's http.max_cog_reads in each contender
REGION = "  - {id: france, bbox: [-5.2, 41.3, 9.6, 51.1]}\n"


def write_cogs(folder: Path) -> list[Path]:
    rows, cols = np.mgrid[0:512, 0:512]
    return [
        write_cog(
            folder / f"m{month:02d}.tif",
            (50 + 40 * np.sin(cols / 50 + month / 3) * np.cos(rows / 40)).astype("float32"),
            west=-6.0, north=52.0, res=0.02,
        )
        for month in range(FRAMES)
    ]


def write_site(folder: Path, hrefs: list[str], max_cog_reads: int) -> Path:
    items = [
        FakeItem(id=f"m{month:02d}", datetime=f"{2022 + month // 12}-{month % 12 + 1:02d}-01T00:00:00Z", cog=href)
        for month, href in enumerate(hrefs)
    ]
    renders = {"dashboard": {"rescale": [[0, 100]], "colormap_name": "viridis"}}
    write_catalog(folder / "catalog", "no2", items, renders=renders, bbox=(-6.0, 41.76, 4.24, 52.0))
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Remote}\n"
        f"sources: {{s: {{catalog: catalog/catalog.json, http: {{max_cog_reads: {max_cog_reads}}}}}}}\n"
        "collections: [{id: no2, source: s}]\n"
        f"regions:\n{REGION}"
        "render: {size: 512, formats: [gif]}\n"
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.04)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        served = root / "served"
        write_cogs(served / "copy-0")
        contenders = [(jobs, reads) for jobs in (1, 2) for reads in COG_READS]
        walls: dict[tuple[int, int], list[float]] = {contender: [] for contender in contenders}
        most: dict[tuple[int, int], int] = {}
        with serve_directory(served, delay=args.latency) as server:
            run = 0
            for _ in range(args.rounds):
                for jobs, reads in contenders:
                    run += 1  # each build reads files of its own: GDAL caches what it read, by URL
                    shutil.copytree(served / "copy-0", served / f"copy-{run}")
                    hrefs = [server.href(f"copy-{run}/m{month:02d}.tif") for month in range(FRAMES)]
                    config = write_site(root / f"site-{run}", hrefs, reads)
                    server.most_in_flight = 0
                    started = time.perf_counter()
                    result = build(config, root / f"out-{run}", options=BuildOptions(jobs=jobs, use_cache=False))
                    walls[(jobs, reads)].append(time.perf_counter() - started)
                    assert [record.status for record in result.records] == ["ok"], result.records[0].error
                    most[(jobs, reads)] = max(most.get((jobs, reads), 0), server.most_in_flight)
    print(f"{FRAMES} remote COGs, {args.latency * 1000:.0f} ms a request, one 512 px animation, medians of {args.rounds}")
    for jobs in (1, 2):
        one = statistics.median(walls[(jobs, 1)])
        line = [f"--jobs {jobs}: {one:5.2f} s one read at a time ({most[(jobs, 1)]} in flight)"]
        for reads in COG_READS[1:]:
            overlapped = statistics.median(walls[(jobs, reads)])
            line.append(
                f"max_cog_reads {reads}: {overlapped:5.2f} s ({most[(jobs, reads)]} in flight, {one / overlapped:4.2f}× faster)"
            )
        print("; ".join(line))


if __name__ == "__main__":
    main()
