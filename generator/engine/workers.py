"""Worker processes of the build: they start with its environment and never outlive it.

The local pool uses the ``forkserver`` start method, so a worker's parent is the fork server,
not the build. A worker forked there inherits the environment the fork server started with —
which, in a process that builds more than once (a service, the tests), may be older than the
build's: credentials or GDAL settings changed since would not reach the reads. Each worker
therefore starts with the environment of the build that opened the pool.

When the build is killed outright (``kill -9``, an OOM kill, a cancelled CI job) nothing tells
the workers, and they (with the fork server and the resource tracker they keep alive) would
linger for minutes holding hundreds of MB. Each worker therefore watches the build's process
and exits as soon as it is gone.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping

#: How often a worker checks that the build is still there, in seconds.
WATCH_INTERVAL_S = 0.5


def start_worker(build_pid: int, environment: Mapping[str, str]) -> None:
    """Pool initializer: take on the build's ``environment`` (``os.environ`` when it opened the
    pool), and start a daemon thread that ends this worker once ``build_pid`` is gone."""
    take_environment(environment, _fork_server_environment())
    threading.Thread(target=_watch, args=(build_pid,), name="exit-with-build", daemon=True).start()


def take_environment(build: Mapping[str, str], inherited: Mapping[str, str] | None) -> None:
    """Make this worker's environment the build's: what the build has set or changed since the
    fork server started (``inherited``: its environment then) is set, what the build has removed
    since is removed, and what the fork server's imports added is kept (the CA bundle rasterio
    sets for GDAL's and PROJ's HTTP clients). Without ``inherited`` nothing is removed."""
    for name in inherited or ():
        if name not in build:
            os.environ.pop(name, None)
    for name, value in build.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _fork_server_environment() -> Mapping[str, str] | None:
    preload = sys.modules.get("generator.engine.preload")  # imported by the fork server, if any
    return getattr(preload, "INHERITED_ENVIRONMENT", None)


def _watch(build_pid: int) -> None:
    while _alive(build_pid):
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)  # no cleanup to run: the build that wanted the results is gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else (cannot be our build, but never kill on doubt)
    return True
