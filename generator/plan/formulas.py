"""The text formulas of a render: rio-tiler band math (``expression``) and rio-color ``color_formula``.

Owns what each formula means for the values: the bands an expression names (``b1``, ``b2``…)
and the checks of one (a single band out, bands numbered from 1). TiTiler applies a colour
formula to the rescaled band *before* the colormap, so on one band ``gamma``/``sigmoidal`` are a
monotone remapping of the rescaled value: we apply exactly that (``value_transform``) and warn
once about anything else. On true colour only ``gamma`` on all of r, g, b and ``saturation``
apply (``rgb_formula``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from generator.core.errors import StyleError
from generator.core.model import ColorOp, Style
from generator.core.scales import position, value_at

log = logging.getLogger(__name__)

BAND_NAME = re.compile(r"\bb(\d+)\b")
_warned: set[tuple[str, str]] = set()  # (where, what): each "ignored" warning is logged once


def _warn_once(where: str, what: str, message: str) -> None:
    if (where, what) not in _warned:
        _warned.add((where, what))
        log.warning("%s: %s", where, message)


def expression_bands(expression: str) -> tuple[int, ...]:
    """The band numbers an expression uses (``b1``, ``b2``…), sorted."""
    return tuple(sorted({int(number) for number in BAND_NAME.findall(expression)}))


def render_expression(render: dict[str, Any], where: str) -> str | None:
    expression = render.get("expression")
    if expression is None:
        return None
    if not isinstance(expression, str) or not expression.strip():
        raise StyleError(f"{where}: `expression` must be a text such as '(b2-b1)/(b2+b1)'")
    if ";" in expression:
        raise StyleError(
            f"{where}: `expression` {expression!r} gives several bands (';'); an animation maps one band, "
            "so give a single expression"
        )
    bands = expression_bands(expression)
    if not bands:
        raise StyleError(f"{where}: `expression` {expression!r} names no band (use b1, b2…)")
    if bands[0] < 1:
        raise StyleError(f"{where}: `expression` {expression!r} names band b{bands[0]}; bands are numbered from b1")
    return expression.strip()


def parse_color_formula(formula: str, where: str) -> tuple[ColorOp, ...]:
    """The operations of a rio-color formula that apply exactly to one band; warn once for the rest.

    With one band, TiTiler applies operations on band ``r`` (= band 1) to the rescaled value;
    operations on other bands or on colour (``saturation``) change nothing we can reproduce.
    """
    tokens = formula.replace(",", " ").split()
    known = {"gamma": 1, "sigmoidal": 2, "saturation": 1}
    ops: list[ColorOp] = []
    ignored: list[str] = []
    index = 0
    while index < len(tokens):
        name = tokens[index].lower()
        if name not in known:
            ignored.append(tokens[index])
            index += 1
            continue
        arity = known[name]
        has_bands = name != "saturation"
        end = index + 1 + (1 if has_bands else 0) + arity
        parts = tokens[index + 1 : end]
        index = end
        text = " ".join([name, *parts])
        if len(parts) != (1 if has_bands else 0) + arity:
            ignored.append(text)
            continue
        bands = parts[0].lower() if has_bands else "rgb"
        try:
            args = tuple(float(value) for value in parts[1 if has_bands else 0 :])
        except ValueError:
            ignored.append(text)
            continue
        if name == "saturation" or not any(band in ("r", "1") for band in bands):
            ignored.append(text)
        elif name == "gamma" and args[0] > 0 and math.isfinite(args[0]):
            ops.append(ColorOp("gamma", args))
        elif name == "sigmoidal" and args[0] >= 0 and 0 <= args[1] <= 1:
            ops.append(ColorOp("sigmoidal", args))
        else:
            ignored.append(text)
    if ignored:
        _warn_once(
            where, "color_formula",
            f"`color_formula` parts {ignored} cannot be applied exactly to a one-band palette and are ignored",
        )
    return tuple(ops)


def _sigmoidal(t: np.ndarray, contrast: float, bias: float) -> np.ndarray:
    # color-operations' sigmoidal contrast (positive contrast branch), scaled to map [0, 1] onto [0, 1].
    if contrast == 0:
        return t
    alpha = bias if bias != 0 else np.finfo(float).eps
    low = 1 / (1 + math.exp(contrast * alpha))
    high = 1 / (1 + math.exp(contrast * (alpha - 1)))
    return (1 / (1 + np.exp(contrast * (alpha - t))) - low) / (high - low)


def value_transform(style: Style) -> Callable[[np.ndarray], np.ndarray] | None:
    """The value remapping a style's colour formula asks for, or None.

    Values are rescaled to t in [0, 1] (clipped, as TiTiler does before a formula), the operations
    run on t, and the result is scaled back, so the shared palette mapping gives the level the
    formula's colour would have.
    """
    ops = style.color_ops
    if not ops:
        return None
    rescale, scale = style.rescale, style.scale

    def apply(values: np.ndarray) -> np.ndarray:
        # t runs along the style's scale (log10 of values with `scale: log`), as the colormap does.
        t = np.clip(position(values, rescale, scale), 0.0, 1.0)
        for op in ops:
            t = t ** (1.0 / op.args[0]) if op.name == "gamma" else _sigmoidal(t, *op.args)
        return value_at(t, rescale, scale).astype(np.float32)

    return apply


def rgb_formula(formula: str | None, where: str) -> tuple[float, float]:
    """(gamma, saturation) of a true-colour render's rio-color ``color_formula``; warn once for the rest.

    ``gamma`` counts when it applies to all of r, g and b; ``saturation`` is applied the way
    ``style.saturation`` is (around the Rec. 709 grey, close to rio-color's chroma scaling).
    """
    gamma, saturation, ignored = 1.0, 1.0, []
    tokens = (formula or "").replace(",", " ").split()
    index = 0
    while index < len(tokens):
        name = tokens[index].lower()
        try:
            if name == "gamma" and set(tokens[index + 1].lower()) >= set("rgb"):
                value = float(tokens[index + 2])
                if value > 0:
                    gamma, index = value, index + 3
                    continue
            elif name == "saturation":
                value = float(tokens[index + 1])
                if value >= 0:
                    saturation, index = value, index + 2
                    continue
        except (IndexError, ValueError):
            pass
        ignored.append(tokens[index])
        index += 1
    if ignored:
        _warn_once(
            where, "rgb color_formula",
            f"`color_formula` {formula!r}: only `gamma RGB <value>` and `saturation <value>` apply to true colour; "
            f"the rest ({' '.join(ignored)}) is ignored",
        )
    return gamma, saturation
