"""A real TiTiler (``titiler.core``'s ``TilerFactory`` under ``/cog``) served by uvicorn on 127.0.0.1.

Run in a subprocess on an ephemeral port (``start_titiler``), so GDAL settings for reaching the
loopback S3 server are given to that process only. A small ASGI wrapper records what the tests
assert on the server side: User-Agents, request bodies' sizes and the peak number of requests in
flight; ``GET /_stats`` returns them and ``POST /_reset`` clears them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .common import free_port, unavailable, wait_until

REPO = Path(__file__).resolve().parents[2]


def create_app() -> Any:
    """The ASGI app (uvicorn factory): TiTiler's COG endpoints plus the stats recorder."""
    from fastapi import FastAPI
    from titiler.core.factory import TilerFactory

    app = FastAPI(title="test TiTiler")
    app.include_router(TilerFactory().router, prefix="/cog")
    delay = float(os.environ.get("TEST_TITILER_DELAY", "0"))
    lock = threading.Lock()
    stats: dict[str, Any] = {"in_flight": 0, "max_in_flight": 0, "user_agents": [], "body_sizes": [], "paths": []}

    @app.get("/_stats")
    def read_stats() -> dict[str, Any]:
        with lock:
            return {key: value for key, value in stats.items()}

    @app.post("/_reset")
    def reset() -> dict[str, str]:
        with lock:
            stats.update(max_in_flight=0, user_agents=[], body_sizes=[], paths=[])
        return {"status": "ok"}

    async def recorder(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_"):
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        with lock:
            stats["in_flight"] += 1
            stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
            stats["user_agents"].append(headers.get(b"user-agent", b"").decode())
            stats["body_sizes"].append(int(headers.get(b"content-length", b"0") or 0))
            stats["paths"].append(scope["path"])
        try:
            if delay:
                await asyncio.sleep(delay)  # makes overlapping requests observable
            await app(scope, receive, send)
        finally:
            with lock:
                stats["in_flight"] -= 1

    return recorder


@dataclass(frozen=True)
class TitilerServer:
    url: str

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_stats", timeout=10).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_reset", timeout=10).raise_for_status()


@contextmanager
def start_titiler(env: Mapping[str, str] | None = None, delay: float = 0.0) -> Iterator[TitilerServer]:
    """Start the server; ``env`` is added to the child's environment only."""
    try:
        import titiler.core  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        unavailable(f"titiler.core / uvicorn are not installed ({error})")
    port = free_port()
    child_env = {
        **os.environ,
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MAX_RETRY": "0",
        "TEST_TITILER_DELAY": str(delay),
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "uvicorn", "tests.servers.titiler:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--workers", "1",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = TitilerServer(url=f"http://127.0.0.1:{port}")
    try:
        try:
            wait_until(lambda: _ready(server, process), 60, "TiTiler")
            if process.poll() is not None:
                raise TimeoutError(f"TiTiler exited with code {process.returncode}")
        except TimeoutError as error:
            process.kill()
            _, stderr = process.communicate(timeout=10)
            unavailable(f"{error}: {stderr.decode(errors='replace')[-2000:]}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def _ready(server: TitilerServer, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        return True  # it exited: stop waiting; the caller reports its stderr
    try:
        return requests.get(f"{server.url}/_stats", timeout=1).status_code == 200
    except requests.RequestException:
        time.sleep(0.05)
        return False


# --- session fixtures, shared by every test module that imports them ---------------------------
# Importing a fixture into several modules makes one fixture definition per module; the servers
# are kept here so the whole session still starts each of them once.

from contextlib import ExitStack  # noqa: E402

import pytest  # noqa: E402

from .s3 import S3Server, s3_server  # noqa: E402

_started: dict[str, Any] = {}
_stack = ExitStack()


def _once(request: pytest.FixtureRequest, name: str, factory: Any) -> Any:
    if name not in _started:
        if not _started:
            request.session.config.add_cleanup(_stop_all)
        _started[name] = _stack.enter_context(factory())
    return _started[name]


def _stop_all() -> None:
    _stack.close()
    _started.clear()


@pytest.fixture(scope="session")
def loopback_s3(request: pytest.FixtureRequest) -> S3Server:
    """moto's S3 server on 127.0.0.1 with an empty bucket."""
    return _once(request, "s3", s3_server)


@pytest.fixture(scope="session")
def loopback_titiler(request: pytest.FixtureRequest, loopback_s3: S3Server) -> TitilerServer:
    """TiTiler on 127.0.0.1, able to read local paths, loopback HTTP and the loopback S3 bucket."""
    return _once(request, "titiler", lambda: start_titiler(loopback_s3.gdal_env(), delay=0.02))
