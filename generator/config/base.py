"""What every config section shares: the strict base model, colour and resampling types,
and how paths and URLs in the config are resolved.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.core.paths import is_url, resolve_ref

__all__ = ["HEX_COLOR_PATTERN", "Resampling", "StrictModel", "is_url", "resolve_ref"]

HEX_COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
_HEX = re.compile(HEX_COLOR_PATTERN)

Resampling = Literal["nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode"]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are not coerced wildly."""

    model_config = ConfigDict(extra="forbid", frozen=True)
