"""What every config section shares: the strict base model, colour and resampling types,
the rules of a style's values (``style:`` in the config and a STAC collection's ``renders`` are
checked by the same ones), and how paths and URLs in the config are resolved.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from generator.core.colors import HEX_COLOR, colormap_problem
from generator.core.paths import is_url, resolve_ref

__all__ = [
    "HEX_COLOR_PATTERN", "Band", "Colormap", "Rescale", "Resampling", "StrictModel", "colormap_value_problem",
    "is_url", "rescale_problem", "resolve_ref",
]

HEX_COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
_HEX = re.compile(HEX_COLOR_PATTERN)

Resampling = Literal["nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode"]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are not coerced wildly."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def rescale_problem(low: float, high: float) -> str | None:
    """Why ``[low, high]`` cannot scale values onto a colormap (None when it can).

    ``low > high`` is allowed: it reverses the colormap.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"rescale [{low}, {high}]: values must be finite numbers, e.g. [0, 1.5e16]"
    if low == high:
        return f"rescale [{low}, {high}] is empty: give two different values [min, max]"
    if not math.isfinite(high - low):
        return f"rescale [{low}, {high}] spans more than a float can hold: give a narrower [min, max]"
    return None


def colormap_value_problem(value: Any) -> str | None:
    """Why a colormap (a rio-tiler name or a list of hex colours) cannot be drawn (None when it can)."""
    if isinstance(value, str):
        return colormap_problem(value)
    if len(value) < 2:
        return "a custom colormap needs at least 2 colours, e.g. ['#000000', '#ffffff']"
    for colour in value:
        if not isinstance(colour, str) or not HEX_COLOR.fullmatch(colour.strip()):
            return f"colormap colour {colour!r} is not a hex colour: use CSS hex notation '#rgb' or '#rrggbb'"
    return None


def _valid_rescale(value: tuple[float, float]) -> tuple[float, float]:
    problem = rescale_problem(*value)
    if problem:
        raise ValueError(problem)
    return value


def _valid_colormap(value: Any) -> Any:
    problem = colormap_value_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: ``[min, max]`` of a style: finite, different, and a finite span apart.
Rescale = Annotated[tuple[float, float], AfterValidator(_valid_rescale)]
#: A rio-tiler colormap name (any case) or a list of at least two hex colours.
Colormap = Annotated[str | list[str], AfterValidator(_valid_colormap)]
#: A band number: bands are counted from 1 (whether the file has it is known when it is read).
Band = Annotated[int, Field(ge=1)]
