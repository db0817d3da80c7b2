"""Palette-index frames: the checks and conversions every encoder shares.

A frame is a 2-D ``uint8`` array of indices into one 256-entry RGB palette, with an optional
transparent index. These helpers validate such inputs with messages a user can act on and turn
them into RGBA where a format needs colours (thumbnails, WebP, MP4).
"""

from __future__ import annotations

import numpy as np

from .errors import AnimationError

PALETTE_ENTRIES = 256
PALETTE_BYTES = PALETTE_ENTRIES * 3


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
    palette_bytes = validated_palette(palette_rgb)
    palette = np.frombuffer(palette_bytes, dtype=np.uint8).reshape(PALETTE_ENTRIES, 3)
    alpha_by_index = np.full(PALETTE_ENTRIES, 255, dtype=np.uint8)
    transparent = validated_transparent_index(transparent_index)
    if transparent is not None:
        alpha_by_index[transparent] = 0
    lookup = np.concatenate([palette, alpha_by_index[:, None]], axis=1)
    return lookup[pixels]
