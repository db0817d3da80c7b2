"""The animated GIF writer: palette-index frames streamed into an exact, small GIF.

Input frames are 2-D ``uint8`` arrays of palette indices, all the same shape, sharing one
256-entry RGB palette and (optionally) one transparent index. It guarantees that index ``i`` in a frame is shown with exactly ``palette_rgb[3*i:3*i+3]``.

The GIF container is assembled here, block by block, so that:

* there is exactly one global colour table and no per-frame quantization or remapping;
* identical consecutive frames stay separate frames (Pillow's multi-frame writer merges them);
* frames are streamed to disk as they arrive, so memory does not grow with the frame count;
* by default only the rectangle that changed since the previous frame is written (see
  ``GifWriter``), with disposal methods chosen so the decoded frames are exactly the input.

Only the LZW compression of each frame's pixels is delegated to Pillow's GIF encoder (see
``_lzw_image_data``), because a pure-Python LZW encoder is far too slow.
"""


from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from generator.core.errors import AnimationError
from generator.encode.indexed import (
    CanvasRect,
    validated_duration,
    validated_indices,
    validated_palette,
    validated_transparent_index,
)
from generator.encode.registry import Animation, register

# GIF disposal methods (Graphic Control Extension, bits 2-4 of the packed field).
DISPOSAL_NONE = 1  # leave the frame in place; the next frame draws over it
DISPOSAL_RESTORE_BACKGROUND = 2  # clear the frame's rectangle before the next one

_MAX_UINT16 = 0xFFFF
_EXTENSION_INTRODUCER = 0x21
_IMAGE_SEPARATOR = 0x2C
_TRAILER = 0x3B
_GRAPHIC_CONTROL_LABEL = 0xF9
_LZW_BITS = 8  # LZW minimum code size for a 256-entry colour table
_APPLICATION_LABEL = 0xFF


def _validated_dimension(name: str, value: int) -> int:
    if not isinstance(value, (int, np.integer)) or not 1 <= int(value) <= _MAX_UINT16:
        raise AnimationError(
            f"The GIF {name} must be between 1 and {_MAX_UINT16} pixels, got {value!r}."
        )
    return int(value)


# --------------------------------------------------------------------------------------------
# GIF blocks (pure: bytes in, bytes out)


def _gif_header(width: int, height: int, palette: bytes, background_index: int, loop: int) -> bytes:
    """Header, logical screen descriptor, global colour table and the looping extension."""
    # Packed field: global colour table present (0x80), colour resolution 8 bits (0x70),
    # not sorted, table size 2**(7+1) = 256 entries (0x07).
    packed = 0x80 | 0x70 | 0x07
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, packed, background_index, 0)
    netscape_loop = (
        bytes([_EXTENSION_INTRODUCER, _APPLICATION_LABEL, 11])
        + b"NETSCAPE2.0"
        + struct.pack("<BBHB", 3, 1, loop, 0)
    )
    return screen + palette + netscape_loop


def _graphic_control_extension(
    delay_cs: int, disposal: int, transparent_index: int | None
) -> bytes:
    packed = (disposal & 0b111) << 2
    if transparent_index is not None:
        packed |= 0x01
    return bytes([_EXTENSION_INTRODUCER, _GRAPHIC_CONTROL_LABEL, 4]) + struct.pack(
        "<BHBB", packed, delay_cs, transparent_index or 0, 0
    )


def _image_descriptor(left: int, top: int, width: int, height: int) -> bytes:
    # Packed field 0: no local colour table, not interlaced.
    return bytes([_IMAGE_SEPARATOR]) + struct.pack("<HHHHB", left, top, width, height, 0)


def _validated_loop(loop: int) -> int:
    if isinstance(loop, bool) or not isinstance(loop, (int, np.integer)):
        raise AnimationError(f"The GIF loop count must be an integer, got {loop!r}.")
    if not 0 <= loop <= _MAX_UINT16:
        raise AnimationError(
            f"The GIF loop count must be between 0 (forever) and {_MAX_UINT16}, got {loop}."
        )
    return int(loop)


def _delay_centiseconds(duration_ms: int) -> int:
    duration_ms = validated_duration(duration_ms)
    delay = (duration_ms + 5) // 10  # GIF delays are centiseconds; round half up
    if delay > _MAX_UINT16:
        raise AnimationError(
            f"A frame duration of {duration_ms} ms is longer than the GIF maximum of "
            f"{_MAX_UINT16 * 10} ms."
        )
    return delay


# --------------------------------------------------------------------------------------------
# LZW compression through Pillow


def _lzw_image_data(pixels: np.ndarray) -> bytes:
    """Return the table-based image data (LZW minimum code size, sub-blocks, terminator).

    Pillow's GIF encoder (the one its GIF writer runs) compresses the indices as they are: it
    takes no palette, so no colour can be remapped. It is called directly through
    ``Image.tobytes("gif", rawmode, bits, interlace)``, which returns the data sub-blocks;
    the minimum code size (8: 256 colours) and the terminator are written here, as Pillow's
    writer does. Not interlaced, as our image descriptor says.
    """
    height, width = pixels.shape
    image = Image.frombuffer("P", (width, height), np.ascontiguousarray(pixels), "raw", "P", 0, 1)
    sub_blocks = image.tobytes("gif", "P", _LZW_BITS, 0)
    if not sub_blocks:
        raise AnimationError("Pillow's GIF encoder returned unexpected data while compressing a frame.")
    return bytes([_LZW_BITS]) + sub_blocks + b"\0"


# --------------------------------------------------------------------------------------------
# Frame-difference planning (pure: arrays in, what to write out)


@dataclass(frozen=True)
class _PlannedImage:
    """One GIF image block: the pixels to write, where, and how to dispose of them."""

    rect: CanvasRect
    pixels: np.ndarray
    disposal: int


def _bounding_rect(mask: np.ndarray) -> CanvasRect | None:
    """The smallest rectangle holding every True pixel of ``mask``; None when there is none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1])
    cols = np.flatnonzero(mask[top : bottom + 1].any(axis=0))  # only rows that have any
    left, right = int(cols[0]), int(cols[-1])
    return CanvasRect(left, top, right - left + 1, bottom - top + 1)


def _union(first: CanvasRect | None, second: CanvasRect | None) -> CanvasRect | None:
    if first is None or second is None:
        return first or second
    left, top = min(first.left, second.left), min(first.top, second.top)
    right = max(first.left + first.width, second.left + second.width)
    bottom = max(first.top + first.height, second.top + second.height)
    return CanvasRect(left, top, right - left, bottom - top)


def _plan_image(
    canvas: np.ndarray | None,
    frame: np.ndarray,
    following: np.ndarray | None,
    transparent_index: int | None,
) -> _PlannedImage:
    """Decide how to turn the decoder's ``canvas`` into ``frame`` with one image block.

    ``canvas`` is what the decoder shows just before this image is drawn (after the previous
    image's disposal), as palette indices where the transparent index means "see-through";
    None means unknown, so the whole frame is written. ``following`` is the next frame (None
    for the last one): it decides this image's disposal.

    Why this is exact. Drawing an image changes exactly the canvas pixels where the image is
    not transparent, so drawing ``where(canvas == frame, T, frame)`` over the changed
    rectangle yields ``frame``, except where ``frame`` must be see-through but the canvas is
    not — a GIF image cannot erase. Such pixels only exist where this frame is opaque and the
    following one is transparent; we know them one frame ahead, so this image gets disposal
    "restore to background" (which clears its own rectangle to transparent) and its rectangle
    is grown to cover them. Otherwise it is "leave in place" and the canvas stays ``frame``.
    """
    full = CanvasRect(0, 0, frame.shape[1], frame.shape[0])
    to_clear: CanvasRect | None = None
    if transparent_index is not None:
        if following is None:
            # Restoring after the last frame does not change what is shown, and it clears the
            # canvas for any decoder that keeps composing when the animation loops.
            to_clear = full
        else:
            to_clear = _bounding_rect((frame != transparent_index) & (following == transparent_index))
    disposal = DISPOSAL_NONE if to_clear is None else DISPOSAL_RESTORE_BACKGROUND
    if to_clear is full:
        to_clear = None  # only the disposal matters here, not a bigger rectangle

    differs = None if canvas is None else canvas != frame
    changed = full if differs is None else _bounding_rect(differs)
    # Identical consecutive frames still get an image of their own: one unchanged pixel.
    rect = _union(changed, to_clear) or CanvasRect(0, 0, 1, 1)
    pixels = frame[rect.slices]
    if differs is not None and transparent_index is not None:
        # Unchanged pixels may be written as the transparent index. That helps LZW when it
        # makes long runs of one code (static areas) and hurts when it sprinkles isolated
        # codes into a smooth field that moved; the count of run breaks tells which.
        # where(differs, pixels, T) in uint8 arithmetic (which wraps): 8× faster than np.where.
        see_through = np.uint8(transparent_index)
        masked = pixels - see_through
        masked *= differs[rect.slices]
        masked += see_through
        if _run_breaks(masked) <= _run_breaks(pixels):
            pixels = masked
    return _PlannedImage(rect, np.ascontiguousarray(pixels, dtype=np.uint8), disposal)


def _run_breaks(pixels: np.ndarray) -> int:
    """How often a pixel differs from its left neighbour: a cheap proxy for LZW size."""
    return int(np.count_nonzero(pixels[:, 1:] != pixels[:, :-1]))


# --------------------------------------------------------------------------------------------
# Streaming GIF writer


class GifWriter:
    """Write an animated GIF frame by frame, with one exact global palette.

    Use as a context manager; if the block raises, the partial file is removed::

        with GifWriter(path, width, height, palette_rgb, transparent_index=0) as gif:
            for frame in frames:
                gif.add_frame(frame, duration_ms=500)

    ``loop`` is the NETSCAPE2.0 loop count: 0 repeats forever; for ``n`` > 0 most browsers
    play the animation ``n + 1`` times. Without ``with``, call ``close()`` to finish the file
    or ``abort()`` to discard it.

    With ``optimize=True`` (the default) each frame after the first is written as the
    rectangle that changed since the previous one, and pixels that did not change inside it
    as the transparent index; decoded frames are still exactly the frames given, transparent
    pixels included (see ``_plan_image``). Choosing a frame's disposal needs the next frame,
    so each frame is written when the next one arrives (or at ``close()``): the writer holds
    at most two frames. With ``optimize=False`` every frame is written whole, at once, with
    disposal "restore to background".
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        palette_rgb: bytes,
        transparent_index: int | None,
        loop: int = 0,
        optimize: bool = True,
    ) -> None:
        self.path = Path(path)
        self.width = _validated_dimension("width", width)
        self.height = _validated_dimension("height", height)
        self._palette = validated_palette(palette_rgb)
        self._transparent_index = validated_transparent_index(transparent_index)
        loop = _validated_loop(loop)
        self.optimize = bool(optimize)
        self._frame_count = 0
        # Optimised mode only: what the decoder shows before the pending frame is drawn, and
        # the frame waiting for its successor (copied, so callers may reuse their buffers).
        self._canvas: np.ndarray | None = None
        self._pending: np.ndarray | None = None
        self._pending_delay_cs = 0
        self._file: BinaryIO | None = self._open()
        background = self._transparent_index if self._transparent_index is not None else 0
        self._write(_gif_header(self.width, self.height, self._palette, background, loop))

    @property
    def frame_count(self) -> int:
        """Frames added so far (the last one may still wait to be written)."""
        return self._frame_count

    @property
    def closed(self) -> bool:
        return self._file is None

    def add_frame(self, indices: np.ndarray, duration_ms: int) -> None:
        """Append one full frame shown for ``duration_ms`` (rounded to centiseconds)."""
        self._require_open()
        pixels = validated_indices(indices, (self.height, self.width))
        delay_cs = _delay_centiseconds(duration_ms)
        if not self.optimize:
            full_canvas = CanvasRect(0, 0, self.width, self.height)
            self._write_image(pixels, full_canvas, delay_cs, DISPOSAL_RESTORE_BACKGROUND)
        else:
            spare = self._write_pending(following=pixels)
            if spare is None:
                spare = np.empty_like(pixels)
            np.copyto(spare, pixels)
            self._pending, self._pending_delay_cs = spare, delay_cs
        self._frame_count += 1

    def close(self) -> None:
        """Finish the file. Closing twice is harmless; closing with no frames is an error."""
        if self._file is None:
            return
        if self._frame_count == 0:
            self.abort()
            raise AnimationError(
                f"No frames were added to {self.path}; a GIF needs at least one frame."
            )
        try:
            self._write_pending(following=None)
        except BaseException:
            self.abort()
            raise
        self._write(bytes([_TRAILER]))
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as error:
            self._remove_partial_file()
            raise AnimationError(f"Could not finish writing {self.path}: {error}") from error

    def abort(self) -> None:
        """Close without finishing and delete the partial file."""
        file, self._file = self._file, None
        self._canvas = self._pending = None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass  # the file is being thrown away anyway
        self._remove_partial_file()

    def __enter__(self) -> GifWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    # -- internals ---------------------------------------------------------------------------

    def _write_pending(self, following: np.ndarray | None) -> np.ndarray | None:
        """Write the frame waiting for its successor; return a buffer free for reuse."""
        frame = self._pending
        if frame is None:
            return None
        planned = _plan_image(self._canvas, frame, following, self._transparent_index)
        self._write_image(planned.pixels, planned.rect, self._pending_delay_cs, planned.disposal)
        # The written frame's buffer becomes the canvas; the old canvas buffer is recycled.
        spare, self._canvas, self._pending = self._canvas, frame, None
        if planned.disposal == DISPOSAL_RESTORE_BACKGROUND:
            assert self._transparent_index is not None
            frame[planned.rect.slices] = self._transparent_index
        return spare

    def _write_image(self, pixels: np.ndarray, rect: CanvasRect, delay_cs: int, disposal: int) -> None:
        """Write one image block; ``pixels`` covers ``rect``, which may be a sub-rectangle."""
        if pixels.shape != (rect.height, rect.width):
            raise AnimationError(
                f"Frame pixels of shape {pixels.shape} do not match their rectangle {rect}."
            )
        fits_horizontally = rect.left >= 0 and rect.left + rect.width <= self.width
        fits_vertically = rect.top >= 0 and rect.top + rect.height <= self.height
        if not (fits_horizontally and fits_vertically):
            raise AnimationError(
                f"Frame rectangle {rect} lies outside the {self.width}×{self.height} canvas."
            )
        block = (
            _graphic_control_extension(delay_cs, disposal, self._transparent_index)
            + _image_descriptor(rect.left, rect.top, rect.width, rect.height)
            + _lzw_image_data(pixels)
        )
        self._write(block)

    def _open(self) -> BinaryIO:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path.open("wb")
        except OSError as error:
            raise AnimationError(f"Cannot create the GIF file {self.path}: {error}") from error

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as error:
            self.abort()
            raise AnimationError(f"Could not write to {self.path}: {error}") from error

    def _require_open(self) -> None:
        if self._file is None:
            raise AnimationError(f"The GIF writer for {self.path} is already closed.")

    def _remove_partial_file(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # nothing more useful to do; the caller already gets the original error


# --------------------------------------------------------------------------------------------
# The format


class GifEncoder:
    """``gif``: streamed frame by frame while the frames are painted (see ``encode.registry``)."""

    name = "gif"
    suffix = ".gif"
    media_type = "image/gif"
    label = "GIF"

    def open(self, path: Path, animation: Animation, options: Any = None) -> GifWriter:
        return GifWriter(
            path, animation.width, animation.height, animation.palette_rgb, animation.transparent, animation.loop
        )

    def encode(self, path: Path, animation: Animation, frames: Iterable[np.ndarray], options: Any = None) -> None:
        with self.open(path, animation, options) as writer:
            for pixels, duration in zip(frames, animation.durations_ms, strict=True):
                writer.add_frame(pixels, duration)


register(GifEncoder())
