"""A threaded static-file HTTP server on 127.0.0.1 with ``Range`` support (the way GDAL reads COGs).

It records what the tests assert on: every request's ``Range`` and ``User-Agent``, and the most
requests it had in flight at once. ``ranges=False`` makes it ignore ``Range`` and always send the
whole file, like a naive server; ``delay`` makes each answer wait, like a store across a network.
"""

from __future__ import annotations

import mimetypes
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.servers.common import loopback_http

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class RangeServer:
    root: Path
    port: int = 0
    ranges: bool = True
    delay: float = 0.0  # seconds before each answer
    requests: list[dict[str, str | None]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def href(self, name: str) -> str:
        return f"{self.url}/{name}"


def _handler(server: RangeServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def _file(self) -> Path | None:
            relative = self.path.split("?", 1)[0].lstrip("/")
            path = (server.root / relative).resolve()
            return path if path.is_file() and server.root.resolve() in path.parents else None

        def _record(self) -> None:
            with lock:
                server.requests.append(
                    {"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                     "user_agent": self.headers.get("User-Agent")}
                )

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            self._record()
            with lock:
                server.in_flight += 1
                server.most_in_flight = max(server.most_in_flight, server.in_flight)
            try:
                if server.delay:
                    time.sleep(server.delay)
                self._answer(body)
            finally:
                with lock:
                    server.in_flight -= 1

        def _answer(self, body: bool) -> None:
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            data = path.read_bytes()
            match = _RANGE.match(self.headers.get("Range", "")) if server.ranges else None
            if match and (match.group(1) or match.group(2)):
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
                else:  # a suffix range: the last N bytes
                    start, end = max(0, len(data) - int(match.group(2))), len(data) - 1
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                chunk = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                chunk = data
                self.send_response(200)
            self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(len(chunk)))
            if server.ranges:
                self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if body:
                self.wfile.write(chunk)

    return Handler


@contextmanager
def serve_directory(root: Path, *, ranges: bool = True, delay: float = 0.0) -> Iterator[RangeServer]:
    """Serve ``root`` on an ephemeral loopback port for the duration of the block."""
    state = RangeServer(root=root, ranges=ranges, delay=delay)
    with loopback_http(_handler(state), "range-http") as port:
        state.port = port
        yield state
