"""Palette-index frames: the checks and conversions every encoder shares.

A frame is a 2-D ``uint8`` array of indices into one 256-entry RGB palette, with an optional
transparent index. These helpers validate such inputs with messages a user can act on and turn
them into RGBA where a format needs colours (thumbnails, WebP, MP4), and read the palette PNGs
the build paints its frames as (:func:`png_indices`). The streaming writers
(WebP, MP4) also share the pairing of frames with durations and the rule that a failed write
leaves no partial file.

Encoders that take full-colour frames (``registry.takes_rgb``: WebP, MP4) check them here too: a
full-colour frame is a ``(rows, columns, 4)`` ``uint8`` RGBA array (:func:`validated_rgba`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from generator.core.errors import AnimationError

if TYPE_CHECKING:
    from PIL import Image

PALETTE_ENTRIES = 256
PALETTE_BYTES = PALETTE_ENTRIES * 3


@dataclass(frozen=True)
class CanvasRect:
    """Where a frame's changed pixels sit on the animation's canvas (GIF's image descriptor, a
    WebP ANMF frame: there ``left`` and ``top`` are even, as WebP stores them halved)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return (slice(self.top, self.top + self.height), slice(self.left, self.left + self.width))


def validated_palette(palette_rgb: bytes) -> bytes:
    if not isinstance(palette_rgb, (bytes, bytearray, memoryview)):
        raise AnimationError(
            f"The palette must be {PALETTE_BYTES} bytes (256 RGB triplets), "
            f"got a {type(palette_rgb).__name__}."
        )
    palette = bytes(palette_rgb)
    if len(palette) != PALETTE_BYTES:
        raise AnimationError(
            f"The palette must be exactly {PALETTE_BYTES} bytes (256 RGB triplets), "
            f"got {len(palette)} bytes; pad it to 256 entries."
        )
    return palette


def validated_transparent_index(transparent_index: int | None) -> int | None:
    if transparent_index is None:
        return None
    if isinstance(transparent_index, bool) or not isinstance(transparent_index, (int, np.integer)):
        raise AnimationError(
            f"The transparent index must be an integer 0-255 or None, got {transparent_index!r}."
        )
    if not 0 <= int(transparent_index) < PALETTE_ENTRIES:
        raise AnimationError(
            f"The transparent index must be between 0 and 255, got {transparent_index}."
        )
    return int(transparent_index)


def validated_indices(
    indices: np.ndarray, expected_shape: tuple[int, int] | None = None
) -> np.ndarray:
    if not isinstance(indices, np.ndarray):
        raise AnimationError(
            f"A frame must be a numpy array of palette indices, got {type(indices).__name__}."
        )
    if indices.dtype != np.uint8:
        raise AnimationError(
            f"A frame must hold uint8 palette indices, got dtype {indices.dtype}; "
            "map the values to palette indices first."
        )
    if indices.ndim != 2 or indices.shape[0] == 0 or indices.shape[1] == 0:
        raise AnimationError(
            f"A frame must be a non-empty 2-D array (rows, columns), got shape {indices.shape}."
        )
    if expected_shape is not None and indices.shape != expected_shape:
        raise AnimationError(
            f"Every frame of an animation must have the same size: expected "
            f"{expected_shape[0]} rows × {expected_shape[1]} columns, got "
            f"{indices.shape[0]} × {indices.shape[1]}."
        )
    return indices


def indices_to_rgba(
    indices: np.ndarray, palette_rgb: bytes, transparent_index: int | None
) -> np.ndarray:
    """Look palette indices up into an H×W×4 ``uint8`` RGBA array (alpha 0 where transparent)."""
    pixels = validated_indices(indices)
    return RgbaLookup(palette_rgb, transparent_index).rgba(pixels)


class RgbaLookup:
    """A palette's RGBA colours as one ``uint32`` per entry, for frame after frame.

    Each pixel is then one 4-byte ``np.take``: about 10× faster than indexing a 256 × 4 table by
    rows, which the WebP writer and the stills did per frame.
    """

    def __init__(self, palette_rgb: bytes, transparent_index: int | None) -> None:
        palette_bytes = validated_palette(palette_rgb)
        palette = np.frombuffer(palette_bytes, dtype=np.uint8).reshape(PALETTE_ENTRIES, 3)
        alpha_by_index = np.full(PALETTE_ENTRIES, 255, dtype=np.uint8)
        transparent = validated_transparent_index(transparent_index)
        if transparent is not None:
            alpha_by_index[transparent] = 0
        # The 4 bytes of each entry in R, G, B, A order, read as one uint32 (in the machine's
        # byte order, so viewing the result as bytes gives R, G, B, A again).
        table = np.ascontiguousarray(np.concatenate([palette, alpha_by_index[:, None]], axis=1))
        self.packed = table.view(np.uint32).reshape(PALETTE_ENTRIES)

    def rgba(self, pixels: np.ndarray) -> np.ndarray:
        """The ``(rows, columns, 4)`` RGBA of a 2-D ``uint8`` index array (a view of it is fine)."""
        height, width = pixels.shape
        return np.take(self.packed, pixels).view(np.uint8).reshape(height, width, 4)

    def image(self, pixels: np.ndarray, mode: str = "RGBA") -> Image.Image:
        """The colours of a 2-D ``uint8`` index array as a Pillow image (``mode`` "RGBA", or "RGB"
        without the alpha), looked up by Pillow: about 1.5× faster than :meth:`rgba`, as numpy
        turns every uint8 index into a 64-bit one before looking it up."""
        from PIL import Image  # imported by the encoders that call this anyway

        height, width = pixels.shape
        indexed = Image.frombuffer("P", (width, height), np.ascontiguousarray(pixels), "raw", "P", 0, 1)
        indexed.putpalette(self.packed.view(np.uint8).tobytes(), "RGBA")
        return indexed.convert(mode)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_indices(data: bytes) -> np.ndarray | None:
    """The indices of an 8-bit palette PNG whose rows are all unfiltered, else None.

    Pillow writes palette PNGs that way (the frames the build paints, ``stills.poster_png``);
    reading their pixels here is one ``zlib`` inflate, about half of what opening them with
    Pillow costs, and every encoder reads every frame. Any other PNG (another colour type or
    depth, interlaced, filtered rows) gives None: the caller decodes it with Pillow.
    """
    view = memoryview(data)
    if bytes(view[:8]) != _PNG_SIGNATURE:
        return None
    position, size, parts = 8, None, []
    while position + 8 <= len(view):
        (length,) = struct.unpack_from(">I", view, position)
        kind = bytes(view[position + 4 : position + 8])
        body = view[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _compression, _filter, interlace = struct.unpack_from(">IIBBBBB", body)
            if (depth, colour, interlace) != (8, 3, 0):
                return None
            size = (height, width)
        elif kind == b"IDAT":
            parts.append(body)
        elif kind == b"IEND":
            break
        position += 12 + length
    if size is None or not parts:
        return None
    height, width = size
    try:
        raw = zlib.decompress(b"".join(parts))
    except zlib.error:
        return None
    if len(raw) != height * (width + 1):
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():  # a filtered row: Pillow undoes the filters
        return None
    return np.ascontiguousarray(rows[:, 1:])


def validated_rgba(pixels: np.ndarray, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """A full-colour frame: a non-empty ``(rows, columns, 4)`` ``uint8`` RGBA array."""
    if not isinstance(pixels, np.ndarray):
        raise AnimationError(f"A full-colour frame must be a numpy RGBA array, got {type(pixels).__name__}.")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 4 or 0 in pixels.shape:
        raise AnimationError(
            f"A full-colour frame must be a (rows, columns, 4) uint8 RGBA array, got {pixels.dtype} "
            f"of shape {pixels.shape}; palette-index frames go to an animation without rgb."
        )
    if expected_shape is not None and pixels.shape[:2] != expected_shape:
        raise AnimationError(
            f"Every frame of an animation must have the same size: expected "
            f"{expected_shape[0]} rows × {expected_shape[1]} columns, got "
            f"{pixels.shape[0]} × {pixels.shape[1]}."
        )
    return pixels


def frames_with_durations(
    frames: Iterable[np.ndarray], durations_ms: Sequence[int], rgb: bool = False
) -> Iterator[tuple[np.ndarray, int]]:
    """Pair frames with durations lazily, checking sizes and counts as they go.

    ``rgb``: the frames are full-colour RGBA (:func:`validated_rgba`), not palette indices.
    """
    durations = [validated_duration(value) for value in durations_ms]
    validated = validated_rgba if rgb else validated_indices
    shape: tuple[int, int] | None = None
    count = 0
    for count, frame in enumerate(frames, start=1):
        if count > len(durations):
            raise AnimationError(
                f"More frames than durations: {len(durations)} durations were given; "
                "pass one duration per frame."
            )
        pixels = validated(frame, shape)
        shape = (pixels.shape[0], pixels.shape[1])
        yield pixels, durations[count - 1]
    if count == 0:
        raise AnimationError("No frames were given; an animation needs at least one frame.")
    if count != len(durations):
        raise AnimationError(
            f"{count} frames but {len(durations)} durations were given; "
            "pass one duration per frame."
        )


def validated_duration(duration_ms: int) -> int:
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, np.integer)):
        raise AnimationError(
            f"A frame duration must be an integer number of milliseconds, got {duration_ms!r}."
        )
    if duration_ms < 0:
        raise AnimationError(f"A frame duration cannot be negative, got {duration_ms} ms.")
    return int(duration_ms)


def remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the caller already reports the original error


@contextmanager
def no_partial_file(path: Path, codec_errors: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Remove ``path`` if writing it fails; I/O and codec errors become an ``AnimationError``."""
    try:
        yield
    except codec_errors as error:
        remove_quietly(path)
        raise AnimationError(f"Could not encode {path}: {error}") from error
    except OSError as error:
        remove_quietly(path)
        raise AnimationError(f"Could not write {path}: {error}") from error
    except BaseException:
        remove_quietly(path)
        raise
