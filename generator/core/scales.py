"""How values are spread over a colormap between the rescale bounds: ``style.scale``.

Owns the rule of each scale as one :class:`ScaleRule`: the axis values are mapped on (``linear``:
the values themselves; ``log``: their base-10 logarithm), what bounds the axis allows, and the
inverse. The palette mapping (``render.palette.to_indices``), the legend and the colour-formula
remapping (``plan.formulas.value_transform``) all go through :func:`position`, so a frame, its
legend and its formula agree. ``style.scale`` is a closed choice: a new value is one more entry
of :data:`SCALES` (and of :data:`Scale`).

Pure numpy (imported where arrays are made: the config model needs only the names); no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import numpy as np

#: A value of ``style.scale``.
Scale = Literal["linear", "log"]
DEFAULT_SCALE: Scale = "linear"
#: ``style.scale`` as written: a :data:`Scale`, or ``raw`` — spread linearly, with the rescale in
#: the file's digital numbers (STAC ``raster:bands`` scale/offset not applied; ``plan.styles``).
StyleScale = Literal["linear", "log", "raw"]


def mapping_scale(style_scale: StyleScale | None) -> Scale:
    """How values spread over the colormap for a ``style.scale`` (``raw`` and unset: linear)."""
    return "log" if style_scale == "log" else "linear"


def _log10(values: np.ndarray) -> np.ndarray:
    """log10 of ``values`` in place (float64); values ≤ 0 become −inf: below any positive bound."""
    import numpy as np  # numpy loads with the first frame, not with the config's model

    positive = values > 0
    np.log10(values, out=values, where=positive)
    values[~positive & ~np.isnan(values)] = -np.inf
    return values


def _power10(axis: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.power(10.0, axis)


def _positive_bounds(low: float, high: float) -> str | None:
    if low <= 0 or high <= 0:
        return f"log needs both rescale bounds above 0, got [{low:g}, {high:g}] (give e.g. [1e14, 1e17], or scale: linear)"
    return None


@dataclass(frozen=True)
class ScaleRule:
    """One value of ``style.scale``: ``axis`` maps float64 values in place onto the axis the
    colormap is spread evenly along; ``value`` maps axis positions back; ``bounds_problem`` says
    why a rescale cannot be used (None when it can)."""

    name: str
    axis: Callable[[np.ndarray], np.ndarray]
    value: Callable[[np.ndarray], np.ndarray]
    bounds_problem: Callable[[float, float], str | None]


SCALES: dict[str, ScaleRule] = {
    "linear": ScaleRule("linear", lambda values: values, lambda axis: axis, lambda low, high: None),
    "log": ScaleRule("log", _log10, _power10, _positive_bounds),
}
assert set(SCALES) == set(get_args(Scale)), "every style.scale value needs a rule"


def scale_rule(scale: str) -> ScaleRule:
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown style.scale {scale!r} (known: {', '.join(SCALES)})") from None


def bounds_problem(rescale: tuple[float, float], scale: str) -> str | None:
    """Why ``rescale`` cannot be used with ``scale`` (None when it can)."""
    return scale_rule(scale).bounds_problem(float(rescale[0]), float(rescale[1]))


def position(values: np.ndarray, rescale: tuple[float, float], scale: str) -> np.ndarray:
    """Where each value sits between the bounds on the scale's axis: 0 at ``rescale[0]``, 1 at
    ``rescale[1]``, outside [0, 1] beyond them (float64, a new array; NaN stays NaN).

    The caller checks the bounds first (:func:`bounds_problem`).
    """
    import numpy as np

    rule = scale_rule(scale)
    axis = rule.axis(np.array(values, dtype=np.float64, copy=True))
    low, high = rule.axis(np.array(rescale, dtype=np.float64))
    axis -= low
    axis /= high - low
    return axis


def value_at(positions: np.ndarray, rescale: tuple[float, float], scale: str) -> np.ndarray:
    """The values at ``positions`` (0 at ``rescale[0]``, 1 at ``rescale[1]``): the inverse of
    :func:`position`."""
    import numpy as np

    rule = scale_rule(scale)
    low, high = rule.axis(np.array(rescale, dtype=np.float64))
    return rule.value(low + np.asarray(positions, dtype=np.float64) * (high - low))


def style_problem(rescale: tuple[float, float], scale: str | None, ticks: tuple[float, ...] | None) -> str | None:
    """Why a style's ``rescale`` cannot go with its ``scale`` and ``ticks`` (None when it can);
    the message names the key to change."""
    scale = scale or DEFAULT_SCALE
    problem = bounds_problem(rescale, scale)
    if problem:
        return f"style.scale: {problem}"
    low, high = sorted(float(bound) for bound in rescale)
    outside = [tick for tick in ticks or () if not low <= tick <= high]
    if outside:
        listed = ", ".join(f"{tick:g}" for tick in outside)
        return f"style.ticks: {listed} outside the rescale [{rescale[0]:g}, {rescale[1]:g}]; give ticks between its bounds"
    return None


def ticks_problem(ticks: tuple[float, ...] | list[float]) -> str | None:
    """Why a list of legend ticks is unusable on its own (None when it is fine)."""
    if any(not math.isfinite(tick) for tick in ticks):
        return "style.ticks: give finite numbers"
    if any(later <= earlier for earlier, later in zip(ticks, ticks[1:], strict=False)):
        return f"style.ticks {list(ticks)}: give them in increasing order, each once"
    return None
