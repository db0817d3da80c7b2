"""Text for overlays: the font, characters it can draw, line wrapping and boxed text coverage.

Owns turning a string into a glyph-coverage raster (uint8, 0 = box, 255 = ink) inside a padded
box, and coverage into palette indices through the reserved label ramp. Text is drawn with
DejaVu Sans, shipped in ``generator/fonts`` (hinted by FreeType, anti-aliased): accents, µ, °,
em dashes, sub- and superscripts (``NO₂``, ``cm²``) draw as written. A character the font lacks
is folded to a look-alike (or ``?``) rather than shown as an empty box. No file I/O beyond
reading the font.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from generator.core.errors import RenderError

Align = Literal["left", "center", "right"]

#: The smallest font text falls back to when the frame is too small for it.
MIN_FONT_PX = 6
#: Characters the font lacks whose NFKD form does not help.
_LOOKALIKES = {
    "—": "-", "–": "-", "‒": "-", "―": "-", "−": "-", "‐": "-", "‑": "-",
    "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "…": "...", "•": "·", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
    "Ø": "O", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "µ": "u", "\u00a0": " ",
}
ELLIPSIS = "..."


#: The font every overlay text is drawn with (its license: ``fonts/LICENSE-DejaVu.txt``).
DEFAULT_FONT = Path(__file__).resolve().parent.parent / "fonts" / "DejaVuSans.ttf"


# The font of the animation being drawn: set by the painter around its drawing (``using_font``),
# so every text helper below measures and draws with it without taking it as an argument.
_FONT: ContextVar[Path] = ContextVar("overlay_font", default=DEFAULT_FONT)


@contextmanager
def using_font(path: Path | None) -> Iterator[None]:
    """Draw overlay text with the TrueType/OpenType font at ``path`` in this block (None: DejaVu Sans)."""
    token = _FONT.set(path or DEFAULT_FONT)
    try:
        yield
    finally:
        _FONT.reset(token)


def font(size_px: int) -> ImageFont.FreeTypeFont:
    """The overlay font in use at ``size_px`` (pixels per em)."""
    return load_font(_FONT.get(), size_px)


def load_font(path: Path, size_px: int) -> ImageFont.FreeTypeFont:
    """The font file at ``path`` at ``size_px``; a ``RenderError`` naming ``render.font`` if unusable.

    Kept per file version (size and modification time): a process that builds again after the
    font file changed (a service, the tests) draws with the new one.
    """
    return _load_font(path, _version(path), size_px)


def _version(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # missing: ``_load_font`` says so
    return (stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _load_font(path: Path, version: tuple[int, int] | None, size_px: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(str(path), max(1, size_px))
    except ImportError:
        raise RenderError(
            "Pillow was built without FreeType, so overlay text cannot be drawn; "
            "install a Pillow wheel from PyPI"
        ) from None
    except OSError as error:
        raise RenderError(f"render.font: cannot use {path} as a TrueType/OpenType font ({error})") from None


def has_glyph(char: str) -> bool:
    """Whether the overlay font in use draws ``char`` (rather than its 'missing glyph' box)."""
    if char.isascii():
        return True
    path = _FONT.get()
    return _has_glyph(path, _version(path), char)


@lru_cache(maxsize=4096)
def _has_glyph(path: Path, version: tuple[int, int] | None, char: str) -> bool:
    probe = _load_font(path, version, 32)
    missing = probe.getmask("\uffff")
    mask = probe.getmask(char)
    return not (mask.size == missing.size and bytes(mask) == bytes(missing))


def fold_text(text: str) -> str:
    """``text`` with every character the font cannot draw replaced by a look-alike (or ``?``)."""
    out = []
    for char in text:
        if has_glyph(char):
            out.append(char)
        elif char in _LOOKALIKES:
            out.append(_LOOKALIKES[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(base if base and all(has_glyph(c) for c in base) else "?")
    return "".join(out)


def line_extent(size_px: int) -> tuple[int, int]:
    """(top, bottom) of a text line relative to its baseline, from fixed reference glyphs.

    Fixed so that a box never changes height between frames whose texts have other letters.
    """
    _, top, _, bottom = font(size_px).getbbox("Hg", anchor="ls")
    return int(top), int(bottom)


def line_height(size_px: int) -> int:
    top, bottom = line_extent(size_px)
    return bottom - top


def text_width(text: str, size_px: int) -> int:
    """Width in pixels of ``text`` drawn from x = 0 (covers glyphs overhanging the advance)."""
    if not text:
        return 0
    typeface = font(size_px)
    left, _, right, _ = typeface.getbbox(text, anchor="ls")
    return int(max(right, round(typeface.getlength(text))) - min(left, 0))


def padding(size_px: int) -> tuple[int, int, int]:
    """(horizontal padding, vertical padding, margin from the frame edge) for a font size."""
    pad_x = max(2, round(0.45 * size_px))
    pad_y = max(1, round(0.3 * size_px))
    margin = max(2, round(0.5 * size_px))
    return pad_x, pad_y, margin


def truncate(text: str, size_px: int, max_width: int) -> str:
    """``text`` cut at a word (or character) boundary with ``...`` so it fits ``max_width``."""
    if text_width(text, size_px) <= max_width:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(" ,;:-·") + ELLIPSIS
        if text_width(candidate, size_px) <= max_width:
            return candidate
    cut = words[0] if words else text
    while cut and text_width(cut + ELLIPSIS, size_px) > max_width:
        cut = cut[:-1]
    return cut + ELLIPSIS if cut else ""


def wrap(text: str, size_px: int, max_width: int, max_lines: int = 2) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines; the last one is truncated if needed."""
    words = " ".join(text.split()).split(" ")
    lines: list[str] = []
    current = ""
    for position, word in enumerate(words):
        candidate = f"{current} {word}" if current else word
        if not current or text_width(candidate, size_px) <= max_width:
            current = candidate
            continue
        lines.append(current)
        if len(lines) == max_lines - 1:
            current = " ".join(words[position:])
            break
        current = word
    lines.append(current)
    return [truncate(line, size_px, max_width) for line in lines if line]


def boxed_text(lines: Sequence[str], size_px: int, align: Align = "left") -> np.ndarray:
    """Glyph coverage (uint8) of ``lines`` inside their padded box; 0 where there is no ink."""
    pad_x, pad_y, _ = padding(size_px)
    top, _ = line_extent(size_px)
    height = line_height(size_px)
    widths = [text_width(line, size_px) for line in lines]
    box_w = max(widths, default=0) + 2 * pad_x
    box_h = len(lines) * height + 2 * pad_y
    canvas = Image.new("L", (box_w, box_h), 0)
    for number, (line, width) in enumerate(zip(lines, widths, strict=True)):
        x = pad_x + _aligned_offset(width, box_w - 2 * pad_x, align)
        draw_line(canvas, x, pad_y + number * height - top, line, size_px)
    return np.asarray(canvas)


def draw_line(canvas: Image.Image, x: int, baseline: int, text: str, size_px: int) -> None:
    """Draw one line of ``text`` on an "L" ``canvas`` with its left edge at ``x``."""
    typeface = font(size_px)
    left, _, _, _ = typeface.getbbox(text, anchor="ls") if text else (0, 0, 0, 0)
    ImageDraw.Draw(canvas).text((x - min(left, 0), baseline), text, font=typeface, fill=255, anchor="ls")


def _aligned_offset(width: int, room: int, align: Align) -> int:
    if align == "center":
        return (room - width) // 2
    if align == "right":
        return room - width
    return 0


def coverage_to_indices(coverage: np.ndarray, ramp: Sequence[int]) -> np.ndarray:
    """Snap glyph coverage to the nearest step of the palette's label ramp.

    The ramp's greys sit at the matching blends of box and text colour, so edges look smooth
    without inventing colours: text stays exact in the GIF's one palette.
    """
    steps = len(ramp) - 1
    levels = (coverage.astype(np.uint16) * steps + 127) // 255
    return np.asarray(ramp, dtype=np.uint8)[levels]


def paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Copy ``patch`` into ``frame`` with its top-left corner at (x, y), cropped to the frame."""
    height, width = frame.shape
    patch_h, patch_w = patch.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + patch_w, width), min(y + patch_h, height)
    if x0 >= x1 or y0 >= y1:
        return
    frame[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
