"""Ctrl-C sent to a ``python -m generator build`` subprocess once it waits on a server.

Shared by the tests that check a command ends at once when interrupted, whatever it is stuck on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Interrupted:
    returncode: int
    stderr: str
    waited: float  # seconds from Ctrl-C to the command's end
    left_running: bool  # a process of the command (a worker, the fork server) outlived it by 5 s


def interrupt_build(config: Path, jobs: int, waiting: Callable[[], bool]) -> Interrupted:
    """Build ``config`` with ``--jobs jobs``; send SIGINT once ``waiting()`` (within 20 s)."""
    command = subprocess.Popen(
        [sys.executable, "-m", "generator", "build", "-q", "--jobs", str(jobs), "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not waiting() and time.monotonic() < deadline and command.poll() is None:
            time.sleep(0.05)
        assert waiting(), "the build never asked the server"
        time.sleep(0.3)  # the request is in flight, the others queued behind it
        interrupted = time.monotonic()
        command.send_signal(signal.SIGINT)
        _, stderr = command.communicate(timeout=20)
        waited = time.monotonic() - interrupted
        return Interrupted(command.returncode, stderr, waited, _group_lingers(command.pid, 5))
    finally:
        if command.poll() is None:
            command.kill()
        _kill_group(command.pid)


def _group_lingers(group: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
