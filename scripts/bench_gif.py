"""Benchmark: our streaming GifWriter against Pillow's own multi-frame GIF writer.

Our writer runs twice, with its frame-difference optimisation (the default) and with
``optimize=False`` (every frame whole). All encode the same 24 synthetic 512×512 frames: a smooth, slowly moving field mapped to 255
palette levels, with a transparent index outside a disc. Our writer receives the palette
indices; Pillow receives the intended RGB frames and ``save_all=True``, so it quantizes every
frame itself, as a naive pipeline would.

Printed for each writer: best-of-3 encode time, file size, decoded frame count and whether the
decoded colours are exactly the intended ones (every pixel of every frame). Pillow gets
opaque RGB frames, so its area outside the disc is compared to the transparent entry's colour;
for our GIF those pixels must decode as fully transparent instead. Then the time and size
ratios of each of our runs against Pillow (goal: at least 5× faster, no larger, exact).

Pillow's quantization is exact only while a frame holds at most 256 distinct colours; these
frames do, so the comparison shows its best case.

Run with ``python scripts/bench_gif.py``; it takes a few seconds.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.encode.gif import GifWriter  # noqa: E402

SIZE = 512
FRAME_COUNT = 24
DURATION_MS = 200
TRANSPARENT_INDEX = 0
DATA_LEVELS = 255  # indices 1..255 carry data; 0 is transparent
REPEATS = 3


def make_palette() -> np.ndarray:
    """256×3 uint8: index 0 (transparent) is black, 1..255 a blue→yellow ramp."""
    ramp = np.linspace(0.0, 1.0, DATA_LEVELS)
    data = np.stack([255 * ramp, 80 + 120 * np.sin(np.pi * ramp), 255 * (1 - ramp)], axis=1)
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[1:] = np.round(data).astype(np.uint8)
    return palette


def make_frames() -> list[np.ndarray]:
    """Palette-index frames: a drifting smooth field inside a disc, transparent outside."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / SIZE
    inside = (rows - 0.5) ** 2 + (cols - 0.5) ** 2 < 0.45**2
    frames = []
    for step in range(FRAME_COUNT):
        phase = 2 * np.pi * step / FRAME_COUNT
        field = (
            np.sin(6 * cols + phase)
            + np.cos(5 * rows - 0.7 * phase)
            + 0.5 * np.sin(9 * (rows + cols))
        )
        normalised = (field - field.min()) / (field.max() - field.min())
        levels = 1 + np.round(normalised * (DATA_LEVELS - 1)).astype(np.uint8)
        frames.append(np.where(inside, levels, TRANSPARENT_INDEX).astype(np.uint8))
    return frames


def encode_with_gif_writer(
    path: Path, frames: list[np.ndarray], palette: np.ndarray, optimize: bool
) -> None:
    with GifWriter(path, SIZE, SIZE, palette.tobytes(), TRANSPARENT_INDEX, optimize=optimize) as gif:
        for frame in frames:
            gif.add_frame(frame, DURATION_MS)


def encode_with_pillow(path: Path, rgb_frames: list[np.ndarray]) -> None:
    images = [Image.fromarray(frame) for frame in rgb_frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=DURATION_MS, loop=0)


def best_time(encode: Callable[[], None]) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        encode()
        timings.append(time.perf_counter() - start)
    return min(timings)


def decoded_rgba_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        frames = []
        for number in range(image.n_frames):
            image.seek(number)
            frames.append(np.array(image.convert("RGBA")))
    return frames


def ours_is_exact(
    decoded: list[np.ndarray], intended_rgb: list[np.ndarray], frames: list[np.ndarray]
) -> bool:
    if len(decoded) != len(frames):
        return False
    for rgba, rgb, indices in zip(decoded, intended_rgb, frames, strict=True):
        opaque = indices != TRANSPARENT_INDEX
        if not (np.array_equal(rgba[opaque, :3], rgb[opaque]) and np.all(rgba[opaque, 3] == 255)):
            return False
        if np.any(rgba[~opaque, 3] != 0):
            return False
    return True


def pillow_is_exact(decoded: list[np.ndarray], intended_rgb: list[np.ndarray]) -> bool:
    if len(decoded) != len(intended_rgb):
        return False
    pairs = zip(decoded, intended_rgb, strict=True)
    return all(np.array_equal(rgba[..., :3], rgb) for rgba, rgb in pairs)


def max_colour_error(decoded: list[np.ndarray], intended_rgb: list[np.ndarray]) -> int:
    errors = [
        int(np.abs(rgba[..., :3].astype(int) - rgb.astype(int)).max())
        for rgba, rgb in zip(decoded, intended_rgb, strict=False)
    ]
    return max(errors, default=-1)


def main() -> None:
    palette = make_palette()
    frames = make_frames()
    intended_rgb = [palette[frame] for frame in frames]
    ours: dict[str, tuple[float, int, list[np.ndarray]]] = {}

    with tempfile.TemporaryDirectory() as folder:
        for label, optimize in (("GifWriter optimised", True), ("GifWriter whole", False)):
            path = Path(folder) / f"ours-{optimize}.gif"
            seconds = best_time(lambda path=path, optimize=optimize: encode_with_gif_writer(path, frames, palette, optimize))
            ours[label] = (seconds, path.stat().st_size, decoded_rgba_frames(path))
        pillow_path = Path(folder) / "pillow.gif"
        pillow_time = best_time(lambda: encode_with_pillow(pillow_path, intended_rgb))
        pillow_size = pillow_path.stat().st_size
        pillow_decoded = decoded_rgba_frames(pillow_path)

    print(f"{FRAME_COUNT} frames of {SIZE}×{SIZE}, best of {REPEATS}")
    print(f"{'writer':<22}{'time (s)':>10}{'size (KiB)':>12}{'frames':>8}  exact colours")
    for label, (seconds, size, decoded) in ours.items():
        exact = ours_is_exact(decoded, intended_rgb, frames)
        print(f"{label:<22}{seconds:>10.3f}{size / 1024:>12.1f}{len(decoded):>8}  {exact}")
    pillow_exact = pillow_is_exact(pillow_decoded, intended_rgb)
    pillow_error = max_colour_error(pillow_decoded, intended_rgb)
    print(
        f"{'Pillow save_all (RGB)':<22}{pillow_time:>10.3f}{pillow_size / 1024:>12.1f}"
        f"{len(pillow_decoded):>8}  {pillow_exact}"
        + ("" if pillow_exact else f" (max channel error {pillow_error})")
    )
    for label, (seconds, size, _decoded) in ours.items():
        print(
            f"{label} / Pillow: time ratio {seconds / pillow_time:.2f} "
            f"({pillow_time / seconds:.1f}× faster), size ratio {size / pillow_size:.2f}"
        )


if __name__ == "__main__":
    main()
