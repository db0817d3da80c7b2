"""Animation formats besides GIF: animated WebP and MP4 (H.264) from palette-index frames.

Same input contract as ``generator.animate``: 2-D ``uint8`` palette-index frames of one size,
one 256-entry RGB palette and an optional transparent index. Both writers take an iterable of
frames and encode each frame as it arrives, so memory does not grow with the frame count.

WebP. Pillow's multi-frame WebP writer (libwebp's animation encoder) merges identical
consecutive frames into one longer frame, and needs every frame in memory. So the animated
container (RIFF ``VP8X`` + ``ANIM`` + one ``ANMF`` per frame) is written here, and Pillow only
encodes each frame as a still WebP whose bitstream chunks (``VP8L``, or ``ALPH`` + ``VP8``) are
copied into the frame. Every frame covers the whole canvas with blending off, so each decoded
frame is exactly that frame, whatever came before it.

MP4. Encoded with PyAV (``av``, which ships FFmpeg and libx264) as H.264 ``yuv420p`` with the
``moov`` index at the front (``+faststart``) so browsers can start playing before the download
ends. Browsers play constant-frame-rate files most reliably, so the frame rate is one tick per
``tick`` milliseconds, the greatest common divisor of the durations (at most 50 fps), and a
frame lasting ``n`` ticks is repeated ``n`` times (H.264 stores the repeats in a few bytes).
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from generator.errors import AnimationError
from generator.indexed import (
    indices_to_rgba,
    validated_indices,
    validated_palette,
    validated_transparent_index,
)

WEBP_MAX_DIMENSION = 16383
_WEBP_MAX_DURATION_MS = (1 << 24) - 1
_WEBP_BITSTREAM_CHUNKS = (b"ALPH", b"VP8 ", b"VP8L")
_VP8X_ALPHA = 0x10
_VP8X_ANIMATION = 0x02
_ANMF_DO_NOT_BLEND = 0x02

MP4_MAX_FPS = 50
_MIN_TICK_MS = 1000 // MP4_MAX_FPS


# --------------------------------------------------------------------------------------------
# Shared input handling


def _frames_with_durations(
    frames: Iterable[np.ndarray], durations_ms: Sequence[int]
) -> Iterator[tuple[np.ndarray, int]]:
    """Pair frames with durations lazily, checking sizes and counts as they go."""
    durations = [_validated_duration(value) for value in durations_ms]
    shape: tuple[int, int] | None = None
    count = 0
    for count, frame in enumerate(frames, start=1):
        if count > len(durations):
            raise AnimationError(
                f"More frames than durations: {len(durations)} durations were given; "
                "pass one duration per frame."
            )
        pixels = validated_indices(frame, shape)
        shape = pixels.shape
        yield pixels, durations[count - 1]
    if count == 0:
        raise AnimationError("No frames were given; an animation needs at least one frame.")
    if count != len(durations):
        raise AnimationError(
            f"{count} frames but {len(durations)} durations were given; "
            "pass one duration per frame."
        )


def _validated_duration(duration_ms: int) -> int:
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, np.integer)):
        raise AnimationError(
            f"A frame duration must be an integer number of milliseconds, got {duration_ms!r}."
        )
    if duration_ms < 0:
        raise AnimationError(f"A frame duration cannot be negative, got {duration_ms} ms.")
    return int(duration_ms)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the caller already reports the original error


@contextmanager
def _no_partial_file(path: Path, codec_errors: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Remove ``path`` if writing it fails; I/O and codec errors become an ``AnimationError``."""
    try:
        yield
    except codec_errors as error:
        _remove_quietly(path)
        raise AnimationError(f"Could not encode {path}: {error}") from error
    except OSError as error:
        _remove_quietly(path)
        raise AnimationError(f"Could not write {path}: {error}") from error
    except BaseException:
        _remove_quietly(path)
        raise


# --------------------------------------------------------------------------------------------
# Animated WebP: container blocks (pure)


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    padding = b"\0" if len(payload) % 2 else b""
    return fourcc + struct.pack("<I", len(payload)) + payload + padding


def _uint24(value: int) -> bytes:
    return value.to_bytes(3, "little")


def _webp_header_chunks(width: int, height: int, has_alpha: bool, loop: int) -> bytes:
    flags = _VP8X_ANIMATION | (_VP8X_ALPHA if has_alpha else 0)
    vp8x = bytes([flags, 0, 0, 0]) + _uint24(width - 1) + _uint24(height - 1)
    # Background colour (B, G, R, A) is only a hint to players; transparent is the neutral one.
    anim = bytes([0, 0, 0, 0]) + struct.pack("<H", loop)
    return _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ANIM", anim)


def _anmf_chunk(width: int, height: int, duration_ms: int, bitstream: bytes) -> bytes:
    """A whole-canvas frame at (0, 0) that replaces the canvas (no blending, no disposal)."""
    header = (
        _uint24(0)
        + _uint24(0)
        + _uint24(width - 1)
        + _uint24(height - 1)
        + _uint24(duration_ms)
        + bytes([_ANMF_DO_NOT_BLEND])
    )
    return _riff_chunk(b"ANMF", header + bitstream)


def _still_webp_bitstream(still: bytes) -> bytes:
    """The ``ALPH``/``VP8 ``/``VP8L`` chunks of a still WebP file, padding included."""
    if len(still) < 12 or still[:4] != b"RIFF" or still[8:12] != b"WEBP":
        raise AnimationError("Pillow did not produce a WebP file while encoding a frame.")
    position, chunks = 12, []
    while position + 8 <= len(still):
        fourcc = still[position : position + 4]
        (size,) = struct.unpack_from("<I", still, position + 4)
        end = position + 8 + size + (size % 2)
        if fourcc in _WEBP_BITSTREAM_CHUNKS:
            chunks.append(still[position:end])
        position = end
    if not chunks:
        raise AnimationError("Pillow's WebP output held no image data while encoding a frame.")
    return b"".join(chunks)


def _encode_webp_frame(
    pixels: np.ndarray,
    palette: bytes,
    transparent_index: int | None,
    lossless: bool,
    quality: int,
) -> bytes:
    rgba = indices_to_rgba(pixels, palette, transparent_index)
    image = Image.fromarray(rgba if transparent_index is not None else rgba[..., :3].copy())
    buffer = io.BytesIO()
    # exact=False lets libwebp change the (invisible) colour of fully transparent pixels,
    # which compresses better; visible pixels stay exact in lossless mode.
    image.save(buffer, format="WEBP", lossless=lossless, quality=quality, exact=False)
    return _still_webp_bitstream(buffer.getvalue())


# --------------------------------------------------------------------------------------------
# Animated WebP: writer


def write_webp(
    path: Path,
    frames: Iterable[np.ndarray],
    durations_ms: Sequence[int],
    palette_rgb: bytes,
    transparent_index: int | None,
    loop: int = 0,
    lossless: bool = True,
    quality: int = 90,
) -> None:
    """Write an animated WebP with exactly one frame per input frame, streamed to disk.

    ``loop`` 0 repeats forever. ``lossless=True`` keeps every visible pixel exact (transparent
    pixels decode with alpha 0); with ``lossless=False``, ``quality`` (0-100) sets the lossy
    quality, and in lossless mode the compression effort. Durations are in milliseconds.
    """
    path = Path(path)
    palette = validated_palette(palette_rgb)
    transparent = validated_transparent_index(transparent_index)
    if isinstance(loop, bool) or not isinstance(loop, int) or not 0 <= loop <= 0xFFFF:
        raise AnimationError(f"The WebP loop count must be between 0 and 65535, got {loop!r}.")
    if not 0 <= quality <= 100:
        raise AnimationError(f"The WebP quality must be between 0 and 100, got {quality!r}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = path.open("w+b")
    except OSError as error:
        raise AnimationError(f"Cannot create the WebP file {path}: {error}") from error
    with _no_partial_file(path), file:
        _stream_webp(file, frames, durations_ms, palette, transparent, loop, lossless, quality)


def _stream_webp(
    file: BinaryIO,
    frames: Iterable[np.ndarray],
    durations_ms: Sequence[int],
    palette: bytes,
    transparent: int | None,
    loop: int,
    lossless: bool,
    quality: int,
) -> None:
    file.write(b"RIFF\0\0\0\0WEBP")  # the RIFF size is patched in once the frames are written
    previous: np.ndarray | None = None
    bitstream = b""
    for pixels, duration in _frames_with_durations(frames, durations_ms):
        height, width = pixels.shape
        if previous is None:
            if width > WEBP_MAX_DIMENSION or height > WEBP_MAX_DIMENSION:
                raise AnimationError(
                    f"A WebP is at most {WEBP_MAX_DIMENSION} pixels wide and high; the frames "
                    f"are {width}×{height}. Use a smaller render size."
                )
            file.write(_webp_header_chunks(width, height, transparent is not None, loop))
        if duration > _WEBP_MAX_DURATION_MS:
            raise AnimationError(
                f"A WebP frame lasts at most {_WEBP_MAX_DURATION_MS} ms, got {duration} ms."
            )
        # A repeated frame (e.g. a gap in the series) reuses the previous frame's encoding.
        if previous is None or not np.array_equal(previous, pixels):
            bitstream = _encode_webp_frame(pixels, palette, transparent, lossless, quality)
            previous = pixels.copy()
        file.write(_anmf_chunk(width, height, duration, bitstream))
    riff_size = file.tell() - 8
    file.seek(4)
    file.write(struct.pack("<I", riff_size))


# --------------------------------------------------------------------------------------------
# MP4 (H.264)


def mp4_timing(durations_ms: Sequence[int]) -> tuple[int, list[int]]:
    """The tick in ms (1000 / fps) and how many ticks each frame is shown.

    The tick is the greatest common divisor of the durations, so they are kept exactly, unless
    that would exceed ``MP4_MAX_FPS``: then the tick is the shortest allowed one and durations
    are rounded to whole ticks. Every frame is shown for at least one tick.
    """
    durations = [_validated_duration(value) for value in durations_ms]
    if not durations:
        raise AnimationError("No frame durations were given; pass one duration per frame.")
    tick = math.gcd(*durations) or _MIN_TICK_MS
    if tick < _MIN_TICK_MS:
        tick = _MIN_TICK_MS
    return tick, [max(1, round(duration / tick)) for duration in durations]


def rgb_frame_for_video(
    pixels: np.ndarray,
    palette: bytes,
    transparent_index: int | None,
    background_rgb: tuple[int, int, int],
) -> np.ndarray:
    """H×W×3 RGB with transparent pixels as the background, padded to even width and height.

    yuv420p stores colour at half resolution, so H.264 needs even sizes; the extra column or
    row (right, bottom) is filled with the background rather than stretching the map.
    """
    lookup = np.frombuffer(palette, dtype=np.uint8).reshape(256, 3).copy()
    background = np.array(background_rgb, dtype=np.uint8)
    if transparent_index is not None:
        lookup[transparent_index] = background
    height, width = pixels.shape
    padded = np.empty((height + height % 2, width + width % 2, 3), dtype=np.uint8)
    padded[:] = background
    padded[:height, :width] = lookup[pixels]
    return padded


def _validated_background(background_rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    values = tuple(background_rgb)
    if len(values) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255
        for v in values
    ):
        raise AnimationError(
            f"The video background must be three integers 0-255 (R, G, B), got {background_rgb!r}."
        )
    return (int(values[0]), int(values[1]), int(values[2]))


def _import_av() -> Any:
    try:
        import av
    except ImportError as error:
        raise AnimationError(
            "Writing MP4 needs the PyAV package: install it with `pip install av`."
        ) from error
    return av


def write_mp4(
    path: Path,
    frames: Iterable[np.ndarray],
    durations_ms: Sequence[int],
    palette_rgb: bytes,
    transparent_index: int | None,
    background_rgb: tuple[int, int, int] = (255, 255, 255),
    crf: int = 20,
) -> None:
    """Write an H.264 MP4 (yuv420p, faststart) that browsers play in a ``<video>`` element.

    Transparent pixels become ``background_rgb``; odd sizes are padded by one background pixel.
    Timing follows ``mp4_timing``. ``crf`` is x264's constant quality (lower is better).
    """
    path = Path(path)
    palette = validated_palette(palette_rgb)
    transparent = validated_transparent_index(transparent_index)
    background = _validated_background(background_rgb)
    tick_ms, repeats = mp4_timing(durations_ms)
    av = _import_av()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(
            str(path), mode="w", format="mp4", container_options={"movflags": "+faststart"}
        )
    except (OSError, av.FFmpegError) as error:
        raise AnimationError(f"Cannot create the MP4 file {path}: {error}") from error
    with _no_partial_file(path, (av.FFmpegError,)), container:
        _stream_mp4(container, frames, durations_ms, repeats, tick_ms, palette, transparent, background, crf)


def _stream_mp4(
    container: Any,
    frames: Iterable[np.ndarray],
    durations_ms: Sequence[int],
    repeats: list[int],
    tick_ms: int,
    palette: bytes,
    transparent: int | None,
    background: tuple[int, int, int],
    crf: int,
) -> None:
    from av import VideoFrame

    stream = None
    ticks = 0
    for number, (pixels, _duration) in enumerate(_frames_with_durations(frames, durations_ms)):
        rgb = rgb_frame_for_video(pixels, palette, transparent, background)
        if stream is None:
            stream = _add_h264_stream(container, rgb.shape[1], rgb.shape[0], tick_ms, crf)
        # BT.709, limited range: what the stream is tagged with and what browsers assume.
        video_frame = VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709"
        )
        for _ in range(repeats[number]):
            video_frame.pts = ticks
            container.mux(stream.encode(video_frame))
            ticks += 1
    assert stream is not None  # _frames_with_durations raises when there are no frames
    container.mux(stream.encode(None))  # flush the encoder's delayed frames


def _add_h264_stream(container: Any, width: int, height: int, tick_ms: int, crf: int) -> Any:
    fps = Fraction(1000, tick_ms)
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.time_base = 1 / fps
    context = stream.codec_context
    context.gop_size = max(1, round(2 * fps))  # a keyframe every ~2 s keeps seeking quick
    context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
    context.color_range = 1  # limited ("TV") range
    stream.options = {"crf": str(crf), "preset": "medium"}
    return stream
