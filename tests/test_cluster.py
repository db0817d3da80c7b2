"""Builds on a Dask cluster on loopback: same bytes as a local build, faults, cache.dir on S3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
from distributed import Client, LocalCluster

import generator.engine.cluster as cluster_module
from generator.cli.main import main
from generator.core.model import Grid, ItemAsset, Style
from generator.engine.build import BuildOptions, build
from generator.render.frames import FrameData
from generator.render.local import LocalRenderer

from .conftest import FakeItem, write_catalog
from .servers.common import free_port
from .servers.dask_cluster import dask_processes
from .servers.s3 import S3Server
from .test_engine import RENDERS, make_site, snapshot

pytestmark = pytest.mark.slow

MONTHS = 10  # frames per animation: enough for the engine to send the reads to the pool


class SlowRenderer:
    """The local renderer, taking ``delay`` seconds more per read (a worker can be killed mid-task)."""

    concurrency = 1

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.inner = LocalRenderer()

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: object = None) -> FrameData:
        time.sleep(self.delay)
        return self.inner.read(item, grid, style, region)


# The workers import the generator, not the tests: this module's classes travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="session")
def dask_cluster() -> object:
    """Two single-threaded worker processes (each under a nanny that restarts it if it dies)."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
    ) as cluster, Client(cluster, set_as_default=False) as client:
        client.get_task_stream()  # the scheduler records the tasks it runs from now on
        yield cluster


@pytest.fixture
def client(dask_cluster: LocalCluster) -> Client:
    with Client(dask_cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def files(output: Path) -> dict[str, bytes]:
    return {name: entry[2] for name, entry in snapshot(output).items()}


def layer_tasks(client: Client, since: float) -> list[dict]:
    """The layer reads the cluster ran since ``since`` (one record per task that finished or failed)."""
    return [task for task in client.get_task_stream(start=since) if "survey_layers" in str(task["key"])]


def two_region_site(folder: Path) -> Path:
    return make_site(folder, months=MONTHS, regions="  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [0, 20, 40, 60]}\n")


def test_a_cluster_build_is_byte_identical_to_a_local_one(tmp_path, client):
    config = two_region_site(tmp_path)
    local = build(config, tmp_path / "local", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache-local"))
    since = time.time()
    remote = build(config, tmp_path / "dask", options=BuildOptions(cache_dir=tmp_path / "cache-dask", scheduler=client.scheduler.address))
    assert [record.status for record in remote.records] == ["ok", "ok"]
    assert files(remote.output_dir) == files(local.output_dir)
    ran = layer_tasks(client, since)
    assert len(ran) == 2 * MONTHS  # every frame's layer was read on the cluster
    assert {task["worker"] for task in ran} == set(client.nthreads())  # by both workers


def test_a_worker_killed_mid_build_has_its_tasks_run_elsewhere(tmp_path, client):
    config = make_site(tmp_path, months=MONTHS)
    expected = files(build(config, tmp_path / "local", options=BuildOptions(cache_dir=tmp_path / "cache-local")).output_dir)
    killed: dict[str, object] = {}

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for worker, keys in client.processing().items():
                if any("survey_layers" in str(key) for key in keys):
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    killed.update(worker=worker, pid=pid, keys=[str(key) for key in keys])
                    os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.02)

    since = time.time()
    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    result = build(
        config, tmp_path / "dask", renderer=SlowRenderer(0.3),
        options=BuildOptions(cache_dir=tmp_path / "cache-dask", scheduler=client.scheduler.address),
    )
    killer.join()
    assert killed, "no layer task was seen running"
    assert [record.status for record in result.records] == ["ok"]
    assert files(result.output_dir) == expected
    with pytest.raises(ProcessLookupError):
        os.kill(int(killed["pid"]), 0)  # really gone
    finished = {str(task["key"]): task["worker"] for task in layer_tasks(client, since)}
    for key in killed["keys"]:  # what it was running finished on the other worker
        assert finished[key] != killed["worker"]


def test_a_data_failure_fails_only_its_animation(tmp_path, client, capsys):
    make_site(tmp_path, months=MONTHS)
    (tmp_path / "catalog" / "c" / "m03" / "m3.tif").write_bytes(b"not a tiff")  # one frame cannot be read
    items = [FakeItem(id=f"m{m:02d}", datetime=f"2020-{m + 1:02d}-01T00:00:00Z", cog=tmp_path / "cogs" / f"m{m}.tif") for m in range(MONTHS)]
    write_catalog(tmp_path / "good", "d", items, renders=RENDERS)
    config = tmp_path / "mixed.yml"
    config.write_text(
        "site: {title: Mixed}\n"
        "sources: {bad: {catalog: catalog/catalog.json}, good: {catalog: good/catalog.json}}\n"
        "collections: [{id: c, source: bad}, {id: d, source: good}]\n"
        "regions:\n  - {id: a, bbox: [8, 8, 56, 56]}\n"
        "render: {size: 64}\n"
    )
    since = time.time()
    assert main(["build", "--config", str(config), "--scheduler", client.scheduler.address]) == 1
    err = capsys.readouterr().err
    assert "failed: c--a" in err and "m03" in err
    assert "failed: d--a" not in err
    assert (tmp_path / "output" / "animations" / "d--a" / "d--a.gif").is_file()
    assert not (tmp_path / "output" / "animations" / "c--a" / "c--a.gif").exists()
    assert len(layer_tasks(client, since)) >= MONTHS + 1  # the failing read ran on the cluster too


def test_an_unreachable_scheduler_is_one_line_and_exit_2_with_nothing_touched(tmp_path, monkeypatch, capsys):
    config = make_site(tmp_path, months=2)
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"
    assert main(["build", "--config", str(config), "--scheduler", address]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "dask scheduler" in lines[0]
    assert not (tmp_path / "output").exists()
    assert not (tmp_path / ".cache").exists()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("executor: {kind: spark}\n", "executor: kind 'spark' is unknown: use local (the default) or dask"),
        ("executor: {kind: dask}\n", "executor: kind dask needs scheduler"),
        ("executor: {kind: dask, scheduler: '10.0.0.5:8786'}\n", "executor.scheduler"),
        ("executor: {scheduler: 'tcp://10.0.0.5:8786'}\n", "scheduler is only used with kind: dask"),
    ],
)
def test_a_bad_executor_section_is_a_config_error(tmp_path, capsys, section, message):
    config = make_site(tmp_path, months=2)
    config.write_text(config.read_text() + section)
    assert main(["build", "--config", str(config)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "output").exists()


def test_the_config_executor_section_builds_on_the_cluster(tmp_path, client):
    config = make_site(tmp_path, months=MONTHS)
    config.write_text(config.read_text() + f"executor: {{kind: dask, scheduler: '{client.scheduler.address}'}}\n")
    since = time.time()
    assert main(["build", "--config", str(config)]) == 0
    assert len(layer_tasks(client, since)) == MONTHS


def test_dask_command_line_workers_with_the_frame_cache_on_s3(tmp_path, loopback_s3: S3Server):
    config = two_region_site(tmp_path)
    prefix = f"cache-{uuid.uuid4().hex[:8]}"
    url = f"s3://{loopback_s3.bucket}/{prefix}"
    local = build(config, tmp_path / "local", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache-local"))
    config.write_text(
        config.read_text()
        + f"cache: {{dir: '{url}', storage_options: {{endpoint_url: '{loopback_s3.endpoint}', key: test, secret: test}}}}\n"
    )
    with dask_processes(workers=2) as processes, Client(processes.address, set_as_default=False) as client:
        client.get_task_stream()
        since = time.time()
        command = ["build", "--config", str(config), "--scheduler", processes.address]
        assert main([*command, "--output", str(tmp_path / "dask")]) == 0
        ran = layer_tasks(client, since)
        assert len(ran) == 2 * MONTHS and len({task["worker"] for task in ran}) == 2
        keys = [entry["Key"] for entry in loopback_s3.client().list_objects_v2(Bucket=loopback_s3.bucket, Prefix=prefix)["Contents"]]
        assert len(keys) == 2 * MONTHS and all(key.startswith(f"{prefix}/frames/") and key.endswith(".png") for key in keys)
        assert files(tmp_path / "dask") == files(local.output_dir)
        # The build's own state stays on this machine, beside the config.
        assert sorted(path.name for path in (tmp_path / ".cache" / "state" / "records").iterdir()) == ["c--a.json", "c--b.json"]
        # Another output folder, the same shared cache: every layer comes from S3, nothing is read again.
        since = time.time()
        assert main([*command, "--cache-dir", url, "--output", str(tmp_path / "again")]) == 0
        report = json.loads((tmp_path / "again" / "build-report.json").read_text())
        assert (report["frames_rendered"], report["frames_cached"]) == (0, 2 * MONTHS)
        assert len(layer_tasks(client, since)) == 2 * MONTHS  # each task found its layer in the store
        assert files(tmp_path / "again") == files(local.output_dir)


def test_help_and_a_warm_build_import_neither_dask_nor_fsspec(tmp_path):
    config = make_site(tmp_path, months=2)
    assert main(["build", "--config", str(config)]) == 0
    code = (
        "import runpy, sys\n"
        "sys.argv = ['generator', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('generator', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        "print([m for m in ('dask', 'distributed', 'fsspec', 's3fs') if m in sys.modules])\n"
    )
    for args in (["--help"], ["build", "--config", str(config)]):
        result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
        assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_frame_cache_on_a_filesystem_url_writes_whole_entries_only(tmp_path):
    from generator.render.cache import FrameCache
    from generator.render.remote_cache import RemoteStore

    store = RemoteStore(f"local://{tmp_path / 'shared'}")
    cache = FrameCache(tmp_path / "state", store)
    layer = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    key = "ab" + "0" * 62
    cache.put(key, layer)
    entries = sorted(path.name for path in (tmp_path / "shared" / "frames" / "ab").iterdir())
    assert entries == [f"{key}.png"]  # no temporary file left behind
    assert np.array_equal(FrameCache(tmp_path / "state", store).get(key, (64, 64)), layer)
    # A torn entry (what a writer without the rename would leave) is a miss, never a layer.
    path = tmp_path / "shared" / "frames" / "ab" / f"{key}.png"
    path.write_bytes(path.read_bytes()[:100])
    reader = FrameCache(tmp_path / "state", store)
    assert reader.get(key, (64, 64)) is None and reader.misses == 1


def test_a_cache_url_keeps_the_frames_there_and_the_state_beside_the_config(tmp_path):
    from generator.plan.site import load_site

    config = make_site(tmp_path, months=2)
    base = config.read_text()
    config.write_text(base + "cache: {dir: 's3://bucket/prefix/', storage_options: {anon: true}}\n")
    cache = load_site(config).cache
    assert (cache.url, cache.dir, dict(cache.storage_options)) == ("s3://bucket/prefix", tmp_path / ".cache", {"anon": True})
    config.write_text(base + f"cache: {{dir: 'file://{tmp_path / 'shared'}'}}\n")  # a mounted folder is a path
    cache = load_site(config).cache
    assert (cache.url, cache.dir) == (None, tmp_path / "shared")


def test_a_cache_url_that_cannot_be_used_is_exit_2_with_nothing_touched(tmp_path, loopback_s3: S3Server, capsys):
    config = make_site(tmp_path, months=2)
    config.write_text(
        config.read_text() + f"cache: {{storage_options: {{endpoint_url: '{loopback_s3.endpoint}', key: test, secret: test}}}}\n"
    )
    assert main(["build", "--config", str(config), "--cache-dir", "s3://no-such-bucket/cache"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cache.dir s3://no-such-bucket/cache: cannot be used" in err[0]
    assert not (tmp_path / "output").exists() and not (tmp_path / ".cache").exists()


def test_clean_removes_the_local_state_and_leaves_the_frames_of_a_cache_url(tmp_path, capsys):
    config = make_site(tmp_path, months=2)
    config.write_text(config.read_text() + f"cache: {{dir: 'local://{tmp_path / 'shared'}'}}\n")
    assert main(["build", "--config", str(config)]) == 0
    assert len(list((tmp_path / "shared" / "frames").rglob("*.png"))) == 2
    assert (tmp_path / ".cache" / "state").is_dir()
    assert main(["clean", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert not (tmp_path / ".cache").exists() and not (tmp_path / "output").exists()
    assert len(list((tmp_path / "shared" / "frames").rglob("*.png"))) == 2
    assert f"frames in local://{tmp_path / 'shared'} left in place" in out


def test_a_scheduler_option_without_a_scheme_is_exit_2(tmp_path, capsys):
    config = make_site(tmp_path, months=2)
    assert main(["build", "--config", str(config), "--scheduler", "10.0.0.5:8786"]) == 2
    assert "--scheduler 10.0.0.5:8786: give a Dask scheduler address such as tcp://" in capsys.readouterr().err
    assert not (tmp_path / "output").exists()
