"""Benchmark of where a build without the cache keeps its layers (a script, not a test).

A ``--no-cache`` build reads each layer twice (the survey, then the painting) and keeps it in
between. This writes and reads back 24 layers of a 512 px frame (palette indices, with their
statistics) through the frame cache's PNG entries with their digest (``render.cache.FrameCache``,
as such builds kept them before) and through ``render.cache.ScratchLayers`` (raw arrays; zlib
level 1 past ``SCRATCH_COMPRESS_ABOVE``, measured too), and prints CPU medians of interleaved
rounds and the ratios.

Run: ``python benchmarks/layers.py [rounds]`` (default 9).
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.core.model import FrameStats  # noqa: E402
from generator.render.cache import FrameCache, LayerStore, ScratchLayers  # noqa: E402

FRAMES = 24
SHAPE = (474, 512)  # France at 512 px, as the demo's no2 animation


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def layers() -> list[np.ndarray]:
    """Smooth fields of palette indices with a transparent margin, as a region's layers are."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    made = []
    for number in range(FRAMES):
        layer = ((np.sin(cols / 40 + number / 3) * np.cos(rows / 30) + 1) * 120).astype(np.uint8)
        layer[:40] = 255
        made.append(layer)
    return made


def round_trip(make: Callable[[Path], LayerStore], data: list[np.ndarray]) -> float:
    """CPU seconds to keep every layer and read each back once."""
    stats = FrameStats(valid_fraction=0.9, mean=1.0, median=1.0, p10=0.5, p90=2.0)
    with tempfile.TemporaryDirectory(prefix="bench-layers-") as folder:
        store = make(Path(folder))
        started = cpu()
        for number, layer in enumerate(data):
            store.put(f"{number:064x}", layer, stats)
        for number, layer in enumerate(data):
            entry = store.get_entry(f"{number:064x}", SHAPE)
            assert entry is not None and np.array_equal(entry.layer, layer)
        return cpu() - started


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    data = layers()
    stores: dict[str, Callable[[Path], LayerStore]] = {
        "frame cache (PNG + digest)": FrameCache,
        "scratch layers (raw)": ScratchLayers,
        "scratch layers (zlib 1)": lambda folder: ScratchLayers(folder, compress=True),
    }
    times: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(rounds):
        for name, make in stores.items():
            times[name].append(round_trip(make, data))
    medians = {name: statistics.median(values) for name, values in times.items()}
    before = medians["frame cache (PNG + digest)"]
    for name, seconds in medians.items():
        print(f"{name:<28} {1000 * seconds:7.1f} ms CPU for {FRAMES} layers kept and read back ({before / seconds:.1f}× less than the frame cache)")
    print(f"medians of {rounds} interleaved rounds")


if __name__ == "__main__":
    main()
