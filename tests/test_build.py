"""End-to-end builds on tiny catalogs the tests make (64 px COGs, a few frames)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from generator.cli.main import main
from generator.engine.build import build

from .conftest import FakeItem, column_values, write_catalog, write_cog

RENDERS = {"dashboard": {"rescale": [[0, 64]], "colormap_name": "viridis"}}
MONTHS = ["2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z", "2021-03-01T00:00:00", "2021-04-01T00:00:00+00:00"]


def config_text(extra_collection: str = "", regions: str = "", render: str = "") -> str:
    return f"""\
site: {{title: Tiny}}
sources: {{test: {{catalog: catalog/catalog.json}}}}
collections:
  - {{id: tiny, source: test}}
{extra_collection}
regions:
  - {{id: square, bbox: [8, 8, 56, 56]}}
{regions}
render: {{size: 64, frame_ms: 200, end_pause_ms: 600 {render}}}
"""


@pytest.fixture
def tiny_site(tmp_path: Path) -> Path:
    """A catalog with 4 monthly frames of value = column index (+ month) and a config."""
    items = []
    for month, when in enumerate(MONTHS):
        cog = write_cog(tmp_path / "cogs" / f"tiny-{month}.tif", column_values(64) + month)
        items.append(FakeItem(id=f"tiny-{month}", datetime=when, cog=cog))
    write_catalog(tmp_path / "catalog", "tiny", items, renders=RENDERS)
    (tmp_path / "site_config.yml").write_text(config_text())
    return tmp_path


def gif_frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as image:
        return [frame.copy() for frame in ImageSequence.Iterator(image)]


def test_tiny_build_writes_a_gif_per_animation_and_a_manifest(tiny_site):
    assert main(["build", "--config", str(tiny_site / "site_config.yml"), "-q"]) == 0
    manifest = json.loads((tiny_site / "output" / "manifest.json").read_text())
    (entry,) = manifest["animations"]
    assert entry["id"] == "tiny--square" and entry["status"] == "ok" and entry["error"] is None
    assert [frame["items"] for frame in entry["frames"]] == [["tiny-0"], ["tiny-1"], ["tiny-2"], ["tiny-3"]]
    assert [frame["datetime"] for frame in entry["frames"]][2] == "2021-03-01T00:00:00Z"  # naive = UTC
    assert entry["style"]["rescale"] == [0, 64] and entry["style"]["colormap"] == "viridis"
    frames = gif_frames(tiny_site / "output" / entry["gif"])
    assert len(frames) == 4
    assert [frame.info["duration"] for frame in frames] == [200, 200, 200, 800]
    for relative in (entry["poster"], entry["thumbnail"], entry["page"], "index.html"):
        assert (tiny_site / "output" / relative).is_file()
    assert not list(tiny_site.glob(".output.*")), "no staging folder may remain"


def test_identical_pixels_on_three_dates_give_three_frames(tmp_path):
    cog = write_cog(tmp_path / "same.tif", column_values(64))
    items = [FakeItem(id=f"same-{n}", datetime=f"2021-0{n + 1}-15T00:00:00Z", cog=cog) for n in range(3)]
    write_catalog(tmp_path / "catalog", "tiny", items, renders=RENDERS)
    (tmp_path / "site_config.yml").write_text(config_text(render=", overlays: {date: false, borders: false}"))
    result = build(tmp_path / "site_config.yml")
    (record,) = result.records
    frames = gif_frames(result.output_dir / record.files.gif)
    assert len(frames) == 3
    assert np.array_equal(np.array(frames[0].convert("RGBA")), np.array(frames[2].convert("RGBA")))


def test_items_sharing_a_timestamp_make_one_frame(tmp_path):
    left = column_values(64)
    left[:, 32:] = -9999
    right = np.full((64, 64), 5.0, dtype="float32")
    items = [
        FakeItem(id="b-right", datetime="2021-01-01T00:00:00Z", cog=write_cog(tmp_path / "r.tif", right)),
        FakeItem(id="a-left", datetime="2021-01-01T00:00:00Z", cog=write_cog(tmp_path / "l.tif", left)),
        FakeItem(id="c-next", datetime="2021-02-01T00:00:00Z", cog=write_cog(tmp_path / "n.tif", right)),
    ]
    write_catalog(tmp_path / "catalog", "tiny", items, renders=RENDERS)
    (tmp_path / "site_config.yml").write_text(config_text())
    (record,) = build(tmp_path / "site_config.yml").records
    assert [frame.items[0].item_id for frame in record.frames] == ["a-left", "c-next"]
    assert [item.item_id for item in record.frames[0].items] == ["a-left", "b-right"]


def test_datetime_interval_filters_items(tiny_site):
    config = tiny_site / "site_config.yml"
    config.write_text(config.read_text().replace("{id: tiny, source: test}", "{id: tiny, source: test, datetime: 2021-02-01/2021-03-01}"))
    (record,) = build(config).records
    assert [frame.items[0].item_id for frame in record.frames] == ["tiny-1", "tiny-2"]


def test_unreadable_asset_fails_only_its_animation(tiny_site, capsys):
    broken = tiny_site / "broken"
    (broken / "cogs").mkdir(parents=True)
    (broken / "cogs" / "bad.tif").write_bytes(b"this is not a tiff")
    write_catalog(broken / "catalog", "broken", [FakeItem(id="bad-item", datetime=MONTHS[0], cog=broken / "cogs" / "bad.tif")], renders=RENDERS)
    config = tiny_site / "site_config.yml"
    config.write_text(
        config_text(extra_collection="  - {id: broken, source: other}").replace(
            "sources: {test: {catalog: catalog/catalog.json}}",
            "sources: {test: {catalog: catalog/catalog.json}, other: {catalog: broken/catalog/catalog.json}}",
        )
    )
    assert main(["build", "--config", str(config), "-q"]) == 1
    manifest = json.loads((tiny_site / "output" / "manifest.json").read_text())
    by_id = {entry["id"]: entry for entry in manifest["animations"]}
    assert by_id["tiny--square"]["status"] == "ok"
    failed = by_id["broken--square"]
    assert failed["status"] == "failed"
    assert "bad-item" in failed["error"] and "bad.tif" in failed["error"]
    assert "failed: broken--square" in capsys.readouterr().err
    assert (tiny_site / "output" / by_id["tiny--square"]["gif"]).is_file()
    assert not (tiny_site / "output" / "animations" / "broken--square" / "broken--square.gif").exists()


def test_collection_without_renders_or_style_says_what_to_add(tmp_path):
    cog = write_cog(tmp_path / "c.tif", column_values(64))
    write_catalog(tmp_path / "catalog", "tiny", [FakeItem(id="c", datetime=MONTHS[0], cog=cog)], renders=None)
    (tmp_path / "site_config.yml").write_text(config_text())
    (record,) = build(tmp_path / "site_config.yml").records
    assert record.status == "failed"
    assert "style: {rescale: [min, max]}" in record.error and "collections[0]" in record.error


@pytest.mark.parametrize(
    ("geojson", "message"),
    [
        ('{"type": "FeatureCollection", "features": []}', "no Polygon or MultiPolygon"),
        ('{"type": "Polygon", "coordinates": [[[0,0],[10,10],[10,0],[0,10],[0,0]]]}', "invalid polygon (Self-intersection"),
        ('{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}', "found only Point"),
        ("{not json", "is not valid JSON (line 1, column 2"),
        ('{"type": "Polygon", "coordinates": [[[0,0],[1e6,0],[1e6,1e6],[0,0]]]}', "not longitude/latitude"),
        ("[" * 100_000 + "]" * 100_000, "is nested too deeply to be GeoJSON"),
        ('{"type": "Polygon", "coordinates": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
    ids=["empty", "self-intersecting", "points", "not-json", "projected", "deep-array", "deep-coordinates"],
)
def test_bad_region_geojson_is_a_config_error(tiny_site, capsys, geojson, message):
    (tiny_site / "bad.geojson").write_text(geojson)
    config = tiny_site / "site_config.yml"
    config.write_text(config_text(regions="  - {id: bad, geometry: bad.geojson}"))
    assert main(["build", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {config.resolve()}: regions[1].geometry (bad.geojson): ")
    assert message in line
    assert not (tiny_site / "output").exists()


def test_missing_region_file(tiny_site, capsys):
    config = tiny_site / "site_config.yml"
    config.write_text(config_text(regions="  - {id: gone, geometry: gone.geojson}"))
    assert main(["build", "--config", str(config)]) == 2
    assert "regions[1].geometry (gone.geojson): GeoJSON file not found" in capsys.readouterr().err


def test_a_failed_rebuild_keeps_nothing_half_written(tiny_site):
    first = build(tiny_site / "site_config.yml")
    assert not first.failed
    marker = first.output_dir / "manifest.json"
    before = marker.read_bytes()
    # An output folder the tool did not make is never replaced.
    foreign = tiny_site / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    assert main(["build", "--config", str(tiny_site / "site_config.yml"), "--output", str(foreign)]) == 2
    assert (foreign / "keep.txt").read_text() == "mine"
    assert marker.read_bytes() == before


def test_only_builds_the_named_animation(tiny_site, capsys):
    config = tiny_site / "site_config.yml"
    config.write_text(config_text(regions="  - {id: other, bbox: [0, 0, 20, 20]}"))
    assert main(["build", "--config", str(config), "--only", "tiny--other", "-q"]) == 0
    manifest = json.loads((tiny_site / "output" / "manifest.json").read_text())
    assert [entry["id"] for entry in manifest["animations"]] == ["tiny--other"]
    assert main(["build", "--config", str(config), "--only", "nope"]) == 2
    assert "--only: unknown animation id(s) 'nope'" in capsys.readouterr().err


def monthly_site(tmp_path: Path, dates: list[str], render: str = "") -> Path:
    cog = write_cog(tmp_path / "m.tif", column_values(64))
    items = [FakeItem(id=f"m-{date[:10]}", datetime=date, cog=cog) for date in dates]
    write_catalog(tmp_path / "catalog", "tiny", items, renders=RENDERS)
    (tmp_path / "site_config.yml").write_text(config_text(render=render))
    return tmp_path / "site_config.yml"


def test_a_missing_month_becomes_a_labelled_gap_frame(tmp_path):
    config = monthly_site(tmp_path, ["2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z", "2021-04-01T00:00:00Z", "2021-05-01T00:00:00Z"])
    result = build(config)
    (record,) = result.records
    assert [frame.kind for frame in record.frames] == ["data", "data", "gap", "data", "data"]
    assert record.frame_labels[2] == "2021-03 (no data)"
    assert len(gif_frames(result.output_dir / record.files.gif)) == 5
    entry = json.loads((result.output_dir / "manifest.json").read_text())["animations"][0]
    assert entry["frames"][2] == {"datetime": "2021-03-01T00:00:00Z", "items": [], "kind": "gap", "label": "2021-03 (no data)", "stats": None}


def test_gaps_skip_keeps_only_data_frames(tmp_path):
    config = monthly_site(
        tmp_path, ["2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z", "2021-04-01T00:00:00Z", "2021-05-01T00:00:00Z"], render=", gaps: skip"
    )
    (record,) = build(config).records
    assert [frame.kind for frame in record.frames] == ["data"] * 4


def test_irregular_series_gets_no_gap_frames(tmp_path):
    config = monthly_site(tmp_path, ["2021-01-01T00:00:00Z", "2021-01-03T00:00:00Z", "2021-01-10T00:00:00Z", "2021-01-11T00:00:00Z"])
    (record,) = build(config).records
    assert [frame.kind for frame in record.frames] == ["data"] * 4


def test_scenes_in_one_month_make_one_frame_when_the_cadence_is_monthly(tmp_path):
    config = monthly_site(
        tmp_path, ["2021-01-05T00:00:00Z", "2021-01-20T00:00:00Z", "2021-02-05T00:00:00Z"], render=", cadence: monthly"
    )
    (record,) = build(config).records
    assert [[item.item_id for item in frame.items] for frame in record.frames] == [
        ["m-2021-01-20", "m-2021-01-05"],  # no eo:cloud_cover: the newest scene is ranked first
        ["m-2021-02-05"],
    ]


def test_size_budget_shrinks_the_frames_and_says_so(tiny_site):
    config = tiny_site / "site_config.yml"
    config.write_text(config_text().replace("size: 64", "size: 240"))
    unlimited = build(config)
    full_bytes = (unlimited.output_dir / unlimited.records[0].files.gif).stat().st_size
    budget = full_bytes // 2
    config.write_text(config_text(render=f", max_bytes: {budget}").replace("size: 64", "size: 240"))
    result = build(config)
    (record,) = result.records
    gif = result.output_dir / record.files.gif
    assert gif.stat().st_size <= budget
    assert max(record.width, record.height) < 240
    assert len(record.frames) == len(unlimited.records[0].frames) == 4  # frames are never dropped unless allowed
    assert record.notes and "size reduced to" in record.notes[0]
    manifest = json.loads((result.output_dir / "manifest.json").read_text())
    assert manifest["animations"][0]["notes"] == list(record.notes)


def test_frames_are_dropped_only_when_allowed(tiny_site):
    config = tiny_site / "site_config.yml"
    config.write_text(config_text(render=", max_bytes: 1024").replace("size: 64", "size: 96"))
    (kept_all,) = build(config).records
    assert len(kept_all.frames) == 4 and "drop_frames: true" in kept_all.notes[-1]
    config.write_text(config_text(render=", max_bytes: 1024, drop_frames: true").replace("size: 64", "size: 96"))
    (dropped,) = build(config).records
    assert len(dropped.frames) < 4
    assert any("dropped" in note for note in dropped.notes)
    assert dropped.frames[-1].datetime == kept_all.frames[-1].datetime  # the last time step stays


def test_extra_formats_are_written_and_listed(tiny_site):
    config = tiny_site / "site_config.yml"
    config.write_text(config_text(render=", formats: [gif, webp, mp4], mp4: {background: '#000000'}"))
    result = build(config)
    entry = json.loads((result.output_dir / "manifest.json").read_text())["animations"][0]
    with Image.open(result.output_dir / entry["webp"]) as webp:
        assert webp.n_frames == 4
    assert (result.output_dir / entry["mp4"]).stat().st_size > 0
    page = (result.output_dir / entry["page"]).read_text()
    assert "tiny--square.webp" in page and "tiny--square.mp4" in page


def readme_example(heading: str) -> str:
    """The first Python block under ``heading`` in the README."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split(f"\n{heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


@pytest.fixture
def apng_format():
    """The README's toy output format, registered for one test."""
    from generator.encode import registry

    namespace: dict[str, object] = {"__name__": "readme_apng"}
    exec(readme_example("### A new output format"), namespace)
    yield registry.get("apng")
    registry.unregister("apng")
    assert "apng" not in registry.names()


def test_a_format_added_through_the_registry_is_built_listed_and_linked(tiny_site, apng_format):
    config = tiny_site / "site_config.yml"
    config.write_text(config_text(render=", formats: [gif, apng]"))
    result = build(config)
    (record,) = result.records
    assert record.status == "ok", record.error
    assert list(record.files.outputs) == ["gif", "apng"]
    entry = json.loads((result.output_dir / "manifest.json").read_text())["animations"][0]
    assert entry["apng"] == "animations/tiny--square/tiny--square.apng"
    assert entry["webp"] is None and entry["mp4"] is None
    with Image.open(result.output_dir / entry["apng"]) as apng:
        assert apng.format == "PNG" and apng.n_frames == 4
        frames = [frame.convert("RGBA") for frame in ImageSequence.Iterator(apng)]
    for frame, png in zip(frames, record.files.frames, strict=True):
        with Image.open(result.output_dir / png) as expected:
            assert np.array_equal(np.asarray(frame), np.asarray(expected.convert("RGBA")))
    page = (result.output_dir / entry["page"]).read_text()
    assert 'href="tiny--square.apng" download>Download APNG</a>' in page


def test_formats_must_include_gif(tiny_site, capsys):
    config = tiny_site / "site_config.yml"
    config.write_text(config_text(render=", formats: [mp4]"))
    assert main(["build", "--config", str(config)]) == 2
    assert "render.formats: `gif` must be one of the formats" in capsys.readouterr().err


def test_categorical_collection_builds_with_exact_class_colours_and_a_legend_by_class(tmp_path):
    classes = np.tile(np.repeat(np.array([1, 2, 4, 7], dtype="float32"), 16), (64, 1))  # 7 is no class
    cog = write_cog(tmp_path / "lc.tif", classes)
    renders = {"dashboard": {"colormap": {"1": [230, 25, 75, 255], "2": "#3cb44b", "4": [0, 130, 200]}}}
    write_catalog(tmp_path / "catalog", "tiny", [FakeItem(id="lc", datetime=MONTHS[0], cog=cog)], renders=renders)
    (tmp_path / "site_config.yml").write_text(config_text(render=", overlays: {date: false, title: false, attribution: false}"))
    result = build(tmp_path / "site_config.yml")
    (record,) = result.records
    assert record.status == "ok", record.error
    # 7 is no class: those pixels have no value, so they get the no-data colour and an entry.
    assert record.legend_classes == (("1", "#e6194b"), ("2", "#3cb44b"), ("4", "#0082c8"), ("No data", "#c8c8c8"))
    with Image.open(result.output_dir / record.files.gif) as gif:
        rgba = np.array(gif.convert("RGBA"))
    opaque = {tuple(int(c) for c in colour) for colour in np.unique(rgba[rgba[..., 3] == 255][:, :3], axis=0)}
    assert {(230, 25, 75), (60, 180, 75), (0, 130, 200)} <= opaque
    page = (result.output_dir / record.files.page).read_text()
    assert "legend__classes" in page and "#3cb44b" in page
