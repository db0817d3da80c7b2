"""Frames per second of the local renderer and of the TiTiler renderer on the same 24 frames.

Not a test: run it by hand (``python benchmarks/renderers.py [--size 512] [--frames 24]``). It
writes 24 synthetic float32 COGs over France, starts a real TiTiler on 127.0.0.1 (the same
server the tests use), renders every frame onto the France grid with each renderer and prints
frames/s and CPU per frame (TiTiler's: this process and the server's), and their ratios. The
local renderer reads one frame after the other in this thread, then ``--readers`` frames at once
(threads: GDAL warps without the GIL; a ``--jobs 2`` build reads in two worker processes);
TiTiler has ``--concurrency`` requests in flight, so on an idle 2-core machine its server uses
both cores. The per-frame comparison is CPU a frame, or frames/s at equal concurrency (local
with 2 readers); with one local reader, frames/s gives TiTiler two cores and the local renderer
one. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator.core import buildcache  # noqa: E402
from generator.core.model import FramePlan, ItemAsset, Style  # noqa: E402
from generator.render.grid import make_grid, output_crs, project  # noqa: E402
from generator.render.local import LocalRenderer, render_frames  # noqa: E402
from generator.render.titiler import TitilerRenderer  # noqa: E402
from generator.sources.http import HttpSettings, make_session  # noqa: E402
from generator.sources.regions import region_outline  # noqa: E402
from tests.conftest import TEST_GEO, write_cog  # noqa: E402
from tests.servers.titiler import start_titiler  # noqa: E402


def synthetic_frames(folder: Path, count: int) -> list[FramePlan]:
    """``count`` 720×480 COGs at 0.025° over France (VEDA-like float32, EPSG:4326)."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:480, 0:720]
    start = datetime(2022, 1, 1, tzinfo=UTC)
    frames = []
    for number in range(count):
        field = 50 + 40 * np.sin(cols / 60 + number / 3) * np.cos(rows / 45) + rng.normal(0, 2, rows.shape)
        path = write_cog(folder / f"frame{number:02d}.tif", field.astype("float32"), west=-6.0, north=52.0, res=0.025)
        when = start + timedelta(days=31 * number)
        frames.append(FramePlan(datetime=when, items=(ItemAsset(f"frame{number}", when, str(path)),)))
    return frames


def cpu_seconds(server: Callable[[], float] | None = None) -> float:
    """CPU time of this process (every thread), plus the server's when given."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + (server() if server else 0.0)


def server_cpu() -> Callable[[], float]:
    """The TiTiler server's CPU time (the uvicorn process this one started)."""
    import psutil

    (process,) = (child for child in psutil.Process().children(recursive=True) if "uvicorn" in " ".join(child.cmdline()))
    return lambda: sum(process.cpu_times()[:2])


def timed(label: str, run: Callable[[], int], server: Callable[[], float] | None = None) -> tuple[float, float]:
    """Frames per second and CPU milliseconds per frame of ``run``."""
    started, started_cpu = time.perf_counter(), cpu_seconds(server)
    count = run()
    seconds, cpu = time.perf_counter() - started, cpu_seconds(server) - started_cpu
    rate, per_frame = count / seconds, 1000 * cpu / count
    print(f"{label:<28} {count} frames in {seconds:6.2f} s  = {rate:6.2f} frames/s, {per_frame:6.1f} ms CPU a frame")
    return rate, per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4, help="TiTiler requests in flight (per-host bound)")
    parser.add_argument("--readers", type=int, default=2, help="frames the local renderer reads at once, second run")
    args = parser.parse_args()

    region = region_outline(json.loads((TEST_GEO / "france-metropole.geojson").read_text()), "France")
    crs = output_crs("auto", region)
    projected = project(region, crs)
    grid = make_grid(projected, crs, args.size)
    style = Style(rescale=(0, 100), resampling="bilinear")
    with tempfile.TemporaryDirectory() as folder:
        frames = synthetic_frames(Path(folder), args.frames)
        print(f"{args.frames} frames, {grid.width}×{grid.height} px, France, {style.resampling} resampling")
        list(render_frames(frames[:1], grid, style, LocalRenderer(), projected))  # warm-up, as TiTiler gets: imports
        buildcache.clear()  # closes the file it kept open and forgets the grid's geometry: each is paid again below
        local, local_cpu = timed(
            "local renderer", lambda: sum(1 for _ in render_frames(frames, grid, style, LocalRenderer(), projected))
        )
        list(render_frames(frames[:args.readers], grid, style, LocalRenderer(), projected, workers=args.readers))
        buildcache.clear()  # the reader threads have warmed up (imports), and start as cold as the first run
        readers, _ = timed(
            f"local renderer (×{args.readers})",
            lambda: sum(1 for _ in render_frames(frames, grid, style, LocalRenderer(), projected, workers=args.readers)),
        )
        with start_titiler() as server:
            session = make_session(HttpSettings(max_per_host=args.concurrency))
            titiler = TitilerRenderer(server.url, session, concurrency=args.concurrency)
            list(render_frames(frames[:1], grid, style, titiler, projected))  # warm-up: imports, GDAL caches
            remote, remote_cpu = timed(
                f"TiTiler renderer (×{args.concurrency})",
                lambda: sum(1 for _ in render_frames(frames, grid, style, titiler, projected)),
                server_cpu(),
            )
    print(
        f"ratio local / TiTiler: {remote_cpu / local_cpu:.2f} in CPU a frame, {readers / remote:.2f} in frames/s with "
        f"{args.readers} local readers, {local / remote:.2f} with one"
    )


if __name__ == "__main__":
    main()
