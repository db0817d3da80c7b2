"""Benchmark of the Dask executor (a script, not a test): a wide gallery, locally and on a cluster.

Makes its own catalog (one collection of 24 monthly COGs) and config (× 60 regions, 128 px
frames: 60 animations × 24 frames = 1,440 layer reads) in a temporary folder, then builds it,
frame cache off so every frame is read:

- with the local executor (``--jobs 2``, two worker processes),
- on a ``distributed.LocalCluster`` of 2 single-threaded worker processes (``--scheduler``),

and prints frames/s for both, the scheduling overhead per task (a no-op task's round trip
through the cluster minus the same through the local process pool, measured on 2,000 tasks
kept 8 in flight, as the engine does), the mean size of a frame-cache entry and the frames/s of
a whole one-process build whose layers all come from the cache (``--jobs 1``), the CPU the
build's process spends during the cluster build (planning, layout, writing files — and the
LocalCluster's scheduler, which runs in that process), with the same
numbers as JSON. Run: ``python benchmarks/dask.py`` (needs the ``[dask]`` extra).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

from engine import write_cog  # the engine benchmark's COGs: benchmarks/ is first on sys.path

from generator.engine.build import BuildOptions, build
from generator.engine.cluster import ClusterExecutor
from generator.engine.executors import ExecutorRequest, open_executor

MONTHS = 24
REGIONS = 60  # 10 × 6 tiles of 3° over the COGs' 36° × 26°
SIZE = 128
NOOP_TASKS = 2000
IN_FLIGHT = 8


def write_site(root: Path) -> Path:
    links = []
    for month in range(MONTHS):
        item_id = f"m{month:03d}"
        folder = root / "catalog" / "c" / item_id
        write_cog(folder / f"{item_id}.tif", month)
        item = {
            "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "c",
            "geometry": {"type": "Polygon", "coordinates": [[[-12, 36], [24, 36], [24, 62], [-12, 62], [-12, 36]]]},
            "bbox": [-12, 36, 24, 62],
            "properties": {"datetime": f"{2000 + month // 12}-{month % 12 + 1:02d}-01T00:00:00Z"},
            "assets": {"data": {"href": f"./{item_id}.tif", "roles": ["data"]}},
            "links": [{"rel": "collection", "href": "../collection.json"}],
        }
        (folder / f"{item_id}.json").write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{item_id}/{item_id}.json"})
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": "c", "description": "benchmark", "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[-12, 36, 24, 62]]}, "temporal": {"interval": [[None, None]]}},
        "renders": {"dashboard": {"rescale": [[-1, 1]], "colormap_name": "viridis"}},
        "links": [{"rel": "root", "href": "../catalog.json"}, *links],
    }
    (root / "catalog" / "c" / "collection.json").write_text(json.dumps(collection))
    catalog = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "bench", "description": "benchmark",
        "links": [{"rel": "child", "href": "./c/collection.json"}],
    }
    (root / "catalog" / "catalog.json").write_text(json.dumps(catalog))
    regions = "".join(
        f"  - {{id: r{index:02d}, bbox: [{-12 + 3 * (index % 10) + 0.5}, {36 + 3 * (index // 10) + 0.5}, "
        f"{-12 + 3 * (index % 10) + 3.5}, {36 + 3 * (index // 10) + 3.5}]}}\n"
        for index in range(REGIONS)
    )
    config = root / "site_config.yml"
    config.write_text(
        "site: {title: Wide}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        "collections: [{id: c, source: s}]\n"
        f"regions:\n{regions}"
        f"render: {{size: {SIZE}}}\n"
    )
    return config


def timed_build(config: Path, output: Path, options: BuildOptions) -> float:
    started = time.perf_counter()
    result = build(config, output, options=options)
    seconds = time.perf_counter() - started
    assert not result.failed, [record.error for record in result.failed]
    return seconds


def noop() -> None:
    return None


def round_trip(executor: Executor, tasks: int = NOOP_TASKS, in_flight: int = IN_FLIGHT) -> float:
    """Seconds per no-op task, kept ``in_flight`` at once like the engine's look-ahead."""
    pending: deque[Future[Any]] = deque()
    started = time.perf_counter()
    for _ in range(tasks):
        pending.append(executor.submit(noop))
        if len(pending) >= in_flight:
            pending.popleft().result()
    while pending:
        pending.popleft().result()
    return (time.perf_counter() - started) / tasks


def client_side(config: Path, folder: Path) -> tuple[float, float]:
    """(mean bytes of a frame-cache entry, frames/s of the build's own work with every layer from the cache).

    The second build changes ``frame_ms`` only: every layer comes from the cache, so what is timed
    is what the build's process does itself (overlays, encoders, pages) — the ceiling of a build
    whose only tasks are the layer reads.
    """
    options = BuildOptions(jobs=1, cache_dir=folder / "cache")
    build(config, folder / "out", options=options)
    sizes = [path.stat().st_size for path in (folder / "cache" / "frames").rglob("*.png")]
    config.write_text(config.read_text().replace(f"render: {{size: {SIZE}}}", f"render: {{size: {SIZE}, frame_ms: 400}}"))
    seconds = timed_build(config, folder / "out", options)
    return sum(sizes) / len(sizes), REGIONS * MONTHS / seconds


def main() -> None:
    # Run as a script, this file's folder comes first on sys.path, where "dask" would be this file.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    logging.getLogger("generator").setLevel(logging.ERROR)  # the per-animation notes are not the point here
    from distributed import Client, LocalCluster

    frames = REGIONS * MONTHS
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as temporary:
        root = Path(temporary)
        config = write_site(root)
        local_s = timed_build(config, root / "local", BuildOptions(jobs=2, use_cache=False))
        with LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster:
            address = cluster.scheduler_address
            cpu = time.process_time()
            dask_s = timed_build(config, root / "dask", BuildOptions(use_cache=False, scheduler=address))
            # The build's process (planning, layout, writing files) and, in this process too, the
            # LocalCluster's scheduler: what the build's machine spends per frame.
            client_cpu_s = time.process_time() - cpu
            client = Client(address, set_as_default=False)  # type: ignore[no-untyped-call]
            cluster_executor = ClusterExecutor(client)
            round_trip(cluster_executor, 100)  # warm up: the workers import the engine once
            dask_task_s = round_trip(cluster_executor)
            cluster_executor.shutdown()
        pool = open_executor(ExecutorRequest(kind="local", jobs=2))
        assert pool.executor is not None
        round_trip(pool.executor, 100)
        local_task_s = round_trip(pool.executor)
        pool.close()
        entry, client_fps = client_side(config, root / "client")
    figures = {
        "animations": REGIONS,
        "frames": frames,
        "frame_px": SIZE,
        "cpus": os.cpu_count(),
        "local_jobs2_s": round(local_s, 2),
        "local_frames_per_s": round(frames / local_s, 1),
        "dask_2x1_s": round(dask_s, 2),
        "dask_frames_per_s": round(frames / dask_s, 1),
        "noop_task_local_ms": round(local_task_s * 1000, 3),
        "noop_task_dask_ms": round(dask_task_s * 1000, 3),
        "scheduling_overhead_per_task_ms": round((dask_task_s - local_task_s) * 1000, 3),
        "cache_entry_bytes": round(entry),
        "client_only_frames_per_s": round(client_fps, 1),
        "dask_build_process_cpu_s": round(client_cpu_s, 2),
        "dask_build_process_cpu_ms_per_frame": round(client_cpu_s / frames * 1000, 2),
    }
    print(f"wide gallery: {REGIONS} animations × {MONTHS} frames of {SIZE} px = {frames} layer reads, cache off")
    print(f"  local executor, --jobs 2         {local_s:7.2f} s  {frames / local_s:7.1f} frames/s")
    print(f"  LocalCluster, 2 workers × 1 thread {dask_s:5.2f} s  {frames / dask_s:7.1f} frames/s")
    print(f"  no-op task round trip: local pool {local_task_s * 1000:.3f} ms, cluster {dask_task_s * 1000:.3f} ms "
          f"→ scheduling overhead {figures['scheduling_overhead_per_task_ms']} ms per task")
    print(f"  the build's process during the cluster build (with the scheduler): {client_cpu_s:.2f} s CPU, "
          f"{client_cpu_s / frames * 1000:.2f} ms per frame")
    print(f"  frame-cache entry: {entry:,.0f} bytes on average at {SIZE} px")
    print(f"  one process, --jobs 1, every layer from the cache (overlays, encoders, pages): {client_fps:.1f} frames/s")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
