"""Free text as it may be published: error messages and notes on pages and in the manifest.

Owns the last check before a message from a build (an animation's error, its notes) reaches the
output folder: every URL as ``core.redaction.public_url`` shows it (no ``user:password@``, query
or fragment), every absolute local path of the build machine relative to the config's folder
(a path outside it keeps only its file name, as provenance does), GDAL's ``/vsicurl/``-style
prefixes dropped and any query string left on a bare path (``/x.json?token=…``) removed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from generator.core.model import AnimationRecord
from generator.core.redaction import redact_text
from generator.site.provenance import published_href

_VSI_PREFIX = re.compile(r"/vsi[a-z0-9]+/(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_FILE_URL = re.compile(r"\bfile://(?=/)")
# An absolute POSIX path: a slash not inside a word, a URL or another path, up to a blank,
# quote, bracket, comma, colon or question mark (a path's own dots are kept; a final one is not).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/:%-])/[^\s'\"<>()\[\]{},;:?]+")


def public_text(text: str, source_root: Path | None) -> str:
    """``text`` with no secret and no absolute local path in it (see the module docstring)."""
    text = _VSI_PREFIX.sub("", text)
    text = _FILE_URL.sub("", text)
    text = redact_text(text)
    return _ABSOLUTE_PATH.sub(lambda match: _relative(match.group(0), source_root), text)


def without_secrets(text: str) -> str:
    """``text`` for the build log: local paths kept, secrets removed (``core.redaction.redact_text``)."""
    return redact_text(text)


def _relative(path: str, source_root: Path | None) -> str:
    trailing = len(path) - len(path.rstrip("."))
    core = path[: len(path) - trailing] if trailing else path
    return (published_href(core, source_root) or "") + "." * trailing


def public_record(record: AnimationRecord, source_root: Path | None) -> AnimationRecord:
    """``record`` with its error, notes and warnings made :func:`public_text`."""
    return replace(
        record,
        error=None if record.error is None else public_text(record.error, source_root),
        notes=tuple(public_text(note, source_root) for note in record.notes),
        warnings=tuple(public_text(warning, source_root) for warning in record.warnings),
    )
