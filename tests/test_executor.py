"""The build's task graph: pipelines in flight together, bounded work, picklable tasks, same bytes for any --jobs."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from generator.core.bitmask import Bitmask
from generator.core.model import Grid, ItemAsset, Style
from generator.engine import executors
from generator.engine.build import BuildOptions, build
from generator.engine.graph import Batch, Lane, Scheduler, Task
from generator.render.frames import FrameData
from generator.render.local import LocalRenderer

from .test_engine import make_site, snapshot

THREE_REGIONS = (
    "  - {id: a, bbox: [8, 8, 56, 56]}\n"
    "  - {id: b, bbox: [0, 0, 40, 26]}\n"
    "  - {id: c, bbox: [20, 10, 50, 60]}\n"
)


def every_format_site(folder: Path, months: int = 5) -> Path:
    config = make_site(folder, months=months, regions=THREE_REGIONS)
    config.write_text(config.read_text().replace("render: {size: 64}", "render: {size: 64, formats: [gif, webp, mp4]}"))
    return config


def contents(output: Path) -> dict[str, bytes]:
    return {name: data for name, (_, _, data) in snapshot(output).items()}


class PicklingExecutor(Executor):
    """Runs each task in this process, but only after a pickle round trip of it and its arguments
    (as a process pool or a cluster would send it); records what was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.surveys: list[tuple[Any, ...]] = []  # the arguments of each survey task, as a worker gets them

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        function, arguments, keywords = pickle.loads(pickle.dumps((fn, args, kwargs)))
        self.sent.append(function.__qualname__)
        if function.__qualname__ == "survey_layers":
            self.surveys.append(arguments)
        future: Future[Any] = Future()
        try:
            result = function(*arguments, **keywords)
            future.set_result(pickle.loads(pickle.dumps(result)))
        except Exception as error:
            future.set_exception(error)
        return future


@pytest.fixture
def pickling(monkeypatch: pytest.MonkeyPatch) -> PicklingExecutor:
    """The ``local`` executor kind replaced by a :class:`PicklingExecutor` with two slots."""
    executor = PicklingExecutor()
    monkeypatch.setitem(executors._FACTORIES, "local", lambda request: executors.TaskPool(executor, slots=2))
    return executor


def test_every_task_and_its_arguments_survive_pickling(tmp_path, pickling):
    config = every_format_site(tmp_path)
    result = build(config, tmp_path / "sent", options=BuildOptions(jobs=2, cache_dir=tmp_path / "cache-sent"))
    assert [record.status for record in result.records] == ["ok", "ok", "ok"]
    assert {"survey_layers", "paint_frames", "encode_file"} <= set(pickling.sent)
    assert pickling.sent.count("encode_file") == 3 * 3  # every format of every animation is a task
    inline = build(config, tmp_path / "inline", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache-inline"))
    assert contents(result.output_dir) == contents(inline.output_dir)


def test_the_build_process_asks_each_grid_once_and_leaves_proj_and_gdal_to_the_tasks(tmp_path, pickling):
    from .test_build_caches import two_collection_site

    config = two_collection_site(tmp_path / "site", collections=2, regions=2)  # 2 collections × 2 regions
    result = build(config, tmp_path / "out", options=BuildOptions(jobs=2, use_cache=False))
    assert [record.status for record in result.records] == ["ok"] * 4
    assert pickling.sent.count("region_grid") == 2  # one per region: its two animations share it
    assert pickling.sent.count("lay_out_overlays") == 4  # one per animation
    # In a fresh process, a build whose tasks go to workers never loads PROJ or GDAL itself.
    script = (
        "import sys; from pathlib import Path\n"
        "from generator.engine.build import BuildOptions, build\n"
        f"build(Path({str(config)!r}), Path({str(tmp_path / 'fresh')!r}), options=BuildOptions(jobs=2, use_cache=False))\n"
        "print(sorted({'pyproj', 'rasterio'} & set(sys.modules)))\n"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert found.stdout.strip().splitlines()[-1] == "[]"


def test_new_animations_grids_are_asked_before_any_is_planned_and_a_warm_build_asks_none(tmp_path, pickling):
    from .test_build_caches import two_collection_site

    config = two_collection_site(tmp_path / "site", collections=2, regions=2)
    options = BuildOptions(jobs=2, cache_dir=tmp_path / "cache")
    build(config, tmp_path / "out", options=options)
    grids = [number for number, name in enumerate(pickling.sent) if name == "region_grid"]
    assert grids == [0, 1]  # both regions' grids, one task each, before any layer is read
    pickling.sent.clear()
    build(config, tmp_path / "out", options=options)
    assert "region_grid" not in pickling.sent  # every animation carried over: no grid needed


def no_grid_for_the_small_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """Region r1's grid (bbox 9, 8, 40, 40 in ``two_collection_site``) cannot be made."""
    from generator.engine import tasks

    made = tasks.grid_of_outline

    def fails_for_the_small_region(outline: Any, crs_option: str, size: int) -> Any:
        if outline.bounds[2] < 50:
            raise ValueError("no grid for this outline")
        return made(outline, crs_option, size)

    monkeypatch.setattr(tasks, "grid_of_outline", fails_for_the_small_region)


def test_a_grid_that_cannot_be_made_fails_its_animations_only(tmp_path, pickling, monkeypatch):
    from .test_build_caches import two_collection_site

    no_grid_for_the_small_region(monkeypatch)
    config = two_collection_site(tmp_path / "site", collections=2, regions=2)
    result = build(config, tmp_path / "out", options=BuildOptions(jobs=2, use_cache=False))
    assert {record.id.split("--")[1]: record.status for record in result.records} == {"a": "ok", "r1": "failed"}
    assert pickling.sent.count("region_grid") >= 3  # asked ahead, then again by each animation over r1


def test_workers_start_with_the_environment_of_the_build_not_the_fork_servers(monkeypatch):
    """A process that builds again (a service) after changing its environment — credentials,
    GDAL settings — has workers that see the change, though the fork server started before it."""
    import os

    executors.start_fork_server()  # running already, or now: with the environment of before
    monkeypatch.setenv("EO_TIMELAPSE_TEST_SETTING", "set after the fork server started")
    pool = executors.local_pool(executors.ExecutorRequest(kind="local", jobs=2))
    try:
        assert pool.executor is not None
        assert pool.executor.submit(os.getenv, "EO_TIMELAPSE_TEST_SETTING").result(timeout=60) == (
            "set after the fork server started"
        )
        # and the warnings the command silences are silenced there too (``core.quirks``)
        silenced = "any('no geotransform' in str(entry[1]) for entry in __import__('warnings').filters)"
        assert pool.executor.submit(eval, silenced).result(timeout=60)
    finally:
        pool.close()


def test_a_worker_takes_the_builds_changes_to_the_environment_and_keeps_what_its_imports_set(monkeypatch):
    """What the build set or changed since the fork server started is set, what it removed is
    removed, and what the fork server's imports added (rasterio's CA bundle for GDAL's HTTP
    client, not in the build's environment when the build never imported rasterio) is kept."""
    import os

    from generator.engine.workers import take_environment

    monkeypatch.setenv("EO_TEST_REMOVED", "gone since")
    monkeypatch.setenv("EO_TEST_CHANGED", "old")
    inherited = dict(os.environ)
    monkeypatch.setenv("EO_TEST_ADDED_BY_IMPORTS", "/path/to/cacert.pem")
    build = {name: value for name, value in inherited.items() if name != "EO_TEST_REMOVED"}
    build.update(EO_TEST_CHANGED="new", EO_TEST_NEW="set since")
    take_environment(build, inherited)
    assert "EO_TEST_REMOVED" not in os.environ
    assert (os.environ["EO_TEST_CHANGED"], os.environ["EO_TEST_NEW"]) == ("new", "set since")
    assert os.environ["EO_TEST_ADDED_BY_IMPORTS"] == "/path/to/cacert.pem"
    del os.environ["EO_TEST_NEW"]  # set here, not through monkeypatch: not undone by it


class SlowGridsExecutor(PicklingExecutor):
    """A :class:`PicklingExecutor` whose region grids come back late (from a timer thread), as
    from workers still starting: every animation is planned and asks for its grid before any
    has come."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done = super().submit(fn, *args, **kwargs)
        if fn.__qualname__ != "region_grid":
            return done
        late: Future[Any] = Future()

        def hand_over() -> None:
            error = done.exception()
            late.set_exception(error) if error is not None else late.set_result(done.result())

        threading.Timer(0.3, hand_over).start()
        return late


@pytest.mark.parametrize("fails", [False, True])
def test_a_grid_still_on_its_way_is_waited_for_not_asked_for_again(tmp_path, monkeypatch, fails):
    """Nothing paid twice: the animations over a region whose grid is still being made wait
    for it; one that could not be made is asked again by each animation, which fails alone."""
    from .test_build_caches import two_collection_site

    executor = SlowGridsExecutor()
    monkeypatch.setitem(executors._FACTORIES, "local", lambda request: executors.TaskPool(executor, slots=2))
    if fails:
        no_grid_for_the_small_region(monkeypatch)
    config = two_collection_site(tmp_path / "site", collections=2, regions=2)  # 2 collections × 2 regions
    result = build(config, tmp_path / "out", options=BuildOptions(jobs=2, use_cache=False))
    statuses = {record.id: record.status for record in result.records}
    if not fails:
        assert set(statuses.values()) == {"ok"} and len(statuses) == 4
        assert executor.sent.count("region_grid") == 2  # one per region, though none had come when both were asked
    else:
        assert {status for name, status in statuses.items() if name.endswith("--a")} == {"ok"}
        assert {status for name, status in statuses.items() if name.endswith("--r1")} == {"failed"}
        assert executor.sent.count("region_grid") == 2 + 2  # ahead for both regions, then r1 by each of its two


def test_a_survey_task_carries_its_region_as_a_mask_of_bits_and_no_outline_for_local_reads(tmp_path, pickling):
    """The local reads clip with the mask (sent as bits, ``core.bitmask``), so the region's
    outline (tens of kB for many départements) is not sent at all."""
    config = every_format_site(tmp_path)
    build(config, tmp_path / "out", options=BuildOptions(jobs=2, cache_dir=tmp_path / "cache"))
    assert pickling.surveys
    for jobs, _, _ in pickling.surveys:
        assert all(isinstance(job.region_mask, Bitmask) and job.region is None for job in jobs)


class NarrowFails:
    """The local renderer, failing on grids less than 64 px high (region ``b`` only)."""

    concurrency = 1

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: object = None) -> FrameData:
        if grid.height < 64:
            raise ValueError(f"cannot read {item.item_id} on this grid")
        return LocalRenderer().read(item, grid, style, region)


def test_a_failing_task_fails_only_its_animation(tmp_path, pickling):
    config = every_format_site(tmp_path, months=3)
    result = build(config, renderer=NarrowFails(), options=BuildOptions(jobs=2, use_cache=False))
    assert [(record.id, record.status) for record in result.records] == [
        ("c--a", "ok"), ("c--b", "failed"), ("c--c", "ok")
    ]
    assert not list((result.output_dir / "animations" / "c--b").glob("c--b.*"))  # its page only, no files
    assert (result.output_dir / "animations" / "c--c" / "c--c.mp4").stat().st_size > 0


def test_jobs_2_equals_jobs_1_for_several_animations_in_every_format(tmp_path):
    config = every_format_site(tmp_path, months=6)
    serial = build(config, tmp_path / "serial", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache-1"))
    parallel = build(config, tmp_path / "parallel", options=BuildOptions(jobs=2, cache_dir=tmp_path / "cache-2"))
    assert len(parallel.records) == 3 and not parallel.failed
    assert parallel.summary.frames_rendered == serial.summary.frames_rendered == 18
    assert contents(serial.output_dir) == contents(parallel.output_dir)


# ------------------------------------------------------------------------------ the scheduler


def square(value: int) -> int:
    time.sleep(0.002)
    return value * value


def broken(value: int) -> int:
    raise ValueError(f"no {value}")


class CountingExecutor(ThreadPoolExecutor):
    """Threads that count the tasks submitted and not yet finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.lock = threading.Lock()
        self.running = self.most = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future[Any]) -> None:
        with self.lock:
            self.running -= 1


def summing(name: str, count: int, events: list[str], function: Callable[[int], int] = square) -> Callable[[], Generator[Batch, None, str]]:
    def pipeline() -> Generator[Batch, None, str]:
        events.append(f"start {name}")
        results: dict[int, int] = {}
        try:
            yield Batch((Task(function, (value,)) for value in range(count)), results.__setitem__)
        except (ValueError, RuntimeError) as error:
            return f"{name} failed: {error}"
        return f"{name}: {sum(results[value] for value in range(count))}"

    return pipeline


def test_pipelines_share_a_bounded_pool_and_a_failure_stays_in_its_own():
    events: list[str] = []
    done: list[str] = []
    with CountingExecutor() as executor:
        scheduler: Scheduler[str, str] = Scheduler(Lane(executor, limit=3), animations=2)
        starts = [
            ("one", summing("one", 20, events)),
            ("two", summing("two", 5, events, broken)),
            ("three", summing("three", 10, events)),
        ]
        scheduler.run(starts, lambda key, result: (events.append(f"done {key}"), done.append(result)))
    assert executor.most <= 3  # never more tasks in flight than the lane allows
    assert sorted(done) == ["one: 2470", "three: 285", "two failed: no 0"]
    assert events[:2] == ["start one", "start two"]  # two at once, in order; the third when one ends
    assert events.index("start three") > min(events.index("done one"), events.index("done two"))


def test_inline_runs_one_task_at_a_time_in_order():
    order: list[int] = []

    def pipeline() -> Generator[Batch, None, list[int]]:
        yield Batch((Task(square, (value,)) for value in range(6)), lambda position, result: order.append(position))
        return order

    results: list[list[int]] = []
    Scheduler[str, list[int]](Lane(None, 1), animations=1).run([("only", pipeline)], lambda key, result: results.append(result))
    assert results == [[0, 1, 2, 3, 4, 5]]


def test_an_interrupt_in_a_task_stops_the_build():
    def interrupted(value: int) -> int:
        raise KeyboardInterrupt

    closed: list[str] = []

    def pipeline() -> Generator[Batch, None, str]:
        try:
            yield Batch([Task(interrupted, (1,))])
        finally:
            closed.append("closed")
        return "never"

    with pytest.raises(KeyboardInterrupt):
        Scheduler[str, str](Lane(None, 1), animations=1).run([("only", pipeline)], lambda key, result: None)
    assert closed == ["closed"]  # the pipeline's clean-up ran (temporary folders, open files)


class RefusingExecutor(Executor):
    """A pool that can take no more work (as a process pool after a worker was killed)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise RuntimeError("the pool is broken")


def test_a_pool_that_refuses_work_fails_the_pipelines_not_the_scheduler():
    events: list[str] = []
    done: list[str] = []
    scheduler: Scheduler[str, str] = Scheduler(Lane(RefusingExecutor(), limit=2), animations=2)
    scheduler.run(
        [("one", summing("one", 3, events)), ("two", summing("two", 3, events))],
        lambda key, result: done.append(result),
    )
    assert done == ["one failed: the pool is broken", "two failed: the pool is broken"]


def test_true_colour_through_pickled_tasks_equals_inline(tmp_path, pickling):
    from .test_truecolor import write_config, write_rgb_catalog

    write_rgb_catalog(tmp_path / "catalog")
    config = write_config(tmp_path, "asset: visual")
    sent = build(config, tmp_path / "sent", options=BuildOptions(jobs=2, cache_dir=tmp_path / "cache-sent"))
    assert [record.status for record in sent.records] == ["ok"]
    # the palette pass (each layer's colours) and the mapped reads are tasks, once per data frame each
    frames = len(sent.records[0].frames)
    assert (pickling.sent.count("layer_colors"), pickling.sent.count("survey_layers")) == (frames, frames)
    inline = build(config, tmp_path / "inline", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache-inline"))
    assert contents(sent.output_dir) == contents(inline.output_dir)


@pytest.mark.parametrize("gaps", ["frame", "skip"])
def test_min_coverage_through_pickled_tasks_equals_inline(tmp_path, pickling, gaps):
    from .test_acquisitions import coverage_site

    config = coverage_site(tmp_path, ", min_coverage: 0.5")
    config.write_text(config.read_text().replace("GAPS", gaps))
    sent = build(config, tmp_path / "sent", options=BuildOptions(jobs=2, use_cache=False))
    (record,) = sent.records
    assert record.status == "ok" and any("(min_coverage)" in note for note in record.notes)
    kinds = [frame.kind for frame in record.frames]
    assert kinds == (["data", "gap", "data", "data"] if gaps == "frame" else ["data"] * 3)
    inline = build(config, tmp_path / "inline", options=BuildOptions(jobs=1, use_cache=False))
    assert contents(sent.output_dir) == contents(inline.output_dir)


def test_jobs_1_runs_every_task_and_encoder_one_at_a_time_in_the_build_thread(tmp_path, monkeypatch):
    from generator.engine import animation

    threads: set[str] = set()
    running = most = 0
    original = animation.encode_file

    def counted(*arguments: Any) -> bytes:
        nonlocal running, most
        threads.add(threading.current_thread().name)
        running += 1
        most = max(most, running)
        try:
            return original(*arguments)
        finally:
            running -= 1

    monkeypatch.setattr(animation, "encode_file", counted)
    result = build(every_format_site(tmp_path), tmp_path / "out", options=BuildOptions(jobs=1, cache_dir=tmp_path / "c"))
    assert not result.failed
    assert most == 1 and threads == {threading.main_thread().name}  # --jobs 1: one task at a time, no threads


def test_the_pool_is_kept_busy_while_a_pipeline_takes_a_long_step():
    """A step of one pipeline in the build's process (laying out its overlays, say) does not stop
    the tasks of the others from being sent: they run during it."""
    stepped: list[float] = []
    ran: list[float] = []

    def slow() -> Generator[Batch, None, str]:
        yield Batch([Task(square, (1,))])
        started = time.perf_counter()
        time.sleep(0.4)  # the build's process is busy with this pipeline
        stepped.extend([started, time.perf_counter()])
        return "slow"

    def stamped(value: int) -> int:
        ran.append(time.perf_counter())
        time.sleep(0.01)
        return value

    def busy() -> Generator[Batch, None, str]:
        yield Batch(Task(stamped, (value,)) for value in range(60))
        return "busy"

    done: list[str] = []
    with CountingExecutor() as executor:
        Scheduler[str, str](Lane(executor, limit=2), animations=2).run(
            [("slow", slow), ("busy", busy)], lambda key, result: done.append(result)
        )
    assert sorted(done) == ["busy", "slow"]
    assert executor.most <= 2
    during = [moment for moment in ran if stepped[0] < moment < stepped[1]]
    assert len(during) >= 5  # with the step in this thread, at most the two already sent would run


def test_the_fork_server_preloads_what_tasks_import_and_the_build_does_not():
    import subprocess
    import sys

    code = (
        "import sys, generator.engine.build;"
        "before = {'rasterio', 'av', 'PIL.WebPImagePlugin'} & set(sys.modules);"
        "import generator.engine.preload;"
        "after = {'rasterio', 'rasterio.warp', 'PIL.WebPImagePlugin', 'generator.engine.tasks'} - set(sys.modules);"
        "video = 'av' in sys.modules;"
        "import generator.engine.preload_video;"
        "print(sorted(before), sorted(after), video, 'av' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[] [] False True"  # PyAV only for a build that may make an MP4


@pytest.mark.parametrize(("formats", "video"), [("[gif]", False), ("[gif, mp4]", True), ("[gif, MP4]", True)])
def test_the_command_has_the_fork_server_load_pyav_only_for_a_build_that_may_make_an_mp4(
    tmp_path, monkeypatch, formats, video
):
    from generator.cli.main import main

    asked: list[bool] = []
    monkeypatch.setattr(executors, "start_fork_server", lambda video: asked.append(video))
    config = tmp_path / "site_config.yml"
    config.write_text(f"render: {{formats: {formats}}}\n")  # not a whole config: the build stops there
    assert main(["build", "--config", str(config), "--jobs", "2"]) != 0
    missing = tmp_path / "no-such-config.yml"  # the build says what is wrong; the server loads all meanwhile
    assert main(["build", "--config", str(missing), "--jobs", "2"]) != 0
    assert asked == [video, True]


@pytest.mark.parametrize("video", [False, True])
def test_the_workers_start_with_pyav_only_when_the_fork_server_was_told_so(tmp_path, video):
    (tmp_path / "probe.py").write_text("import sys\n\ndef has_pyav():\n    return 'av' in sys.modules\n")
    code = (
        "from generator.engine import executors;"
        f"executors.start_fork_server(video={video});"
        "pool = executors.local_pool(executors.ExecutorRequest(jobs=2));"
        "import probe;"
        "print(pool.executor.submit(probe.has_pyav).result());"
        "pool.close()"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment, timeout=60)
    assert output.stdout.strip() == str(video)


@pytest.mark.parametrize(
    ("flags", "starts"), [(["--jobs", "2"], True), (["--jobs", "1"], False), (["--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], False)]
)
def test_the_command_starts_the_fork_server_before_it_reads_the_config_only_for_local_processes(
    tmp_path, monkeypatch, flags, starts
):
    from generator.cli.main import main

    started: list[bool] = []
    monkeypatch.setattr(executors, "start_fork_server", lambda video: started.append(True))
    missing = tmp_path / "no-such-config.yml"  # the build stops at the config: the start came before
    assert main(["build", "--config", str(missing), *flags]) != 0
    assert started == ([True] if starts else [])


def test_the_fork_server_is_running_when_its_start_returns_with_no_thread_left_behind():
    # Started on a thread, the server waited for the interpreter lock behind this process's imports.
    import subprocess
    import sys

    code = (
        "import threading;"
        "from multiprocessing import forkserver;"
        "from generator.engine import executors;"
        "executors.start_fork_server();"
        "print(forkserver._forkserver._forkserver_pid is not None, threading.active_count())"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["True", "1"]


def test_a_fork_server_started_early_serves_the_pool(tmp_path):
    executors.start_fork_server()
    pool = executors.open_executor(executors.ExecutorRequest(jobs=2))
    try:
        assert pool.executor is not None and pool.executor.submit(square, 7).result(timeout=60) == 49
    finally:
        pool.close()


def big_result(size: int) -> bytes:
    return bytes(size)


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_the_local_pool_carries_tasks_and_results_through_wide_pipes():
    import fcntl

    pool = executors.open_executor(executors.ExecutorRequest(jobs=2))
    try:
        assert isinstance(pool.executor, ProcessPoolExecutor)
        for queue in (pool.executor._call_queue, pool.executor._result_queue):  # type: ignore[attr-defined]
            assert fcntl.fcntl(queue._reader.fileno(), fcntl.F_GETPIPE_SZ) == executors.PIPE_BYTES
        assert pool.executor.submit(big_result, 3 * executors.PIPE_BYTES).result(timeout=60) == bytes(3 * executors.PIPE_BYTES)
    finally:
        pool.close()


def test_pipes_that_cannot_be_widened_leave_the_pool_as_it_is():
    class Elsewhere(ThreadPoolExecutor):  # no pipes: nothing to widen
        pass

    executors.widen_pipes(Elsewhere(1))  # type: ignore[arg-type]


def test_the_command_line_starts_the_fork_server_before_loading_numpy():
    import subprocess
    import sys

    code = "import sys, generator.cli.main; print(sorted({'numpy', 'generator.core.model'} & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"  # the fork server's imports start ≈ 0.1 s sooner: the workers are ready sooner


def test_the_survey_reads_a_few_frames_per_task_with_the_same_files(tmp_path, pickling):
    config = make_site(tmp_path, months=20)  # 20 frames, 8 tasks in flight: 2 frames per task
    sent = build(config, tmp_path / "sent", options=BuildOptions(jobs=2, cache_dir=tmp_path / "cache-sent"))
    assert [record.status for record in sent.records] == ["ok"]
    assert pickling.sent.count("survey_layers") == 10
    inline = build(config, tmp_path / "inline", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache-inline"))
    assert {k: v[2] for k, v in snapshot(sent.output_dir).items()} == {k: v[2] for k, v in snapshot(inline.output_dir).items()}
