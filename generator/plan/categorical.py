"""Categorical styles: a STAC ``renders`` ``colormap`` dict (class value → colour) as an exact palette.

Owns: parsing the dict (keys are class values, written as numbers or numeric strings; colours are
``[r, g, b]`` / ``[r, g, b, a]`` lists or ``#rrggbb`` strings), the palette with one data level per
class (reserved entries after them, as for continuous palettes), mapping class values to those
levels, and the legend entries (one per class). Values that are no class, and classes whose colour
is fully transparent, become transparent pixels. Pure numpy, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from generator.core.colors import PALETTE_SIZE, RESERVED_COLORS, Palette, PaletteLevels, parse_hex
from generator.core.errors import StyleError
from generator.core.model import CategoricalScheme, Category


def max_categories() -> int:
    """How many classes fit in a palette next to the reserved entries."""
    return PALETTE_SIZE - len(RESERVED_COLORS)


def _class_value(key: Any, where: str) -> float:
    try:
        value = float(key)
    except (TypeError, ValueError):
        raise StyleError(f"{where}: colormap key {key!r} is not a class value (a number)") from None
    if not math.isfinite(value):
        raise StyleError(f"{where}: colormap key {key!r} is not a finite number")
    return value


def _class_colour(colour: Any, where: str) -> tuple[tuple[int, int, int], bool]:
    """(rgb, visible) for one colormap entry."""
    if isinstance(colour, str):
        return parse_hex(colour), True
    if isinstance(colour, (list, tuple)) and len(colour) in (3, 4):
        try:
            channels = [int(channel) for channel in colour]
        except (TypeError, ValueError):
            channels = []
        if channels and all(0 <= channel <= 255 for channel in channels):
            visible = len(channels) == 3 or channels[3] > 0
            return (channels[0], channels[1], channels[2]), visible
    raise StyleError(f"{where}: colormap colour {colour!r} is not [r, g, b], [r, g, b, a] (0-255) or '#rrggbb'")


def parse_categorical(
    colormap: Mapping[Any, Any], where: str, labels: Mapping[Any, str] | None = None
) -> CategoricalScheme:
    """A ``{value: colour}`` dict (as in STAC ``renders``) → scheme; ``where`` names it in errors."""
    if not isinstance(colormap, Mapping) or not colormap:
        raise StyleError(f"{where}: a categorical colormap must be a non-empty {{value: colour}} mapping")
    label_of = {str(key): str(text) for key, text in (labels or {}).items()}
    categories = []
    for key, colour in colormap.items():
        value = _class_value(key, where)
        rgb, visible = _class_colour(colour, where)
        if visible:
            label = label_of.get(str(key), _plain_number(value))
            categories.append(Category(value=value, rgb=rgb, label=label))
    if not categories:
        raise StyleError(f"{where}: every class of the colormap is transparent; nothing would be drawn")
    if len(categories) > max_categories():
        raise StyleError(
            f"{where}: {len(categories)} visible classes, but a palette holds at most {max_categories()}; "
            "merge classes or make unused ones transparent ([0, 0, 0, 0])"
        )
    values = [category.value for category in categories]
    if len(set(values)) != len(values):
        raise StyleError(f"{where}: the colormap lists a class value twice")
    return CategoricalScheme(categories=tuple(sorted(categories, key=lambda category: category.value)))


def _plain_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def categorical_palette(scheme: CategoricalScheme) -> Palette:
    """One data level per class (in value order), then the reserved entries."""
    count = len(scheme.categories)
    # Palette needs at least two data levels; a single class repeats its colour in a second one.
    n_levels = max(2, count)
    colors = np.zeros((PALETTE_SIZE, 3), dtype=np.uint8)
    for index, category in enumerate(scheme.categories):
        colors[index] = category.rgb
    if count == 1:
        colors[1] = scheme.categories[0].rgb
    reserved: dict[str, int] = {}
    for offset, entry in enumerate(RESERVED_COLORS):
        reserved[entry.name] = n_levels + offset
        colors[n_levels + offset] = entry.rgb
    return Palette(colors=colors, n_levels=n_levels, reserved=reserved)


def categorical_indices(values: np.ndarray, valid: np.ndarray, scheme: CategoricalScheme, palette: PaletteLevels) -> np.ndarray:
    """Class value → its palette level (uint8); other values and invalid pixels → transparent.

    Matching is exact after rounding to float32, the type every renderer returns: a class is a
    label, so a resampled in-between value must not borrow a neighbour's colour.
    """
    values = np.asarray(values, dtype=np.float32)
    indices = np.full(values.shape, palette.transparent, dtype=np.uint8)
    usable = np.asarray(valid, dtype=bool) & np.isfinite(values)
    for level, category in enumerate(scheme.categories):
        indices[usable & (values == np.float32(category.value))] = level
    return indices


def legend_entries(scheme: CategoricalScheme) -> tuple[tuple[str, str], ...]:
    """(label, "#rrggbb") per class, in value order, for a legend by class."""
    return tuple((category.label, "#{:02x}{:02x}{:02x}".format(*category.rgb)) for category in scheme.categories)
