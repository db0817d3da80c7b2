"""Threads for network waits that must never keep the command from exiting.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when it shuts down and again when the
interpreter exits, so a request stuck on a server that never answers holds Ctrl-C (or the end of
a failed build) until its timeouts and retries run out — minutes with the default HTTP settings.
:class:`DaemonThreads` runs such work on daemon threads instead: shutting it down cancels what has
not started and returns at once, and the process exits without waiting for a stuck request.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

__all__ = ["DaemonThreads"]


class DaemonThreads(Executor):
    """An executor of ``workers`` daemon threads (see the module); for work whose result is only
    wanted while someone waits for it, such as a search started ahead of its plan."""

    def __init__(self, workers: int, name: str) -> None:
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._workers = max(1, workers)
        self._closed = False
        self._lock = threading.Lock()
        self._pending: set[Future[Any]] = set()
        for number in range(self._workers):
            threading.Thread(target=self._run, name=f"{name}_{number}", daemon=True).start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._pending.add(future)
            self._work.put((future, lambda: fn(*args, **kwargs)))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; with ``cancel_futures``, cancel what has not started. Never waits for
        work that runs (``wait`` is accepted for the ``Executor`` interface and ignored)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if cancel_futures:
                for future in self._pending:
                    future.cancel()
            for _ in range(self._workers):
                self._work.put(None)

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            future, call = item
            with self._lock:
                self._pending.discard(future)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the result
                future.set_exception(error)
