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
from generator.core.redaction import public_url
from generator.site.provenance import published_href

_VSI_PREFIX = re.compile(r"/vsi[a-z0-9]+/(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_FILE_URL = re.compile(r"\bfile://(?=/)")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_TRAILING = ".,;:!)"  # sentence punctuation after a URL is not part of it
# An absolute POSIX path: a slash not inside a word, a URL or another path, up to a blank,
# quote, bracket, comma, colon or question mark (a path's own dots are kept; a final one is not).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/:%-])/[^\s'\"<>()\[\]{},;:?]+")
_QUERY = re.compile(r"(?<=[\w/.-])\?[^\s'\"<>()]+")


def public_text(text: str, source_root: Path | None) -> str:
    """``text`` with no secret and no absolute local path in it (see the module docstring)."""
    text = _VSI_PREFIX.sub("", text)
    text = _FILE_URL.sub("", text)
    text = _URL.sub(_public_url, text)
    text = _ABSOLUTE_PATH.sub(lambda match: _relative(match.group(0), source_root), text)
    return _QUERY.sub("", text)


def without_secrets(text: str) -> str:
    """``text`` for the build log: local paths kept, but every URL public and no query string left
    on a bare path either (``… with url: /catalog.json?token=…``, as requests writes it)."""
    return _QUERY.sub("", _URL.sub(_public_url, text))


def _public_url(match: re.Match[str]) -> str:
    url = match.group(0)
    kept = url.rstrip(_TRAILING)
    return public_url(kept) + url[len(kept):]


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
