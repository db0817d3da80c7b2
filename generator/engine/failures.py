"""Why an animation failed: a short reason for its page, the whole story for the build log.

Owns the words a failed animation is published with. Pages, cards and the manifest get a short
reason a reader can act on — "cannot reach stac.example.org (name not resolved)", "asset not
found: data/x.tif" — never a Python class name, a library's connection-pool dump, an absolute
path of the build machine or a query string (``site.public.public_text`` makes the last two
relative or removes them). The full message, with the exception's class, goes to the build log.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from generator.core.errors import GeneratorError, SourceUnreachable
from generator.site.public import public_text, without_secrets

MAX_REASON = 300  # characters: a card shows a sentence or two, never a traceback
INTERNAL = "internal error while building this animation (the build log has the details)"

# What requests/urllib3 put in a message when a connection fails: the pool, the host, the URL
# with its query string, and the chain of causes, all on one line.
_POOL_DUMP = re.compile(r"HTTPS?ConnectionPool\(host='(?P<host>[^']*)', port=\d+\):[^\n]*")
_WHY = (
    (re.compile(r"NameResolutionError|Failed to resolve|Name or service not known|nodename nor servname|getaddrinfo", re.I), "name not resolved"),
    (re.compile(r"Connection refused|ConnectionRefused", re.I), "connection refused"),
    (re.compile(r"timed out|Timeout", re.I), "timed out"),
    (re.compile(r"SSL|certificate|TLS", re.I), "TLS error"),
    (re.compile(r"Connection reset|RemoteDisconnected|Connection aborted", re.I), "connection lost"),
)


def failure_detail(error: BaseException) -> str:
    """The whole message, for the build log: with the exception's class, URLs without secrets."""
    text = str(error) if isinstance(error, GeneratorError) else f"unexpected {type(error).__name__}: {error}"
    return without_secrets(text)


def failure_reason(error: BaseException, source_root: Path | None) -> str:
    """A short reason to publish for ``error`` (see the module docstring)."""
    text = _reason_text(error)
    # A remembered source failure repeats the first message: shorten that, keep the remark.
    repeated = isinstance(error, SourceUnreachable) and text.endswith(SourceUnreachable.REPEATED)
    text = text.removesuffix(SourceUnreachable.REPEATED) if repeated else text
    text = _POOL_DUMP.sub(lambda match: _unreachable(match.group("host"), match.group(0)), text)
    text = "; ".join(line.strip() for line in text.splitlines() if line.strip()) or INTERNAL
    text = public_text(text, source_root) + (SourceUnreachable.REPEATED if repeated else "")
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1].rstrip() + "…"


def _reason_text(error: BaseException) -> str:
    if isinstance(error, GeneratorError):
        return str(error)
    # requests is not imported for this: an exception of its own means it is loaded already.
    if "requests" in sys.modules:
        import requests

        for cause in _chain(error):
            if isinstance(cause, requests.exceptions.HTTPError) and cause.response is not None:
                response = cause.response
                return f"{response.url} answered HTTP {response.status_code} {response.reason or ''}".strip()
            if isinstance(cause, requests.exceptions.RequestException):
                return str(cause)
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"file not found: {error.filename}"
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror[:1].lower()}{error.strerror[1:]}{where}"
    if isinstance(error, MemoryError):
        return "out of memory"
    return INTERNAL


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes and contexts (suppressed ones too), each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _unreachable(host: str, dump: str) -> str:
    for pattern, why in _WHY:
        if pattern.search(dump):
            return f"cannot reach {host} ({why})"
    return f"cannot reach {host}"
