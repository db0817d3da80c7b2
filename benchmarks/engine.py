"""Benchmark of the build engine (a script, not a test): cache, incremental rebuilds, jobs, memory.

Makes its own catalog (4 collections × 48 monthly COGs) and config (× 3 regions, 512 px) in a
temporary folder, then measures inside the process, without import time:

- cold build vs warm rebuild (nothing changed; goal: warm ≤ 2 % of cold),
- a rebuild after one item was added to one collection vs cold (these three builds share one
  ``BuildMemo``, as a process that rebuilds would give them),
- ``jobs=2`` vs ``jobs=1`` (cache off, so both render every frame),
- the growth of peak RSS above an idle baseline for a 50-frame and a 500-frame animation
  (each in a fresh process; goal: 500 frames within 2× of 50),
- the cold build of the demo gallery (``site_config.yml``, cache empty) with ``--jobs 2`` vs
  ``--jobs 1`` (goal: ≥ 1.7×) as ``python -m generator build`` runs it: runs rotate
  between the two and a pair of ``--jobs 1`` builds started at once (the machine's ceiling
  for ``--jobs 2``), and the medians are compared (wall time; the CPU of the builds and their
  workers beside it).

Prints a table and the same numbers as JSON. Run: ``python benchmarks/engine.py``, or
``python benchmarks/engine.py --demo [RUNS]`` for the demo row alone.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.shutil import copy as copy_dataset
from rasterio.transform import from_origin

from generator.core.memo import BuildMemo
from generator.engine.build import BuildOptions, build

COLLECTIONS = 4
MONTHS = 48
REGIONS = """\
  - {id: west, bbox: [-5, 42, 8, 51]}
  - {id: centre, bbox: [5, 44, 16, 52]}
  - {id: south, bbox: [-4, 36, 12, 45]}
"""


def write_cog(path: Path, seed: int) -> None:
    """A smooth 360×260 field over Europe at 0.1°, one per item (cheap to make, real to read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:260, 0:360].astype("float32")
    data = np.sin(xx / 23 + seed * 0.3) * np.cos(yy / 17 - seed * 0.2) + seed * 0.01
    profile = dict(
        driver="GTiff", width=360, height=260, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(-12, 62, 0.1, 0.1), nodata=-9999,
    )
    plain = path.with_suffix(".plain.tif")
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(data, 1)
    copy_dataset(plain, path, driver="COG", blocksize=128)
    plain.unlink()


def write_collection(root: Path, collection: str, months: int) -> None:
    links = []
    for month in range(months):
        item_id = f"{collection}-{month:03d}"
        folder = root / collection / item_id
        cog = folder / f"{item_id}.tif"
        if not cog.exists():
            write_cog(cog, month)
        year, month_of_year = 2000 + month // 12, month % 12 + 1
        item = {
            "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
            "geometry": {"type": "Polygon", "coordinates": [[[-12, 36], [24, 36], [24, 62], [-12, 62], [-12, 36]]]},
            "bbox": [-12, 36, 24, 62], "properties": {"datetime": f"{year}-{month_of_year:02d}-01T00:00:00Z"},
            "assets": {"data": {"href": f"./{item_id}.tif", "roles": ["data"]}},
            "links": [{"rel": "collection", "href": "../collection.json"}],
        }
        (folder / f"{item_id}.json").write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{item_id}/{item_id}.json"})
    document = {
        "type": "Collection", "stac_version": "1.0.0", "id": collection, "description": "benchmark", "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[-12, 36, 24, 62]]}, "temporal": {"interval": [[None, None]]}},
        "renders": {"dashboard": {"rescale": [[-1, 1]], "colormap_name": "viridis"}},
        "links": [{"rel": "root", "href": "../catalog.json"}, *links],
    }
    (root / collection / "collection.json").write_text(json.dumps(document))


def write_site(root: Path, collections: int, months: int, regions: str = REGIONS) -> Path:
    names = [f"var{number}" for number in range(collections)]
    for name in names:
        write_collection(root / "catalog", name, months)
    catalog = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "bench", "description": "benchmark",
        "links": [{"rel": "child", "href": f"./{name}/collection.json"} for name in names],
    }
    (root / "catalog" / "catalog.json").write_text(json.dumps(catalog))
    config = root / "site_config.yml"
    config.write_text(
        "site: {title: Benchmark}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        f"collections: [{', '.join(f'{{id: {name}, source: s}}' for name in names)}]\n"
        f"regions:\n{regions}"
        "render: {size: 512}\n"
    )
    return config


def timed(config: Path, output: Path, options: BuildOptions) -> float:
    started = time.perf_counter()
    result = build(config, output, options=options)
    assert not result.failed, [record.error for record in result.failed]
    return time.perf_counter() - started


RSS_PROBE = """
import sys, threading, time
from pathlib import Path
from generator.engine.build import BuildOptions, build

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

baseline = rss_kib()  # after every import: what the build itself adds is measured
peak = baseline
done = threading.Event()

def sample():
    global peak
    while not done.is_set():
        peak = max(peak, rss_kib())
        time.sleep(0.002)

sampler = threading.Thread(target=sample)
sampler.start()
build(Path(sys.argv[1]), Path(sys.argv[2]), options=BuildOptions(jobs=1, use_cache=False))
done.set()
sampler.join()
print(peak - baseline)
"""


def peak_rss_growth_kib(months: int, folder: Path) -> int:
    """Peak RSS growth above the process's size after imports, for one animation (fresh process)."""
    config = write_site(folder / f"rss-{months}", 1, months, regions="  - {id: west, bbox: [-5, 42, 8, 51]}\n")
    result = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(config), str(folder / f"rss-out-{months}")],
        capture_output=True, text=True, check=True,
    )
    return int(result.stdout.strip().splitlines()[-1])


DEMO_CONFIG = Path(__file__).resolve().parents[1] / "site_config.yml"


def descendants_cpu(pid: int, seen: dict[int, float]) -> None:
    """Record the CPU seconds so far of every live descendant of ``pid`` (Linux ``/proc``): the
    pool's workers are children of the fork server, so the build's rusage never counts them."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, list[tuple[int, float]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        parents.setdefault(int(fields[1]), []).append((int(text.split()[0]), (int(fields[11]) + int(fields[12])) / ticks))
    todo = [pid]
    while todo:
        for child, cpu in parents.get(todo.pop(), []):
            seen[child] = max(seen.get(child, 0.0), cpu)
            todo.append(child)


def finished_with_workers(process: subprocess.Popen[bytes]) -> tuple[float, float]:
    """Wait for ``process`` (a build); (its own CPU seconds, its workers' sampled every 50 ms)."""
    workers: dict[int, float] = {}
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if sys.platform == "linux":
            descendants_cpu(process.pid, workers)
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args)
    return usage.ru_utime + usage.ru_stime, sum(workers.values())


#: The contenders of the ``--jobs`` row: one build with each ``--jobs``, and two ``--jobs 1``
#: builds started at once, which share nothing: their throughput against one alone is what the
#: machine gives a second process (the cores, but also the caches, memory bandwidth and clock
#: both share), the ceiling of ``--jobs 2`` on it.
DEMO_CONTENDERS = ("jobs1", "jobs2", "pair")


def demo_cold_builds(runs: int, folder: Path) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of ``python -m generator build`` of the demo, cache empty, for each of
    :data:`DEMO_CONTENDERS`, in a rotating order; CPU is the builds' and their workers' (sampled
    every 50 ms: a worker's last moments may go uncounted). A pair's wall ends with its last build."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in DEMO_CONTENDERS}
    for run in range(runs):
        shift = run % len(DEMO_CONTENDERS)
        for name in DEMO_CONTENDERS[shift:] + DEMO_CONTENDERS[:shift]:
            jobs = 2 if name == "jobs2" else 1
            started = time.perf_counter()
            processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "generator", "build", "--config", str(DEMO_CONFIG), "--jobs", str(jobs),
                     "--output", str(target / "out"), "--cache-dir", str(target / "cache"), "-q"],
                )
                for target in [folder / f"demo-{name}-{run}-{copy}" for copy in range(2 if name == "pair" else 1)]
            ]
            cpu = sum(sum(finished_with_workers(process)) for process in processes)
            times[name].append((time.perf_counter() - started, cpu))
    return times


def demo_medians(times: dict[str, list[tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) of each contender."""
    return {
        name: (statistics.median(wall for wall, _ in runs), statistics.median(cpu for _, cpu in runs))
        for name, runs in times.items()
    }


def demo_row(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as temporary:
        medians = demo_medians(demo_cold_builds(runs, Path(temporary)))
    (one, cpu_one), (two, cpu_two), (pair, cpu_pair) = (medians[name] for name in DEMO_CONTENDERS)
    print(f"{'demo cold, jobs=1':28} {one:8.2f} s   (median of {runs}, runs rotating; CPU {cpu_one:.2f} s)")
    print(f"{'demo cold, jobs=2':28} {two:8.2f} s   {one / two:6.2f}× faster (goal ≥ 1.7×; CPU {cpu_two:.2f} s)")
    print(
        f"{'two jobs=1 builds at once':28} {pair:8.2f} s   {2 * one / pair:6.2f}× the throughput of one: the "
        f"machine's ceiling for jobs=2 (CPU {cpu_pair:.2f} s)"
    )
    return {
        "demo_jobs1_s": round(one, 3), "demo_jobs2_s": round(two, 3), "demo_jobs2_speedup": round(one / two, 2),
        "demo_jobs1_cpu_s": round(cpu_one, 3), "demo_jobs2_cpu_s": round(cpu_two, 3),
        "demo_pair_s": round(pair, 3), "demo_pair_cpu_s": round(cpu_pair, 3), "demo_ceiling": round(2 * one / pair, 2),
    }


def main() -> None:
    if sys.argv[1:2] == ["--demo"]:
        print(json.dumps(demo_row(int(sys.argv[2]) if len(sys.argv) > 2 else 5), sort_keys=True))
        return
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        config = write_site(root, COLLECTIONS, MONTHS)
        frames = COLLECTIONS * 3 * MONTHS
        # The rebuilds of one process share a memo, as a caller that rebuilds would (``core.memo``).
        cached = BuildOptions(jobs=1, cache_dir=root / "cache", memo=BuildMemo())
        cold = timed(config, root / "out", cached)
        warm = timed(config, root / "out", cached)
        write_collection(root / "catalog", "var0", MONTHS + 1)
        one_added = timed(config, root / "out", cached)
        serial = timed(config, root / "serial", BuildOptions(jobs=1, use_cache=False))
        parallel = timed(config, root / "parallel", BuildOptions(jobs=2, use_cache=False))
        rss_50 = peak_rss_growth_kib(50, root)
        rss_500 = peak_rss_growth_kib(500, root)
    results = {
        "frames": frames,
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
        "warm_over_cold": round(warm / cold, 4),
        "one_item_added_s": round(one_added, 3),
        "one_item_added_over_cold": round(one_added / cold, 4),
        "jobs1_s": round(serial, 3),
        "jobs2_s": round(parallel, 3),
        "jobs2_speedup": round(serial / parallel, 2),
        "rss_growth_50_frames_kib": rss_50,
        "rss_growth_500_frames_kib": rss_500,
        "rss_500_over_50": round(rss_500 / max(rss_50, 1), 2),
    }
    print(f"{frames} frames ({COLLECTIONS} collections × 3 regions × {MONTHS} months, 512 px)")
    print(f"{'cold build':28} {cold:8.2f} s")
    print(f"{'warm rebuild':28} {warm:8.2f} s   {100 * warm / cold:6.2f} % of cold (goal ≤ 2 %)")
    print(f"{'one item added':28} {one_added:8.2f} s   {100 * one_added / cold:6.2f} % of cold")
    print(f"{'jobs=1 (no cache)':28} {serial:8.2f} s")
    print(f"{'jobs=2 (no cache)':28} {parallel:8.2f} s   {serial / parallel:6.2f}× faster")
    print(f"{'peak RSS growth, 50 frames':28} {rss_50 / 1024:8.1f} MiB")
    print(f"{'peak RSS growth, 500 frames':28} {rss_500 / 1024:8.1f} MiB   {rss_500 / max(rss_50, 1):6.2f}× (goal ≤ 2×)")
    results.update(demo_row(3))
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
