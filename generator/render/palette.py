"""Palettes: one exact 256-colour table per animation, and data values → palette indices.

Frames are never RGB. Data values map straight to palette indices and the GIF carries one
global palette, so every colour on screen is exactly a colormap entry (no quantization).

Layout of a palette: data levels occupy indices ``[0, n_levels)``, low to high; the reserved
entries listed in :data:`RESERVED_COLORS` follow, in that order. Nothing outside this module
should assume how many reserved entries there are — ask the palette (``n_levels``,
``index(name)``, ``transparent``).

Pure numpy; no file I/O.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from generator.config import DEFAULT_BORDER_COLOR, DEFAULT_HALO_COLOR, MAX_BORDER_LAYERS
from generator.core.errors import StyleError

PALETTE_SIZE = 256


@dataclass(frozen=True)
class ReservedColor:
    """A palette entry kept out of the data levels, addressed by name."""

    name: str
    rgb: tuple[int, int, int]


LABEL_BOX_RGB = (24, 28, 33)
LABEL_TEXT_RGB = (255, 255, 255)
# Three intermediate greys give five coverage steps (0, ¼, ½, ¾, 1): enough for smooth-looking
# glyph edges at 9–50 px while costing only three data levels.
LABEL_AA_STEPS = 3
#: Border overlay layers a region may have; each layer owns a line and a halo entry, so layer
#: colours come from the configuration without touching the data levels.
DEFAULT_BORDER_RGB = (int(DEFAULT_BORDER_COLOR[1:3], 16), int(DEFAULT_BORDER_COLOR[3:5], 16), int(DEFAULT_BORDER_COLOR[5:7], 16))
DEFAULT_HALO_RGB = (int(DEFAULT_HALO_COLOR[1:3], 16), int(DEFAULT_HALO_COLOR[3:5], 16), int(DEFAULT_HALO_COLOR[5:7], 16))


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def _label_aa_colors() -> tuple[ReservedColor, ...]:
    return tuple(
        ReservedColor(
            f"label_aa{step}",
            _blend(LABEL_BOX_RGB, LABEL_TEXT_RGB, step / (LABEL_AA_STEPS + 1)),
        )
        for step in range(1, LABEL_AA_STEPS + 1)
    )


def border_entry(layer: int) -> str:
    """Reserved entry name of border layer ``layer`` (1-based)."""
    return f"border_{layer}"


def halo_entry(layer: int) -> str:
    """Reserved entry name of the halo around border layer ``layer`` (1-based)."""
    return f"halo_{layer}"


#: Every reserved entry, in palette order (right after the data levels): the one place that
#: lists them. Add new entries here; the number of data levels follows automatically.
#: Overlays draw only with these entries, so the GIF's single palette stays exact.
RESERVED_COLORS: tuple[ReservedColor, ...] = (
    # Region border layers and their halos (colours overridable per animation).
    *(ReservedColor(border_entry(n), DEFAULT_BORDER_RGB) for n in range(1, MAX_BORDER_LAYERS + 1)),
    *(ReservedColor(halo_entry(n), DEFAULT_HALO_RGB) for n in range(1, MAX_BORDER_LAYERS + 1)),
    # Text: every text overlay (date, title, attribution, legend labels) sits on a label_box
    # and is anti-aliased only through the label_aa greys.
    ReservedColor("label_box", LABEL_BOX_RGB),
    *_label_aa_colors(),
    ReservedColor("label_text", LABEL_TEXT_RGB),
    # Outline and tick marks of the colorbar legend.
    ReservedColor("legend_frame", (235, 235, 235)),
    # Timeline bar: the whole time range (track) and the part already shown (bar).
    ReservedColor("timeline_track", (70, 74, 80)),
    ReservedColor("timeline_bar", (250, 250, 250)),
    # The GIF transparency index; its RGB only shows in viewers that ignore transparency.
    ReservedColor("transparent", (0, 0, 0)),
)

#: Older names still accepted by :meth:`Palette.index`.
RESERVED_ALIASES: Mapping[str, str] = MappingProxyType({"border": border_entry(1), "halo": halo_entry(1)})

#: Names of the label ramp, from no glyph coverage (the box) to full coverage (the text).
LABEL_RAMP: tuple[str, ...] = (
    "label_box",
    *(f"label_aa{step}" for step in range(1, LABEL_AA_STEPS + 1)),
    "label_text",
)

_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True, eq=False)
class Palette:
    """A 256-entry RGB table: ``n_levels`` data colours low→high, then the reserved entries."""

    colors: np.ndarray  # (256, 3) uint8, read-only
    n_levels: int
    reserved: Mapping[str, int]  # name → index

    def __post_init__(self) -> None:
        colors = np.array(self.colors, dtype=np.uint8)  # own copy, so freezing it is safe
        if colors.shape != (PALETTE_SIZE, 3):
            raise ValueError(f"palette colors must be {PALETTE_SIZE}×3, got {colors.shape}")
        if not 2 <= self.n_levels <= PALETTE_SIZE:
            raise ValueError(f"n_levels must be in [2, {PALETTE_SIZE}], got {self.n_levels}")
        indices = list(self.reserved.values())
        if len(set(indices)) != len(indices):
            raise ValueError(f"reserved palette indices collide: {dict(self.reserved)}")
        if any(not self.n_levels <= i < PALETTE_SIZE for i in indices):
            raise ValueError("reserved palette indices must lie after the data levels")
        colors.setflags(write=False)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "reserved", MappingProxyType(dict(self.reserved)))

    @property
    def transparent(self) -> int:
        return self.index("transparent")

    def index(self, name: str) -> int:
        """Palette index of the reserved entry ``name``."""
        try:
            return self.reserved[RESERVED_ALIASES.get(name, name)]
        except KeyError:
            known = ", ".join(self.reserved)
            raise KeyError(f"no reserved palette entry {name!r} (known: {known})") from None

    def label_ramp(self) -> tuple[int, ...]:
        """Indices from label background to label text, by increasing glyph coverage."""
        return tuple(self.index(name) for name in LABEL_RAMP)

    def rgb_bytes(self) -> bytes:
        """The 768-byte r,g,b,r,g,b… table that GIF and PNG palettes expect."""
        return self.colors.tobytes()

    def data_colors(self) -> np.ndarray:
        """The data levels' colours, low to high, shape (n_levels, 3)."""
        return self.colors[: self.n_levels]

    def legend_hex(self, n: int = 16) -> tuple[str, ...]:
        """``n`` "#rrggbb" colours sampled evenly along the data levels, low to high."""
        if n < 1:
            raise ValueError(f"legend needs at least one colour, got n={n}")
        if n == 1:
            positions = np.array([(self.n_levels - 1) // 2])
        else:
            positions = np.rint(np.linspace(0, self.n_levels - 1, n)).astype(int)
        return tuple("#{:02x}{:02x}{:02x}".format(*self.colors[i]) for i in positions)


def n_data_levels() -> int:
    """How many data levels a palette has with the current reserved entries."""
    return PALETTE_SIZE - len(RESERVED_COLORS)


def build_palette(
    colormap: str | Sequence[str],
    reserved_rgb: Mapping[str, tuple[int, int, int]] | None = None,
) -> Palette:
    """Build the palette for a colormap name (any rio-tiler name) or a list of ≥2 hex colours.

    ``reserved_rgb`` overrides the colour of reserved entries by name (e.g. a border layer's
    configured colour); the layout of the palette never changes. Raises :class:`StyleError`
    for an unknown name or a malformed colour.
    """
    overrides = dict(reserved_rgb or {})
    unknown = sorted(set(overrides) - {entry.name for entry in RESERVED_COLORS})
    if unknown:
        raise ValueError(f"no reserved palette entries named {unknown}")
    n_levels = n_data_levels()
    data = colormap_levels(colormap, n_levels)
    colors = np.zeros((PALETTE_SIZE, 3), dtype=np.uint8)
    colors[:n_levels] = data
    reserved: dict[str, int] = {}
    for offset, entry in enumerate(RESERVED_COLORS):
        reserved[entry.name] = n_levels + offset
        colors[n_levels + offset] = overrides.get(entry.name, entry.rgb)
    return Palette(colors=colors, n_levels=n_levels, reserved=reserved)


def colormap_levels(colormap: str | Sequence[str], n_levels: int) -> np.ndarray:
    """``n_levels`` RGB colours (n×3 uint8) from a colormap name (by index) or a hex list (linear)."""
    if isinstance(colormap, str):
        return _named_colormap_levels(colormap, n_levels)
    return _custom_colormap_levels(colormap, n_levels)


def _named_colormap_levels(name: str, n_levels: int) -> np.ndarray:
    # Imported here: importing rio_tiler pulls in its whole reader stack (~0.4 s), which
    # callers that only need a palette's layout should not pay for.
    from rio_tiler.colormap import cmap

    key = name.strip().lower()
    available = cmap.list()
    if key not in available:
        raise StyleError(_unknown_colormap_message(name, available))
    table = cmap.get(key)
    entries = np.array([table[k][:3] for k in sorted(table)], dtype=np.uint8)
    # Resample by index, never by distinct colour: a colormap may repeat colours (rio-tiler's
    # viridis has 254 distinct colours in 256 entries) and deduping would shift every level.
    positions = np.rint(np.arange(n_levels) * (len(entries) - 1) / (n_levels - 1)).astype(int)
    return entries[positions]


def _unknown_colormap_message(name: str, available: Sequence[str]) -> str:
    if _HEX_COLOR.fullmatch(name.strip()):
        return (
            f"colormap {name!r} is a single colour; give a list of at least two hex colours "
            "(e.g. ['#f7fbff', '#08306b']) or a colormap name such as 'viridis'"
        )
    close = difflib.get_close_matches(name.strip().lower(), available, n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "e.g. viridis, magma, rdbu_r, ylgnbu"
    return (
        f"unknown colormap {name!r}: {hint} Use a rio-tiler colormap name "
        "or a list of at least two hex colours like ['#000000', '#ffffff']"
    )


def _custom_colormap_levels(colors: Sequence[str], n_levels: int) -> np.ndarray:
    stops = [_parse_hex(color) for color in colors]
    if len(stops) < 2:
        raise StyleError(
            f"a custom colormap needs at least two hex colours, got {list(colors)!r}"
        )
    stop_rgb = np.array(stops, dtype=np.float64)
    stop_positions = np.linspace(0.0, 1.0, len(stops))
    level_positions = np.linspace(0.0, 1.0, n_levels)
    channels = [np.interp(level_positions, stop_positions, stop_rgb[:, c]) for c in range(3)]
    return np.rint(np.column_stack(channels)).astype(np.uint8)


def parse_hex(color: object) -> tuple[int, int, int]:
    """``"#rgb"`` or ``"#rrggbb"`` → (r, g, b); raises :class:`StyleError` otherwise."""
    return _parse_hex(color)


def _parse_hex(color: object) -> tuple[int, int, int]:
    if not isinstance(color, str) or not _HEX_COLOR.fullmatch(color.strip()):
        raise StyleError(
            f"invalid colour {color!r} in colormap: use CSS hex notation '#rgb' or '#rrggbb'"
        )
    digits = color.strip()[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def to_indices(
    values: np.ndarray,
    valid: np.ndarray,
    rescale: tuple[float, float],
    palette: Palette,
) -> np.ndarray:
    """Map data values to palette indices (uint8, same shape as ``values``).

    level = floor((v − lo) / (hi − lo) · n_levels), clipped to the data levels, so values
    below ``lo`` get the first colour and values above ``hi`` the last. ``lo > hi`` reverses
    the colormap. NaN, ±inf and pixels where ``valid`` is False get the transparent index.
    """
    lo, hi = (float(bound) for bound in rescale)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise StyleError(f"rescale {tuple(rescale)!r} must be two finite numbers")
    if lo == hi:
        raise StyleError(
            f"rescale {tuple(rescale)!r} has equal bounds; give a range like [min, max]"
        )
    values = np.asarray(values)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != values.shape:
        raise ValueError(f"valid mask shape {valid.shape} differs from values {values.shape}")

    n_levels = palette.n_levels
    # float64 in place: exact enough that level boundaries fall where the formula says, and a
    # 1024² frame costs one 8 MB temporary.
    scaled = values.astype(np.float64, copy=True)
    usable = valid & np.isfinite(scaled)
    scaled -= lo
    scaled /= hi - lo
    scaled *= n_levels
    np.floor(scaled, out=scaled)
    np.clip(scaled, 0, n_levels - 1, out=scaled)
    scaled[~usable] = palette.transparent
    return scaled.astype(np.uint8)
