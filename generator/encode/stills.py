"""The still outputs of an animation: its poster (a chosen frame as PNG) and its thumbnail
(a small lossy WebP for the gallery's cards).

The animated formats have their own modules: ``gif`` (the exact, streaming GIF writer), ``webp``
and ``mp4``. Each still takes a palette-index frame (written as a palette PNG) or, for a
true-colour animation, a full-colour RGBA frame (``indexed.validated_rgba``; written as an RGBA
PNG, or RGB without a transparent index), so the player's frames keep the exact colours too.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from generator.core.atomic import atomic_path, write_bytes_atomic
from generator.core.errors import AnimationError
from generator.encode.indexed import (
    indices_to_rgba,
    validated_indices,
    validated_palette,
    validated_rgba,
    validated_transparent_index,
)

__all__ = [
    "THUMBNAIL_QUALITY", "poster_image", "poster_png", "thumbnail_image", "thumbnail_size", "thumbnail_webp",
    "write_poster", "write_still", "write_thumbnail",
]

#: libwebp's lossy quality for thumbnails. A downscaled map is a photograph as far as a codec is
#: concerned (every border and smooth gradient resampled into blends): as a PNG it took 60-100 KB,
#: 3× the full-size palette poster, and the gallery's index loads one per card. At 85 the demo's
#: thumbnails take 15-28 KB and differ from the exact downscale by about 3 levels of 255 on
#: average, invisibly at card size; alpha stays lossless, so the map's edges are as they were.
#: Palette quantization (Pillow's octree) was as small but banded the colormap's gradients.
THUMBNAIL_QUALITY = 85


def poster_image(
    indices: np.ndarray, palette_rgb: bytes, transparent_index: int | None
) -> Image.Image:
    """A palette ('P') image that keeps indices and colours exactly; from an RGBA frame, an
    RGBA image (RGB when there is no transparent index) of exactly its colours."""
    if isinstance(indices, np.ndarray) and indices.ndim == 3:
        return _rgba_image(indices, transparent_index)
    pixels = validated_indices(indices)
    palette = validated_palette(palette_rgb)
    transparent = validated_transparent_index(transparent_index)
    height, width = pixels.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(pixels).tobytes())
    image.putpalette(palette, "RGB")
    if transparent is not None:
        image.info["transparency"] = transparent
    return image


def thumbnail_size(width: int, height: int, max_px: int) -> tuple[int, int]:
    """The largest same-aspect (width, height) whose longer side is ≤ ``max_px``; never larger."""
    if max_px < 1:
        raise AnimationError(f"The thumbnail size must be at least 1 pixel, got {max_px}.")
    longest = max(width, height)
    if longest <= max_px:
        return (width, height)
    scale = max_px / longest
    return (max(1, min(max_px, round(width * scale))), max(1, min(max_px, round(height * scale))))


def thumbnail_image(
    indices: np.ndarray, palette_rgb: bytes, transparent_index: int | None, max_px: int = 320
) -> Image.Image:
    """A downscaled preview: RGBA when there is a transparent index, RGB otherwise.

    Pillow resizes RGBA with premultiplied alpha, so transparent pixels' (meaningless) colours
    do not bleed into the edges of the map.
    """
    if isinstance(indices, np.ndarray) and indices.ndim == 3:
        image = _rgba_image(indices, transparent_index)
    else:
        image = Image.fromarray(indices_to_rgba(indices, palette_rgb, transparent_index))
        if transparent_index is None:
            image = image.convert("RGB")
    width, height = image.size
    size = thumbnail_size(width, height, max_px)
    if size != (width, height):
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def write_poster(
    path: Path, indices: np.ndarray, palette_rgb: bytes, transparent_index: int | None
) -> None:
    """Write a frame as a palette PNG (PLTE + tRNS), colours exactly as in the GIF."""
    image = poster_image(indices, palette_rgb, transparent_index)
    _save(Path(path), image, "PNG")


def write_still(path: Path, data: bytes) -> None:
    """Write a still made beforehand: a frame's PNG as the poster (the file :func:`write_poster`
    would write from the same frame, without decoding and encoding it again), a thumbnail's WebP."""
    try:
        write_bytes_atomic(path, data)
    except OSError as error:
        _remove(Path(path))
        raise AnimationError(f"Could not write the image {path}: {error}") from error


def poster_png(indices: np.ndarray, palette_rgb: bytes, transparent_index: int | None) -> bytes:
    """The bytes :func:`write_poster` writes, for a process that does not write the file itself."""
    buffer = io.BytesIO()
    poster_image(indices, palette_rgb, transparent_index).save(buffer, format="PNG")
    return buffer.getvalue()


def thumbnail_webp(indices: np.ndarray, palette_rgb: bytes, transparent_index: int | None, max_px: int = 320) -> bytes:
    """A WebP preview (:data:`THUMBNAIL_QUALITY`) whose longer side is at most ``max_px`` (never
    enlarged), as bytes: a worker makes it, the build writes it."""
    from PIL import WebPImagePlugin  # noqa: F401 - registered, Pillow's save would load every plugin (≈ 20 ms)

    buffer = io.BytesIO()
    image = thumbnail_image(indices, palette_rgb, transparent_index, max_px)
    image.save(buffer, format="WEBP", quality=THUMBNAIL_QUALITY, method=4)  # method 6: 100× the time, 2 % smaller
    return buffer.getvalue()


def write_thumbnail(
    path: Path,
    indices: np.ndarray,
    palette_rgb: bytes,
    transparent_index: int | None,
    max_px: int = 320,
) -> None:
    """Write :func:`thumbnail_webp`'s preview of the frame ``indices``."""
    write_still(path, thumbnail_webp(indices, palette_rgb, transparent_index, max_px))


def _rgba_image(rgba: np.ndarray, transparent_index: int | None) -> Image.Image:
    """A full-colour frame as an RGBA image; RGB (alpha dropped) without a transparent index."""
    pixels = validated_rgba(rgba)
    if validated_transparent_index(transparent_index) is None:
        return Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    return Image.fromarray(pixels)


def _save(path: Path, image: Image.Image, image_format: str, **options: object) -> None:
    try:
        with atomic_path(path) as temporary:
            image.save(temporary, format=image_format, **options)
    except OSError as error:
        _remove(path)
        raise AnimationError(f"Could not write the image {path}: {error}") from error


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
