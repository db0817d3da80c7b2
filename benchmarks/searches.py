"""Benchmark of a gallery planned from a slow STAC API (a script, not a test): what its searches add.

A STAC API's search (``POST /search`` with the region's outline) takes a few tenths of a second
to a second or more. This serves a scripted STAC API on 127.0.0.1 whose every search answers
after ``--latency`` seconds (default 0.5), and 12 COGs from a Range-capable server answering
after 40 ms, and builds one collection over 6 regions (6 animations, 12 frames of 256 px) with
``--jobs 1`` and ``--jobs 2``, three ways: searches answered at once (the floor), searches one at
a time (``http.max_per_host: 1``: still started ahead, beside the rendering) and the default (4
side by side, ``plan.schedule.SearchCache.search_ahead``). Prints wall-time medians of
interleaved rounds and what the searches add to the floor, beside what they would add searched
one after the other before each plan (6 × the latency, as builds did before).

Then the walk of a static catalog served over HTTP (48 items, each a document of its own, every
answer after 40 ms): its items read one after the other (``http.max_per_host: 1``) vs a few at
once (the default 4, ``sources.catalog.SessionStacIO.fetch_ahead``). Nothing leaves the machine.

Run: ``python benchmarks/searches.py [--rounds 3] [--latency 0.5]``.
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
from generator.sources.catalog import StaticCatalogSource  # noqa: E402
from generator.sources.http import HttpSettings  # noqa: E402
from tests.conftest import write_cog  # noqa: E402
from tests.servers.range_http import serve_directory  # noqa: E402
from tests.servers.scripted_stac import scripted_api, stac_item  # noqa: E402
from tests.servers.stac_data import (  # noqa: E402
    COLLECTION_ID,
    REGION_BBOX,
    veda_like_collection,
    veda_like_items,
    write_static_catalog,
)

FRAMES = 12
REGIONS = 6
BBOX = (-6.0, 41.76, 4.24, 52.0)
#: (name, search latency on, the source's http block) of each contender.
CONTENDERS = (("floor", False, ""), ("one at a time", True, ", http: {max_per_host: 1}"), ("side by side", True, ""))


def write_cogs(folder: Path) -> None:
    rows, cols = np.mgrid[0:512, 0:512]
    for month in range(FRAMES):
        values = (50 + 40 * np.sin(cols / 50 + month / 3) * np.cos(rows / 40)).astype("float32")
        write_cog(folder / f"m{month:02d}.tif", values, west=BBOX[0], north=BBOX[3], res=0.02)


def write_site(folder: Path, api: str, http: str) -> Path:
    folder.mkdir(parents=True)
    regions = "".join(f"  - {{id: r{k}, bbox: [{-5 + 1.5 * k}, 43, {-2 + 1.5 * k}, 47]}}\n" for k in range(REGIONS))
    config = folder / "site_config.yml"
    config.write_text(
        f"site: {{title: Searches}}\nsources: {{s: {{api: '{api}/'{http}}}}}\ncollections: [{{id: no2, source: s}}]\n"
        f"regions:\n{regions}render: {{size: 256, formats: [gif]}}\n"
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    walls: dict[tuple[int, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        write_cogs(root / "served" / "copy-0")
        run = 0
        with serve_directory(root / "served", delay=0.04) as cogs:
            for _ in range(args.rounds):
                for jobs in (1, 2):
                    for name, slow, http in CONTENDERS:
                        run += 1  # each build reads files of its own: GDAL caches what it read, by URL
                        shutil.copytree(root / "served" / "copy-0", root / "served" / f"copy-{run}")
                        items = [
                            stac_item(f"m{month:02d}", f"2022-{month + 1:02d}-01T00:00:00Z",
                                      cogs.href(f"copy-{run}/m{month:02d}.tif"), BBOX, "no2")
                            for month in range(FRAMES)
                        ]
                        api = scripted_api("no2", items, BBOX, delay=args.latency if slow else 0.0)
                        try:
                            config = write_site(root / f"site-{run}", api.url, http)
                            started = time.perf_counter()
                            result = build(config, root / f"out-{run}", options=BuildOptions(jobs=jobs, use_cache=False))
                            walls.setdefault((jobs, name), []).append(time.perf_counter() - started)
                        finally:
                            api.stop()
                        assert [record.status for record in result.records] == ["ok"] * REGIONS, result.records
    print(f"{REGIONS} animations from a STAC API answering each search after {args.latency:.2f} s, "
          f"{FRAMES} remote COGs each, medians of {args.rounds}")
    for jobs in (1, 2):
        floor = statistics.median(walls[(jobs, "floor")])
        line = [f"--jobs {jobs}: {floor:5.2f} s with searches answered at once"]
        for name, _, _ in CONTENDERS[1:]:
            wall = statistics.median(walls[(jobs, name)])
            line.append(f"{name} {wall:5.2f} s (+{wall - floor:4.2f} s)")
        line.append(f"searched before each plan, one after the other: +{REGIONS * args.latency:4.2f} s")
        print("; ".join(line))
    catalog_walks()


def catalog_walks(rounds: int = 5) -> None:
    """The walk of a served static catalog's 48 items, one request at a time vs a few at once."""
    import shapely

    walls: dict[int, list[float]] = {1: [], 4: []}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_static_catalog(folder, veda_like_collection(), veda_like_items(months=48))
        with serve_directory(folder, delay=0.04) as server:
            for _ in range(rounds):
                for at_once in walls:
                    source = StaticCatalogSource("s", server.href("catalog.json"), settings=HttpSettings(max_per_host=at_once))
                    started = time.perf_counter()
                    found = source.items(COLLECTION_ID, None, shapely.box(*REGION_BBOX))
                    walls[at_once].append(time.perf_counter() - started)
                    assert found
    one, four = (statistics.median(walls[at_once]) for at_once in (1, 4))
    print(f"static catalog over HTTP, 48 items, 40 ms an answer, medians of {rounds}: "
          f"{one:5.2f} s one item at a time, {four:5.2f} s four at once ({one / four:4.2f}× faster)")


if __name__ == "__main__":
    main()
