"""Tests for the animated WebP and MP4 writers (decoded with Pillow and PyAV)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.core.errors import AnimationError
from generator.encode.mp4 import mp4_timing, write_mp4
from generator.encode.webp import write_webp

av = pytest.importorskip("av")

HEIGHT, WIDTH = 24, 32
TRANSPARENT = 0


def distinct_palette() -> bytes:
    return bytes(channel for i in range(256) for channel in (i, 255 - i, (i * 37) % 256))


def palette_rgb(index: int) -> tuple[int, int, int]:
    return (index, 255 - index, (index * 37) % 256)


def sequence() -> list[np.ndarray]:
    """Five frames; 1-2 and 3-4 are identical pairs; holes open and close."""
    rng = np.random.default_rng(3)
    first = rng.integers(1, 256, size=(HEIGHT, WIDTH), dtype=np.uint8)
    holed = first.copy()
    holed[4:12, 6:20] = TRANSPARENT
    refilled = holed.copy()
    refilled[4:8, 6:20] = 77
    return [first, holed, holed.copy(), refilled, refilled.copy()]


def intended_rgba(indices: np.ndarray, transparent: int | None) -> np.ndarray:
    table = np.frombuffer(distinct_palette(), dtype=np.uint8).reshape(256, 3)
    rgba = np.empty(indices.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = table[indices]
    rgba[..., 3] = 255
    if transparent is not None:
        rgba[indices == transparent, 3] = 0
    return rgba


def one_at_a_time(frames: list[np.ndarray]) -> Iterator[np.ndarray]:
    yield from frames


# --------------------------------------------------------------------------------------------
# WebP


@pytest.mark.parametrize("transparent", [TRANSPARENT, None], ids=["transparent", "opaque"])
def test_webp_keeps_every_frame_its_duration_and_exact_pixels(
    tmp_path: Path, transparent: int | None
) -> None:
    frames = sequence()
    durations = [100, 250, 250, 400, 1500]
    path = tmp_path / "anim.webp"
    write_webp(path, one_at_a_time(frames), durations, distinct_palette(), transparent, loop=0)

    with Image.open(path) as image:
        assert image.format == "WEBP"
        assert image.size == (WIDTH, HEIGHT)
        assert image.n_frames == 5  # identical neighbours are not merged
        assert image.info["loop"] == 0
        decoded, seen_durations = [], []
        for number in range(image.n_frames):
            image.seek(number)
            decoded.append(np.array(image.convert("RGBA")))
            seen_durations.append(image.info["duration"])  # Pillow sets it when loading
    assert seen_durations == durations
    for number, (shown, frame) in enumerate(zip(decoded, frames, strict=True)):
        expected = intended_rgba(frame, transparent)
        np.testing.assert_array_equal(shown[..., 3], expected[..., 3], err_msg=f"frame {number}")
        visible = expected[..., 3] > 0
        np.testing.assert_array_equal(shown[visible, :3], expected[visible, :3])


def test_webp_loop_count_and_lossy_mode(tmp_path: Path) -> None:
    path = tmp_path / "anim.webp"
    flat = np.full((HEIGHT, WIDTH), 200, dtype=np.uint8)
    write_webp(path, [flat, flat], [100, 100], distinct_palette(), None, loop=3,
               lossless=False, quality=80)

    with Image.open(path) as image:
        assert image.info["loop"] == 3
        assert image.n_frames == 2
        rgb = np.array(image.convert("RGB")).astype(int)
    assert np.abs(rgb - np.array(palette_rgb(200))).max() <= 8


def test_webp_with_wrong_duration_count_raises_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "anim.webp"
    with pytest.raises(AnimationError, match="durations"):
        write_webp(path, sequence(), [100, 100], distinct_palette(), TRANSPARENT)
    assert not path.exists()


def test_webp_rejects_frames_of_different_sizes(tmp_path: Path) -> None:
    path = tmp_path / "anim.webp"
    frames = [np.zeros((HEIGHT, WIDTH), np.uint8), np.zeros((HEIGHT, WIDTH + 2), np.uint8)]
    with pytest.raises(AnimationError, match="same size"):
        write_webp(path, frames, [100, 100], distinct_palette(), TRANSPARENT)
    assert not path.exists()


# --------------------------------------------------------------------------------------------
# MP4


@pytest.mark.parametrize(
    ("durations", "tick", "repeats"),
    [
        ([500, 500, 2000], 500, [1, 1, 4]),
        ([100, 250, 1500], 50, [2, 5, 30]),
        ([7, 13], 20, [1, 1]),  # above 50 fps: rounded to 20 ms ticks, at least one each
        ([0, 40], 40, [1, 1]),
    ],
)
def test_mp4_timing_uses_the_common_tick(
    durations: list[int], tick: int, repeats: list[int]
) -> None:
    assert mp4_timing(durations) == (tick, repeats)


def test_mp4_is_browser_ready_h264_with_even_size_and_expected_length(tmp_path: Path) -> None:
    # 47×63 is odd both ways: padded to 48×64, never stretched.
    frame = np.full((47, 63), 60, dtype=np.uint8)
    frame[:, :32] = TRANSPARENT
    path = tmp_path / "anim.mp4"
    write_mp4(path, one_at_a_time([frame, frame, frame]), [500, 500, 1500],
              distinct_palette(), TRANSPARENT, background_rgb=(255, 255, 255))

    data = path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")  # faststart: index before the data
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (64, 48)
        assert stream.average_rate == 2  # 500 ms ticks
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(decoded) == 1 + 1 + 3
    picture = decoded[-1].astype(int)
    # Away from the edge, where 4:2:0 chroma and compression blur colours.
    assert np.abs(picture[24, 50] - np.array(palette_rgb(60))).max() <= 16
    assert np.abs(picture[24, 8] - 255).max() <= 16  # transparent → white background
    assert np.abs(picture[47, 10] - 255).max() <= 16  # the padding row is background too


def test_mp4_without_transparency_and_custom_background(tmp_path: Path) -> None:
    frame = np.full((HEIGHT, WIDTH), 0, dtype=np.uint8)  # index 0 is (0, 255, 0) here
    path = tmp_path / "anim.mp4"
    write_mp4(path, [frame], [1000], distinct_palette(), None, background_rgb=(0, 0, 0))

    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 1
    assert np.abs(decoded[0][10, 10].astype(int) - np.array([0, 255, 0])).max() <= 12


def test_mp4_with_wrong_duration_count_raises_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "anim.mp4"
    with pytest.raises(AnimationError, match="durations"):
        write_mp4(path, sequence(), [100], distinct_palette(), TRANSPARENT)
    assert not path.exists()


def test_mp4_rejects_a_bad_background(tmp_path: Path) -> None:
    with pytest.raises(AnimationError, match="background"):
        write_mp4(tmp_path / "a.mp4", sequence(), [100] * 5, distinct_palette(), 0,
                  background_rgb=(0, 0, 300))
