"""Hardening: what a build verifies before it trusts its own records, caches and inputs.

Each test reproduces a case where a build used to publish something wrong or broken with exit
code 0, and checks what it does now.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from generator.cli.main import main
from generator.engine.build import BuildOptions, build

from .test_engine import RENDERS, CountingRenderer, make_site, snapshot


def _gif(output: Path, slug: str = "c--a") -> Path:
    return output / "animations" / slug / f"{slug}.gif"


def _durations(gif: Path) -> set[int]:
    with Image.open(gif) as image:
        found = set()
        for number in range(image.n_frames - 1):  # the last frame also holds the end pause
            image.seek(number)
            found.add(image.info["duration"])
        return found


# --------------------------------------------------------------------------- case 4


def test_a_deleted_published_gif_is_rebuilt_from_the_frame_cache_not_reported_from_cache(tmp_path):
    config = make_site(tmp_path)
    output = build(config).output_dir
    good = _gif(output).read_bytes()
    _gif(output).unlink()
    renderer = CountingRenderer()
    result = build(config, renderer=renderer)
    assert result.summary.cached == 0 and result.summary.built == 1
    assert renderer.reads == [] and result.summary.frames_cached == 4  # redrawn from the frame cache
    assert _gif(output).read_bytes() == good


def test_a_published_file_changed_in_place_is_rebuilt(tmp_path):
    config = make_site(tmp_path)
    output = build(config).output_dir
    before = snapshot(output)
    frame = output / "animations" / "c--a" / "frames" / "0002.png"
    damaged = bytearray(frame.read_bytes())
    damaged[-20] ^= 0xFF  # same size, other bytes: what a concurrent writer or a bad disk leaves
    frame.write_bytes(bytes(damaged))
    result = build(config)
    assert result.summary.cached == 0 and result.summary.built == 1
    assert {k: v[2] for k, v in snapshot(output).items()} == {k: v[2] for k, v in before.items()}


def test_only_rebuilds_an_unselected_animation_whose_files_are_gone_instead_of_dropping_it(tmp_path):
    config = make_site(tmp_path, regions="  - {id: a, bbox: [8, 8, 56, 56]}\n  - {id: b, bbox: [0, 0, 30, 30]}\n")
    output = build(config).output_dir
    _gif(output, "c--b").unlink()
    result = build(config, only=["c--a"])
    assert [record.status for record in result.records] == ["ok", "ok"]
    assert _gif(output, "c--b").is_file()
    manifest = json.loads((output / "manifest.json").read_text())
    assert [entry["id"] for entry in manifest["animations"]] == ["c--a", "c--b"]


def test_a_failed_rebuild_keeps_only_verified_files_as_stale(tmp_path):
    config = make_site(tmp_path)
    output = build(config).output_dir
    _gif(output).unlink()
    (tmp_path / "catalog" / "c" / "m03" / "m3.tif").write_bytes(b"truncated download")
    (record,) = build(config).records
    assert record.status == "failed"  # not "stale": the files it would keep are not whole
    assert not (output / "animations" / "c--a" / "poster.png").exists()


# --------------------------------------------------------------------------- case 19


def test_records_of_another_output_folder_never_vouch_for_this_one(tmp_path):
    config = make_site(tmp_path)
    output = build(config).output_dir
    assert _durations(_gif(output)) == {300}
    config.write_text(config.read_text().replace("size: 64", "size: 64, frame_ms: 400"))
    assert main(["build", "--config", str(config), "--no-cache", "--output", str(tmp_path / "elsewhere"), "-q"]) == 0
    assert _durations(_gif(tmp_path / "elsewhere")) == {400}
    result = build(config)  # a normal build into output/: its files were made with 300 ms
    assert result.summary.cached == 0 and result.summary.built == 1
    assert _durations(_gif(output)) == {400}
    again = build(config)
    assert again.summary.cached == 1  # and now its record vouches for output/ again


def test_a_record_names_its_output_folder_and_the_digest_of_each_media_file(tmp_path):
    import hashlib

    config = make_site(tmp_path)
    output = build(config).output_dir
    document = json.loads((tmp_path / ".cache" / "state" / "records" / "c--a.json").read_text())
    record = document["record"]
    assert record["output_dir"] == str(output)
    listed = {entry["path"]: entry for entry in record["published"]}
    assert "animations/c--a/c--a.gif" in listed and "animations/c--a/index.html" not in listed
    assert len([path for path in listed if "/frames/" in path]) == 4
    for path, entry in listed.items():
        data = (output / path).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert "output_dir" not in (output / "manifest.json").read_text()  # kept in the cache only


def test_a_record_listing_a_file_outside_its_folder_is_not_trusted(tmp_path):
    config = make_site(tmp_path)
    build(config)
    path = tmp_path / ".cache" / "state" / "records" / "c--a.json"
    document = json.loads(path.read_text())
    document["record"]["published"][0]["path"] = "animations/c--a/../../manifest.json"
    path.write_text(json.dumps(document))
    result = build(config)
    assert result.summary.cached == 0 and result.summary.built == 1


def test_warm_rebuild_with_verified_records_still_keeps_every_file(tmp_path):
    config = make_site(tmp_path)
    output = build(config, options=BuildOptions(jobs=1)).output_dir
    before = snapshot(output)
    assert build(config).summary.cached == 1
    assert snapshot(output) == before


# --------------------------------------------------------------------------- case 7


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "frames").glob("*/*.png"))


def _rebuild_elsewhere(config: Path, tmp_path: Path, name: str) -> tuple[Path, CountingRenderer]:
    """A build into another output folder: nothing carried over, every layer asked of the cache."""
    renderer = CountingRenderer()
    result = build(config, tmp_path / name, renderer=renderer)
    assert [record.status for record in result.records] == ["ok"]
    return result.output_dir, renderer


def test_a_cache_entry_with_wrong_pixels_is_rendered_again_not_published(tmp_path):
    config = make_site(tmp_path)
    good = _gif(build(config).output_dir).read_bytes()
    entries = _entries(tmp_path / ".cache")
    assert len(entries) == 4
    with Image.open(entries[0]) as image:
        size = image.size
    Image.new("L", size, 7).save(entries[0])  # a valid PNG of the right size, other pixels
    entries[1].write_bytes(entries[2].read_bytes())  # another entry's PNG, with that entry's digest
    output, renderer = _rebuild_elsewhere(config, tmp_path, "one")
    assert len(renderer.reads) == 2
    assert _gif(output).read_bytes() == good
    _, renderer = _rebuild_elsewhere(config, tmp_path, "two")
    assert renderer.reads == []  # both entries were replaced by good ones


def test_a_folder_or_a_link_in_place_of_a_cache_entry_is_replaced(tmp_path):
    config = make_site(tmp_path)
    good = _gif(build(config).output_dir).read_bytes()
    first, second, third, _ = _entries(tmp_path / ".cache")
    first.unlink()
    first.mkdir()
    (first / "inside").write_text("x")
    second.unlink()
    second.symlink_to(third)
    third.unlink()  # the link now points nowhere
    output, renderer = _rebuild_elsewhere(config, tmp_path, "one")
    assert _gif(output).read_bytes() == good
    assert len(renderer.reads) == 3
    assert all(entry.is_file() and not entry.is_symlink() for entry in _entries(tmp_path / ".cache"))
    _, renderer = _rebuild_elsewhere(config, tmp_path, "two")
    assert renderer.reads == []


def test_a_cache_entry_that_is_not_a_png_is_a_miss(tmp_path):
    config = make_site(tmp_path)
    good = _gif(build(config).output_dir).read_bytes()
    entry = _entries(tmp_path / ".cache")[3]
    entry.write_bytes(b"\x89PNG\r\n\x1a\n torn")
    output, renderer = _rebuild_elsewhere(config, tmp_path, "one")
    assert len(renderer.reads) == 1 and _gif(output).read_bytes() == good


def test_a_file_in_place_of_a_cache_folder_is_replaced(tmp_path):
    config = make_site(tmp_path)
    build(config)
    frames = tmp_path / ".cache" / "frames"
    for folder in list(frames.iterdir()):
        for entry in folder.iterdir():
            entry.unlink()
        folder.rmdir()
        folder.write_text("a file where a folder goes")
    _, renderer = _rebuild_elsewhere(config, tmp_path, "one")
    assert len(renderer.reads) == 4
    assert len(_entries(tmp_path / ".cache")) == 4


# --------------------------------------------------------------------------- case 15


def _site_with_cogs(folder: Path, **cog: object) -> Path:
    """``make_site``'s gallery, its COGs written first with ``cog`` (placement, values)."""
    import numpy as np

    from .conftest import NODATA, column_values, write_cog

    values = cog.pop("values", "columns")
    for month in range(4):
        data = column_values(64) + month if values == "columns" else np.full((64, 64), NODATA, dtype="float32")
        write_cog(folder / "cogs" / f"m{month}.tif", data, **cog)  # type: ignore[arg-type]
    return make_site(folder)


def test_cogs_elsewhere_than_their_footprints_say_give_a_warning_not_a_silent_blank(tmp_path, capsys):
    config = _site_with_cogs(tmp_path, west=120.0, north=-10.0)  # the catalog says 0…64°, 0…64°
    assert main(["build", "--config", str(config)]) == 0
    assert "each of the 4 data frames has data on less than 1% of the region" in capsys.readouterr().err
    output = tmp_path / "output"
    (entry,) = json.loads((output / "manifest.json").read_text())["animations"]
    assert entry["status"] == "ok" and len(entry["warnings"]) == 1 and entry["warnings"][0] in entry["notes"]
    index = (output / "index.html").read_text()
    assert 'class="card__warning"' in index and "Check the data" in index
    before = snapshot(output)
    assert main(["build", "--config", str(config), "--strict", "-q"]) == 1  # from cache, still a warning
    assert "--strict: animation(s) with warnings: c--a: each of the 4 data frames" in capsys.readouterr().err
    assert snapshot(output) == before


def test_all_nodata_cogs_give_a_warning_and_strict_fails_the_first_build_too(tmp_path, capsys):
    config = _site_with_cogs(tmp_path, values="nodata")
    assert main(["build", "--config", str(config), "--strict", "-q"]) == 1
    assert "with warnings: c--a" in capsys.readouterr().err
    assert not (tmp_path / "output").exists()
    (record,) = build(config).records
    assert record.status == "ok" and record.warnings and "at most 0.0%" in record.warnings[0]


def test_frames_with_data_give_no_warning(tmp_path):
    config = make_site(tmp_path)
    (record,) = build(config).records
    assert record.warnings == ()
    (entry,) = json.loads((tmp_path / "output" / "manifest.json").read_text())["animations"]
    assert entry["warnings"] == [] and "card__warning" not in (tmp_path / "output" / "index.html").read_text()


def test_coverage_is_counted_inside_the_region_only():
    import numpy as np

    from generator.render.layers import EMPTY_COVERAGE, data_coverage, empty_frames_warning

    inside = np.zeros((10, 10), dtype=bool)
    inside[:, :5] = True
    layer = np.full((10, 10), 255, dtype=np.uint8)
    layer[:, 5:] = 3  # data only outside the region
    levels = 237  # data levels come first; transparent and the no-data colour are reserved after them
    layer[1, :5] = 240  # missing values inside the region, drawn in the no-data colour
    assert data_coverage(layer, inside, levels) == 0.0
    layer[0, 0] = 3
    assert data_coverage(layer, inside, levels) == 0.02
    assert empty_frames_warning([0.0, 0.0]) is not None
    assert empty_frames_warning([0.0, EMPTY_COVERAGE]) is None  # one frame with data is enough
    assert empty_frames_warning([]) is None  # only gap frames: nothing to judge


# --------------------------------------------------------------------------- case 17


def test_failed_cards_publish_a_short_reason_without_local_paths_or_secrets(tmp_path, capsys):
    from .conftest import FakeItem, write_catalog
    from .servers.range_http import serve_directory

    config = make_site(tmp_path)  # collection c: fine
    missing = tmp_path / "data" / "x.tif"
    write_catalog(tmp_path / "local", "lost", [FakeItem(id="x", datetime="2020-01-01T00:00:00Z", cog=str(missing))], renders=RENDERS)
    (tmp_path / "served").mkdir()
    with serve_directory(tmp_path / "served") as server:
        signed = server.href("gone.tif?X-Amz-Signature=SECRETSIG&X-Amz-Credential=AKIASECRET")
        write_catalog(tmp_path / "remote", "gone", [FakeItem(id="g", datetime="2020-01-01T00:00:00Z", cog=signed)], renders=RENDERS)
        config.write_text(
            config.read_text()
            .replace(
                "sources: {s: {catalog: catalog/catalog.json}}",
                "sources:\n"
                "  s: {catalog: catalog/catalog.json}\n"
                "  local: {catalog: local/catalog.json}\n"
                "  remote: {catalog: remote/catalog.json}\n"
                "  offline: {catalog: 'https://stac.example.invalid/catalog.json?token=SECRETTOKEN', http: {retries: 0}}",
            )
            .replace(
                "collections: [{id: c, source: s}]",
                "collections: [{id: c, source: s}, {id: lost, source: local}, {id: gone, source: remote},"
                " {id: far, source: offline}]",
            )
        )
        assert main(["build", "--config", str(config)]) == 1
    output = tmp_path / "output"
    errors = {entry["id"]: entry["error"] for entry in json.loads((output / "manifest.json").read_text())["animations"]}
    assert errors["c--a"] is None
    assert errors["lost--a"].startswith("item 'x': cannot read asset data/x.tif")
    assert errors["gone--a"].startswith(f"item 'g': cannot read asset {server.href('gone.tif')}")
    assert errors["far--a"].startswith("source 'offline': cannot read STAC catalog https://stac.example.invalid/catalog.json")
    assert errors["far--a"].endswith(": cannot reach stac.example.invalid (name not resolved)")
    # The log keeps the whole story (URLs still without their secrets).
    log = capsys.readouterr().err
    assert "NameResolutionError" in log and str(missing) in log and "SECRET" not in log
    for path in output.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            for leak in (str(tmp_path), "SECRET", "AKIA", "ConnectionPool", "NameResolutionError", "Errno", "?token"):
                assert leak not in text, f"{leak!r} published in {path.relative_to(output)}"


def test_unexpected_errors_become_short_reasons():
    import requests

    from generator.engine.failures import INTERNAL, failure_reason

    root = Path("/home/someone/gallery")
    assert failure_reason(IsADirectoryError(21, "Is a directory", "/home/someone/gallery/.cache/frames/ab/k.png"), root) == (
        "is a directory: .cache/frames/ab/k.png"
    )
    assert failure_reason(FileNotFoundError(2, "No such file", "/srv/elsewhere/x.tif"), root) == "file not found: x.tif"
    assert failure_reason(KeyError("frames"), root) == INTERNAL
    refused = requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /a?sig=S "
        "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    assert failure_reason(refused, root) == "cannot reach 127.0.0.1 (connection refused)"
    try:
        try:
            raise refused
        except requests.RequestException:
            raise RuntimeError("wrapped") from None
    except RuntimeError as wrapped:
        assert failure_reason(wrapped, root) == "cannot reach 127.0.0.1 (connection refused)"
    assert len(failure_reason(RuntimeError("x" * 1000), root)) <= 300


# --------------------------------------------------------------------------- published files known by their stat


def _age_output(output: Path, seconds: float = 60.0) -> None:
    """Every published file last written ``seconds`` ago: older than the racy window."""
    import os
    import time

    for path in output.rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() - seconds, time.time() - seconds))


def _hashing(monkeypatch) -> list[str]:
    """The published files the build hashes (by path relative to the output)."""
    import generator.engine.output as output_module

    hashed: list[str] = []
    inner = output_module._hashed

    def counted(path: str, relative: str):  # type: ignore[no-untyped-def]
        hashed.append(relative)
        return inner(path, relative)

    monkeypatch.setattr(output_module, "_hashed", counted)
    return hashed


def _known_by_stat(tmp_path: Path) -> Path:
    """A built gallery whose media files the next builds know by their stat (hashed once when old)."""
    config = make_site(tmp_path)
    output = build(config).output_dir
    _age_output(output)  # the files just written are "racy": they are hashed again once they are old
    assert build(config).summary.cached == 1
    return config


def test_a_warm_rebuild_does_not_hash_media_files_whose_stat_did_not_change(tmp_path, monkeypatch):
    config = _known_by_stat(tmp_path)
    hashed = _hashing(monkeypatch)
    before = snapshot(tmp_path / "output")
    assert build(config).summary.cached == 1
    assert hashed == [] and snapshot(tmp_path / "output") == before


def test_a_media_file_written_in_place_after_it_was_known_by_its_stat_is_rebuilt(tmp_path):
    config = _known_by_stat(tmp_path)
    output = tmp_path / "output"
    before = snapshot(output)
    frame = output / "animations" / "c--a" / "frames" / "0002.png"
    damaged = bytearray(frame.read_bytes())
    damaged[-20] ^= 0xFF  # same size and inode, other bytes: the write moves the mtime
    frame.write_bytes(bytes(damaged))
    result = build(config)
    assert result.summary.cached == 0 and result.summary.built == 1
    assert {k: v[2] for k, v in snapshot(output).items()} == {k: v[2] for k, v in before.items()}


def test_a_media_file_replaced_with_its_mtime_kept_is_hashed(tmp_path, monkeypatch):
    import os
    import shutil

    config = _known_by_stat(tmp_path)
    gif = _gif(tmp_path / "output")
    copy = gif.with_name("copy.tmp")
    shutil.copy2(gif, copy)  # the same bytes and mtime (cp -p, a restore): another inode
    os.replace(copy, gif)
    hashed = _hashing(monkeypatch)
    assert build(config).summary.cached == 1  # the bytes are the ones the record names: kept
    assert hashed == ["animations/c--a/c--a.gif"]
    damaged = bytearray(gif.read_bytes())
    damaged[-20] ^= 0xFF
    copy.write_bytes(bytes(damaged))
    stat = gif.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # other bytes, the same size and mtime
    os.replace(copy, gif)
    result = build(config)
    assert result.summary.cached == 0 and result.summary.built == 1


def test_no_cache_trusts_no_stat(tmp_path, monkeypatch):
    config = _known_by_stat(tmp_path)
    hashed = _hashing(monkeypatch)
    assert build(config, options=BuildOptions(use_cache=False)).summary.built == 1
    assert "animations/c--a/c--a.gif" in hashed  # built again and hashed as written


def test_a_file_is_known_by_its_stat_only_once_its_mtime_is_older_than_the_racy_window(tmp_path):
    import os
    import time

    from generator.engine.output import RACY_NS, CheckedFiles

    output, staging = tmp_path / "output", tmp_path / "staging"
    staging.mkdir()
    state = tmp_path / "checked.json"
    for name in ("old", "new", "changed"):
        (staging / name).write_bytes(name.encode())
    old = time.time_ns() - 2 * RACY_NS
    os.utime(staging / "old", ns=(old, old))
    os.utime(staging / "changed", ns=(old, old))
    checked = CheckedFiles.load(state, output)
    for name in ("old", "new", "changed"):
        checked.note(name, os.lstat(staging / name), "sha-" + name, None)
    os.utime(staging / "changed", ns=(old + 1, old + 1))  # written again after its bytes were known
    checked.save()
    again = CheckedFiles.load(state, output)
    assert set(again.known) == {"old", "changed"}  # "new" is racy: hashed again next time
    assert not again.trusts("changed", os.lstat(staging / "changed"), "sha-changed")  # another stat: hashed
    assert again.trusts("old", os.lstat(staging / "old"), "sha-old")
    assert not again.trusts("old", os.lstat(staging / "old"), "sha-other")
    assert CheckedFiles.load(state, tmp_path / "elsewhere").known == {}  # kept for one output folder
    assert CheckedFiles.load(state, output, trust=False).known == {}
    # Bytes checked at a moment: a file whose mtime is within the window before that moment is racy.
    recent = CheckedFiles.load(state, output)
    recent.note("old", os.lstat(staging / "old"), "sha-old", old + RACY_NS // 2)
    recent.save()
    assert CheckedFiles.load(state, output).known == {}
