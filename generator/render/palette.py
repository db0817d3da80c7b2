"""Palettes: one exact 256-colour table per animation, and data values → palette indices.

Frames are never RGB. Data values map straight to palette indices and the GIF carries one
global palette, so every colour on screen is exactly a colormap entry (no quantization). (True
colour is the exception: its palette is made from its colours, ``truecolor``, and its outputs
other than the GIF are painted back in full colour, ``rgbframe``.)

Layout of a palette: data levels occupy indices ``[0, n_levels)``, low to high; the reserved
entries listed in :data:`RESERVED_COLORS` follow, in that order (the layout and the
:class:`Palette` table live in ``generator.core.colors`` and are re-exported here). Nothing
should assume how many reserved entries there are — ask the palette (``n_levels``,
``index(name)``, ``transparent``).

Pure numpy; no file I/O.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import numpy as np

from generator.core.colors import (
    DEFAULT_BORDER_RGB,
    DEFAULT_HALO_RGB,
    LABEL_AA_STEPS,
    LABEL_BOX_RGB,
    LABEL_RAMP,
    LABEL_TEXT_RGB,
    MAX_BORDER_LAYERS,
    NODATA_GREYS,
    NODATA_MIN_DISTANCE,
    PALETTE_SIZE,
    RESERVED_ALIASES,
    RESERVED_COLORS,
    Palette,
    PaletteLevels,
    ReservedColor,
    border_entry,
    colormap_problem,
    halo_entry,
    parse_hex,
)
from generator.core.errors import StyleError
from generator.core.scales import DEFAULT_SCALE, bounds_problem, position

__all__ = [
    "DEFAULT_BORDER_RGB", "DEFAULT_HALO_RGB", "LABEL_AA_STEPS", "LABEL_BOX_RGB", "LABEL_RAMP",
    "LABEL_TEXT_RGB", "MAX_BORDER_LAYERS", "PALETTE_SIZE", "RESERVED_ALIASES", "RESERVED_COLORS",
    "Palette", "PaletteLevels", "ReservedColor", "border_entry", "build_palette", "colormap_levels",
    "halo_entry", "n_data_levels", "nodata_rgb", "parse_hex", "to_indices", "with_reserved",
]


def n_data_levels() -> int:
    """How many data levels a palette has with the current reserved entries.

    Always odd (an entry is left unused if need be), so a colormap's middle colour — the white
    of a diverging ramp — is exactly one level.
    """
    free = PALETTE_SIZE - len(RESERVED_COLORS)
    return free if free % 2 else free - 1


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
    problem = colormap_problem(name)
    if problem is not None:
        raise StyleError(problem)
    entries = _colormap_table(name.strip().lower())[:, :3]
    # Resample by index, never by distinct colour: a colormap may repeat colours (rio-tiler's
    # viridis has 254 distinct colours in 256 entries) and deduping would shift every level.
    positions = np.rint(np.arange(n_levels) * (len(entries) - 1) / (n_levels - 1)).astype(int)
    return entries[positions]


def _colormap_table(name: str) -> np.ndarray:
    """rio-tiler's colormap ``name`` as rows of RGBA (uint8), in its index order.

    rio-tiler's own colormaps are ``.npy`` tables in its package, read here directly: importing
    ``rio_tiler.colormap`` pulls in its whole reader stack (about 0.5 s of CPU), which a palette
    does not need. Other colormaps (JSON files, a ``COLORMAP_DIRECTORY``) go through rio-tiler.
    """
    if "rio_tiler.colormap" not in sys.modules and not os.environ.get("COLORMAP_DIRECTORY"):
        spec = importlib.util.find_spec("rio_tiler")
        if spec is not None and spec.submodule_search_locations:
            path = Path(list(spec.submodule_search_locations)[0]) / "cmap_data" / f"{name}.npy"
            if path.is_file():
                table = np.load(path)
                if table.shape == (256, 4) and table.dtype == np.uint8:
                    return cast(np.ndarray, table)
    from rio_tiler.colormap import cmap

    mapping = cast(dict[int, tuple[int, int, int, int]], cmap.get(name))  # index → RGBA
    return np.array([mapping[k] for k in sorted(mapping)], dtype=np.uint8)


def _custom_colormap_levels(colors: Sequence[str], n_levels: int) -> np.ndarray:
    stops = [parse_hex(color) for color in colors]
    if len(stops) < 2:
        raise StyleError(
            f"a custom colormap needs at least two hex colours, got {list(colors)!r}"
        )
    stop_rgb = np.array(stops, dtype=np.float64)
    stop_positions = np.linspace(0.0, 1.0, len(stops))
    level_positions = np.linspace(0.0, 1.0, n_levels)
    channels = [np.interp(level_positions, stop_positions, stop_rgb[:, c]) for c in range(3)]
    return np.rint(np.column_stack(channels)).astype(np.uint8)


def to_indices(
    values: np.ndarray,
    valid: np.ndarray,
    rescale: tuple[float, float],
    palette: PaletteLevels,
    scale: str = DEFAULT_SCALE,
) -> np.ndarray:
    """Map data values to palette indices (uint8, same shape as ``values``).

    level = floor((v − lo) / (hi − lo) · n_levels), clipped to the data levels, so values
    below ``lo`` get the first colour and values above ``hi`` the last. ``lo > hi`` reverses
    the colormap. NaN, ±inf and pixels where ``valid`` is False get the transparent index.
    With ``scale="log"`` the same holds for log10 of values and bounds (both bounds must be
    above 0; values ≤ 0 are below the range), see ``core.scales``.
    """
    lo, hi = (float(bound) for bound in rescale)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise StyleError(f"rescale {tuple(rescale)!r} must be two finite numbers")
    if lo == hi:
        raise StyleError(
            f"rescale {tuple(rescale)!r} has equal bounds; give a range like [min, max]"
        )
    problem = bounds_problem((lo, hi), scale)
    if problem:
        raise StyleError(f"style.scale: {problem}")
    values = np.asarray(values)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != values.shape:
        raise ValueError(f"valid mask shape {valid.shape} differs from values {values.shape}")

    n_levels = palette.n_levels
    # float64 in place: exact enough that level boundaries fall where the formula says, and a
    # 1024² frame costs one 8 MB temporary.
    usable = valid & np.isfinite(values)
    scaled = position(values, (lo, hi), scale)
    scaled *= n_levels
    np.floor(scaled, out=scaled)
    np.clip(scaled, 0, n_levels - 1, out=scaled)
    scaled[~usable] = palette.transparent
    return scaled.astype(np.uint8)


def nodata_rgb(color: str | None, palette: Palette) -> tuple[int, int, int] | None:
    """The colour of missing values inside the region for ``style.nodata_color``; None: transparent.

    ``None`` (the default) picks the first of :data:`NODATA_GREYS` that stays at least
    :data:`NODATA_MIN_DISTANCE` away from every data level (the grey farthest from them when none
    does), so no-data never reads as a value of the colormap.
    """
    if color == "transparent":
        return None
    if color is not None:
        return parse_hex(color)
    data = palette.data_colors().astype(np.float64)
    distances = [float(np.sqrt(((data - np.array(grey)) ** 2).sum(axis=1)).min()) for grey in NODATA_GREYS]
    for grey, distance in zip(NODATA_GREYS, distances, strict=True):
        if distance >= NODATA_MIN_DISTANCE:
            return grey
    return NODATA_GREYS[int(np.argmax(distances))]


def with_reserved(palette: Palette, colours: Mapping[str, tuple[int, int, int]]) -> Palette:
    """``palette`` with the named reserved entries recoloured (its layout unchanged)."""
    table = np.array(palette.colors)
    for name, rgb in colours.items():
        table[palette.index(name)] = rgb
    return Palette(colors=table, n_levels=palette.n_levels, reserved=palette.reserved)
