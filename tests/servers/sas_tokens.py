"""A SAS token endpoint on 127.0.0.1 speaking Planetary Computer's protocol.

``GET /api/sas/v1/token/{account}/{container}`` answers ``{"token": …, "msft:expiry": …}``; each
token is new (a counter in its ``sig=``) and valid for ``lifetime`` seconds. Issued tokens are
added to ``accepted`` (share that set with a ``guarded`` server so it takes exactly them).
``require_headers`` makes it answer 401 without them (a subscription key); ``status`` forces
an error answer. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

from tests.servers.common import loopback_http

PREFIX = "/api/sas/v1/token/"


@dataclass
class TokenServer:
    port: int = 0
    lifetime: float = 3600.0
    secret: str = "tokensecret"
    require_headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    accepted: set[str] = field(default_factory=set)
    requests: list[dict[str, object]] = field(default_factory=list)

    @property
    def sign_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX.rstrip('/')}"

    def issued(self) -> int:
        return sum(1 for request in self.requests if request["status"] == 200)


def _handler(state: TokenServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.removeprefix(PREFIX).split("/") if self.path.startswith(PREFIX) else []
            status = state.status
            if len(parts) != 2 or not all(parts):
                status = 404
            elif any(self.headers.get(name) != value for name, value in state.require_headers.items()):
                status = 401
            with lock:
                state.requests.append({"path": self.path, "headers": dict(self.headers.items()), "status": status})
                serial = len(state.requests)
            if status != 200:
                payload = json.dumps({"detail": "refused"}).encode()
            else:
                expiry = datetime.now(UTC) + timedelta(seconds=state.lifetime)
                token = f"st=2026-01-01T00%3A00%3A00Z&se={expiry:%Y-%m-%dT%H%%3A%M%%3A%SZ}&sp=rl&sv=2024-05-04&sr=c&sig={state.secret}{serial}%3D"
                with lock:
                    state.accepted.add(token)
                payload = json.dumps({"msft:expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": token}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def token_server(**settings: object) -> Iterator[TokenServer]:
    """A token endpoint on an ephemeral loopback port for the duration of the block."""
    state = TokenServer(**settings)  # type: ignore[arg-type]
    with loopback_http(_handler(state), "sas-tokens") as port:
        state.port = port
        yield state
