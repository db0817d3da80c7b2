"""Asset hrefs signed at read time with short-lived tokens (``sources.<name>.sign``).

Owns the Planetary Computer signing protocol: an Azure Blob Storage href
``https://ACCOUNT.blob.core.windows.net/CONTAINER/path`` is read as ``href?TOKEN``, the SAS
token coming from ``GET {sign_url}/{ACCOUNT}/{CONTAINER}``, which answers
``{"token": "sv=…&sig=…", "msft:expiry": "2026-01-01T12:00:00Z"}``. The path-style hrefs of a
storage emulator on loopback (``http://127.0.0.1:PORT/ACCOUNT/CONTAINER/path``) are signed the
same way. Other hrefs are left as they are.

Signing happens when an asset is read, never when a build is planned: plans and caches hold
unsigned hrefs only, and a token is never older than its read. An :class:`HrefSigner` is plain
settings (it travels to worker processes as it is); the tokens are cached per process, per token
endpoint, storage account and container, until :attr:`HrefSigner.refresh_margin` seconds before
they expire. What a signed href may show of itself is decided by ``core.redaction``.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from generator.core.errors import SourceError
from generator.core.redaction import public_url
from generator.core.specs import SourceSpec

if TYPE_CHECKING:  # requests loads with the first token fetched
    from generator.sources.http_settings import HttpSettings

#: Planetary Computer's public SAS token endpoint (no key needed; a subscription key in
#: ``sources.<name>.headers`` raises its rate limits).
PLANETARY_COMPUTER_SIGN_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"
#: A token without an expiry in its answer is kept this long (seconds).
UNDATED_TOKEN_LIFETIME = 600.0
_AZURE_BLOB_HOST = ".blob.core.windows.net"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def blob_container(href: str) -> tuple[str, str] | None:
    """``(storage account, container)`` of an Azure Blob Storage href; None for any other href."""
    try:
        parts = urlsplit(href)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if host.endswith(_AZURE_BLOB_HOST) and len(segments) >= 2:
        return host.removesuffix(_AZURE_BLOB_HOST), segments[0]
    if host in _LOOPBACK_HOSTS and len(segments) >= 3:  # a storage emulator: /ACCOUNT/CONTAINER/blob
        return segments[0], segments[1]
    return None


@dataclass(frozen=True)
class _Token:
    value: str
    expires: float  # time.time() seconds


_tokens: dict[tuple[str, str, str], _Token] = {}
_tokens_lock = threading.Lock()
fetched = 0  # tokens fetched by this process (tests count them)


def forget_tokens() -> None:
    """Drop every cached token of this process."""
    with _tokens_lock:
        _tokens.clear()


def _after_fork_in_child() -> None:
    """A forked worker starts with a free lock (its parent's may have been held mid-fetch)."""
    global _tokens_lock
    _tokens_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass(frozen=True)
class HrefSigner:
    """Signs the asset hrefs of one source; settings only, so it travels to worker processes.

    ``http``: how the token endpoint is reached (the source's HTTP settings and headers).
    ``where``: the config block, for messages (``sources.<name>``).
    """

    sign_url: str = PLANETARY_COMPUTER_SIGN_URL
    http: HttpSettings = field(default_factory=lambda: _http_settings(), repr=False, compare=False)
    where: str = "sources.<name>"
    refresh_margin: float = 300.0  # seconds before expiry a cached token is renewed

    def sign(self, href: str) -> str:
        """``href`` with a valid token appended; unchanged when it is not a blob-storage href.

        A query already on the href that carries a signature (``sig=``, an expired pre-signed
        href) is replaced by the fresh token; any other query is kept.
        """
        container = blob_container(href)
        if container is None:
            return href
        token = self.token(*container)
        base, _, query = href.partition("?")
        if query and "sig=" not in query:
            return f"{base}?{query}&{token}"
        return f"{base}?{token}"

    def token(self, account: str, container: str) -> str:
        """A SAS token for ``account``/``container``, from this process's cache while it is fresh."""
        key = (self.sign_url.rstrip("/"), account, container)
        with _tokens_lock:  # held while fetching: one request per container, however many readers
            cached = _tokens.get(key)
            if cached is not None and cached.expires - self.refresh_margin > time.time():
                return cached.value
            token = self._fetch(account, container)
            _tokens[key] = token
            return token.value

    def _fetch(self, account: str, container: str) -> _Token:
        global fetched
        url = f"{self.sign_url.rstrip('/')}/{account}/{container}"
        shown = public_url(url)
        import requests

        from generator.sources.http import describe_error, make_session, source_error

        try:
            with make_session(self.http) as session:
                response = session.get(url)
                response.raise_for_status()
                answer = response.json()
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            hint = (
                f"; if the endpoint needs a key, set it in {self.where}.headers"
                if status in (401, 403) else ""
            )
            raise source_error(f"{self.where}.sign: token endpoint {shown} answered {describe_error(error)}{hint}", error) from None
        except (requests.RequestException, ValueError) as error:
            raise source_error(f"{self.where}.sign: no token from {shown}: {describe_error(error)}", error) from None
        value = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(value, str) or not value:
            raise SourceError(f"{self.where}.sign: {shown} answered without a `token`; check {self.where}.sign_url")
        fetched += 1
        return _Token(value=value.lstrip("?"), expires=_expiry(answer.get("msft:expiry")))


def _http_settings() -> HttpSettings:
    from generator.sources.http_settings import HttpSettings

    return HttpSettings()


def _expiry(text: object) -> float:
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                return moment.timestamp()
    return time.time() + UNDATED_TOKEN_LIFETIME


def source_signer(source: SourceSpec, settings: HttpSettings) -> HrefSigner | None:
    """The signer of a source with ``sign`` set (its token requests carry the source's headers)."""
    if source.sign is None:
        return None
    return HrefSigner(sign_url=source.sign_url or PLANETARY_COMPUTER_SIGN_URL, http=settings, where=f"sources.{source.name}")
