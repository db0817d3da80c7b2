"""Animated WebP from palette-index frames.

Same input contract as the other encoders (``generator.encode.indexed``): 2-D ``uint8``
palette-index frames of one size, one 256-entry RGB palette and an optional transparent index.
The writer takes an iterable of frames and encodes each frame as it arrives, so memory does not
grow with the frame count.

WebP. Pillow's multi-frame WebP writer (libwebp's animation encoder) merges identical
consecutive frames into one longer frame, and needs every frame in memory. So the animated
container (RIFF ``VP8X`` + ``ANIM`` + one ``ANMF`` per frame) is written here, and Pillow only
encodes each frame as a still WebP whose bitstream chunks (``VP8L``, or ``ALPH`` + ``VP8``) are
copied into the frame. The first frame covers the whole canvas; each later one only the rectangle
that changed since the previous frame (its corner moved to even coordinates, as WebP requires),
with no disposal. Lossless frames of an animation with transparency are alpha-blended: the pixels
of the rectangle that did not change are written fully transparent, so they leave the canvas as it
is, and the changed ones (fully opaque) replace theirs; a frame where a pixel turns transparent
cannot say so by blending and, like every frame otherwise, is drawn with blending off: the
rectangle replaces those canvas pixels, alpha included. Either way the rest of the canvas already
shows this frame, so each decoded frame is exactly that frame. A frame equal to the previous one
repeats its rectangle, blending and bitstream (the same pixels drawn again).

Full colour. With ``rgb=True`` (``Animation.rgb``, true-colour animations) the frames are RGBA
arrays (``indexed.validated_rgba``) and are encoded as they are, by the same scheme: lossless
frames decode to exactly those colours (a pixel of alpha 0 decodes transparent, whatever its
colour).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from generator.core.errors import AnimationError
from generator.encode.indexed import (
    CanvasRect,
    RgbaLookup,
    frames_with_durations,
    no_partial_file,
    validated_palette,
    validated_transparent_index,
)
from generator.encode.registry import Animation, register

WEBP_MAX_DIMENSION = 16383
_WEBP_MAX_DURATION_MS = (1 << 24) - 1
_WEBP_BITSTREAM_CHUNKS = (b"ALPH", b"VP8 ", b"VP8L")
_VP8X_ALPHA = 0x10
_VP8X_ANIMATION = 0x02
_ANMF_DO_NOT_BLEND = 0x02

# libwebp's effort for lossless frames: ``method`` (0-6) and ``quality`` (0-100, the effort in
# lossless mode), chosen with ``benchmarks/encoders.py`` (part b) on the demo's 144 frames (6
# animations of 24, about 512 px, palette-index frames with a transparent border). Every
# setting decodes to the same RGBA; what differs is time and size. Whole frames (before), the
# sweep against method 3, quality 25 (time, size): quality < 25, 0.65× but 1.14× the size for
# every method; method 0, 1.6× the size; 4 and 50+, slower for ≤ 1 % less. Changed rectangles
# only (now; about 75 % of the pixels): method 3 quality 25, 0.67× and 0.87× the size; method
# 2 quality 10, 0.42× and 1.00×; method 3 quality 10, 0.45× and 0.99×; quality 0, no faster;
# method 0, 1.24× the size. Unchanged pixels written transparent and blended (now, measured
# again with libwebp 1.6): 0.86-0.91× libwebp's CPU and 0.90× the size at method 2 quality 10
# (the whole writer, b: 0.41× the CPU of whole frames at method 3, quality 25, 0.905× the
# size); at method 0, still 1.18× the size, at method 1 no faster.
LOSSLESS_METHOD = 2
LOSSLESS_QUALITY = 10
#: Lossy frames (``lossless=False``): Pillow's default method; ``quality`` is the user's.
LOSSY_METHOD = 4
LOSSY_DEFAULT_QUALITY = 90


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


def _changes(previous: np.ndarray, frame: np.ndarray) -> tuple[CanvasRect, np.ndarray] | None:
    """The smallest rectangle with an even corner holding every pixel that changed, and which of its
    pixels did; None if none did.

    Frames are palette indices (rows × columns) or RGBA (rows × columns × 4).
    """
    differs = previous != frame
    if differs.ndim == 3:
        differs = differs.any(axis=2)
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return None
    top, bottom = int(rows[0]) & ~1, int(rows[-1]) + 1
    cols = np.flatnonzero(differs[top:bottom].any(axis=0))
    left, right = int(cols[0]) & ~1, int(cols[-1]) + 1
    rect = CanvasRect(left, top, right - left, bottom - top)
    return rect, differs[rect.slices]


def _anmf_chunk(rect: CanvasRect, duration_ms: int, bitstream: bytes, blend: bool = False) -> bytes:
    """A frame drawn at ``rect``, alpha-blended onto the canvas or (``blend`` False) replacing
    those canvas pixels; no disposal."""
    width, height = rect.width, rect.height
    header = (
        _uint24(rect.left // 2)
        + _uint24(rect.top // 2)
        + _uint24(width - 1)
        + _uint24(height - 1)
        + _uint24(duration_ms)
        + bytes([0 if blend else _ANMF_DO_NOT_BLEND])
    )
    return _riff_chunk(b"ANMF", header + bitstream)


def _unchanged_cleared(
    part: np.ndarray, differs: np.ndarray, lookup: RgbaLookup, transparent: int | None
) -> np.ndarray | Image.Image | None:
    """The RGBA of a changed rectangle (``part``, palette indices or RGBA) with the pixels that did
    not change (``differs`` False) made fully transparent, for a blended frame; None when a changed
    pixel turns transparent (blending would leave the old pixel showing).

    Every visible pixel of a frame is fully opaque (alpha 255), so blending it gives exactly its
    colour (libwebp and browsers copy a pixel of alpha 255 as it is). Palette indices give a
    Pillow image: the unchanged pixels become the transparent index, then Pillow looks the colours
    up (libwebp, with ``exact`` off, encodes every pixel of alpha 0 alike, whatever its colour).
    """
    if part.ndim == 3:
        if ((part[..., 3] == 0) & differs).any():
            return None
        packed = np.ascontiguousarray(part).view(np.uint32)[..., 0]
        packed = np.where(differs, packed, np.uint32(0))
        height, width = part.shape[:2]
        return packed.view(np.uint8).reshape(height, width, 4)
    assert transparent is not None
    # where(differs, part, T) in uint8 arithmetic (which wraps): several times faster than np.where.
    see_through = np.uint8(transparent)
    cleared = part - see_through
    cleared *= differs
    cleared += see_through
    # Pixels of the transparent index: the unchanged ones, and any changed one that turns transparent.
    if np.count_nonzero(cleared == see_through) > differs.size - np.count_nonzero(differs):
        return None
    return lookup.image(cleared)


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
    pixels: np.ndarray | Image.Image,
    lookup: RgbaLookup,
    transparent_index: int | None,
    lossless: bool,
    quality: int,
    method: int,
) -> bytes:
    """One frame's bitstream; ``pixels`` are palette indices (any view), an RGBA array, or the
    image to encode as it is."""
    if isinstance(pixels, Image.Image):
        image = pixels
    elif pixels.ndim == 2:
        image = lookup.image(pixels, "RGBA" if transparent_index is not None else "RGB")
    else:
        rgba = np.ascontiguousarray(pixels)
        image = Image.fromarray(rgba if transparent_index is not None else rgba[..., :3].copy())
    buffer = io.BytesIO()
    # exact=False lets libwebp change the (invisible) colour of fully transparent pixels,
    # which compresses better; visible pixels stay exact in lossless mode. Measured and not
    # taken: exact=True with transparent pixels handed over as 0, 0, 0, 0 (what libwebp makes
    # them without it) — no faster on the demo's frames (0.657 s vs 0.658 s of libwebp), and
    # where libwebp picks spatial prediction over a palette the bytes change (a gradient frame
    # with a transparent border: 2× the size).
    image.save(buffer, format="WEBP", lossless=lossless, quality=quality, method=method, exact=False)
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
    quality: int | None = None,
    rgb: bool = False,
) -> None:
    """Write an animated WebP with exactly one frame per input frame, streamed to disk.

    ``loop`` 0 repeats forever. ``lossless=True`` keeps every visible pixel exact (transparent
    pixels decode with alpha 0); with ``lossless=False``, ``quality`` (0-100, default 90) sets
    the lossy quality. In lossless mode ``quality`` is libwebp's compression effort; leave it
    None for the measured ``LOSSLESS_METHOD`` and ``LOSSLESS_QUALITY``. Durations are in
    milliseconds. ``rgb``: the frames are full-colour RGBA, written as they are (the palette is
    then not used; ``transparent_index`` None drops their alpha).
    """
    path = Path(path)
    palette = validated_palette(palette_rgb)
    transparent = validated_transparent_index(transparent_index)
    if isinstance(loop, bool) or not isinstance(loop, int) or not 0 <= loop <= 0xFFFF:
        raise AnimationError(f"The WebP loop count must be between 0 and 65535, got {loop!r}.")
    if quality is None:
        quality = LOSSLESS_QUALITY if lossless else LOSSY_DEFAULT_QUALITY
    if not 0 <= quality <= 100:
        raise AnimationError(f"The WebP quality must be between 0 and 100, got {quality!r}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = path.open("w+b")
    except OSError as error:
        raise AnimationError(f"Cannot create the WebP file {path}: {error}") from error
    with no_partial_file(path), file:
        _stream_webp(file, frames, durations_ms, palette, transparent, loop, lossless, quality, rgb)


def _stream_webp(
    file: BinaryIO,
    frames: Iterable[np.ndarray],
    durations_ms: Sequence[int],
    palette: bytes,
    transparent: int | None,
    loop: int,
    lossless: bool,
    quality: int,
    rgb: bool = False,
) -> None:
    file.write(b"RIFF\0\0\0\0WEBP")  # the RIFF size is patched in once the frames are written
    previous: np.ndarray | None = None
    bitstream, rect, blend = b"", CanvasRect(0, 0, 1, 1), False
    method = LOSSLESS_METHOD if lossless else LOSSY_METHOD
    lookup = RgbaLookup(palette, transparent)  # made once: each frame is then one look-up
    for pixels, duration in frames_with_durations(frames, durations_ms, rgb):
        height, width = pixels.shape[:2]
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
        # A repeated frame (e.g. a gap in the series) reuses the previous frame's rectangle and encoding.
        if previous is None:
            changes: tuple[CanvasRect, np.ndarray | None] | None = (CanvasRect(0, 0, width, height), None)
        else:
            changes = _changes(previous, pixels)
        if changes is not None:
            rect, differs = changes
            part = pixels[rect.slices]
            cleared = None
            if differs is not None and lossless and transparent is not None:
                cleared = _unchanged_cleared(part, differs, lookup, transparent)
            blend = cleared is not None
            frame = cleared if cleared is not None else part
            bitstream = _encode_webp_frame(frame, lookup, transparent, lossless, quality, method)
            previous = pixels.copy()
        file.write(_anmf_chunk(rect, duration, bitstream, blend))
    riff_size = file.tell() - 8
    file.seek(4)
    file.write(struct.pack("<I", riff_size))


# --------------------------------------------------------------------------------------------
# The format


class WebpEncoder:
    """``webp``: options in ``render.webp`` (``lossless``; ``quality``, which sets lossy frames only).

    Lossless frames always use the measured effort (``LOSSLESS_METHOD``, ``LOSSLESS_QUALITY``):
    it decodes to the same pixels as any other, so the config's quality has nothing to choose.
    """

    name = "webp"
    suffix = ".webp"
    media_type = "image/webp"
    label = "WebP"
    takes_rgb = True  # true-colour animations keep their exact colours

    def encode(self, path: Path, animation: Animation, frames: Iterable[np.ndarray], options: Any = None) -> None:
        write_webp(
            path, frames, animation.durations_ms, animation.palette_rgb, animation.transparent, loop=animation.loop,
            lossless=options.lossless if options else True,
            quality=options.quality if options and not options.lossless else None, rgb=animation.rgb,
        )


register(WebpEncoder())
