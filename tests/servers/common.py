"""Helpers shared by the loopback test servers."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server that answers as production servers do, not as Python's defaults.

    Its listen backlog is a real server's: a build reads up to ``http.max_cog_reads`` (16) remote
    files at once and GDAL opens several connections per file for the ranges it fetches side by
    side; with Python's backlog of 5 the connections beyond it wait for TCP to send their SYN
    again (1 s, then 3, 7, 15… s), which no server people read COGs from (nginx: 511, S3) makes
    them do. And it sends without Nagle's delay (``TCP_NODELAY``, as nginx does): an answer
    written in two parts (headers, then body) would otherwise wait for the client's delayed
    acknowledgement, ≈ 40 ms a request on Linux, and every loopback timing would carry it.
    """

    request_queue_size = 128
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(reason: str) -> None:
    """Skip locally, but FAIL under CI: there a missing server means a broken set-up."""
    if os.environ.get("CI"):
        pytest.fail(f"test server unavailable under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")


@contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler], name: str) -> Iterator[int]:
    """Serve ``handler`` (one thread per request) on an ephemeral loopback port for the duration
    of the block; yields the port."""
    httpd = LoopbackServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
