"""The build engine: frame cache, untouched unchanged files, carry-over, stale, atomic output, jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import generator.engine.build as build_module
from generator.cli.main import main
from generator.core.model import Grid, ItemAsset, Style
from generator.engine.build import BuildOptions, build
from generator.render.local import FrameData, LocalRenderer

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


def test_jobs_2_equals_jobs_1(tmp_path):
    config = make_site(tmp_path, months=10)  # enough frames for the process pool to be used
    serial = build(config, tmp_path / "serial", options=BuildOptions(jobs=1, use_cache=False)).output_dir
    parallel = build(config, tmp_path / "parallel", options=BuildOptions(jobs=2, use_cache=False)).output_dir
    assert {k: v[2] for k, v in snapshot(serial).items()} == {k: v[2] for k, v in snapshot(parallel).items()}


def test_a_crash_mid_build_leaves_the_old_output_untouched(tmp_path, monkeypatch):
    config = make_site(tmp_path)
    output = build(config).output_dir
    before = snapshot(output)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(build_module, "write_site", crash)
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

    monkeypatch.setattr(build_module, "write_site", interrupted)
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
