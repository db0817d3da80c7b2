"""Worker processes of the build: they never outlive the build that started them.

The local pool uses the ``forkserver`` start method, so a worker's parent is the fork server,
not the build; when the build is killed outright (``kill -9``, an OOM kill, a cancelled CI job)
nothing tells the workers, and they (with the fork server and the resource tracker they keep
alive) would linger for minutes holding hundreds of MB. Each worker therefore watches the
build's process and exits as soon as it is gone.
"""

from __future__ import annotations

import os
import threading
import time

#: How often a worker checks that the build is still there, in seconds.
WATCH_INTERVAL_S = 0.5


def exit_with_build(build_pid: int) -> None:
    """Pool initializer: start a daemon thread that ends this worker once ``build_pid`` is gone."""
    threading.Thread(target=_watch, args=(build_pid,), name="exit-with-build", daemon=True).start()


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
