"""A loopback reverse proxy that lets a read through only with the right credentials.

It stands in for the access control of real stores, in front of the tests' Range HTTP server or
moto: a required header (an API key), a SAS token in the query string (Azure Blob Storage as
Planetary Computer signs it) or S3's ``x-amz-request-payer: requester`` (requester-pays
buckets). A refused request gets 403, as those services answer. Every request's method, path,
query and headers are recorded for the tests to assert on; the query is not forwarded.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.servers.common import loopback_http

_PASSED_BACK = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified")
_NOT_FORWARDED = frozenset({"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding"})


@dataclass
class GuardedServer:
    upstream: str  # http://127.0.0.1:PORT of the server behind
    port: int = 0
    require_headers: dict[str, str] = field(default_factory=dict)  # name -> exact value
    tokens: set[str] | None = None  # accepted query strings; None: no token needed
    requests: list[dict[str, object]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def href(self, path: str) -> str:
        return f"{self.url}/{path.lstrip('/')}"

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")

    def refused(self) -> list[dict[str, object]]:
        return [request for request in self.requests if request["status"] == 403]


def _handler(state: GuardedServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()
    upstream = urlsplit(state.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._pass(body=False)

        def do_GET(self) -> None:
            self._pass(body=True)

        def _allowed(self, query: str) -> bool:
            for name, value in state.require_headers.items():
                if self.headers.get(name) != value:
                    return False
            return state.tokens is None or query in state.tokens

        def _pass(self, body: bool) -> None:
            path, _, query = self.path.partition("?")
            allowed = self._allowed(query)
            with lock:
                state.requests.append({
                    "method": self.command, "path": path, "query": query,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "status": 200 if allowed else 403,
                })
            if not allowed:
                message = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                if body:
                    self.wfile.write(message)
                return
            forwarded = {name: value for name, value in self.headers.items() if name.lower() not in _NOT_FORWARDED}
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            try:
                connection.request(self.command, path, headers=forwarded)
                response = connection.getresponse()
                data = response.read()
            finally:
                connection.close()
            self.send_response(response.status)
            for name in _PASSED_BACK:
                if name == "Content-Length":
                    continue
                value = response.getheader(name)
                if value is not None:
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


@contextmanager
def guard(upstream: str, *, require_headers: dict[str, str] | None = None, tokens: set[str] | None = None) -> Iterator[GuardedServer]:
    """A guard in front of ``upstream`` on an ephemeral loopback port, for the duration of the block."""
    state = GuardedServer(upstream=upstream, require_headers=dict(require_headers or {}), tokens=tokens)
    with loopback_http(_handler(state), "guarded-http") as port:
        state.port = port
        yield state
