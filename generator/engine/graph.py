"""The build's task graph: every animation a pipeline of tasks, all run by one executor.

Owns the scheduling of the build's work. An animation is a *pipeline*: a generator that runs
in the build's process (planning, writing files) and yields a :class:`Batch` of tasks whenever
it needs work done; it resumes once every task of the batch is finished. Several pipelines are
in flight at once, started in config order, and their tasks share the executor's slots, so the
frames of one animation, the overlays of another and the encoders of a third run side by side.
The work in flight is bounded per :class:`Lane` (≈ 4 tasks per slot): tasks are pulled from a
batch only when there is room, so memory stays flat however long an animation is. With worker
processes, the pipelines' own steps run on one thread beside the scheduler's, so the workers
are fed while the build's process plans an animation or writes its files (see :class:`Scheduler`).

The results of a batch's tasks are handed to its ``take`` in the build's process, in whatever
order they finish: whatever ``take`` keeps is stored by the task's position, so the files are
the same for any number of jobs. A task that raises fails its pipeline only: the exception
(of the first failing task in batch order) is thrown into the generator at the point it waits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from functools import partial
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

from generator.core.threads import DaemonThreads

Key = TypeVar("Key")
Result = TypeVar("Result")


@dataclass(eq=False)
class Lane:
    """Where tasks run and how many may be in flight there; ``executor`` None runs them inline."""

    executor: Executor | None
    limit: int


@dataclass(frozen=True)
class Task:
    """A top-level function and its (picklable) arguments; ``lane`` None: the build's pool."""

    function: Callable[..., Any]
    arguments: tuple[Any, ...]
    lane: Lane | None = None


@dataclass
class Batch:
    """Tasks a pipeline waits for; ``take(position, result)`` receives each result as it comes."""

    tasks: Iterable[Task]
    take: Callable[[int, Any], None] = lambda position, result: None


Pipeline = Generator[Batch, None, Result]


@dataclass(eq=False)
class _Running(Generic[Key, Result]):
    key: Key
    pipeline: Pipeline[Result]
    tasks: Iterator[Task] = field(default_factory=lambda: iter(()))
    take: Callable[[int, Any], None] = lambda position, result: None
    next: Task | None = None  # pulled from the batch, waiting for room in its lane
    pulled: int = 0
    running: int = 0
    exhausted: bool = True
    error: tuple[int, Exception] | None = None
    queued: bool = False  # its batch is finished: waiting for its turn to go on
    stepping: bool = False  # its code is running (on the scheduler's step thread)

    def fail(self, position: int, error: Exception) -> None:
        if self.error is None or position < self.error[0]:
            self.error = (position, error)

    @property
    def waiting(self) -> bool:
        """Its batch is finished (or failed and drained): the pipeline goes on."""
        return self.running == 0 and (self.exhausted or self.error is not None)


class Awaiting(Executor):
    """The executor of a lane whose tasks run nothing: each waits for a future that another
    pipeline fulfils (what it is waiting for is already in flight there), and its result is that
    future's. Submitted as ``Task(awaited, (future,), lane)``; the future must be fulfilled or
    failed whatever happens to the pipeline that owns it, or the waiting one waits forever."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not awaited or len(args) != 1 or kwargs:
            raise TypeError("an Awaiting lane only takes Task(awaited, (future,))")
        (source,) = args
        mirror: Future[Any] = Future()
        mirror.set_running_or_notify_cancel()
        source.add_done_callback(partial(_pass_on, mirror))
        return mirror


def awaited(future: Future[Any]) -> Any:
    """The task of an :class:`Awaiting` lane (never called: the lane hands out ``future``'s outcome)."""
    return future.result()


def _pass_on(mirror: Future[Any], source: Future[Any]) -> None:
    if source.cancelled():
        mirror.set_exception(RuntimeError("what the task waited for was cancelled"))
    elif (error := source.exception()) is not None:
        mirror.set_exception(error)
    else:
        mirror.set_result(source.result())


def _inline(function: Callable[..., Any], arguments: tuple[Any, ...]) -> Future[Any]:
    future: Future[Any] = Future()
    try:
        future.set_result(function(*arguments))
    except Exception as error:  # a task's failure is its pipeline's; Ctrl-C and exits go through
        future.set_exception(error)
    return future


class Scheduler(Generic[Key, Result]):
    """Runs pipelines, at most ``animations`` at once, their tasks in ``pool`` (see the module).

    With a pool of its own (``pool.executor``), a pipeline's steps in the build's process
    (planning, writing files, preparing pages: up to a few tenths of a second) run on a thread
    of their own, one step at a time, while this thread keeps the pool fed with the tasks of the other pipelines:
    the workers never wait for the build's process while there is work to send them. The results
    that come in during a step are handed to their ``take`` once it is over, so a pipeline's code
    (its steps, its ``take``, ``done``) never runs in two threads at once. Inline, everything runs
    in the caller's thread, one thing at a time.
    """

    def __init__(self, pool: Lane, animations: int):
        self.pool = pool
        self.animations = max(1, animations)
        self._load: dict[int, int] = {}
        self._futures: dict[Future[Any], tuple[_Running[Key, Result], int, Lane]] = {}
        # Every future the loop waits for (tasks, steps) is put here as it finishes: the loop
        # blocks on one queue instead of calling ``wait`` on every future in flight each time,
        # which takes and releases each one's lock twice per finished task, and in a build's
        # process whose interpreter lock is shared with a pipeline step and the pool's threads
        # every lock is a chance to wait for it (≈ 0.1 s of the demo build's 190 tasks).
        self._finished: SimpleQueue[Future[Any]] = SimpleQueue()

    def run(
        self,
        starts: Iterable[tuple[Key, Callable[[], Pipeline[Result]]]],
        done: Callable[[Key, Result], None],
    ) -> None:
        """Start each pipeline in turn as others end; ``done(key, result)`` when one returns."""
        self._finished = SimpleQueue()  # nothing left from an earlier run that was stopped
        queue = iter(starts)
        active: list[_Running[Key, Result]] = []
        ready: deque[_Running[Key, Result]] = deque()  # to be resumed, in the order their batches ended
        # A daemon thread: a step stuck in a request (a collection lookup on an API that never
        # answers) does not hold Ctrl-C until its timeouts run out.
        stepper = DaemonThreads(1, "pipeline") if self.pool.executor is not None else None
        stepping: tuple[Future[tuple[bool, Any]], _Running[Key, Result]] | None = None
        arrived: list[tuple[Future[Any], _Running[Key, Result], int]] = []  # results that came during a step
        more = True
        interrupted = False
        try:
            while True:
                if stepping is None:
                    for future, running, position in arrived:
                        self._deliver(future, running, position)
                    arrived.clear()
                    while more and len(active) < self.animations:
                        started = next(queue, None)
                        if started is None:
                            more = False
                            break
                        running = _Running[Key, Result](started[0], started[1]())
                        active.append(running)
                    for running in active:
                        if running.waiting and not running.queued:
                            running.queued = True
                            ready.append(running)
                    if ready:
                        running = ready.popleft()
                        running.queued = False
                        if stepper is None:
                            self._resume(running, self._step(running), active, done)
                            continue
                        running.stepping = True
                        stepping = (stepper.submit(self._step, running), running)
                        stepping[0].add_done_callback(self._finished.put)
                for running in active:
                    if not running.stepping:
                        self._fill(running)
                if not self._futures and stepping is None:
                    if not active and not more:
                        return
                    continue
                finished = {self._finished.get()}
                while not self._finished.empty():
                    finished.add(self._finished.get())
                if stepping is not None and stepping[0] in finished:
                    step, running = stepping
                    stepping, running.stepping = None, False
                    self._resume(running, step.result(), active, done)
                for future in sorted(
                    (future for future in finished if future in self._futures), key=lambda item: self._futures[item][1]
                ):
                    running, position, lane = self._futures.pop(future)
                    self._load[id(lane)] -= 1
                    running.running -= 1
                    if stepping is None:
                        self._deliver(future, running, position)
                    else:
                        arrived.append((future, running, position))
        except (KeyboardInterrupt, SystemExit):
            interrupted = True
            raise
        finally:
            for future in self._futures:
                future.cancel()
            if stepper is not None:
                stepper.shutdown(cancel_futures=True)
            if stepping is not None:  # a pipeline cannot be closed mid-step
                if interrupted:
                    active.remove(stepping[1])  # left to its thread, which ends with the process
                else:
                    wait([stepping[0]])
            for running in active:
                running.pipeline.close()

    @staticmethod
    def _deliver(future: Future[Any], running: _Running[Key, Result], position: int) -> None:
        """Hand a finished task's result to its batch's ``take`` (or its failure to the pipeline)."""
        error = future.exception()
        if error is not None:
            if not isinstance(error, Exception):
                raise error
            running.fail(position, error)
        elif running.error is None:
            try:
                running.take(position, future.result())
            except Exception as failure:
                running.fail(position, failure)

    @staticmethod
    def _step(running: _Running[Key, Result]) -> tuple[bool, Any]:
        """Resume the pipeline until it yields: (True, its batch), or (False, what it returned)."""
        error, running.error = running.error, None
        try:
            batch = running.pipeline.send(None) if error is None else running.pipeline.throw(error[1])
        except StopIteration as finished:
            return False, finished.value
        return True, batch

    def _resume(
        self,
        running: _Running[Key, Result],
        step: tuple[bool, Any],
        active: list[_Running[Key, Result]],
        done: Callable[[Key, Result], None],
    ) -> None:
        """Take in a step's outcome: the pipeline's new batch (its first tasks sent), or its end."""
        yielded, value = step
        if not yielded:
            active.remove(running)
            done(running.key, value)
            return
        running.tasks, running.take = iter(value.tasks), value.take
        running.pulled, running.exhausted, running.next = 0, False, None
        self._fill(running)

    def _fill(self, running: _Running[Key, Result]) -> None:
        """Submit the pipeline's next tasks while their lane has room."""
        while not running.exhausted and running.error is None:
            if running.next is None:
                try:
                    running.next = next(running.tasks, None)
                except Exception as error:  # making a task's arguments failed: the pipeline fails
                    running.fail(running.pulled, error)
                    return
                if running.next is None:
                    running.exhausted = True
                    return
            task = running.next
            lane = task.lane or self.pool
            if self._load.get(id(lane), 0) >= lane.limit:
                return  # it waits for room in its lane
            running.next = None
            position, running.pulled = running.pulled, running.pulled + 1
            executor = lane.executor
            try:
                future = executor.submit(task.function, *task.arguments) if executor else _inline(
                    task.function, task.arguments
                )
            except Exception as error:  # a broken pool, arguments it cannot send: this pipeline fails
                running.fail(position, error)
                return
            self._futures[future] = (running, position, lane)
            self._load[id(lane)] = self._load.get(id(lane), 0) + 1
            running.running += 1
            future.add_done_callback(self._finished.put)  # after its bookkeeping: inline, it is done already
