"""Canonical JSON of our frozen values, for cache keys and fingerprints.

Owns one rule: a dataclass is written as every one of its fields (walked with
``dataclasses.fields``), so a field added to a style, a render spec or a region changes the keys
built from it without anyone listing it. A field can opt out of one kind of key through its
metadata (e.g. ``core.model.LAYER_NEUTRAL``: it never changes a frame's data layer), never by
being forgotten. Values we do not know (geometries…) go through ``default``; anything else
unknown is an error rather than a silent ``str()``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

Default = Callable[[object], object]


def canonical(value: object, *, omit: str | None = None, default: Default | None = None) -> Any:
    """``value`` as plain JSON values: dataclasses → ``{field: value}``, tuples → lists, dates → ISO.

    Fields whose metadata holds ``omit`` as a true key are left out (at every depth).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: canonical(getattr(value, item.name), omit=omit, default=default)
            for item in dataclasses.fields(value)
            if not (omit and item.metadata.get(omit))
        }
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): canonical(item, omit=omit, default=default) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item, omit=omit, default=default) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if default is not None:
        return canonical(default(value), omit=omit, default=default)
    raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def canonical_json(value: object, *, omit: str | None = None, default: Default | None = None) -> str:
    """The canonical form as compact JSON text with sorted keys."""
    return json.dumps(canonical(value, omit=omit, default=default), sort_keys=True, separators=(",", ":"))


def digest(value: object, *, omit: str | None = None, default: Default | None = None) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value, omit=omit, default=default).encode()).hexdigest()
