"""Tests for the animate stage: streaming GIF writer, poster PNG and thumbnail.

GIFs are checked twice: with Pillow's decoder, and with a small block parser plus LZW decoder
and frame compositor written here, so that a mistake shared by our writer and Pillow cannot go
unnoticed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from generator.core.errors import AnimationError
from generator.encode.gif import GifWriter
from generator.encode.indexed import indices_to_rgba
from generator.encode.stills import (
    thumbnail_image,
    thumbnail_size,
    write_poster,
    write_thumbnail,
)

HEIGHT, WIDTH = 48, 64
TRANSPARENT = 0


# --------------------------------------------------------------------------------------------
# Test data


def distinct_palette() -> bytes:
    """256 different colours: red = i, green = 255 - i, blue varies, so any remap shows."""
    return bytes(channel for i in range(256) for channel in (i, 255 - i, (i * 37) % 256))


def all_indices_frame() -> np.ndarray:
    """Every index 0-255 appears (48×64 = 3072 = 12 × 256 pixels)."""
    return (np.arange(HEIGHT * WIDTH) % 256).astype(np.uint8).reshape(HEIGHT, WIDTH)


def disc_frame(fill: int) -> np.ndarray:
    """Index ``fill`` inside a centred disc, the transparent index outside."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    inside = (rows - HEIGHT / 2) ** 2 + (cols - WIDTH / 2) ** 2 < 20**2
    return np.where(inside, fill, TRANSPARENT).astype(np.uint8)


def gradient_frame(shift: int) -> np.ndarray:
    cols = np.broadcast_to(np.arange(WIDTH), (HEIGHT, WIDTH))
    return ((cols * 3 + shift) % 255 + 1).astype(np.uint8)


@pytest.fixture
def frames() -> list[np.ndarray]:
    """Five frames: the middle three are identical and must stay three frames."""
    repeated = disc_frame(fill=200)
    return [all_indices_frame(), repeated, repeated.copy(), repeated.copy(), gradient_frame(7)]


DURATIONS_MS = [100, 100, 100, 100, 1500]


def write_gif(
    path: Path, frames: list[np.ndarray], durations: list[int], **options: object
) -> None:
    settings: dict[str, object] = {"transparent_index": TRANSPARENT, **options}
    palette = settings.pop("palette_rgb", distinct_palette())
    with GifWriter(path, WIDTH, HEIGHT, palette, **settings) as gif:  # type: ignore[arg-type]
        for frame, duration in zip(frames, durations, strict=True):
            gif.add_frame(frame, duration)


@pytest.fixture
def keep_palette_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    # By default Pillow converts every frame after the first to RGB(A); we want raw indices.
    monkeypatch.setattr(
        GifImagePlugin,
        "LOADING_STRATEGY",
        GifImagePlugin.LoadingStrategy.RGB_AFTER_DIFFERENT_PALETTE_ONLY,
    )


# --------------------------------------------------------------------------------------------
# An independent GIF reader: block walker + LZW decoder


@dataclass
class ParsedFrame:
    delay_cs: int
    disposal: int
    transparent_index: int | None
    left: int
    top: int
    width: int
    height: int
    descriptor_flags: int
    indices: np.ndarray


@dataclass
class ParsedGif:
    version: bytes
    width: int
    height: int
    global_palette: bytes
    background_index: int
    loop: int | None = None
    frames: list[ParsedFrame] = field(default_factory=list)


def read_sub_blocks(data: bytes, position: int) -> tuple[bytes, int]:
    chunks = []
    while True:
        size = data[position]
        position += 1
        if size == 0:
            return b"".join(chunks), position
        chunks.append(data[position : position + size])
        position += size


def lzw_decode(min_code_size: int, data: bytes) -> bytes:
    clear_code = 1 << min_code_size
    end_code = clear_code + 1
    base_table = [bytes([i]) for i in range(clear_code)] + [b"", b""]
    table = list(base_table)
    code_size = min_code_size + 1
    previous: bytes | None = None
    output = bytearray()
    bit_buffer = bit_count = position = 0
    while True:
        while bit_count < code_size:
            if position >= len(data):
                return bytes(output)
            bit_buffer |= data[position] << bit_count
            bit_count += 8
            position += 1
        code = bit_buffer & ((1 << code_size) - 1)
        bit_buffer >>= code_size
        bit_count -= code_size
        if code == clear_code:
            table = list(base_table)
            code_size = min_code_size + 1
            previous = None
            continue
        if code == end_code:
            return bytes(output)
        if previous is None:
            entry = table[code]
        else:
            if code < len(table):
                entry = table[code]
            elif code == len(table):
                entry = previous + previous[:1]
            else:
                raise AssertionError(f"invalid LZW code {code}")
            if len(table) < 4096:
                table.append(previous + entry[:1])
        output += entry
        previous = entry
        if len(table) == 1 << code_size and code_size < 12:
            code_size += 1


def parse_gif(data: bytes) -> ParsedGif:
    assert data[:3] == b"GIF"
    width, height, packed, background, _aspect = struct.unpack_from("<HHBBB", data, 6)
    assert packed & 0x80, "no global colour table"
    table_bytes = 3 * (2 << (packed & 0x07))
    gif = ParsedGif(data[3:6], width, height, data[13 : 13 + table_bytes], background)
    position = 13 + table_bytes
    pending_control: tuple[int, int, int | None] = (0, 0, None)
    while True:
        introducer = data[position]
        if introducer == 0x3B:
            assert position == len(data) - 1, "bytes after the trailer"
            return gif
        if introducer == 0x21:
            label = data[position + 1]
            payload, position = read_sub_blocks(data, position + 2)
            if label == 0xF9:
                flags, delay, transparent = struct.unpack_from("<BHB", payload)
                transparency = transparent if flags & 1 else None
                pending_control = (delay, (flags >> 2) & 0b111, transparency)
            elif label == 0xFF and payload.startswith(b"NETSCAPE2.0"):
                # payload: "NETSCAPE2.0", then sub-block id 1 and the uint16 loop count
                gif.loop = struct.unpack_from("<H", payload, 12)[0]
        elif introducer == 0x2C:
            left, top, w, h, flags = struct.unpack_from("<HHHHB", data, position + 1)
            position += 10
            assert not flags & 0x80, "unexpected local colour table"
            min_code_size = data[position]
            compressed, position = read_sub_blocks(data, position + 1)
            pixels = lzw_decode(min_code_size, compressed)
            assert len(pixels) == w * h
            delay, disposal, transparency = pending_control
            gif.frames.append(
                ParsedFrame(
                    delay, disposal, transparency, left, top, w, h, flags,
                    np.frombuffer(pixels, dtype=np.uint8).reshape(h, w),
                )
            )
            pending_control = (0, 0, None)
        else:
            raise AssertionError(f"unknown GIF block 0x{introducer:02x} at {position}")


def palette_array(palette: bytes) -> np.ndarray:
    return np.frombuffer(palette, dtype=np.uint8).reshape(256, 3)


def compose_rgba(gif: ParsedGif) -> list[np.ndarray]:
    """What a GIF89a decoder shows for each frame, as RGBA (alpha 0 = see-through canvas).

    The canvas starts see-through; each image paints its non-transparent pixels inside its
    rectangle; before the next image, disposal 2 clears the rectangle and 3 restores what was
    there before the image was drawn.
    """
    palette = palette_array(gif.global_palette)
    canvas = np.zeros((gif.height, gif.width, 4), dtype=np.uint8)
    shown = []
    previous: tuple[ParsedFrame, np.ndarray] | None = None
    for frame in gif.frames:
        if previous is not None:
            last, before_last = previous
            area = (slice(last.top, last.top + last.height), slice(last.left, last.left + last.width))
            if last.disposal == 2:
                canvas[area] = 0
            elif last.disposal == 3:
                canvas[area] = before_last[area]
        before = canvas.copy()
        area = (slice(frame.top, frame.top + frame.height), slice(frame.left, frame.left + frame.width))
        painted = np.ones(frame.indices.shape, dtype=bool)
        if frame.transparent_index is not None:
            painted = frame.indices != frame.transparent_index
        region = canvas[area]
        region[painted, :3] = palette[frame.indices[painted]]
        region[painted, 3] = 255
        shown.append(canvas.copy())
        previous = (frame, before)
    return shown


def intended_rgba(indices: np.ndarray, palette: bytes, transparent: int | None) -> np.ndarray:
    rgba = np.empty(indices.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = palette_array(palette)[indices]
    rgba[..., 3] = 255
    if transparent is not None:
        rgba[indices == transparent, 3] = 0
    return rgba


def assert_same_picture(shown: np.ndarray, expected: np.ndarray, label: str) -> None:
    """Equal alpha everywhere and equal colour wherever the pixel is visible."""
    np.testing.assert_array_equal(shown[..., 3], expected[..., 3], err_msg=f"{label}: alpha")
    visible = expected[..., 3] > 0
    np.testing.assert_array_equal(shown[visible, :3], expected[visible, :3], err_msg=label)


def pillow_rgba_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        decoded = []
        for number in range(image.n_frames):
            image.seek(number)
            decoded.append(np.array(image.convert("RGBA")))
    return decoded


# --------------------------------------------------------------------------------------------
# GIF: decoded by Pillow


def test_pillow_sees_every_frame_including_identical_consecutive_ones(
    tmp_path: Path, frames: list[np.ndarray]
) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, frames, DURATIONS_MS)

    with Image.open(path) as image:
        assert image.n_frames == 5


def test_pillow_decodes_the_exact_indices_and_palette(
    tmp_path: Path, frames: list[np.ndarray], keep_palette_frames: None
) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, frames, DURATIONS_MS)

    with Image.open(path) as image:
        for number, expected in enumerate(frames):
            image.seek(number)
            assert image.mode == "P"
            np.testing.assert_array_equal(np.array(image), expected)
            assert bytes(image.getpalette("RGB")) == distinct_palette()


def test_pillow_reads_loop_transparency_and_durations(
    tmp_path: Path, frames: list[np.ndarray]
) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, frames, DURATIONS_MS)

    with Image.open(path) as image:
        assert image.info["loop"] == 0
        assert image.info["transparency"] == TRANSPARENT
        durations = []
        for number in range(image.n_frames):
            image.seek(number)
            durations.append(image.info["duration"])
    assert durations == [100, 100, 100, 100, 1500]


def test_loop_count_is_written_as_given(tmp_path: Path, frames: list[np.ndarray]) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, frames[:2], [100, 100], loop=3)

    with Image.open(path) as image:
        assert image.info["loop"] == 3
    assert parse_gif(path.read_bytes()).loop == 3


def test_transparent_pixels_do_not_show_the_previous_frame(
    tmp_path: Path, frames: list[np.ndarray]
) -> None:
    # Frame 0 is opaque everywhere; frame 1 is transparent outside a disc. Composited in RGBA,
    # frame 1's corners must be see-through, not frame 0's colours.
    path = tmp_path / "anim.gif"
    write_gif(path, frames, DURATIONS_MS)

    with Image.open(path) as image:
        image.seek(1)
        rgba = np.array(image.convert("RGBA"))
    assert rgba[0, 0, 3] == 0
    assert rgba[-1, -1, 3] == 0
    assert tuple(rgba[HEIGHT // 2, WIDTH // 2]) == (200, 55, (200 * 37) % 256, 255)


# --------------------------------------------------------------------------------------------
# GIF: decoded independently


def test_block_structure_has_one_global_palette_and_one_image_per_frame(
    tmp_path: Path, frames: list[np.ndarray]
) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, frames, DURATIONS_MS, optimize=False)

    gif = parse_gif(path.read_bytes())

    assert gif.version == b"89a"
    assert (gif.width, gif.height) == (WIDTH, HEIGHT)
    assert gif.global_palette == distinct_palette()
    assert gif.loop == 0
    assert len(gif.frames) == 5
    for frame in gif.frames:
        assert (frame.left, frame.top, frame.width, frame.height) == (0, 0, WIDTH, HEIGHT)
        assert frame.descriptor_flags == 0  # no local table, not interlaced
        assert frame.disposal == 2
        assert frame.transparent_index == TRANSPARENT
    assert [frame.delay_cs for frame in gif.frames] == [10, 10, 10, 10, 150]


def test_independent_decoder_reads_back_the_exact_indices_of_whole_frames(
    tmp_path: Path, frames: list[np.ndarray]
) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, frames, DURATIONS_MS, optimize=False)

    gif = parse_gif(path.read_bytes())

    for decoded, expected in zip(gif.frames, frames, strict=True):
        np.testing.assert_array_equal(decoded.indices, expected)


def test_noisy_frame_survives_lzw_table_resets(tmp_path: Path) -> None:
    # Random indices fill the 4096-entry LZW table several times, exercising clear codes.
    noise = np.random.default_rng(42).integers(0, 256, size=(96, 128), dtype=np.uint8)
    path = tmp_path / "noise.gif"
    with GifWriter(path, 128, 96, distinct_palette(), None) as gif:
        gif.add_frame(noise, 100)  # the first frame is always written whole

    np.testing.assert_array_equal(parse_gif(path.read_bytes()).frames[0].indices, noise)


def test_duplicate_palette_colours_do_not_renumber_indices(tmp_path: Path) -> None:
    # A palette with many identical entries is where an encoder would be tempted to merge.
    palette = bytes([10, 20, 30]) * 128 + bytes([200, 100, 0]) * 128
    frame = all_indices_frame()
    path = tmp_path / "anim.gif"
    write_gif(path, [frame], [100], palette_rgb=palette, transparent_index=None)

    gif = parse_gif(path.read_bytes())

    assert gif.global_palette == palette
    np.testing.assert_array_equal(gif.frames[0].indices, frame)


@pytest.mark.parametrize(
    ("duration_ms", "delay_cs"),
    [(0, 0), (4, 0), (5, 1), (124, 12), (125, 13), (1000, 100)],
)
def test_durations_are_rounded_to_centiseconds(
    tmp_path: Path, duration_ms: int, delay_cs: int
) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, [gradient_frame(0)], [duration_ms])

    assert parse_gif(path.read_bytes()).frames[0].delay_cs == delay_cs


def test_without_transparent_index_no_frame_declares_transparency(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    write_gif(path, [disc_frame(5), disc_frame(6)], [100, 100], transparent_index=None)

    gif = parse_gif(path.read_bytes())
    assert [frame.transparent_index for frame in gif.frames] == [None, None]
    with Image.open(path) as image:
        assert "transparency" not in image.info


def test_frames_are_encoded_when_added_not_later(tmp_path: Path) -> None:
    # Reusing one buffer for every frame must work: the writer may not hold on to the array.
    path = tmp_path / "anim.gif"
    buffer = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    with GifWriter(path, WIDTH, HEIGHT, distinct_palette(), None) as gif:
        for value in (3, 4, 5):
            buffer[:] = value
            gif.add_frame(buffer, 100)
        assert gif.frame_count == 3

    decoded = compose_rgba(parse_gif(path.read_bytes()))
    palette = palette_array(distinct_palette())
    assert [tuple(frame[0, 0, :3]) for frame in decoded] == [tuple(palette[v]) for v in (3, 4, 5)]
    assert all(np.unique(frame.reshape(-1, 4), axis=0).shape[0] == 1 for frame in decoded)


# --------------------------------------------------------------------------------------------
# GIF: frame-difference optimisation


def evolving_frames(
    seed: int, count: int, transparent: int | None, height: int = 12, width: int = 16
) -> list[np.ndarray]:
    """Frames that change a little at a time: holes open and close, patches change colour,
    some frames repeat exactly, and now and then everything changes."""
    rng = np.random.default_rng(seed)
    colours = np.array([1, 2, 3, 200], dtype=np.uint8)
    frame = rng.choice(colours, size=(height, width)).astype(np.uint8)
    frames = [frame.copy()]
    for _ in range(count - 1):
        action = rng.integers(0, 6)
        top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
        bottom = top + int(rng.integers(1, height - top + 1))
        right = left + int(rng.integers(1, width - left + 1))
        patch = (slice(top, bottom), slice(left, right))
        if action == 0 and transparent is not None:
            frame[patch] = transparent  # a hole appears
        elif action == 1:
            frame[patch] = rng.choice(colours)  # a patch fills (a hole may close)
        elif action == 2:
            frame[patch] = rng.choice(colours, size=frame[patch].shape)
        elif action == 3:
            pass  # identical to the previous frame
        elif action == 4:
            spots = rng.random(frame.shape) < 0.1
            values = colours if transparent is None else np.append(colours, transparent)
            frame[spots] = rng.choice(values, size=int(spots.sum()))
        else:
            values = colours if transparent is None else np.append(colours, transparent)
            frame = rng.choice(values, size=(height, width)).astype(np.uint8)
        frames.append(frame.copy())
    return frames


@pytest.mark.parametrize("transparent", [TRANSPARENT, 3, None], ids=["t0", "t3", "opaque"])
@pytest.mark.parametrize("seed", range(8))
def test_optimised_frames_decode_exactly_as_given(
    tmp_path: Path, seed: int, transparent: int | None
) -> None:
    frames = evolving_frames(seed, count=25, transparent=transparent)
    height, width = frames[0].shape
    path = tmp_path / "anim.gif"
    with GifWriter(path, width, height, distinct_palette(), transparent) as gif:
        for frame in frames:
            gif.add_frame(frame, 100)
    expected = [intended_rgba(frame, distinct_palette(), transparent) for frame in frames]

    ours = compose_rgba(parse_gif(path.read_bytes()))
    pillow = pillow_rgba_frames(path)

    assert len(ours) == len(pillow) == len(frames)
    for number, want in enumerate(expected):
        assert_same_picture(ours[number], want, f"own decoder, frame {number}")
        assert_same_picture(pillow[number], want, f"Pillow, frame {number}")


def test_optimised_writer_writes_only_changed_rectangles(tmp_path: Path) -> None:
    base = gradient_frame(0)
    moved = base.copy()
    moved[10:13, 20:25] = 250  # a small opaque change
    holed = moved.copy()
    holed[30:32, 5:9] = TRANSPARENT  # a hole opens: the frame before it must be disposed
    frames = [base, moved, moved.copy(), holed, holed.copy()]
    path = tmp_path / "anim.gif"
    write_gif(path, frames, [100] * 5)

    gif = parse_gif(path.read_bytes())
    rects = [(f.left, f.top, f.width, f.height) for f in gif.frames]

    assert rects[0] == (0, 0, WIDTH, HEIGHT)
    assert rects[1] == (20, 10, 5, 3)
    # Frame 2 only needs nothing new, but its rectangle must cover the hole frame 3 opens.
    assert rects[2] == (5, 30, 4, 2)
    assert [f.disposal for f in gif.frames[:3]] == [1, 1, 2]
    # Disposing frame 2 already opened the hole, so frame 3 has nothing left to paint, and
    # frame 4 repeats frame 3: each is one unchanged (transparent) pixel, still a frame.
    assert rects[3] == rects[4] == (0, 0, 1, 1)
    assert gif.frames[3].indices.tolist() == gif.frames[4].indices.tolist() == [[TRANSPARENT]]
    for shown, frame in zip(compose_rgba(gif), frames, strict=True):
        assert_same_picture(shown, intended_rgba(frame, distinct_palette(), TRANSPARENT), "")


def test_unchanged_pixels_inside_the_rectangle_are_written_transparent(tmp_path: Path) -> None:
    first = gradient_frame(0)
    second = first.copy()
    second[5, 5] = 250
    second[20, 40] = 251  # the rectangle spans both; everything between is unchanged
    path = tmp_path / "anim.gif"
    write_gif(path, [first, second], [100, 100])

    image = parse_gif(path.read_bytes()).frames[1]

    assert (image.left, image.top, image.width, image.height) == (5, 5, 36, 16)
    expected = np.full((16, 36), TRANSPARENT, dtype=np.uint8)
    expected[0, 0], expected[15, 35] = 250, 251
    np.testing.assert_array_equal(image.indices, expected)


def test_optimised_file_is_smaller_on_a_mostly_static_sequence(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    background = rng.integers(1, 256, size=(HEIGHT, WIDTH), dtype=np.uint8)  # noisy: costly
    frames = []
    for step in range(10):
        frame = background.copy()
        frame[20:26, 4 * step : 4 * step + 6] = 9  # a small square moves across
        frame[:3, :3] = TRANSPARENT
        frames.append(frame)
    optimised, whole = tmp_path / "optimised.gif", tmp_path / "whole.gif"
    write_gif(optimised, frames, [100] * 10)
    write_gif(whole, frames, [100] * 10, optimize=False)

    assert optimised.stat().st_size < whole.stat().st_size / 3
    for shown, frame in zip(pillow_rgba_frames(optimised), frames, strict=True):
        assert_same_picture(shown, intended_rgba(frame, distinct_palette(), TRANSPARENT), "")


def test_last_frame_is_written_at_close(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    gif = GifWriter(path, WIDTH, HEIGHT, distinct_palette(), TRANSPARENT)
    gif.add_frame(gradient_frame(0), 100)
    gif.add_frame(gradient_frame(1), 250)
    assert gif.frame_count == 2
    gif.close()

    parsed = parse_gif(path.read_bytes())
    assert [frame.delay_cs for frame in parsed.frames] == [10, 25]


# --------------------------------------------------------------------------------------------
# GIF: errors and partial files


def test_partial_file_is_removed_when_the_with_block_raises(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    with pytest.raises(RuntimeError, match="boom"):
        with GifWriter(path, WIDTH, HEIGHT, distinct_palette(), TRANSPARENT) as gif:
            gif.add_frame(gradient_frame(0), 100)
            assert path.exists()
            raise RuntimeError("boom")
    assert not path.exists()


def test_closing_without_frames_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    with pytest.raises(AnimationError, match="No frames"):
        with GifWriter(path, WIDTH, HEIGHT, distinct_palette(), TRANSPARENT):
            pass
    assert not path.exists()


@pytest.mark.parametrize(
    "bad_frame",
    [
        np.zeros((HEIGHT, WIDTH + 1), dtype=np.uint8),
        np.zeros((HEIGHT, WIDTH), dtype=np.int16),
        np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8),
    ],
    ids=["wrong-shape", "wrong-dtype", "three-dimensional"],
)
def test_bad_frames_raise_animation_error(tmp_path: Path, bad_frame: np.ndarray) -> None:
    path = tmp_path / "anim.gif"
    with pytest.raises(AnimationError):
        with GifWriter(path, WIDTH, HEIGHT, distinct_palette(), TRANSPARENT) as gif:
            gif.add_frame(bad_frame, 100)
    assert not path.exists()


@pytest.mark.parametrize(
    ("palette", "transparent_index", "message"),
    [
        (bytes(765), 0, "768 bytes"),
        (bytes(768 * 2), 0, "768 bytes"),
        (bytes(768), 256, "between 0 and 255"),
        (bytes(768), -1, "between 0 and 255"),
    ],
)
def test_bad_palette_or_transparency_raise_before_creating_the_file(
    tmp_path: Path, palette: bytes, transparent_index: int, message: str
) -> None:
    path = tmp_path / "anim.gif"
    with pytest.raises(AnimationError, match=message):
        GifWriter(path, WIDTH, HEIGHT, palette, transparent_index)
    assert not path.exists()


def test_adding_after_close_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    gif = GifWriter(path, WIDTH, HEIGHT, distinct_palette(), TRANSPARENT)
    gif.add_frame(gradient_frame(0), 100)
    gif.close()
    with pytest.raises(AnimationError, match="closed"):
        gif.add_frame(gradient_frame(1), 100)
    assert len(parse_gif(path.read_bytes()).frames) == 1


@pytest.mark.parametrize("loop", [-1, 65536])
def test_out_of_range_loop_count_is_rejected(tmp_path: Path, loop: int) -> None:
    with pytest.raises(AnimationError, match="loop count"):
        GifWriter(tmp_path / "anim.gif", WIDTH, HEIGHT, distinct_palette(), None, loop=loop)


def test_negative_duration_is_rejected(tmp_path: Path) -> None:
    with GifWriter(tmp_path / "anim.gif", WIDTH, HEIGHT, distinct_palette(), None) as gif:
        with pytest.raises(AnimationError, match="negative"):
            gif.add_frame(gradient_frame(0), -10)
        gif.add_frame(gradient_frame(0), 10)


def test_unwritable_destination_raises_animation_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(AnimationError, match="Cannot create"):
        GifWriter(blocker / "anim.gif", WIDTH, HEIGHT, distinct_palette(), None)


# --------------------------------------------------------------------------------------------
# Poster, thumbnail, RGBA lookup


def test_indices_to_rgba_looks_up_colours_and_clears_the_transparent_index() -> None:
    palette = bytearray(768)
    palette[3:6] = bytes([10, 20, 30])  # index 1
    palette[6:9] = bytes([40, 50, 60])  # index 2
    indices = np.array([[1, 2], [0, 1]], dtype=np.uint8)

    rgba = indices_to_rgba(indices, bytes(palette), transparent_index=0)

    assert rgba.dtype == np.uint8
    assert rgba.tolist() == [
        [[10, 20, 30, 255], [40, 50, 60, 255]],
        [[0, 0, 0, 0], [10, 20, 30, 255]],
    ]


def test_poster_round_trips_indices_palette_and_transparency(tmp_path: Path) -> None:
    path = tmp_path / "poster.png"
    frame = all_indices_frame()
    write_poster(path, frame, distinct_palette(), transparent_index=17)

    with Image.open(path) as poster:
        assert poster.format == "PNG"
        assert poster.mode == "P"
        assert poster.size == (WIDTH, HEIGHT)
        assert bytes(poster.getpalette("RGB")) == distinct_palette()
        assert poster.info["transparency"] == 17
        np.testing.assert_array_equal(np.array(poster), frame)


def test_poster_without_transparency_has_none(tmp_path: Path) -> None:
    path = tmp_path / "poster.png"
    write_poster(path, gradient_frame(0), distinct_palette(), transparent_index=None)

    with Image.open(path) as poster:
        assert poster.mode == "P"
        assert "transparency" not in poster.info


@pytest.mark.parametrize(
    ("width", "height", "max_px", "expected"),
    [
        (64, 48, 32, (32, 24)),
        (48, 64, 32, (24, 32)),
        (64, 48, 320, (64, 48)),  # never enlarged
        (64, 48, 64, (64, 48)),
        (1000, 10, 100, (100, 1)),
        (1000, 1, 100, (100, 1)),  # never collapses to zero
    ],
)
def test_thumbnail_size_keeps_aspect_within_the_limit(
    width: int, height: int, max_px: int, expected: tuple[int, int]
) -> None:
    assert thumbnail_size(width, height, max_px) == expected


#: How far a thumbnail file's colours may be from the exact downscale (``thumbnail_image``), per
#: channel. libwebp at quality 85 moves a flat area by a level or two (its colours go through
#: 8-bit YUV 4:2:0) and a smooth gradient by about 3 on average; more would be visible.
FLAT_TOLERANCE = 4
MEAN_TOLERANCE = 4.0


def test_thumbnail_is_downscaled_and_keeps_transparency(tmp_path: Path) -> None:
    path = tmp_path / "thumb.webp"
    write_thumbnail(path, disc_frame(fill=9), distinct_palette(), TRANSPARENT, max_px=32)

    with Image.open(path) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (32, 24)
        assert thumb.mode == "RGBA"
        rgba = np.array(thumb).astype(int)
    assert rgba[0, 0, 3] == 0
    assert rgba[12, 16, 3] == 255  # alpha is lossless
    assert np.abs(rgba[12, 16, :3] - (9, 246, (9 * 37) % 256)).max() <= FLAT_TOLERANCE


def test_thumbnail_never_enlarges_and_is_rgb_without_transparency(tmp_path: Path) -> None:
    frame = gradient_frame(0)
    image = thumbnail_image(frame, distinct_palette(), None, max_px=320)
    assert image.size == (WIDTH, HEIGHT) and image.mode == "RGB"
    palette = np.frombuffer(distinct_palette(), dtype=np.uint8).reshape(256, 3)
    np.testing.assert_array_equal(np.array(image), palette[frame])

    path = tmp_path / "thumb.webp"
    write_thumbnail(path, frame, distinct_palette(), None, max_px=320)
    with Image.open(path) as thumb:
        assert (thumb.format, thumb.size, thumb.mode) == ("WEBP", (WIDTH, HEIGHT), "RGB")


def test_a_thumbnail_file_is_close_to_the_exact_downscale_and_much_smaller_than_a_png(tmp_path: Path) -> None:
    """A map-like frame (a smooth colormap gradient, one-pixel borders, transparency outside a
    disc) downscaled to 160 px: the WebP is within a few levels of the exact downscale and far
    smaller than the same pixels as a PNG, which is why thumbnails are WebP."""
    from generator.render.palette import colormap_levels

    levels = colormap_levels("viridis", 250)
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:250] = levels
    palette[250] = (40, 40, 40)  # borders
    rows, cols = np.mgrid[0:384, 0:512]
    frame = ((np.hypot(rows - 150, cols - 300) / 2.6).astype(int) % 250).astype(np.uint8)
    frame[(rows % 64 == 0) | (cols % 80 == 0)] = 250
    frame[np.hypot(rows - 192, cols - 256) > 190] = 255
    exact = np.array(thumbnail_image(frame, palette.tobytes(), 255, max_px=160)).astype(int)

    path = tmp_path / "thumb.webp"
    write_thumbnail(path, frame, palette.tobytes(), 255, max_px=160)
    with Image.open(path) as thumb:
        written = np.array(thumb).astype(int)
    np.testing.assert_array_equal(written[..., 3], exact[..., 3])
    visible = exact[..., 3] == 255
    assert np.abs(written[visible, :3] - exact[visible, :3]).mean() <= MEAN_TOLERANCE
    png = tmp_path / "thumb.png"
    Image.fromarray(exact.astype(np.uint8)).save(png)
    assert path.stat().st_size * 2 < png.stat().st_size


def test_thumbnail_edges_do_not_pick_up_the_colour_of_transparent_pixels(tmp_path: Path) -> None:
    # Transparent index 0 is pure red in this palette; the map is pure blue. Without
    # premultiplied alpha, the downscaled edge pixels would turn purple.
    palette = bytearray(768)
    palette[0:3] = bytes([255, 0, 0])
    palette[3:6] = bytes([0, 0, 255])
    frame = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    frame[:, 21:] = 1  # a vertical edge that falls between thumbnail pixels
    exact = np.array(thumbnail_image(frame, bytes(palette), 0, max_px=20)).astype(int)
    path = tmp_path / "thumb.webp"
    write_thumbnail(path, frame, bytes(palette), transparent_index=0, max_px=20)

    with Image.open(path) as thumb:
        written = np.array(thumb).astype(int)
    visible = exact[..., 3] > 0
    assert visible.any() and (~visible).any()
    assert exact[visible, 0].max() <= 2
    assert exact[visible, 2].min() >= 250
    # The file, as it is seen (colour weighted by alpha): its faintest edge pixels (alpha < 16)
    # share their chroma (4:2:0) with invisible neighbours, which does not show; bleeding would.
    np.testing.assert_array_equal(written[..., 3], exact[..., 3])
    seen_written = written[..., :3] * written[..., 3:] / 255
    seen_exact = exact[..., :3] * exact[..., 3:] / 255
    assert np.abs(seen_written - seen_exact).max() <= FLAT_TOLERANCE


def test_thumbnail_rejects_a_zero_size(tmp_path: Path) -> None:
    with pytest.raises(AnimationError, match="at least 1 pixel"):
        write_thumbnail(
            tmp_path / "thumb.webp", gradient_frame(0), distinct_palette(), None, max_px=0
        )
