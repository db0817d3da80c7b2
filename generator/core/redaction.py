"""The one redaction policy: what of a URL or a request header may ever be shown or written down.

Owns the rule, for everything a build publishes or shows — messages and logs, the manifest,
provenance, pages, the build report, the records and keys kept in the cache folder:

* a URL (anything with ``scheme://``) loses its ``user:password@``, its whole query string and
  its fragment. Signed URLs (S3 presigning, Azure/Planetary Computer SAS ``sig=``, Google
  Cloud Storage, CloudFront) and API keys live there; they expire or must stay private, and a
  query without its signature means nothing, so no part of it is kept;
* a local path (no ``scheme://``) is not a URL and is kept as written;
* a URL that cannot be parsed is replaced as a whole by :data:`UNPARSEABLE_URL`;
* a request header's value is never shown: :func:`redact_headers` keeps the names only;
* free text (an error message, a log line) gets every URL in it made public and any query string
  left on a bare path removed (``… with url: /search?key=…``, as urllib3 writes it):
  :func:`redact_text`; :class:`RedactingFilter` applies it to every log record a handler writes.

Every module that shows or writes down an href or a message uses these functions; none has a
rule of its own.

The frame cache keys assets by :func:`public_url` too, on purpose: a signed URL is signed anew
for every build, and the cache must recognise the same asset behind a fresh signature. (So two
assets told apart only by their query string share cache entries; no catalog we know of does
that.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"
UNPARSEABLE_URL = "[unparseable URL]"

# A URL inside free text (an exception's message): a scheme, ``://`` and no blank or quote.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_TRAILING = ".,;:!)"  # sentence punctuation after a URL in free text is not part of it
# A query string left on a bare path (no scheme) in free text: ``/catalog.json?token=…``.
_PATH_QUERY = re.compile(r"(?<=[\w/.-])\?[^\s'\"<>()]+")


def public_url(href: str) -> str:
    """``href`` as it may be shown or published: no ``user:password@``, query or fragment.

    Local paths (no ``scheme://``) come back unchanged; so does a URL with nothing to strip.
    """
    if "://" not in href:
        return href
    try:
        parts = urlsplit(href)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return UNPARSEABLE_URL
    netloc = parts.netloc.rpartition("@")[2]
    if netloc == parts.netloc and not parts.query and not parts.fragment and "?" not in href and "#" not in href:
        return href
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def public_url_or_none(href: str | None) -> str | None:
    """:func:`public_url` for an optional href; None for None and for an unparseable URL."""
    if href is None:
        return None
    public = public_url(href)
    return None if public == UNPARSEABLE_URL else public


def redact_urls_in_text(text: str) -> str:
    """``text`` (an error message from a library) with every URL in it made :func:`public_url`."""
    return _URL_IN_TEXT.sub(lambda match: public_url(match.group(0)), text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Request headers as they may be shown: the names, each value replaced by :data:`REDACTED`."""
    return {name: REDACTED for name in headers}


def redact_text(text: str) -> str:
    """Free text as it may be shown or written down: URLs public, no query string on a bare path.

    Sentence punctuation right after a URL is kept. Unlike :func:`redact_urls_in_text`, a
    local path loses what follows a ``?`` too: in a message, that is almost always a query.
    """
    return _PATH_QUERY.sub("", _URL_IN_TEXT.sub(_public_url_in_text, text))


def _public_url_in_text(match: re.Match[str]) -> str:
    url = match.group(0)
    kept = url.rstrip(_TRAILING)
    return public_url(kept) + url[len(kept):]


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record through :func:`redact_text` (message and args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
