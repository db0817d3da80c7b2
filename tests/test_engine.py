"""The build engine: frame cache, untouched unchanged files, carry-over, stale, atomic output, jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import generator.site.gallery as gallery  # engine.build takes write_site from there when a build starts
from generator.cli.main import main
from generator.core.model import Grid, ItemAsset, Style
from generator.engine.build import BuildOptions, build
from generator.render.frames import FrameData
from generator.render.local import LocalRenderer

from .conftest import FakeItem, column_values, write_catalog, write_cog

RENDERS = {"dashboard": {"rescale": [[0, 80]], "colormap_name": "viridis"}}


class CountingRenderer:
    """The real local renderer, counting the COGs it opens."""

    concurrency = 1

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.inner = LocalRenderer()

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: object = None) -> FrameData:
        self.reads.append(item.item_id)
        return self.inner.read(item, grid, style, region)


def make_site(folder: Path, months: int = 4, regions: str = "  - {id: a, bbox: [8, 8, 56, 56]}\n") -> Path:
    items = []
    for month in range(months):
        path = folder / "cogs" / f"m{month}.tif"
        cog = path if path.exists() else write_cog(path, column_values(64) + month)
        items.append(FakeItem(id=f"m{month:02d}", datetime=f"{2020 + month // 12}-{month % 12 + 1:02d}-01T00:00:00Z", cog=cog))
    write_catalog(folder / "catalog", "c", items, renders=RENDERS)
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Engine}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        "collections: [{id: c, source: s}]\n"
        f"regions:\n{regions}"
        "render: {size: 64}\n"
    )
    return config


def snapshot(output: Path) -> dict[str, tuple[int, int, bytes]]:
    """(inode, mtime, bytes) of every output file except the build report."""
    return {
        str(path.relative_to(output)): (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted(output.rglob("*"))
        if path.is_file() and path.name != "build-report.json"
    }


def test_warm_rebuild_reads_no_cog_and_leaves_files_alone(tmp_path):
    config = make_site(tmp_path)
    first = CountingRenderer()
    result = build(config, renderer=first)
    assert len(first.reads) == 4 and result.summary.frames_rendered == 4
    before = snapshot(result.output_dir)
    second = CountingRenderer()
    warm = build(config, renderer=second)
    assert second.reads == []
    assert warm.summary.frames_cached == 4 and warm.summary.frames_rendered == 0 and warm.summary.cached == 1
    assert snapshot(warm.output_dir) == before  # same inodes and mtimes: nothing rewritten


def test_one_added_item_reads_one_cog(tmp_path):
    config = make_site(tmp_path, months=4)
    build(config)
    make_site(tmp_path, months=5)
    renderer = CountingRenderer()
    (record,) = build(config, renderer=renderer).records
    assert renderer.reads == ["m04"]
    assert len(record.frames) == 5


def test_removed_animation_files_are_deleted(tmp_path):
    config = make_site(tmp_path, regions="  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [0, 0, 30, 30]}\n")
    output = build(config).output_dir
    assert (output / "animations" / "c--b").is_dir()
    make_site(tmp_path)
    build(config)
    assert not (output / "animations" / "c--b").exists()
    assert [e["id"] for e in json.loads((output / "manifest.json").read_text())["animations"]] == ["c--a"]


def test_identical_inputs_give_byte_identical_output(tmp_path):
    config = make_site(tmp_path)
    one = build(config, tmp_path / "one", options=BuildOptions(cache_dir=tmp_path / "cache-one")).output_dir
    two = build(config, tmp_path / "two", options=BuildOptions(cache_dir=tmp_path / "cache-two")).output_dir
    assert {k: v[2] for k, v in snapshot(one).items()} == {k: v[2] for k, v in snapshot(two).items()}


def test_jobs_2_equals_jobs_1(tmp_path, monkeypatch):
    """And the pool's processes share their read maps in a folder of the build's, gone after it."""
    import tempfile

    from generator.render.local import LocalRenderer

    config = make_site(tmp_path, months=10)  # enough frames for the process pool to be used
    serial = build(config, tmp_path / "serial", options=BuildOptions(jobs=1, use_cache=False)).output_dir
    shared: list[str] = []
    sharing = LocalRenderer.sharing_maps
    monkeypatch.setattr(LocalRenderer, "sharing_maps", lambda self, folder: shared.append(folder) or sharing(self, folder))
    (tmp_path / "temporary").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    parallel = build(config, tmp_path / "parallel", options=BuildOptions(jobs=2, use_cache=False)).output_dir
    assert {k: v[2] for k, v in snapshot(serial).items()} == {k: v[2] for k, v in snapshot(parallel).items()}
    assert shared and all(Path(folder).parent == tmp_path / "temporary" for folder in shared)
    assert not any(Path(folder).exists() for folder in shared)


def test_a_crash_mid_build_leaves_the_old_output_untouched(tmp_path, monkeypatch):
    config = make_site(tmp_path)
    output = build(config).output_dir
    before = snapshot(output)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(gallery, "write_site", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        build(config, options=BuildOptions(use_cache=False))
    assert snapshot(output) == before
    assert not list(tmp_path.glob(".output.*")), "no staging folder may be left behind"


def test_only_keeps_every_other_animation(tmp_path):
    config = make_site(tmp_path, regions="  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [0, 0, 30, 30]}\n")
    output = build(config).output_dir
    kept = {k: v for k, v in snapshot(output).items() if k.startswith("animations/c--b/")}
    renderer = CountingRenderer()
    assert main(["build", "--config", str(config), "--only", "c--a", "-q"]) == 0
    build(config, only=["c--a"], renderer=renderer)
    assert renderer.reads == []  # warm cache for a, nothing at all for b
    manifest = json.loads((output / "manifest.json").read_text())
    assert [entry["id"] for entry in manifest["animations"]] == ["c--a", "c--b"]
    assert {k: v for k, v in snapshot(output).items() if k.startswith("animations/c--b/")} == kept


def test_a_failing_rebuild_keeps_the_last_good_files_as_stale(tmp_path, capsys):
    config = make_site(tmp_path)
    output = build(config).output_dir
    gif = next((output / "animations" / "c--a").glob("*.gif"))
    good = gif.read_bytes()
    cog = tmp_path / "catalog" / "c" / "m03" / "m3.tif"
    cog.write_bytes(b"truncated download")
    assert main(["build", "--config", str(config), "-q"]) == 1
    (entry,) = json.loads((output / "manifest.json").read_text())["animations"]
    assert entry["status"] == "stale" and "m03" in entry["error"]
    assert gif.read_bytes() == good
    assert "failed: c--a" in capsys.readouterr().err


def test_strict_makes_a_failure_fatal_and_keeps_the_output(tmp_path, capsys):
    config = make_site(tmp_path)
    output = build(config).output_dir
    before = snapshot(output)
    (tmp_path / "catalog" / "c" / "m01" / "m1.tif").write_bytes(b"broken")
    assert main(["build", "--config", str(config), "--strict", "-q"]) == 1
    assert "--strict: animation(s) failed: c--a" in capsys.readouterr().err
    assert snapshot(output) == before


def test_summary_and_report_without_a_terminal(tmp_path, capsys):
    config = make_site(tmp_path)
    assert main(["build", "--config", str(config), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err, "no progress-bar control characters when not a TTY"
    assert "animations: 1 built, 0 from cache, 0 failed · frames: 4 rendered, 0 from cache" in err
    report = json.loads((tmp_path / "output" / "build-report.json").read_text())
    assert report["frames_rendered"] == 4 and report["built"] == 1 and report["bytes_written"] > 0
    assert main(["build", "--config", str(config), "--jobs", "1"]) == 0
    assert "animations: 0 built, 1 from cache, 0 failed · frames: 0 rendered, 4 from cache" in capsys.readouterr().err


def test_progress_bar_is_drawn_on_a_terminal():
    import io

    from generator.engine.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress(2, stream=stream, cache_hits=lambda: 0)
    progress.start_animation("a")
    progress.frame_done()
    progress.end_animation()
    progress.close()
    text = stream.getvalue()
    assert "1/2 animations · 1 frames (0 from cache) · a" in text and text.endswith("\r\x1b[2K")


def test_search_results_are_reused_within_the_ttl(tmp_path):
    config = make_site(tmp_path, months=3)
    config.write_text(config.read_text() + "cache: {search_ttl: 3600}\n")
    first = build(config)
    assert len(first.records[0].frames) == 3
    make_site(tmp_path, months=4)  # a new item appears in the catalog…
    config.write_text(config.read_text() + "cache: {search_ttl: 3600}\n")
    (cached,) = build(config).records
    assert len(cached.frames) == 3  # …but the search result is still fresh
    config.write_text(config.read_text().replace("search_ttl: 3600", "search_ttl: 0"))
    (fresh,) = build(config).records
    assert len(fresh.frames) == 4


def test_last_keeps_the_newest_time_steps(tmp_path):
    config = make_site(tmp_path, months=5)
    config.write_text(config.read_text().replace("{id: c, source: s}", "{id: c, source: s, last: 2}"))
    (record,) = build(config).records
    assert [frame.items[0].item_id for frame in record.frames] == ["m03", "m04"]


def test_ctrl_c_exits_130_and_leaves_the_previous_output(tmp_path, monkeypatch, capsys):
    config = make_site(tmp_path)
    output = build(config).output_dir
    before = snapshot(output)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gallery, "write_site", interrupted)
    assert main(["build", "--config", str(config), "--jobs", "1", "--no-cache"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert snapshot(output) == before
    assert not list(tmp_path.glob(".output.*"))


def test_an_overlay_change_redraws_frames_from_the_cache_without_reading_cogs(tmp_path):
    config = make_site(tmp_path)
    only_date = "size: 160, overlays: {title: false, legend: false, attribution: false}"
    config.write_text(config.read_text().replace("size: 64", only_date))
    output = build(config).output_dir
    gif = output / "animations" / "c--a" / "c--a.gif"
    before = gif.read_bytes()
    config.write_text(config.read_text().replace(only_date, only_date + ", date_format: '%b %Y'"))
    renderer = CountingRenderer()
    result = build(config, renderer=renderer)
    assert renderer.reads == []  # data layers come from the frame cache…
    assert result.summary.frames_cached == 4 and result.summary.built == 1
    assert gif.read_bytes() != before  # …and the new labels are drawn on them
    assert result.records[0].frame_labels[0] == "Jan 2020"


def test_records_from_another_version_are_not_trusted(tmp_path, monkeypatch):
    import generator.engine.output as output_module

    config = make_site(tmp_path)
    build(config)
    monkeypatch.setattr(output_module, "__version__", "0.0.0-other")  # as if another version wrote it
    result = build(config)
    assert [record.status for record in result.records] == ["ok"]
    assert result.summary.built == 1 and result.summary.cached == 0  # rebuilt, not carried over whole


def _pids_of_children(parent: int) -> set[int]:
    """Every live descendant of ``parent`` (read from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {parent}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_worker_processes_exit_when_the_build_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    # A stand-in for the build process: the build's own pool factory, workers started, then it
    # waits until killed with SIGKILL, which leaves it no chance to shut the pool down.
    script = (
        "import sys, time\n"
        "from generator.engine.executors import ExecutorRequest, open_executor\n"
        "pool = open_executor(ExecutorRequest(jobs=2)).executor\n"
        "list(pool.map(abs, range(8)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    build = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert build.stdout is not None and build.stdout.readline().strip() == "ready"
        helpers = _pids_of_children(build.pid)  # fork server, resource tracker, 2 workers
        assert len(helpers) >= 3
        os.kill(build.pid, signal.SIGKILL)
        build.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = {pid for pid in helpers if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)}
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, f"processes outlived the build: {sorted(alive)}"
    finally:
        if build.poll() is None:
            build.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_on_github_actions_failures_become_annotations_and_a_job_summary(tmp_path, capsys, monkeypatch):
    config = make_site(tmp_path, regions="  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [8, 8, 30, 30]}\n")
    build(config)
    (tmp_path / "catalog" / "c" / "m02" / "m2.tif").write_bytes(b"truncated, 100% broken")
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["build", "--config", str(config), "-q"]) == 1
    out = capsys.readouterr().out.splitlines()
    errors = [line for line in out if line.startswith("::")]
    # Both animations read the broken COG: each was published before, so each is kept as stale.
    assert len(errors) == 2 and all(line.startswith("::warning file=") for line in errors)
    assert f"file={str(config).replace(':', '%3A').replace(',', '%2C')},title=Animation c--a is stale::" in errors[0]
    assert "m02" in errors[0] and "100%25 broken" not in errors[0]  # a message, not the file's bytes
    text = summary.read_text()
    assert text.startswith("earlier step\n### Gallery build\n")  # appended, never replaced
    assert "| `c--a` | stale |" in text and "| `c--b` | stale |" in text

    monkeypatch.delenv("GITHUB_ACTIONS")
    assert main(["build", "--config", str(config), "-q"]) == 1
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]


def test_annotation_lines_are_escaped_and_config_errors_annotated(tmp_path, capsys, monkeypatch):
    from generator.cli.ci import annotation

    assert annotation("error", "50% done\nnext", file="a,b:c.yml", title="T") == (
        "::error file=a%2Cb%3Ac.yml,title=T::50%25 done%0Anext"
    )
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    config = tmp_path / "site_config.yml"
    config.write_text("site: {title: x}\nsite: {title: y}\n")
    assert main(["validate", "--config", str(config), "--offline"]) == 2
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    assert line.startswith("::error file=") and "title=Configuration error::" in line and "appears twice" in line


def test_a_second_build_into_the_same_output_fails_at_once_and_touches_nothing(tmp_path, capsys):
    from generator.engine.ownership import exclusive, output_lock_file

    config = make_site(tmp_path)
    output = build(config).output_dir
    before = snapshot(output)
    # The first build's live staging folder: the second build's leftover cleanup used to delete it.
    live = tmp_path / ".output.staging-424242"
    live.mkdir()
    (live / "index.html").write_text("being written")
    with exclusive(output_lock_file(output), "output folder"):
        assert main(["build", "--config", str(config), "-q"]) == 2
    assert f"output folder {output} is in use by another build (pid " in capsys.readouterr().err
    assert (live / "index.html").read_text() == "being written"
    assert snapshot(output) == before


def test_a_build_sharing_the_cache_with_a_running_build_fails_at_once(tmp_path, capsys):
    from generator.engine.ownership import cache_lock_file, exclusive

    config = make_site(tmp_path)
    with exclusive(cache_lock_file(tmp_path / ".cache"), "cache folder"):
        assert main(["build", "--config", str(config), "--output", str(tmp_path / "elsewhere"), "-q"]) == 2
    assert "cache folder" in capsys.readouterr().err and not (tmp_path / "elsewhere").exists()
    assert main(["build", "--config", str(config), "-q"]) == 0
    assert not list(tmp_path.glob(".output.*")) and not (tmp_path / ".cache" / ".lock").exists()


def test_an_output_lost_between_the_two_renames_is_restored_and_only_keeps_every_animation(tmp_path):
    config = make_site(tmp_path, regions="  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [8, 8, 30, 30]}\n")
    output = build(config).output_dir
    before = snapshot(output)
    # kill -9 after the first rename of the swap: the old gallery sits aside, no output/.
    output.rename(tmp_path / ".output.old-31337")
    result = build(config, only=["c--a"])
    manifest = json.loads((output / "manifest.json").read_text())
    assert [entry["id"] for entry in manifest["animations"]] == ["c--a", "c--b"]
    assert result.summary.carried == 1 and not list(tmp_path.glob(".output.*"))
    assert snapshot(output).keys() == before.keys()


def test_outputs_and_caches_are_marked_and_unmarked_galleries_of_ours_still_build(tmp_path, capsys):
    from generator.engine.ownership import MARKER

    config = make_site(tmp_path)
    output = build(config).output_dir
    assert json.loads((output / MARKER).read_text())["kind"] == "output"
    assert json.loads((tmp_path / ".cache" / MARKER).read_text())["kind"] == "cache"
    (output / MARKER).unlink()  # a gallery published before markers existed
    (tmp_path / ".cache" / MARKER).unlink()
    assert main(["build", "--config", str(config), "-q"]) == 0
    assert (output / MARKER).is_file() and (tmp_path / ".cache" / MARKER).is_file()
    # A cache folder that is someone else's folder is refused before anything is written.
    config.write_text(config.read_text() + "cache: {dir: .}\n")
    assert main(["build", "--config", str(config), "-q"]) == 2
    assert "has no .eo-timelapse marker" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where nothing can be created")
def test_an_output_folder_that_cannot_be_written_is_one_line_exit_2(tmp_path, capsys):
    config = make_site(tmp_path)
    assert main(["build", "--config", str(config), "--output", "/proc/eo-timelapse-output"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --output /proc/eo-timelapse-output: cannot write in /proc: ")


def test_a_full_disk_for_the_records_after_publishing_is_a_warning(tmp_path, monkeypatch, caplog):
    import errno

    from generator.engine.output import RecordStore

    def disk_full(self, record):
        raise OSError(errno.ENOSPC, "No space left on device")

    config = make_site(tmp_path)
    monkeypatch.setattr(RecordStore, "save", disk_full)
    result = build(config)
    assert not result.failed and (result.output_dir / "manifest.json").is_file()
    assert "could not save the animation records" in caplog.text and "No space left" in caplog.text


# --------------------------------------------------------------------------- pages carried over


def _pages_written(monkeypatch) -> list[str]:
    """The gallery's text files a build renders and writes (static assets aside)."""
    import generator.site.gallery as gallery

    written: list[str] = []
    inner = gallery.write_bytes_atomic

    def counted(path, data):  # type: ignore[no-untyped-def]
        parts = Path(path).parts
        start = next(number for number, part in enumerate(parts) if ".staging-" in part) + 1
        if parts[start] != "static":
            written.append("/".join(parts[start:]))
        inner(path, data)

    monkeypatch.setattr(gallery, "write_bytes_atomic", counted)
    return written


ANIMATION_PAGES = {"animations/c--a/index.html", "animations/c--a/provenance.json", "animations/c--a/stats.csv"}


def test_a_warm_rebuild_renders_no_page_and_a_changed_site_block_renders_every_page(tmp_path, monkeypatch):
    config = make_site(tmp_path)
    output = build(config).output_dir
    written = _pages_written(monkeypatch)
    before = snapshot(output)
    build(config)
    assert written == [] and snapshot(output) == before
    config.write_text(config.read_text().replace("title: Engine", "title: Renamed"))
    build(config)
    assert {"index.html", "manifest.json", "collections/c/index.html", "regions/a/index.html", *ANIMATION_PAGES} == set(written)
    assert "Renamed" in (output / "animations" / "c--a" / "index.html").read_text()
    assert json.loads((output / "manifest.json").read_text())["site"]["title"] == "Renamed"
    fresh = build(config, tmp_path / "fresh", options=BuildOptions(cache_dir=tmp_path / "fresh-cache")).output_dir
    assert {k: v[2] for k, v in snapshot(output).items()} == {k: v[2] for k, v in snapshot(fresh).items()}


def test_a_changed_template_renders_the_pages_again(tmp_path, monkeypatch):
    config = make_site(tmp_path)
    mine = tmp_path / "mine" / "partials"
    mine.mkdir(parents=True)
    (mine / "badges.html").write_text('<p class="my-badge">first</p>\n')
    config.write_text(config.read_text().replace("site: {title: Engine}", "site: {title: Engine, templates: mine}"))
    output = build(config).output_dir
    assert "first" in (output / "index.html").read_text()
    (mine / "badges.html").write_text('<p class="my-badge">second</p>\n')
    build(config)
    assert "second" in (output / "index.html").read_text() and "first" not in (output / "index.html").read_text()


def test_a_published_page_changed_in_place_is_rendered_again(tmp_path, monkeypatch):
    config = make_site(tmp_path)
    output = build(config).output_dir
    page = output / "animations" / "c--a" / "index.html"
    good = page.read_bytes()
    page.write_bytes(good.replace(b"<html", b"<html data-x"))
    provenance = output / "animations" / "c--a" / "provenance.json"
    provenance.unlink()
    written = _pages_written(monkeypatch)
    build(config)
    assert page.read_bytes() == good and provenance.is_file()
    assert sorted(written) == ["animations/c--a/index.html", "animations/c--a/provenance.json"]


def test_only_the_pages_made_from_a_changed_animation_are_rendered_again(tmp_path, monkeypatch):
    two = "  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [0, 0, 30, 30]}\n"
    config = make_site(tmp_path, regions=two)
    build(config)
    config.write_text(config.read_text().replace("[0, 0, 30, 30]", "[0, 0, 32, 32]"))
    written = _pages_written(monkeypatch)
    build(config)
    assert not any("c--a/" in path for path in written)  # its page, provenance and stats.csv are kept
    assert {"animations/c--b/index.html", "animations/c--b/provenance.json", "index.html", "manifest.json"} <= set(written)
    assert "regions/b/index.html" in written and "regions/a/index.html" in written  # listings show every record


def test_a_new_generator_renders_every_page(tmp_path, monkeypatch):
    import generator.site.gallery as gallery

    config = make_site(tmp_path)
    build(config)
    monkeypatch.setattr(gallery, "_code_digest", lambda: "another generator")
    written = _pages_written(monkeypatch)
    build(config)
    assert {"index.html", "manifest.json", "animations/c--a/index.html", "animations/c--a/provenance.json"} <= set(written)


def test_the_pages_of_each_built_animation_are_prepared_as_it_is_done_and_not_on_a_warm_rebuild(tmp_path, monkeypatch):
    """As each animation is done, a worker draws its region's globe (once per region) and the
    build's process compiles the templates: before any page is written, and never for
    animations carried over or built one task at a time."""
    import generator.site.pages as pages

    config = make_site(tmp_path, regions="  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [10, 10, 50, 50]}\n")
    globes: list[tuple[str, int]] = []
    prepared: list[int] = []
    keep, prepare = pages.keep_globe, gallery.prepare_pages

    def pages_written() -> int:
        return len(list(tmp_path.glob(".output.staging-*/index.html")))

    def kept(globe, svg):  # type: ignore[no-untyped-def]
        globes.append((globe[1], pages_written()))
        keep(globe, svg)

    def recorded(site):  # type: ignore[no-untyped-def]
        prepared.append(pages_written())
        prepare(site)

    monkeypatch.setattr(pages, "keep_globe", kept)
    monkeypatch.setattr(gallery, "prepare_pages", recorded)
    output = build(config, options=BuildOptions(jobs=2)).output_dir
    assert sorted(globes) == [("Where a is on the globe", 0), ("Where b is on the globe", 0)]
    assert prepared == [0, 0]
    before = snapshot(output)
    globes.clear()
    prepared.clear()
    build(config, options=BuildOptions(jobs=2))
    assert globes == prepared == [] and snapshot(output) == before  # carried over: its pages are linked, none is made
    build(config, tmp_path / "inline", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache-inline"))
    assert globes == prepared == []  # one task at a time: nothing would run beside it


def test_pages_prepared_ahead_are_the_pages_made_without(tmp_path, monkeypatch):
    import generator.site.pages as pages

    config = make_site(tmp_path)
    ahead = build(config, tmp_path / "ahead", options=BuildOptions(jobs=2, cache_dir=tmp_path / "cache-ahead")).output_dir
    monkeypatch.setattr(gallery, "prepare_pages", lambda site: None)
    monkeypatch.setattr(pages, "has_globe", lambda globe: True)  # no worker draws it: the page does
    plain = build(config, tmp_path / "plain", options=BuildOptions(jobs=2, cache_dir=tmp_path / "cache-plain")).output_dir
    assert {k: v[2] for k, v in snapshot(ahead).items()} == {k: v[2] for k, v in snapshot(plain).items()}


def _no_globe(rings: object, label: str) -> str:  # at the top level: a worker runs it
    raise RuntimeError("no globe ahead")


def test_a_failure_to_prepare_pages_ahead_is_no_failure(tmp_path, monkeypatch):
    import generator.site.locator as locator

    config = make_site(tmp_path)

    def broken(site):  # type: ignore[no-untyped-def]
        raise RuntimeError("no head start")

    monkeypatch.setattr(gallery, "prepare_pages", broken)
    monkeypatch.setattr(locator, "locator_svg", _no_globe)  # the worker's globe fails; the page draws its own
    result = build(config, options=BuildOptions(jobs=2))
    page = result.output_dir / "animations" / "c--a" / "index.html"
    assert not result.failed and 'class="locator__svg"' in page.read_text(encoding="utf-8")


def test_the_poster_is_the_last_frame_as_written_in_frames(tmp_path):
    """The poster is the last frame's PNG itself (written from its bytes, not encoded again)."""
    config = make_site(tmp_path, months=3)
    output = build(config, options=BuildOptions(use_cache=False)).output_dir
    folder = output / "animations" / "c--a"
    frames = sorted((folder / "frames").glob("*.png"))
    assert len(frames) == 3
    assert (folder / "poster.png").read_bytes() == frames[-1].read_bytes()
