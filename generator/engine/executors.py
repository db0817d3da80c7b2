"""Where the build's tasks run: the executor registry (``local`` processes; other kinds plug in).

Owns the contract between the engine and whatever runs its work. A task is a top-level
function of picklable arguments whose result is returned small (a layer, file bytes, figures)
or written to the frame cache; a task never writes into the staging or output folder — the
build's own process does, so a gallery can be built by workers that share no disk with it.
An executor is a :class:`concurrent.futures.Executor` (a process pool locally; a cluster
client's executor adapts to the same interface) with the number of tasks it runs at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from generator.engine.workers import start_worker

if TYPE_CHECKING:  # multiprocessing loads when a pool is made: a --jobs 1 build runs its tasks inline
    from concurrent.futures import ProcessPoolExecutor


@dataclass(frozen=True)
class ExecutorRequest:
    """What the build asks of an executor: its kind, ``--jobs`` and, for a cluster, its address."""

    kind: str = "local"
    jobs: int = 1
    scheduler: str | None = None


@dataclass
class TaskPool:
    """An open executor: ``executor`` None runs every task inline, in the build's process."""

    executor: Executor | None
    slots: int  # how many tasks run at once (bounds the work kept in flight)

    def close(self, interrupted: bool = False) -> None:
        """Shut the executor down. ``interrupted`` (Ctrl-C): a local pool's workers are stopped
        rather than waited for, as a task stuck on a server that never answers would hold the
        command until its timeouts run out."""
        if self.executor is None:
            return
        if interrupted:
            _stop_workers(self.executor)
        self.executor.shutdown(cancel_futures=True)


def _stop_workers(executor: Executor) -> None:
    """Terminate a process pool's workers, whatever they run (``terminate_workers`` from Python
    3.14; before, the pool's own table of processes). Other executors have no such thing."""
    terminate = getattr(executor, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()


ExecutorFactory = Callable[[ExecutorRequest], TaskPool]

_FACTORIES: dict[str, ExecutorFactory] = {}


def register_executor(kind: str, factory: ExecutorFactory) -> None:
    """Make ``kind`` usable as ``executor.kind``; a later registration of a kind replaces it."""
    _FACTORIES[kind] = factory


def executor_kinds() -> list[str]:
    return sorted(_FACTORIES)


def open_executor(request: ExecutorRequest) -> TaskPool:
    """The executor ``request`` names; the caller closes it when the build ends."""
    try:
        factory = _FACTORIES[request.kind]
    except KeyError:
        raise ValueError(f"unknown executor kind {request.kind!r}; known: {', '.join(executor_kinds())}") from None
    return factory(request)


#: What the fork server imports once, so that every worker forked from it starts ready.
FORK_SERVER_PRELOAD = ["generator.engine.preload"]
#: What it imports besides for a build that may make an MP4 (``engine.preload_video``).
VIDEO_PRELOAD = "generator.engine.preload_video"


def fork_server_preload(video: bool = True) -> list[str]:
    """The modules the fork server imports: PyAV too when ``video`` (the build may make an MP4)."""
    return [*FORK_SERVER_PRELOAD, VIDEO_PRELOAD] if video else list(FORK_SERVER_PRELOAD)


def start_fork_server(video: bool = True) -> None:
    """Start the local pool's fork server now, so that its imports (≈ 0.5 s of CPU) run in its
    own process, on another core, while this process is still importing and reading the config.

    Called by the command line as soon as it knows the build runs local processes: by the time
    the first task is sent, the workers are ready instead of still importing. Harmless when no
    pool is opened after all (a config naming a cluster): the server waits unused and ends with
    this process.

    Started here, not on a thread: launching the server takes ≈ 15 ms, but a thread doing it
    beside this process's imports waited for the interpreter lock (extension modules load
    holding it) and the server began its imports 0.2-0.4 s late, as did the first worker.
    """
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(fork_server_preload(video))
    forkserver.ensure_running()


def local_pool(request: ExecutorRequest) -> TaskPool:
    """Processes for CPU-bound work (forkserver: safe with threads in the parent); none for one job."""
    if request.jobs <= 1:
        return TaskPool(executor=None, slots=1)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    # Workers start with everything a task loads imported (once, in the fork server: engine.preload),
    # unless the command started the server already, having told what its build needs.
    context.set_forkserver_preload(fork_server_preload())
    # A worker takes on this process's environment as it is now: the fork server's may be older.
    pool = ProcessPoolExecutor(
        max_workers=request.jobs, mp_context=context, initializer=start_worker,
        initargs=(os.getpid(), dict(os.environ)),
    )
    widen_pipes(pool)
    # The fork server and the workers start (a second or so of imports) while the build plans.
    threading.Thread(target=_warm_up, args=(pool, request.jobs), name="pool-warm-up", daemon=True).start()
    return TaskPool(executor=pool, slots=request.jobs)


#: The size asked for the pipes that carry the tasks to the workers and their results back: a
#: task's arguments or result (a 512-px layer is 256 KiB; a chunk of painted frames, an encoded
#: file up to a few MiB) then mostly goes through in one write and one read.
PIPE_BYTES = 1 << 20


def widen_pipes(pool: ProcessPoolExecutor) -> None:
    """Give the pool's two pipes :data:`PIPE_BYTES` of buffer instead of the 64 KiB default (Linux).

    A result bigger than the pipe is written in 64 KiB pieces, each one only once the build's
    process has read the one before; its reading thread must take the interpreter lock for each,
    and while a pipeline step runs in the build's process that takes up to the switch interval
    (5 ms) every time: a worker sending back a layer waited 10-20 ms, 0.3-0.4 s per worker over
    the demo build. The same goes for the arguments the build sends. Best effort: without the
    pipes (another Python's executor) or the right to widen them, the pool works as it is.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system: the pipes keep their size
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is None:
        return
    for queue in (getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)):
        reader = getattr(queue, "_reader", None)
        if reader is None:
            continue
        try:
            fcntl.fcntl(reader.fileno(), set_size, PIPE_BYTES)
        except OSError:  # above fs.pipe-max-size for this user, or the user's pipe budget is spent
            pass


def _warm_up(pool: Executor, workers: int) -> None:
    try:
        for _ in range(workers):  # the pool starts a worker per task it has no idle worker for
            pool.submit(int)
    except RuntimeError:  # the build ended first (the pool is shut down or broken): nothing to warm
        pass


register_executor("local", local_pool)
