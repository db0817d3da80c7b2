"""All HTTP the project does (STAC APIs, TiTiler, region GeoJSON, basemap tiles) goes through here.

Owns: one configured ``requests.Session`` factory (connect/read timeouts, retries with exponential
backoff and jitter on connection errors and 408/429/500/502/503/504 for GET *and* POST, a capped
``Retry-After``, a stable User-Agent, per-source headers, a response body-size limit) and the
per-host concurrency bound shared by every session in the process. The settings themselves
(``HttpSettings``, a source's headers with their ``${ENV_VAR}`` expanded) are
``sources.http_settings``'s, importable from here too. What of a URL may be shown is decided by
``generator.core.redaction``.

Typical use::

    session = make_session(HttpSettings(read_timeout=30, headers={"Authorization": "Bearer …"}))
    response = session.get(url)          # bounded per host, retried, size-limited
    with host_limiter(url, settings.max_per_host):   # for reads done outside requests (GDAL)
        ...
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from generator.core.errors import SourceError, SourceUnreachable
from generator.core.redaction import public_url, redact_text

# The settings live in their own module (no HTTP library needed to read them); imported from
# here too, as they always were.
from generator.sources.http_settings import DEFAULT_MAX_BODY as DEFAULT_MAX_BODY
from generator.sources.http_settings import USER_AGENT as USER_AGENT
from generator.sources.http_settings import HttpSettings as HttpSettings
from generator.sources.http_settings import settings_for_source as settings_for_source

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# STAC searches and TiTiler's /cog/feature are POSTs without side effects, so they are retried too.
RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST"})


class ResponseTooLarge(requests.RequestException):
    """A response body went over ``HttpSettings.max_body_bytes``."""


class _CappedRetry(Retry):
    """urllib3's Retry with ``Retry-After`` capped, so a server cannot stall a build for hours."""

    retry_after_cap: float = 60.0

    def new(self, **kw: Any) -> _CappedRetry:
        fresh = super().new(**kw)
        fresh.retry_after_cap = self.retry_after_cap
        return fresh

    def get_retry_after(self, response: Any) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except Exception:  # an unparseable Retry-After: fall back to our own back-off
            return None
        return None if seconds is None else min(seconds, self.retry_after_cap)


def make_retry(settings: HttpSettings) -> Retry:
    retry = _CappedRetry(
        total=None,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        other=0,
        redirect=10,
        allowed_methods=RETRY_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=settings.backoff,
        backoff_max=settings.backoff_max,
        backoff_jitter=settings.jitter,
        respect_retry_after_header=True,
        raise_on_status=False,  # hand back the last response so the caller reports its status
    )
    retry.retry_after_cap = settings.retry_after_max
    return retry


# --- per-host concurrency ------------------------------------------------------------------


def host_key(url: str) -> str:
    """``scheme://host:port`` of a URL: the unit the concurrency bound counts by."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc.rpartition('@')[2]).lower()}"


class HostLimiter:
    """A semaphore per host, re-entrant per thread.

    Re-entrancy matters: code that holds a slot for a host (e.g. around a GDAL read) and then
    makes a request through a session to the same host must not take a second slot, or a full
    pool of threads would deadlock waiting for each other.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a per-host concurrency limit must be >= 1, got {limit}")
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._held = threading.local()

    @contextmanager
    def slot(self) -> Iterator[None]:
        depth = getattr(self._held, "depth", 0)
        if depth == 0:
            self._semaphore.acquire()
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth -= 1
            if self._held.depth == 0:
                self._semaphore.release()


_limiters: dict[tuple[str, int], HostLimiter] = {}
_limiters_lock = threading.Lock()


def _limiter(url: str, limit: int) -> HostLimiter:
    key = (host_key(url), limit)
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = HostLimiter(limit)
        return _limiters[key]


def host_limiter(url: str, limit: int = HttpSettings.max_per_host) -> HostLimiter:
    """The process-wide limiter for ``url``'s host; use ``with host_limiter(url, n).slot():``.

    Sessions made by ``make_session`` already take a slot for every request; use this directly for
    reads that bypass requests (GDAL's /vsicurl/) so they count against the same bound.
    """
    return _limiter(url, limit)


# --- the session ---------------------------------------------------------------------------


class _ProjectAdapter(HTTPAdapter):
    """Default timeouts, the host bound, and a body read that is size-limited and retried."""

    # Pickled sessions (a renderer sent to worker processes) must keep their settings.
    __attrs__ = [*HTTPAdapter.__attrs__, "settings"]

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        super().__init__(max_retries=make_retry(settings), pool_maxsize=max(10, settings.max_per_host))

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        timeout = self.settings.timeout if timeout is None else timeout
        url = request.url or ""
        attempt = 0
        while True:
            with host_limiter(url, self.settings.max_per_host).slot():
                deadline = time.monotonic() + self.settings.total_timeout
                response = super().send(request, stream=stream, timeout=timeout, **kwargs)
                if stream:
                    _check_declared_size(response, self.settings.max_body_bytes)
                    return response
                try:
                    # Read the body while holding the slot, so the bound covers the transfer.
                    _read_body(response, self.settings.max_body_bytes, deadline, self.settings.total_timeout)
                    return response
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
                    response.close()
                    # A body cut short is retried like a dropped connection (idempotent methods only).
                    if attempt >= self.settings.retries or (request.method or "GET").upper() not in RETRY_METHODS:
                        raise
            attempt += 1
            time.sleep(min(self.settings.backoff_max, self.settings.backoff * 2**attempt))


def _check_declared_size(response: requests.Response, limit: int | None) -> None:
    declared = response.headers.get("Content-Length")
    if limit is not None and declared and declared.isdigit() and int(declared) > limit:
        response.close()
        raise ResponseTooLarge(
            f"{public_url(response.url)}: response of {int(declared):,} bytes is over the limit of {limit:,} "
            "(raise `http.max_body_bytes` for this source)",
            response=response,
        )


def _read_body(response: requests.Response, limit: int | None, deadline: float, total_timeout: float) -> None:
    """Fill ``response._content`` ourselves, stopping at the size limit or the deadline.

    ``read1`` returns whatever one socket read brings, so the deadline is checked between reads
    however slowly the bytes come (``iter_content`` would wait for a whole chunk).
    """
    _check_declared_size(response, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            response.close()
            raise requests.exceptions.Timeout(
                f"{public_url(response.url)}: no complete answer within {total_timeout:g} s "
                "(raise `http.total_timeout` for this source)",
                response=response,
            )
        try:
            chunk = response.raw.read1(64 * 1024, decode_content=True)
        except urllib3.exceptions.ProtocolError as error:
            raise requests.exceptions.ChunkedEncodingError(error) from error
        except urllib3.exceptions.DecodeError as error:
            raise requests.exceptions.ContentDecodingError(error) from error
        except urllib3.exceptions.ReadTimeoutError as error:
            raise requests.exceptions.ConnectionError(error) from error
        if not chunk:
            break
        size += len(chunk)
        if limit is not None and size > limit:
            response.close()
            raise ResponseTooLarge(
                f"{public_url(response.url)}: response body is over the limit of {limit:,} bytes "
                "(raise `http.max_body_bytes` for this source)",
                response=response,
            )
        chunks.append(chunk)
    response._content = b"".join(chunks)  # what `response.content` would have read
    response._content_consumed = True  # type: ignore[attr-defined]  # requests' own flag, set as it does
    response.raw.release_conn()


def make_session(settings: HttpSettings | None = None) -> requests.Session:
    """A new session configured by ``settings`` (defaults when omitted).

    Every request gets the default timeouts unless it passes its own, is retried as described in
    the module docstring, waits for a slot of its host's concurrency bound, and raises
    ``ResponseTooLarge`` (a ``requests.RequestException``) past the body-size limit. Status codes
    are *not* raised for: call ``response.raise_for_status()`` as usual.
    """
    settings = settings or HttpSettings()
    session = requests.Session()
    adapter = _ProjectAdapter(settings)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = settings.user_agent
    session.headers.update(dict(settings.headers))
    return session


_default_session: requests.Session | None = None
_default_lock = threading.Lock()


def default_session() -> requests.Session:
    """A process-wide session with default settings (for reads not tied to a source)."""
    global _default_session
    with _default_lock:
        if _default_session is None:
            _default_session = make_session()
        return _default_session


def describe_error(error: BaseException) -> str:
    """A short, secret-free description of a requests error for messages."""
    if isinstance(error, ResponseTooLarge):
        return str(error)
    if isinstance(error, requests.exceptions.Timeout):
        return f"timed out ({type(error).__name__})"
    if isinstance(error, requests.exceptions.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason or ''}".strip()
    # urllib3 names the request by its path alone ("Max retries exceeded with url: /search?key=…"):
    # ``redact_text`` drops a query string on a bare path too.
    return redact_text(str(error))


def is_unreachable(error: BaseException) -> bool:
    """True when ``error`` (or an error it was raised from) says the server did not answer.

    Connection errors, timeouts and HTTP 408 or 5xx (which the session has already retried)
    count; a 4xx, an oversized or undecodable answer do not: the server answered.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SourceUnreachable):
            return True
        if isinstance(current, ResponseTooLarge):
            return False
        if isinstance(current, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
        response = getattr(current, "response", None)
        status = getattr(current, "status_code", None) or getattr(response, "status_code", None)
        if isinstance(status, int):
            return status >= 500 or status == 408
        current = current.__cause__ or current.__context__
    return False


def source_error(message: str, cause: BaseException) -> SourceError:
    """``SourceUnreachable(message)`` when ``cause`` says the server did not answer, else ``SourceError``."""
    return SourceUnreachable(message) if is_unreachable(cause) else SourceError(message)


# --- cached downloads ----------------------------------------------------------------------

_fetched: dict[str, str] = {}
_fetched_lock = threading.Lock()


def fetch_text_cached(url: str, session: requests.Session | None = None) -> str:
    """The text at ``url``, fetched once per process (region outlines and borders).

    Raises ``requests.RequestException`` (HTTP errors included) after the session's retries.
    """
    with _fetched_lock:
        if url in _fetched:
            return _fetched[url]
    response = (session or default_session()).get(url)
    response.raise_for_status()
    text = response.text
    with _fetched_lock:
        _fetched.setdefault(url, text)
    return text
