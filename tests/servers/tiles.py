"""An XYZ tile server on 127.0.0.1 that serves generated PNG tiles (threaded ``http.server``).

Paths are ``/<layer>/{z}/{x}/{y}.png``:

- ``tiles``: every tile is one solid colour, :func:`tile_color` of its (z, x, y);
- ``holey``: the same, but tiles with ``(x + y) % 3 == 0`` answer 404;
- ``blocked``: every tile answers 403 with a valid PNG body (an "access blocked" image, the way
  some public tile servers answer clients they refuse), which must never end up in a frame.

The server records what the tests assert on: every request's path and User-Agent, and the most
requests it ever had in flight at once. Each tile takes ``delay`` seconds to answer, so
concurrent clients overlap and the in-flight count means something.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import numpy as np
from PIL import Image

from .common import LoopbackServer, free_port, wait_until

_TILE_PATH = re.compile(r"^/(tiles|holey|blocked)/(\d+)/(\d+)/(\d+)\.png$")
TILE_PX = 256
BLOCKED_RGB = (200, 30, 30)  # the colour of the 403 image body


def tile_color(z: int, x: int, y: int) -> tuple[int, int, int]:
    """A colour per tile, far from its neighbours' so a test can tell tiles apart.

    Channels step by 60 so any two tiles that touch differ by at least 60 in some channel.
    """
    return (40 + 60 * (x % 3), 40 + 60 * (y % 3), 200 - 40 * (z % 3))


def png_tile(rgb: tuple[int, int, int]) -> bytes:
    image = Image.fromarray(np.full((TILE_PX, TILE_PX, 3), rgb, dtype=np.uint8), mode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class TileServer:
    port: int = 0
    delay: float = 0.02
    paths: list[str] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def template(self, layer: str = "tiles") -> str:
        return f"{self.url}/{layer}/{{z}}/{{x}}/{{y}}.png"

    def reset(self) -> None:
        with self.lock:
            self.paths.clear()
            self.user_agents.clear()
            self.max_in_flight = 0

    @property
    def request_count(self) -> int:
        with self.lock:
            return len(self.paths)


def _handler(server: TileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            with server.lock:
                server.paths.append(self.path)
                server.user_agents.add(self.headers.get("User-Agent") or "")
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                time.sleep(server.delay)
                self._answer()
            finally:
                with server.lock:
                    server.in_flight -= 1

        def _answer(self) -> None:
            match = _TILE_PATH.match(self.path.split("?", 1)[0])  # a query (API key) is ignored
            if match is None:
                self._send(404, b"not a tile path", "text/plain")
                return
            layer, z, x, y = match.group(1), *(int(part) for part in match.groups()[1:])
            if layer == "blocked":
                self._send(403, png_tile(BLOCKED_RGB), "image/png")
            elif layer == "holey" and (x + y) % 3 == 0:
                self._send(404, b"no such tile", "text/plain")
            else:
                self._send(200, png_tile(tile_color(z, x, y)), "image/png")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serve_tiles(delay: float = 0.02) -> Iterator[TileServer]:
    """Run a tile server on a free loopback port until the block ends."""
    server = TileServer(port=free_port(), delay=delay)
    httpd = LoopbackServer(("127.0.0.1", server.port), _handler(server))
    thread = threading.Thread(target=httpd.serve_forever, name="tile-server", daemon=True)
    thread.start()
    try:
        wait_until(lambda: _answers(server), 10, "the tile server")
        server.reset()
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _answers(server: TileServer) -> bool:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
    try:
        connection.request("GET", "/tiles/0/0/0.png")
        return connection.getresponse().status == 200
    finally:
        connection.close()
