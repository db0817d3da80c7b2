"""Preview server: ``python -m generator serve`` serves a built gallery on 127.0.0.1 only.

Owns the small HTTP server used to look at the output folder the way a static host would. It
binds to the loopback interface only and never serves a file outside the output folder: any
request path with a ``..`` segment, a backslash, a NUL byte, or that passes through a symlink
is refused, whatever the file system says.
"""

from __future__ import annotations

import functools
import http.server
import os
import posixpath
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

from generator.core.errors import GeneratorError

HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def safe_relative_path(request_path: str) -> str | None:
    """The file path a URL path names, relative to the served folder; None if it is unsafe.

    Works on the decoded path (so ``%2e%2e`` counts as ``..``). Empty result means the root.
    """
    path = unquote(urlsplit(request_path).path)
    if "\x00" in path or "\\" in path:
        return None
    segments = [segment for segment in path.split("/") if segment not in ("", ".")]
    if any(segment == ".." for segment in segments):
        return None
    return posixpath.join(*segments) if segments else ""


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` if no component of it is a symlink and it stays inside ``root``."""
    current = root
    for segment in [s for s in relative.split("/") if s]:
        current = current / segment
        if current.is_symlink():
            return None
    try:
        current.resolve(strict=False).relative_to(root.resolve())
    except ValueError:
        return None
    return current


class GalleryRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from ``directory``, with traversal and symlinks refused."""

    server_version = "eo-timelapse-serve"

    def translate_path(self, path: str) -> str:  # noqa: D401 - stdlib hook
        root = Path(self.directory)
        relative = safe_relative_path(path)
        target = resolve_inside(root, relative) if relative is not None else None
        # send_head refuses unsafe paths before this is used; never fall back to the raw path.
        return str(target) if target is not None else str(root / ".refused-path")

    def send_head(self):  # type: ignore[no-untyped-def]
        relative = safe_relative_path(self.path)
        if relative is None or resolve_inside(Path(self.directory), relative) is None:
            self.send_error(HTTPStatus.FORBIDDEN, "Path outside the served folder")
            return None
        return super().send_head()

    def end_headers(self) -> None:
        # A preview must show the latest build, never a cached page.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)


def make_server(directory: Path, port: int = DEFAULT_PORT, *, quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """A threaded server for ``directory`` bound to 127.0.0.1 (``port=0``: any free port)."""
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise GeneratorError(
            f"Nothing to serve: {directory} is not a folder. Run `python -m generator build` first "
            "or pass --output to the folder holding the gallery."
        )
    if not (directory / "index.html").is_file():
        raise GeneratorError(f"{directory} holds no index.html; build the gallery first.")
    handler = functools.partial(GalleryRequestHandler, directory=os.fspath(directory))
    try:
        server = http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as error:
        raise GeneratorError(f"Cannot listen on {HOST}:{port}: {error}. Choose another --port.") from error
    server.daemon_threads = True
    server.quiet = quiet  # type: ignore[attr-defined]
    return server


def server_url(server: http.server.HTTPServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    return f"http://{host}:{port}/"


@contextmanager
def serving(directory: Path, port: int = 0, *, quiet: bool = True) -> Iterator[str]:
    """Serve ``directory`` in a background thread for the duration of the block; yields the URL."""
    server = make_server(directory, port, quiet=quiet)
    thread = threading.Thread(target=server.serve_forever, name="gallery-server", daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_forever(directory: Path, port: int = DEFAULT_PORT) -> None:
    """Serve until interrupted (Ctrl+C), printing the URL first."""
    server = make_server(directory, port)
    print(f"Serving {Path(directory).resolve()} at {server_url(server)} (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
