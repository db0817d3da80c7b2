"""The ``dask`` executor: the build's tasks on the workers of a Dask cluster.

Owns connecting to a scheduler (``executor: {kind: dask, scheduler: tcp://host:8786}`` or
``build --scheduler``), checking it answers and has workers before the build touches anything
(a :class:`SchedulerUnreachable` otherwise: one line, exit 2), and the executor the engine's
tasks go to — ``concurrent.futures`` futures of the cluster's tasks, with as many slots as the
workers have threads. A worker that dies mid-build has its tasks run again on another one (the
scheduler does that); a task that raises (a data problem) fails its animation, as locally.
When the build ends, the workers drop what they kept open for it (``core.buildcache``) and the
client disconnects; the cluster itself stays up for the next build.

``distributed`` is imported only when a build asks for this kind (``pip install
'eo-timelapse-generator[dask]'``); the workers need this package installed too, in the same
version, since they run its functions.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from generator.core import buildcache
from generator.core.errors import ConfigError
from generator.engine.executors import ExecutorRequest, TaskPool, register_executor

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

#: How long to try reaching the scheduler, and then to wait for its first worker, in seconds.
CONNECT_TIMEOUT_S = 10.0

P = ParamSpec("P")
T = TypeVar("T")


class SchedulerUnreachable(ConfigError):
    """The Dask scheduler the build names does not answer, has no workers, or Dask is not installed."""


class ClusterExecutor(Executor):
    """Tasks on a cluster client, as ``concurrent.futures`` futures; ``shutdown`` also cleans the
    workers up and disconnects. Each task is named after its function (``survey_layers-…``, ``paint_frames-…``, ``encode_file-…``),
    so the cluster's dashboard and task stream say what runs."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._pending: weakref.WeakSet[Any] = weakref.WeakSet()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        key = f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}"
        remote = self.client.submit(portable_call, fn, args, kwargs, key=key, pure=False)
        self._pending.add(remote)
        local: Future[T] = Future()
        local.set_running_or_notify_cancel()
        remote.add_done_callback(partial(_relay, local))
        return local

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            if cancel_futures:
                self.client.cancel(list(self._pending))
            # Open COGs and per-build caches on the workers are this build's, not the next one's.
            self.client.run(buildcache.clear)
        except Exception as error:  # noqa: BLE001 - a cluster going away at the end costs nothing
            log.debug("dask: cleaning the workers up failed: %s", error)
        finally:
            self.client.close()


def _relay(local: Future[Any], remote: Any) -> None:
    """A finished cluster future's outcome, passed on to the engine's future."""
    try:
        local.set_result(remote.result())
    except BaseException as error:  # the task's own exception (or the cancellation), as the engine expects it
        local.set_exception(error)


def portable_call(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    """``fn(*args, **kwargs)`` on a worker, its exception made fit to travel back to the build.

    An exception crosses to the client serialised with the exceptions it was raised from; some
    libraries' exceptions (rasterio's) cannot be rebuilt there, and the client would get a bare
    ``Exception`` instead of, say, our ``RenderError`` — an internal error rather than the
    animation's data problem. So the chain is dropped: our messages already say what the causes
    said, and the traceback (as text in the worker's log) still shows where it happened.
    """
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # re-raised below, as itself
        failure = error
    failure.__cause__ = failure.__context__ = None
    raise failure


def cluster_slots(client: Client) -> int:
    """How many tasks the cluster runs at once: its workers' threads."""
    threads: dict[str, int] = client.nthreads()
    return max(1, sum(threads.values()))


def connect(address: str, timeout: float) -> Client:
    """A client of the scheduler at ``address`` with at least one worker; else ``SchedulerUnreachable``."""
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerUnreachable(
            f"executor dask ({address}): Dask is not installed; install it with pip install 'eo-timelapse-generator[dask]'"
        ) from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as error:  # OSError, TimeoutError, a refused handshake: all mean no usable scheduler
        raise SchedulerUnreachable(
            f"Dask scheduler {address} cannot be reached ({type(error).__name__} after up to {timeout:g} s): "
            "start it (dask scheduler) or fix executor.scheduler / --scheduler; nothing was built"
        ) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:
        client.close()
        raise SchedulerUnreachable(
            f"Dask scheduler {address} has no workers (none joined within {timeout:g} s): "
            f"start some with dask worker {address}; nothing was built"
        ) from None
    return client


def dask_pool(request: ExecutorRequest) -> TaskPool:
    """The ``dask`` executor kind: ``request.scheduler`` is the address; ``jobs`` is not used."""
    if not request.scheduler:
        raise SchedulerUnreachable("executor dask: no scheduler address; set executor.scheduler or give --scheduler")
    client = connect(request.scheduler, CONNECT_TIMEOUT_S)
    slots = cluster_slots(client)
    log.info("dask: %s, %d worker thread(s)", request.scheduler, slots)
    return TaskPool(executor=ClusterExecutor(client), slots=slots)


register_executor("dask", dask_pool)
