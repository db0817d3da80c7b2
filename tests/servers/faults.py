"""A threaded HTTP server on 127.0.0.1 that misbehaves on purpose, for robustness tests.

Each path is bound to a ``Route``: a function from the request to a ``Reply``. A reply can be
delayed, cut short (a ``Content-Length`` larger than the body, then the connection closes), or
hang without answering until the server stops (bounded, so no test can hang forever). The server
records every request (method, path, headers, body) and the highest number of requests it was
serving at the same time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.servers.common import LoopbackServer

HANG_LIMIT = 20.0  # s: a hung reply gives up by itself after this, whatever happens


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    truncate_to: int | None = None  # send only this many body bytes, then close
    hang: bool = False  # never answer (until the server stops or HANG_LIMIT)
    drip: float = 0.0  # seconds between body bytes: a server that answers, but ever so slowly

    @staticmethod
    def json(data: Any, status: int = 200, **kwargs: Any) -> Reply:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return Reply(status=status, body=json.dumps(data).encode(), headers=headers, **kwargs)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Route = Callable[[Request], Reply]


def sequence(*replies: Reply) -> Route:
    """Answer with each reply in turn, then keep repeating the last one (thread-safe)."""
    remaining = list(replies)
    lock = threading.Lock()

    def route(_: Request) -> Reply:
        with lock:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return route


class FaultServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._in_flight: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = LoopbackServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, route: Route) -> None:
        self.routes[path] = route

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.requests.clear()
            self._max_in_flight.clear()

    def max_in_flight(self, path: str) -> int:
        """The most requests to ``path`` this server was serving at once."""
        with self._lock:
            return self._max_in_flight.get(path, 0)

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, path, query, dict(self.headers.items()), self.rfile.read(length))
                with server._lock:
                    server.requests.append(request)
                    server._in_flight[path] = server._in_flight.get(path, 0) + 1
                    server._max_in_flight[path] = max(server._max_in_flight.get(path, 0), server._in_flight[path])
                done = False
                try:
                    route = server.routes.get(path)
                    reply = route(request) if route else Reply.json({"detail": f"no route {path}"}, status=404)
                    if reply.hang:
                        server._stopping.wait(HANG_LIMIT)
                        self.close_connection = True
                        return
                    if reply.delay:
                        server._stopping.wait(reply.delay)
                    # Count the request as finished before the client can see the answer, so a
                    # client's next request never overlaps this one in the count.
                    with server._lock:
                        server._in_flight[path] -= 1
                    done = True
                    self._send(reply)
                finally:
                    if not done:
                        with server._lock:
                            server._in_flight[path] -= 1

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                body = reply.body if reply.truncate_to is None else reply.body[: reply.truncate_to]
                try:
                    if reply.drip:
                        for offset in range(len(body)):
                            if server._stopping.wait(reply.drip):
                                break
                            self.wfile.write(body[offset : offset + 1])
                            self.wfile.flush()
                    else:
                        self.wfile.write(body)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if reply.truncate_to is not None:
                    self.close_connection = True

            do_GET = do_POST = do_HEAD = _handle

        return Handler


@contextmanager
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()
