"""Where things are in the gallery and how to link to them: page paths, relative links, safe
URLs and the small text helpers (dates, numbers, legend gradients) the pages share.

Pure functions of strings and records; every link is relative to the page that holds it, so the
gallery works under any sub-path. Only http(s) URLs ever become links; what of an href may be
published is ``generator.core.redaction``'s to say.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from generator.core.model import AnimationRecord
from generator.core.slugs import id_folder

INDEX_PAGE = "index.html"
MANIFEST_FILE = "manifest.json"
PROVENANCE_FILE = "provenance.json"
STATIC_DIR = "static"
STYLESHEET = f"{STATIC_DIR}/style.css"
FAVICON = f"{STATIC_DIR}/favicon.svg"
GALLERY_SCRIPT = f"{STATIC_DIR}/gallery.js"
PLAYER_SCRIPT = f"{STATIC_DIR}/player.js"
COLLECTIONS_DIR = "collections"
REGIONS_DIR = "regions"
DEFAULT_FRAME_MS = 500

HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


# --------------------------------------------------------------------------- small pure helpers


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=65_536)  # a gallery asks for the same few thousand links on many pages
def relative_href(target: str, from_page: str) -> str:
    """URL of ``target`` as seen from ``from_page`` (both relative to the output folder)."""
    from_dir = posixpath.dirname(from_page) or "."
    return quote(posixpath.relpath(target, from_dir))


def http_url(url: object) -> str | None:
    """``url`` if it is an absolute http(s) URL, else None (never link ``javascript:`` etc.)."""
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return candidate
    return None


def paragraphs(text: str) -> tuple[str, ...]:
    """Plain text split into paragraphs on blank lines."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not normalized:
        return ()
    return tuple(p.strip() for p in _BLANK_LINES.split(normalized) if p.strip())


def format_number(value: float) -> str:
    """Short human label for a legend tick: ``0``, ``273.15``, ``0.0001``, ``1.5e+06``."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e9:
        return str(int(number))
    return f"{number:.6g}"


def legend_gradient(colours: Sequence[str]) -> str | None:
    """A CSS ``linear-gradient`` through ``colours`` (low to high), or None if there are none.

    Only hex colours are kept: this string goes into a ``style`` attribute.
    """
    valid = [c for c in colours if isinstance(c, str) and HEX_COLOUR.fullmatch(c)]
    if not valid:
        return None
    if len(valid) == 1:
        valid = valid * 2
    return f"linear-gradient(to right, {', '.join(valid)})"


def colormap_label(colormap: str | Sequence[str]) -> str:
    if isinstance(colormap, str):
        return colormap
    return f"custom ({len(colormap)} colours)"


def collection_page(collection_id: str) -> str:
    return f"{COLLECTIONS_DIR}/{id_folder(collection_id)}/{INDEX_PAGE}"


def region_page(region_id: str) -> str:
    return f"{REGIONS_DIR}/{id_folder(region_id)}/{INDEX_PAGE}"


def provenance_path(record: AnimationRecord) -> str:
    """``provenance.json`` lives next to the animation's page."""
    return posixpath.join(posixpath.dirname(record.files.page), PROVENANCE_FILE)


def absolute_url(base_url: str, path: str) -> str:
    """``path`` (relative to the output folder) under the published ``base_url``."""
    return f"{base_url.rstrip('/')}/{quote(path)}"


def label_at(labels: Sequence[str], index: int) -> str | None:
    return labels[index] if index < len(labels) else None
