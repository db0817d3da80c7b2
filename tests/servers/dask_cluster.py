"""A Dask cluster on 127.0.0.1 started from the command line: ``dask scheduler`` and ``dask worker``s.

Each process is the real CLI of ``distributed``; the workers run with one thread each, so the
tasks of a build spread over both. Everything is stopped when the context ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .common import free_port, unavailable, wait_until


@dataclass(frozen=True)
class DaskProcesses:
    address: str  # tcp://127.0.0.1:PORT
    worker_pids: tuple[int, ...]


def _dask_command() -> list[str]:
    script = Path(sys.executable).parent / "dask"
    if not script.exists():
        unavailable(f"the dask command line is not installed beside {sys.executable} (pip install '.[dask]')")
    return [str(script)]


def _workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=5, set_as_default=False) as client:
        return len(client.nthreads())


@contextmanager
def dask_processes(workers: int = 2, env: Mapping[str, str] | None = None) -> Iterator[DaskProcesses]:
    """A scheduler and ``workers`` single-threaded workers, all on loopback."""
    dask = _dask_command()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    child_env = {**os.environ, **(env or {})}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": child_env}
    processes = [
        subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)
    ]
    try:
        for _ in range(workers):
            processes.append(subprocess.Popen(
                [*dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard", "--no-nanny"],
                **quiet,
            ))
        try:
            wait_until(lambda: _workers(address) == workers, 60, f"{workers} dask workers")
        except TimeoutError as error:
            unavailable(str(error))
        yield DaskProcesses(address=address, worker_pids=tuple(process.pid for process in processes[1:]))
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
