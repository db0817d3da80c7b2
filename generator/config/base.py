"""What every config section shares: the strict base model, colour and resampling types,
and how paths and URLs in the config are resolved.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

HEX_COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
_HEX = re.compile(HEX_COLOR_PATTERN)

Resampling = Literal["nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode"]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are not coerced wildly."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://", "s3://", "file://"))


def resolve_ref(ref: str, base_dir: Path) -> str:
    """A URL stays as it is; a local path is made absolute against the config's folder."""
    if is_url(ref):
        return ref
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())
