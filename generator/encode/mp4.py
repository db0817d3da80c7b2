"""MP4 (H.264) from palette-index frames.

Same input contract as the other encoders (``generator.encode.indexed``): 2-D ``uint8``
palette-index frames of one size, one 256-entry RGB palette and an optional transparent index.
The writer takes an iterable of frames and encodes each frame as it arrives, so memory does not
grow with the frame count.

Encoded with PyAV (``av``, which ships FFmpeg and libx264) as H.264 ``yuv420p`` with the
``moov`` index at the front (``+faststart``) so browsers can start playing before the download
ends.

Colour. The stream is tagged BT.709, limited range, which is what browsers assume. The Y, U and
V of the 256 palette entries are computed once per animation (:class:`YuvTable`); each frame's
``yuv420p`` planes are then table look-ups, U and V subsampled as swscale does (no RGB frame, no
colour conversion per frame). Full-colour frames (``rgb=True``: ``Animation.rgb``, true-colour
animations) are converted per pixel (:class:`RgbaYuv`) by the same formulas and rounding, so a
colour gets the same Y, U and V whichever way it arrives.

Timing. One encoded frame per animation frame, in a millisecond time base: each frame starts at
the sum of the durations before it and its packet carries its own duration, so the file's
sample table holds every frame's duration, the last one (the end pause) included, and the
file lasts exactly the sum of the durations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from generator.core.errors import AnimationError
from generator.encode.indexed import (
    PALETTE_ENTRIES,
    frames_with_durations,
    no_partial_file,
    validated_duration,
    validated_palette,
    validated_transparent_index,
)
from generator.encode.registry import Animation, register

#: The time base of the stream: timestamps and durations are whole milliseconds.
MP4_TIME_BASE = Fraction(1, 1000)
_KEYFRAME_EVERY_MS = 2000  # a keyframe every ~2 s keeps seeking quick
#: x264's settings beyond its preset (see :func:`_add_h264_stream`).
_X264_PARAMS = "no-deblock=1:me=dia:partitions=i4x4:no-8x8dct=1:weightp=0"

# BT.709 luma weights; limited ("TV") range: Y in 16-235, U and V in 16-240.
_KR, _KB = 0.2126, 0.0722
_KG = 1 - _KR - _KB
# U and V are kept in 1/16 steps until they are subsampled: the weighted sum of 2 × 8 values
# of at most 240 × 16 still fits in uint16.
_CHROMA_SCALE = 16


def mp4_timestamps(durations_ms: Sequence[int]) -> list[tuple[int, int]]:
    """``(pts, duration)`` of each frame in milliseconds: it starts when the previous one ends.

    A frame of 0 ms still lasts 1 ms (timestamps must increase), so only then does the file
    last longer than the sum of the durations.
    """
    durations = [max(1, validated_duration(value)) for value in durations_ms]
    if not durations:
        raise AnimationError("No frame durations were given; pass one duration per frame.")
    starts = np.cumsum([0, *durations[:-1]]).tolist()
    return list(zip(starts, durations, strict=True))


class YuvTable:
    """The BT.709 limited-range Y, U, V of each palette entry, for ``yuv420p`` frames.

    Transparent pixels and the padding to even sizes (yuv420p stores colour at half
    resolution, so H.264 needs even sizes; the extra column or row, right or bottom, is
    background rather than a stretched map) take the background colour.
    """

    def __init__(
        self,
        palette: bytes,
        transparent_index: int | None,
        background_rgb: tuple[int, int, int],
    ) -> None:
        rgb = np.frombuffer(palette, dtype=np.uint8).reshape(PALETTE_ENTRIES, 3).astype(np.float64)
        if transparent_index is not None:
            rgb[transparent_index] = background_rgb
        y, u, v = _bt709_limited(rgb)
        self.y = np.round(y).astype(np.uint8)
        self.u = np.round(u * _CHROMA_SCALE).astype(np.uint16)
        self.v = np.round(v * _CHROMA_SCALE).astype(np.uint16)
        bg_y, bg_u, bg_v = _bt709_limited(np.array([background_rgb], dtype=np.float64))
        self.background = (
            np.uint8(round(float(bg_y[0]))),
            np.uint16(round(float(bg_u[0]) * _CHROMA_SCALE)),
            np.uint16(round(float(bg_v[0]) * _CHROMA_SCALE)),
        )
        # Tables by pairs of horizontally adjacent pixels (a frame's rows read as uint16): the
        # two Y bytes of the pair, and U and V of the pair summed — the first step of the
        # chroma subsampling — packed in one uint32 (U low, V high; each sum of up to 8 × 2
        # values stays below 2¹⁶, so the later sums never carry from U into V). Half as many
        # look-ups as pixels, and one pass gives both U and V. Entry ``a × 256 + b`` is the pair
        # whose uint16 has high byte ``a``: its Y table entry ``y[a] << 8 | y[b]`` puts each
        # pixel's Y in that pixel's byte in either byte order; the U and V sums are symmetric.
        y16 = self.y.astype(np.uint16)
        self.y_pairs = ((y16[:, None] << 8) | y16[None, :]).reshape(-1)
        uv = self.u.astype(np.uint32) | (self.v.astype(np.uint32) << 16)
        self.uv_pairs = (uv[:, None] + uv[None, :]).reshape(-1)
        # Scratch kept for the next frame of the same size (a new array per frame, and the page
        # faults of touching it, cost about as much as the look-ups).
        self._index: np.ndarray | None = None  # the frame's pairs as numpy's index type
        self._sums: np.ndarray | None = None
        self._total: np.ndarray | None = None
        self._padded: np.ndarray | None = None  # an odd-width frame with its padding column

    def yuv420p(self, pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The frame as PyAV's ``yuv420p`` array: Y, then U, then V, ``(3 × H / 2, W)``.

        H and W are the frame's size rounded up to even numbers. ``out``: an array of that
        shape to write into.
        """
        height, width = pixels.shape
        even_h, even_w = height + height % 2, width + width % 2
        if out is None or out.shape != (even_h * 3 // 2, even_w) or out.dtype != np.uint8:
            out = np.empty((even_h * 3 // 2, even_w), dtype=np.uint8)
        self.planes_into(pixels, *yuv420p_planes(out))
        return out

    def planes_into(self, pixels: np.ndarray, luma: np.ndarray, u_plane: np.ndarray, v_plane: np.ndarray) -> None:
        """Write the frame's Y (``H × W``), U and V (``H / 2 × W / 2``; H and W rounded up to even
        numbers) into three 2-D ``uint8`` arrays whose rows are contiguous — a PyAV frame's
        planes, whose rows may be padded, or parts of one array (:meth:`yuv420p`).

        The frame's pairs are turned into numpy's index type once, for both look-ups (each
        ``np.take`` would convert them again), and the Y look-up writes straight into the plane
        when its rows are not padded (else numpy writes a copy back).
        """
        height, width = pixels.shape
        even_h, even_w = height + height % 2, width + width % 2
        if self._index is None or self._index.shape != (height, even_w // 2):
            self._index = np.empty((height, even_w // 2), dtype=np.intp)
            self._sums = np.empty((even_h, even_w // 2), dtype=np.uint32)
            self._total = np.empty((even_h // 2, even_w // 2), dtype=np.uint32)
            # The padding column stays 0 (an entry of every table): the columns set below replace it.
            self._padded = np.zeros((height, even_w), dtype=np.uint8) if even_w != width else None
        index, sums, total = self._index, self._sums, self._total
        assert sums is not None and total is not None
        if self._padded is None:
            np.copyto(index, np.ascontiguousarray(pixels).view(np.uint16))  # (height, width / 2)
        else:  # an odd width: the padding column is made background below
            self._padded[:, :width] = pixels
            np.copyto(index, self._padded.view(np.uint16))
        # mode "clip": every index is an entry of the pair tables, and with the default ("raise")
        # numpy writes into a temporary array first, then copies it to the plane (2.2× the time).
        np.take(self.y_pairs, index, out=luma[:height].view(np.uint16), mode="clip")
        np.take(self.uv_pairs, index, out=sums[:height], mode="clip")
        background_y, background_u, background_v = (int(value) for value in self.background)
        if even_w != width:
            luma[:height, width] = background_y
            last = pixels[:, width - 1]
            sums[:height, -1] = (self.u[last] + background_u) | (self.v[last] + background_v).astype(np.uint32) << 16
        if even_h != height:
            luma[height] = background_y
            sums[height] = 2 * background_u | (2 * background_v) << 16
        _filtered_vertically(sums, total)
        # Each 16-bit half divided by the weight (256) and rounded: its second byte.
        total >>= 8
        np.copyto(u_plane, total, casting="unsafe")  # the low byte: U
        total >>= 16
        np.copyto(v_plane, total, casting="unsafe")


def yuv420p_planes(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U and V parts of a ``yuv420p`` array (Y rows, then U, then V, ``(3 × H / 2, W)``)."""
    height, width = planes.shape[0] * 2 // 3, planes.shape[1]
    flat, quarter = planes.reshape(-1), (height // 2) * (width // 2)
    luma = flat[: height * width].reshape(height, width)
    u_plane = flat[height * width : height * width + quarter].reshape(height // 2, width // 2)
    v_plane = flat[height * width + quarter :].reshape(height // 2, width // 2)
    return luma, u_plane, v_plane


class RgbaYuv:
    """The BT.709 limited-range ``yuv420p`` planes of full-colour RGBA frames, pixel by pixel.

    The formulas, rounding and chroma subsampling of :class:`YuvTable`: a frame of palette
    colours gives exactly the planes of its palette-index twin. Pixels of alpha 0 and the
    padding to even sizes take the background colour.
    """

    def __init__(self, background_rgb: tuple[int, int, int]) -> None:
        self.background = np.array(background_rgb, dtype=np.float64)

    def yuv420p(self, rgba: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The frame as PyAV's ``yuv420p`` array: Y, then U, then V, ``(3 × H / 2, W)``
        (``out`` is not used: the conversion per pixel makes arrays of its own anyway)."""
        height, width = rgba.shape[:2]
        even_h, even_w = height + height % 2, width + width % 2
        rgb = np.empty((even_h, even_w, 3), dtype=np.float64)
        rgb[...] = self.background
        rgb[:height, :width] = np.where(rgba[..., 3:] > 0, rgba[..., :3], self.background)
        y, u, v = _bt709_limited(rgb.reshape(-1, 3))
        out = np.empty(even_h * even_w * 3 // 2, dtype=np.uint8)
        out[: even_h * even_w] = np.round(y).astype(np.uint8)
        quarter = (even_h // 2) * (even_w // 2)
        start = even_h * even_w
        for plane, values in enumerate((u, v)):
            full = np.round(values * _CHROMA_SCALE).astype(np.uint16).reshape(even_h, even_w)
            out[start + plane * quarter : start + (plane + 1) * quarter] = _subsampled(full).reshape(-1)
        return out.reshape(even_h * 3 // 2, even_w)

    def planes_into(self, rgba: np.ndarray, luma: np.ndarray, u_plane: np.ndarray, v_plane: np.ndarray) -> None:
        """:meth:`YuvTable.planes_into` for an RGBA frame (by way of :meth:`yuv420p`)."""
        for target, plane in zip((luma, u_plane, v_plane), yuv420p_planes(self.yuv420p(rgba)), strict=True):
            np.copyto(target, plane)


def _subsampled(full: np.ndarray) -> np.ndarray:
    """Chroma at half width and height, the way swscale subsamples RGB to yuv420p.

    Each chroma sample is the mean of a horizontal pair, filtered vertically over four rows
    with weights 1, 3, 3, 1 (the rows of its 2×2 block weigh 3; the edge rows repeat). Measured
    against swscale's own conversion of random RGB: within 0.7 of a level before rounding (a
    plain 2×2 mean differs by up to 20 levels at sharp edges). ``full`` holds values in
    ``1/_CHROMA_SCALE`` steps; the result is rounded to whole levels.
    """
    pairs = full[:, 0::2] + full[:, 1::2]
    total = np.empty((pairs.shape[0] // 2, pairs.shape[1]), dtype=pairs.dtype)
    _filtered_vertically(pairs, total)
    return (total >> 8).astype(np.uint8)


#: The weights of a chroma sample (2 pixels × 1 + 3 + 3 + 1 rows) × its 1/16 steps: 256, so
#: dividing by it is a shift by 8.
_CHROMA_WEIGHT = 2 * 8 * _CHROMA_SCALE
assert _CHROMA_WEIGHT == 1 << 8


def _filtered_vertically(pairs: np.ndarray, total: np.ndarray) -> None:
    """Horizontal pair sums (even rows × columns) filtered over rows 1, 3, 3, 1 and offset by
    half the weight, so that ``>> 8`` rounds, into ``total`` (half the rows); works on U and V
    packed in 16-bit halves too."""
    upper, lower = pairs[0::2], pairs[1::2]  # the two rows of each 2×2 block
    np.add(upper, lower, out=total)
    total *= 3
    total[1:] += lower[:-1]  # the row above the block
    total[0] += upper[0]
    total[:-1] += upper[1:]  # the row below the block
    total[-1] += lower[-1]
    # Half the weight in each 16-bit half (for a uint16 array the upper one falls away).
    total += np.array(_CHROMA_WEIGHT // 2 | (_CHROMA_WEIGHT // 2) << 16, dtype=np.uint32).astype(pairs.dtype)


def _bt709_limited(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V (floating point, limited range) of ``(n, 3)`` RGB values 0-255."""
    red, green, blue = rgb[:, 0] / 255, rgb[:, 1] / 255, rgb[:, 2] / 255
    luma = _KR * red + _KG * green + _KB * blue
    y = 16 + 219 * luma
    u = 128 + 224 * (blue - luma) / (2 * (1 - _KB))
    v = 128 + 224 * (red - luma) / (2 * (1 - _KR))
    return y, u, v


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
    rgb: bool = False,
) -> None:
    """Write an H.264 MP4 (yuv420p, faststart) that browsers play in a ``<video>`` element.

    Transparent pixels become ``background_rgb``; odd sizes are padded by one background pixel.
    Timing follows ``mp4_timestamps``. ``crf`` is x264's constant quality (lower is better).
    ``rgb``: the frames are full-colour RGBA (alpha 0: the background), converted per pixel.
    """
    path = Path(path)
    palette = validated_palette(palette_rgb)
    transparent = validated_transparent_index(transparent_index)
    background = _validated_background(background_rgb)
    table: YuvTable | RgbaYuv = RgbaYuv(background) if rgb else YuvTable(palette, transparent, background)
    timestamps = mp4_timestamps(durations_ms)
    av = _import_av()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(
            str(path), mode="w", format="mp4", container_options={"movflags": "+faststart"}
        )
    except (OSError, av.FFmpegError) as error:
        raise AnimationError(f"Cannot create the MP4 file {path}: {error}") from error
    with no_partial_file(path, (av.FFmpegError,)), container:
        _stream_mp4(container, frames, durations_ms, timestamps, table, crf, rgb)


def _stream_mp4(
    container: Any,
    frames: Iterable[np.ndarray],
    durations_ms: Sequence[int],
    timestamps: list[tuple[int, int]],
    table: YuvTable | RgbaYuv,
    crf: int,
    rgb: bool = False,
) -> None:
    from av import VideoFrame

    stream = None
    duration_at = dict(timestamps)  # packets leave the encoder reordered: find them by pts

    def mux(packets: list[Any]) -> None:
        for packet in packets:
            # libx264 passes frame durations on, but the sample table must not depend on that.
            packet.duration = duration_at[packet.pts]
        container.mux(packets)

    video_frame: Any = None
    for number, (pixels, _duration) in enumerate(frames_with_durations(frames, durations_ms, rgb)):
        if stream is None:
            height, width = pixels.shape[0] + pixels.shape[0] % 2, pixels.shape[1] + pixels.shape[1] % 2
            stream = _add_h264_stream(container, width, height, timestamps, crf)
            video_frame = VideoFrame(width, height, "yuv420p")
        # One frame for every frame (a new one is a new buffer to allocate and fault in, each
        # time): x264 copies a picture in when it takes it, and should anything still hold the
        # buffers, make_writable copies them first. The planes are written straight into it.
        video_frame.make_writable()
        table.planes_into(pixels, *_frame_planes(video_frame))
        video_frame.pts, video_frame.duration = timestamps[number]
        video_frame.time_base = MP4_TIME_BASE
        mux(stream.encode(video_frame))
    assert stream is not None  # frames_with_durations raises when there are no frames
    mux(stream.encode(None))  # flush the encoder's delayed frames


def _frame_planes(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U and V planes of a PyAV ``yuv420p`` frame as 2-D arrays of its pixels (views of
    its buffers, whose rows may be padded beyond the width)."""
    height, width = frame.height, frame.width
    sizes = ((height, width), (height // 2, width // 2), (height // 2, width // 2))
    luma, u_plane, v_plane = (
        np.frombuffer(plane, dtype=np.uint8).reshape(rows, plane.line_size)[:, :columns]
        for plane, (rows, columns) in zip(frame.planes, sizes, strict=True)
    )
    return luma, u_plane, v_plane


def _add_h264_stream(
    container: Any, width: int, height: int, timestamps: list[tuple[int, int]], crf: int
) -> Any:
    total_ms = sum(duration for _start, duration in timestamps)
    # The mean frame rate: x264 sizes its level and keyframe interval from it.
    rate = Fraction(1000 * len(timestamps), total_ms).limit_denominator(1000)
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.time_base = MP4_TIME_BASE
    context = stream.codec_context
    context.time_base = MP4_TIME_BASE
    context.gop_size = max(1, round(_KEYFRAME_EVERY_MS * len(timestamps) / total_ms))
    context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
    context.color_range = 1  # limited ("TV") range
    # One thread: x264's automatic thread count follows the machine's cores (1.5 × those it may
    # run on), and its output follows the thread count; the build already encodes formats side
    # by side. No B-frames: with reordered frames the sample table's decode-time steps are
    # shifted durations, so frames of uneven length would not keep their own durations and the
    # file would end early (on the demo's frames they saved 3-10 %; the files are still smaller
    # than the repeated-frame ones before).
    # Preset veryfast: on the demo's 144 frames 0.52× the CPU of `medium` for 1.04× the size and
    # 0.17 dB less PSNR (36.24 vs 36.41 dB against the palette frames) — the flat colours and
    # still backgrounds of maps leave the slower presets' motion search little to find.
    # On top of it (``benchmarks/encoders.py`` e, the same frames): no deblocking filter — it
    # smooths the sharp edges of borders, labels and colour classes, so without it the frames
    # come out closer to their planes (alone: +0.8 dB PSNR, 0.99× the size); the diamond motion
    # search; no P-frame partitions below 16×16. Together 0.76-0.79× x264's CPU at veryfast
    # alone, for 1.004× the size and +0.9 dB PSNR of the planes (49.7 vs 48.8 dB).
    # Then no 8×8 transform (so no 8×8 intra partitions either) and no weighted P-frame
    # prediction (it finds no fades in maps): 0.90-0.95× the CPU of the line before, 1.018× the
    # size, +0.33 dB (50.06 dB), every demo animation +0.07 to +0.6 dB. Measured and rejected
    # there: subme 1 (0.9× the CPU, 1.1× the size, -0.1 dB), no P partitions (0.94×, 1.013× the
    # size, -0.25 dB on one animation), aq-mode 0 with crf 23 (0.8×, same total size and PSNR,
    # but it moves bits between animations: -1.4 dB on one of them), no mb-tree (1.14× the size),
    # a shorter lookahead (no faster).
    stream.options = {
        "crf": str(crf), "preset": "veryfast", "threads": "1", "bf": "0",
        "x264-params": _X264_PARAMS,
    }
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
    takes_rgb = True  # true-colour animations: RGB → yuv420p per pixel, not through the palette

    def encode(self, path: Path, animation: Animation, frames: Iterable[np.ndarray], options: Any = None) -> None:
        write_mp4(
            path, frames, animation.durations_ms, animation.palette_rgb, animation.transparent,
            background_rgb=hex_rgb(options.background) if options else (255, 255, 255), rgb=animation.rgb,
        )


register(Mp4Encoder())
