"""Tests for the animated WebP and MP4 writers (decoded with Pillow and PyAV)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.core.errors import AnimationError
from generator.encode.mp4 import YuvTable, mp4_timestamps, write_mp4
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
    ("durations", "timestamps"),
    [
        ([500, 500, 2000], [(0, 500), (500, 500), (1000, 2000)]),
        ([100, 250, 1500], [(0, 100), (100, 250), (350, 1500)]),
        ([7, 13], [(0, 7), (7, 13)]),  # any millisecond duration, no frame-rate cap
        ([0, 40], [(0, 1), (1, 40)]),  # a 0 ms frame lasts 1 ms: timestamps must increase
    ],
)
def test_mp4_timestamps_are_frame_starts_and_durations_in_ms(
    durations: list[int], timestamps: list[tuple[int, int]]
) -> None:
    assert mp4_timestamps(durations) == timestamps


def test_mp4_is_browser_ready_h264_with_even_size(tmp_path: Path) -> None:
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
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(decoded) == 3
    picture = decoded[-1].astype(int)
    # Away from the edge, where 4:2:0 chroma and compression blur colours.
    assert np.abs(picture[24, 50] - np.array(palette_rgb(60))).max() <= 16
    assert np.abs(picture[24, 8] - 255).max() <= 16  # transparent → white background
    assert np.abs(picture[47, 10] - 255).max() <= 16  # the padding row is background too


@pytest.mark.parametrize(
    "durations",
    [[300] * 5 + [1300], [100, 250, 40, 700, 1000, 3000], [7, 13, 20, 1, 999, 5]],
    ids=["demo-like", "uneven", "short"],
)
def test_mp4_has_one_frame_per_frame_with_its_own_duration(tmp_path: Path, durations: list[int]) -> None:
    frames = [np.full((HEIGHT, WIDTH), 10 + 40 * k, dtype=np.uint8) for k in range(len(durations))]
    path = tmp_path / "anim.mp4"
    write_mp4(path, frames, durations, distinct_palette(), None)

    starts = np.cumsum([0, *durations[:-1]]).tolist()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.frames == len(durations)
        # The file lasts the sum of the durations, the last frame's (the end pause) included.
        assert stream.duration * stream.time_base == Fraction(sum(durations), 1000)
        assert container.duration == sum(durations) * 1000  # microseconds
        decoded = list(container.decode(stream))
    assert len(decoded) == len(durations)
    assert [frame.pts * frame.time_base for frame in decoded] == [Fraction(s, 1000) for s in starts]
    assert [frame.duration * frame.time_base for frame in decoded] == [Fraction(d, 1000) for d in durations]
    for frame, source in zip(decoded, frames, strict=True):  # each frame shows its own picture
        shown = frame.to_ndarray(format="rgb24")[HEIGHT // 2, WIDTH // 2].astype(int)
        assert np.abs(shown - np.array(palette_rgb(int(source[0, 0])))).max() <= 12


def bt709_limited_to_rgb(yuv420p: np.ndarray, height: int) -> np.ndarray:
    """RGB of a decoded yuv420p frame by the BT.709 limited-range formulas (chroma upsampled by
    repetition): independent of the decoder's own conversion and of PyAV's defaults."""
    width = yuv420p.shape[1]
    y = yuv420p[:height].astype(float)
    chroma = yuv420p[height:].reshape(2, height // 2, width // 2).astype(float)
    u, v = (np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1) for plane in chroma)
    luma, cb, cr = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    red = luma + 2 * (1 - 0.2126) * cr
    blue = luma + 2 * (1 - 0.0722) * cb
    green = (luma - 0.2126 * red - 0.0722 * blue) / 0.7152
    return np.clip(np.stack([red, green, blue], axis=-1) * 255, 0, 255)


def test_mp4_colours_are_the_palette_colours(tmp_path: Path) -> None:
    # 16 blocks of 16×16 px, each one palette entry spread over the whole colour cube, with a
    # transparent block shown as the background colour.
    entries = [0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 187, 204, 221, 238, 255]
    frame = np.kron(np.array(entries, dtype=np.uint8).reshape(4, 4), np.ones((16, 16), dtype=np.uint8))
    path = tmp_path / "anim.mp4"
    write_mp4(path, [frame, frame], [500, 1000], distinct_palette(), 0, background_rgb=(200, 30, 90))

    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray() for frame in container.decode(video=0)]
    palette = np.frombuffer(distinct_palette(), dtype=np.uint8).reshape(256, 3).astype(int)
    for planes in decoded:
        rgb = bt709_limited_to_rgb(planes, 64)
        for number, entry in enumerate(entries):
            row, col = divmod(number, 4)
            expected = np.array([200, 30, 90]) if entry == 0 else palette[entry]
            # The middle 8×8 of the block: away from edges, where 4:2:0 chroma mixes
            # neighbours. What is left is rounding (Y, U, V are whole levels of 219 or 224
            # steps: ±1 level is ±1.2-2.4 in R, G or B once combined) and x264's quantisation
            # at crf 20 on a flat block (a level or two): 6 covers both with a margin, and is
            # far below the gap between neighbouring palette entries here (≥ 17).
            centre = rgb[row * 16 + 4 : row * 16 + 12, col * 16 + 4 : col * 16 + 12]
            error = np.abs(centre - expected).max()
            assert error <= 6, f"entry {entry}: off by {error:.1f}"


def test_mp4_planes_match_swscale_conversion_of_the_rgb_frame() -> None:
    """The palette table gives the planes swscale made from RGB frames before it (±1 level)."""
    from av import VideoFrame

    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, size=(47, 63), dtype=np.uint8)  # odd: padded with background
    frame[10:30, 5:40] = TRANSPARENT
    palette = distinct_palette()
    table = YuvTable(palette, TRANSPARENT, (255, 255, 255))
    ours = table.yuv420p(frame).astype(int)

    lookup = np.frombuffer(palette, dtype=np.uint8).reshape(256, 3).copy()
    lookup[TRANSPARENT] = 255
    rgb = np.full((48, 64, 3), 255, dtype=np.uint8)
    rgb[:47, :63] = lookup[frame]
    theirs = VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709"
    ).to_ndarray().astype(int)
    assert ours.shape == theirs.shape == (72, 64)
    assert np.abs(ours - theirs).max() <= 1


def test_mp4_bytes_do_not_depend_on_the_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    frames = [rng.integers(0, 256, size=(96, 128), dtype=np.uint8) for _ in range(12)]
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    write_mp4(first, frames, [300] * 11 + [1300], distinct_palette(), TRANSPARENT)
    write_mp4(second, frames, [300] * 11 + [1300], distinct_palette(), TRANSPARENT)
    assert first.read_bytes() == second.read_bytes()
    with av.open(str(first)) as container:  # one x264 thread, whatever the machine has
        first_packet = next(container.demux(video=0))
    assert b"threads=1 " in bytes(first_packet)


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


def test_webp_lossless_frames_use_the_measured_effort_whatever_the_config_quality(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from generator.encode.registry import Animation
    from generator.encode.webp import WebpEncoder

    frames = sequence()
    animation = Animation(WIDTH, HEIGHT, distinct_palette(), TRANSPARENT, (100, 250, 250, 400, 1500))
    configured, measured = tmp_path / "configured.webp", tmp_path / "measured.webp"
    WebpEncoder().encode(configured, animation, frames, SimpleNamespace(lossless=True, quality=90))
    write_webp(measured, frames, animation.durations_ms, distinct_palette(), TRANSPARENT)
    assert configured.read_bytes() == measured.read_bytes()
    # Lossy frames take the configured quality.
    low, high = tmp_path / "low.webp", tmp_path / "high.webp"
    WebpEncoder().encode(low, animation, frames, SimpleNamespace(lossless=False, quality=5))
    WebpEncoder().encode(high, animation, frames, SimpleNamespace(lossless=False, quality=95))
    assert low.stat().st_size < high.stat().st_size


def test_webp_frames_after_the_first_cover_only_what_changed(tmp_path: Path) -> None:
    """Later frames hold the changed rectangle, its corner moved to even coordinates (WebP stores
    offsets halved); the decoded frames are still exactly the input."""
    first = np.full((HEIGHT, WIDTH), 9, dtype=np.uint8)
    second = first.copy()
    second[5:9, 7:11] = TRANSPARENT  # odd corner: rows 5-8, columns 7-10
    frames = [first, second, second.copy()]
    path = tmp_path / "anim.webp"
    write_webp(path, frames, [100, 100, 100], distinct_palette(), TRANSPARENT)

    data, position, rects = path.read_bytes(), 12, []
    while position < len(data):
        fourcc, size = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "little")
        if fourcc == b"ANMF":
            header = data[position + 8 : position + 20]
            x, y = 2 * int.from_bytes(header[0:3], "little"), 2 * int.from_bytes(header[3:6], "little")
            width, height = int.from_bytes(header[6:9], "little") + 1, int.from_bytes(header[9:12], "little") + 1
            rects.append((x, y, width, height))
        position += 8 + size + size % 2
    assert rects == [(0, 0, WIDTH, HEIGHT), (6, 4, 5, 5), (6, 4, 5, 5)]
    with Image.open(path) as image:
        for number, frame in enumerate(frames):
            image.seek(number)
            np.testing.assert_array_equal(np.array(image.convert("RGBA"))[..., 3], intended_rgba(frame, TRANSPARENT)[..., 3])


# --------------------------------------------------------------------------------------------
# The shared per-frame work: frame PNGs, colours, YUV planes


def test_palette_pngs_are_read_without_pillow_and_other_pngs_with_it() -> None:
    import io

    from generator.encode.indexed import png_indices
    from generator.encode.stills import poster_png
    from generator.engine.tasks import frame_indices

    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, size=(37, 51), dtype=np.uint8)
    frame[:, :20] = 3  # runs, so the PNG compresses
    picture = poster_png(frame, distinct_palette(), TRANSPARENT)
    fast = png_indices(picture)
    assert fast is not None and fast.dtype == np.uint8 and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, frame)
    np.testing.assert_array_equal(frame_indices(picture), frame)
    # Not an unfiltered 8-bit palette PNG: None here, Pillow reads it in frame_indices.
    rgba = intended_rgba(frame, TRANSPARENT)
    full = poster_png(rgba, distinct_palette(), TRANSPARENT)
    assert png_indices(full) is None
    np.testing.assert_array_equal(frame_indices(full), rgba)
    small = io.BytesIO()
    four_bit = Image.frombytes("P", (51, 37), (frame % 16).tobytes())
    four_bit.putpalette(distinct_palette()[:48])
    four_bit.save(small, format="PNG")
    assert png_indices(small.getvalue()) is None
    np.testing.assert_array_equal(frame_indices(small.getvalue()), frame % 16)
    assert png_indices(b"not a png") is None


def test_indices_to_rgba_looks_every_entry_up() -> None:
    from generator.encode.indexed import indices_to_rgba

    frame = np.arange(256, dtype=np.uint8).reshape(16, 16)[:, 3:]  # a view, not contiguous
    for transparent in (TRANSPARENT, None, 200):
        np.testing.assert_array_equal(indices_to_rgba(frame, distinct_palette(), transparent), intended_rgba(frame, transparent))


def test_rgba_lookup_image_is_the_rgba_of_the_indices() -> None:
    from generator.encode.indexed import RgbaLookup

    frame = np.arange(256, dtype=np.uint8).reshape(16, 16)[:, 3:]  # a view, not contiguous
    for transparent in (TRANSPARENT, None, 200):
        lookup = RgbaLookup(distinct_palette(), transparent)
        intended = intended_rgba(frame, transparent)
        np.testing.assert_array_equal(np.asarray(lookup.image(frame)), intended)
        np.testing.assert_array_equal(np.asarray(lookup.image(frame, "RGB")), intended[..., :3])


def test_formats_of_an_animation_share_one_decode_of_each_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoding tasks in one process decode each frame PNG once between them (read-only arrays),
    up to the memo's budget; other frame PNGs replace the kept ones."""
    from generator.encode.stills import poster_png
    from generator.engine import tasks

    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, size=(HEIGHT, WIDTH), dtype=np.uint8) for _ in range(4)]
    pictures = [poster_png(frame, distinct_palette(), TRANSPARENT) for frame in frames]
    decoded: list[bytes] = []
    real = tasks.frame_indices

    def counted(picture: bytes) -> np.ndarray:
        decoded.append(picture)
        return real(picture)

    monkeypatch.setattr(tasks, "frame_indices", counted)
    memo = tasks.DecodedFrames(budget=3 * HEIGHT * WIDTH)  # room for three of the four frames
    for _ in range(3):  # e.g. the GIF, the WebP and the MP4
        given = list(memo.frames(tuple(pictures)))
        for frame, intended in zip(given, frames, strict=True):
            np.testing.assert_array_equal(frame, intended)
            assert not frame.flags.writeable
    assert decoded == [*pictures, pictures[3], pictures[3]]  # the fourth is over the budget
    decoded.clear()
    copies = [bytes(picture) for picture in pictures]  # equal bytes (a worker unpickles copies): kept
    assert len(list(memo.frames(copies))) == 4 and decoded == [pictures[3]]
    decoded.clear()
    other = pictures[::-1]
    assert len(list(memo.frames(other))) == 4 and decoded == other


def test_encode_file_gives_every_format_the_same_frames(tmp_path: Path) -> None:
    from generator.encode import registry
    from generator.encode.stills import poster_png
    from generator.engine.tasks import encode_file

    seen: list[list[np.ndarray]] = []

    class Recorder:
        name, suffix, media_type, label = "recorder", ".rec", "application/octet-stream", "Rec"

        def encode(self, path: Path, animation: registry.Animation, frames: Iterator[np.ndarray], options: object) -> None:
            seen.append(list(frames))
            path.write_bytes(b"ok")

    pictures = tuple(poster_png(frame, distinct_palette(), TRANSPARENT) for frame in sequence())
    animation = registry.Animation(WIDTH, HEIGHT, distinct_palette(), TRANSPARENT, (100,) * len(pictures))
    assert encode_file(Recorder(), animation, pictures, None) == encode_file(Recorder(), animation, pictures, None) == b"ok"
    first, second = seen
    assert all(a is b for a, b in zip(first, second, strict=True))
    for frame, intended in zip(first, sequence(), strict=True):
        np.testing.assert_array_equal(frame, intended)


@pytest.mark.parametrize("size", [(24, 32), (23, 32), (24, 31), (23, 31), (1, 1), (86, 64)])
def test_mp4_planes_from_the_palette_are_those_of_the_rgba_frame(size: tuple[int, int]) -> None:
    """The palette table (by pixel pairs) gives exactly the planes that the per-pixel formulas
    give the frame's colours, for every parity of width and height."""
    from generator.encode.mp4 import RgbaYuv

    rng = np.random.default_rng(sum(size))
    frame = rng.integers(0, 256, size=size, dtype=np.uint8)
    frame[::3, ::2] = TRANSPARENT
    background = (200, 30, 90)
    table = YuvTable(distinct_palette(), TRANSPARENT, background)
    planes = table.yuv420p(frame)
    np.testing.assert_array_equal(planes, RgbaYuv(background).yuv420p(intended_rgba(frame, TRANSPARENT)))
    # Written into a reused array (and scratch kept from a frame of another size): the same.
    table.yuv420p(rng.integers(0, 256, size=(size[0] + 3, size[1] + 1), dtype=np.uint8))
    reused = np.full_like(planes, 7)
    assert table.yuv420p(frame, reused) is reused
    np.testing.assert_array_equal(reused, planes)


@pytest.mark.parametrize("size", [(24, 30), (23, 29), (10, 64), (7, 1)])
def test_mp4_planes_written_into_a_video_frame_are_those_of_the_rgba_frame(size: tuple[int, int]) -> None:
    """The writer looks the planes up straight into PyAV's frame, whose rows are padded to an
    aligned length (30 columns: rows of 32 or more bytes): exactly the planes the per-pixel
    formulas give the frame's colours, every pixel written (the frame and the table's scratch
    hold another frame's before), odd sizes padded with the background (transparent index 7,
    so the padding is not index 0's colour by chance)."""
    from av import VideoFrame

    from generator.encode.mp4 import RgbaYuv, _frame_planes, yuv420p_planes

    rng = np.random.default_rng(sum(size) + 1)
    background, transparent = (200, 30, 90), 7
    table = YuvTable(distinct_palette(), transparent, background)
    frames = [rng.integers(0, 256, size=size, dtype=np.uint8) for _ in range(2)]
    frames[1][::2, 1::3] = transparent
    even_h, even_w = size[0] + size[0] % 2, size[1] + size[1] % 2
    video_frame = VideoFrame(even_w, even_h, "yuv420p")
    for frame in frames:
        table.planes_into(frame, *_frame_planes(video_frame))
        expected = RgbaYuv(background).yuv420p(intended_rgba(frame, transparent))
        for written, plane in zip(_frame_planes(video_frame), yuv420p_planes(expected), strict=True):
            np.testing.assert_array_equal(written, plane)
        np.testing.assert_array_equal(video_frame.to_ndarray(format="yuv420p"), expected)
        np.testing.assert_array_equal(table.yuv420p(frame), expected)


def test_mp4_pair_tables_hold_each_pixel_of_the_pair() -> None:
    """Looked up by a pair of pixels (the frame read as uint16), the Y table gives each pixel's Y in
    its own byte and the U, V table the sums of the two pixels' U and V (in 1/16 steps)."""
    rng = np.random.default_rng(3)
    table = YuvTable(distinct_palette(), TRANSPARENT, (255, 255, 255))
    frame = rng.integers(0, 256, size=(9, 40), dtype=np.uint8)
    pairs = frame.view(np.uint16)
    np.testing.assert_array_equal(table.y_pairs[pairs].view(np.uint8), table.y[frame])
    sums = table.uv_pairs[pairs]
    first, second = frame[:, 0::2], frame[:, 1::2]
    np.testing.assert_array_equal(sums & 0xFFFF, table.u[first] + table.u[second])
    np.testing.assert_array_equal(sums >> 16, table.v[first] + table.v[second])


# --------------------------------------------------------------------------------------------
# Settings and determinism


def anmf_flags(path: Path) -> list[int]:
    data, position, flags = path.read_bytes(), 12, []
    while position < len(data):
        fourcc, size = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "little")
        if fourcc == b"ANMF":
            flags.append(data[position + 8 + 15])
        position += 8 + size + size % 2
    return flags


@pytest.mark.parametrize("rgb", [False, True], ids=["indices", "rgba"])
def test_webp_blends_frames_unless_a_pixel_turns_transparent(tmp_path: Path, rgb: bool) -> None:
    """Lossless frames after the first write their unchanged pixels transparent and are blended
    (flags 0), unless a pixel turns transparent (flags 2: no blending); either way every frame
    decodes to exactly its pixels."""
    frames = sequence()  # 2: a hole opens (no blending); 3: repeated; 4: part refilled (blended)
    frames.append(frames[-1].copy())
    frames[-1][20:, :] = 5  # opaque pixels change: blended
    given = [intended_rgba(frame, TRANSPARENT) for frame in frames] if rgb else frames
    path = tmp_path / "anim.webp"
    write_webp(path, given, [100] * len(frames), distinct_palette(), TRANSPARENT, rgb=rgb)
    assert anmf_flags(path) == [2, 2, 2, 0, 0, 0]
    with Image.open(path) as image:
        for number, frame in enumerate(frames):
            image.seek(number)
            decoded, intended = np.array(image.convert("RGBA")), intended_rgba(frame, TRANSPARENT)
            np.testing.assert_array_equal(decoded[..., 3], intended[..., 3])
            visible = intended[..., 3] > 0
            np.testing.assert_array_equal(decoded[visible], intended[visible])


def test_webp_without_transparency_or_lossy_is_not_blended(tmp_path: Path) -> None:
    frames = [frame.copy() for frame in sequence()]
    for frame in frames:
        frame[frame == TRANSPARENT] = 1
    opaque, lossy = tmp_path / "opaque.webp", tmp_path / "lossy.webp"
    write_webp(opaque, frames, [100] * 5, distinct_palette(), None)
    write_webp(lossy, sequence(), [100] * 5, distinct_palette(), TRANSPARENT, lossless=False)
    assert set(anmf_flags(opaque)) == set(anmf_flags(lossy)) == {2}


def test_mp4_uses_the_measured_x264_settings(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    write_mp4(path, sequence(), [100] * 5, distinct_palette(), TRANSPARENT)
    with av.open(str(path)) as container:
        settings = bytes(next(container.demux(video=0)))
    # No deblocking, diamond search, no partitions below 16×16 in P-frames and no 8×8 transform
    # (0x1: intra 4×4 only), no weighted P-frames.
    for setting in (
        b"deblock=0:", b"me=dia ", b"analyse=0x1:0x1 ", b"8x8dct=0 ", b"weightp=0 ", b"bframes=0 ", b"threads=1 ",
    ):
        assert setting in settings


def test_mp4_bytes_at_heights_of_4n_plus_2_do_not_depend_on_what_ran_before(tmp_path: Path) -> None:
    """Chroma planes of odd height (86 / 2 = 43): the same frames give the same bytes, after
    other sizes and from several threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(86)
    frames = [rng.integers(0, 256, size=(86, 64), dtype=np.uint8) for _ in range(4)]

    def written(name: str, shape: tuple[int, int] = (86, 64)) -> bytes:
        path = tmp_path / f"{name}.mp4"
        given = frames if shape == (86, 64) else [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(4)]
        write_mp4(path, given, [300] * 4, distinct_palette(), TRANSPARENT)
        return path.read_bytes()

    first = written("first")
    written("other", (90, 66))
    written("odd", (43, 31))
    with ThreadPoolExecutor(3) as pool:
        again = list(pool.map(written, ["a", "b", "c"]))
    assert again == [first] * 3 and written("last") == first
