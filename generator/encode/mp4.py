"""MP4 (H.264) from palette-index frames.

Same input contract as the other encoders (``generator.encode.indexed``): 2-D ``uint8``
palette-index frames of one size, one 256-entry RGB palette and an optional transparent index.
The writer takes an iterable of frames and encodes each frame as it arrives, so memory does not
grow with the frame count.

Encoded with PyAV (``av``, which ships FFmpeg and libx264) as H.264 ``yuv420p`` with the
``moov`` index at the front (``+faststart``) so browsers can start playing before the download
ends. Browsers play constant-frame-rate files most reliably, so the frame rate is one tick per
``tick`` milliseconds, the greatest common divisor of the durations (at most 50 fps), and a
frame lasting ``n`` ticks is repeated ``n`` times (H.264 stores the repeats in a few bytes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from generator.core.errors import AnimationError
from generator.encode.indexed import (
    frames_with_durations,
    no_partial_file,
    validated_duration,
    validated_palette,
    validated_transparent_index,
)
from generator.encode.registry import Animation, register

MP4_MAX_FPS = 50
_MIN_TICK_MS = 1000 // MP4_MAX_FPS



def mp4_timing(durations_ms: Sequence[int]) -> tuple[int, list[int]]:
    """The tick in ms (1000 / fps) and how many ticks each frame is shown.

    The tick is the greatest common divisor of the durations, so they are kept exactly, unless
    that would exceed ``MP4_MAX_FPS``: then the tick is the shortest allowed one and durations
    are rounded to whole ticks. Every frame is shown for at least one tick.
    """
    durations = [validated_duration(value) for value in durations_ms]
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
    with no_partial_file(path, (av.FFmpegError,)), container:
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
    for number, (pixels, _duration) in enumerate(frames_with_durations(frames, durations_ms)):
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
    assert stream is not None  # frames_with_durations raises when there are no frames
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


# --------------------------------------------------------------------------------------------
# The format


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``(r, g, b)`` of a ``#rrggbb`` colour."""
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))


class Mp4Encoder:
    """``mp4``: options in ``render.mp4`` (``background``, the colour of transparent pixels)."""

    name = "mp4"
    suffix = ".mp4"
    media_type = "video/mp4"
    label = "MP4"

    def encode(self, path: Path, animation: Animation, frames: Iterable[np.ndarray], options: Any = None) -> None:
        write_mp4(
            path, frames, animation.durations_ms, animation.palette_rgb, animation.transparent,
            background_rgb=hex_rgb(options.background) if options else (255, 255, 255),
        )


register(Mp4Encoder())
