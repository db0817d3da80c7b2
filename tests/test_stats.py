"""The numbers behind the picture: per-frame statistics of the values over the region.

Checked against numpy on analytic COGs (value = column index + month, so every pixel's value is
known from its position), in ``stats.csv`` and ``manifest.json``, kept by the frame cache and by
a carried-over record, and refused from a cache entry whose statistics were changed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from generator.core.model import ColorOp, FramePlan, FrameStats, Grid, ItemAsset, Style
from generator.engine.build import build
from generator.render.cache import STATS_CHUNK, FrameCache
from generator.render.frames import FrameData
from generator.render.grid import inside_mask, make_grid, project
from generator.render.layers import Levels, layer_and_stats
from generator.render.stats import frame_stats
from generator.site.charts import nice_ticks

from .conftest import NODATA, FakeItem, column_values, write_catalog, write_cog
from .test_engine import RENDERS, CountingRenderer

BBOX = (8.0, 8.0, 56.0, 56.0)
SIZE = 64


def make_stats_site(folder: Path, months: Sequence[int] = (0, 1, 2), holes: bool = True) -> Path:
    """A catalog of analytic COGs (value = column + month; a block of nodata in month 1) on a
    lon/lat grid, so the expected statistics follow from pixel positions alone."""
    items = []
    for month in months:
        data = column_values(64) + month * 10
        if holes and month == 1:
            data[20:40, 10:30] = NODATA
        cog = write_cog(folder / "cogs" / f"m{month}.tif", data)
        items.append(FakeItem(id=f"m{month:02d}", datetime=f"2020-{month + 1:02d}-01T00:00:00Z", cog=cog))
    write_catalog(folder / "catalog", "c", items, renders=RENDERS)
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Stats}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        "collections: [{id: c, source: s, style: {units: K}}]\n"
        f"regions:\n  - {{id: a, bbox: {list(BBOX)}}}\n"
        f"render: {{size: {SIZE}, crs: 'EPSG:4326'}}\n"
    )
    return config


def expected_stats(month: int, holes: bool = True) -> dict[str, float]:
    """What the statistics must be, from numpy alone: the grid's pixel centres, the source pixel
    under each (1° pixels from 0°E, 64°N), the region's pixels (centre inside the bbox)."""
    grid = make_grid(project(box(*BBOX), "EPSG:4326"), "EPSG:4326", SIZE)
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    lon = grid.transform.c + (cols + 0.5) * grid.transform.a
    lat = grid.transform.f + (rows + 0.5) * grid.transform.e
    inside = (lon > BBOX[0]) & (lon < BBOX[2]) & (lat > BBOX[1]) & (lat < BBOX[3])
    assert np.array_equal(inside, inside_mask(project(box(*BBOX), "EPSG:4326"), grid))  # the exact mask
    source_col = np.floor(lon).astype(int)
    source_row = np.floor(64.0 - lat).astype(int)
    valid = inside.copy()
    if holes and month == 1:
        valid &= ~((source_row >= 20) & (source_row < 40) & (source_col >= 10) & (source_col < 30))
    values = (source_col + month * 10).astype(np.float64)[valid]
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
        "p90": float(np.percentile(values, 90)),
        "valid_fraction": values.size / int(inside.sum()),
    }


def _entry(output: Path) -> dict:
    return json.loads((output / "manifest.json").read_text())["animations"][0]


def test_frame_stats_match_numpy_over_the_valid_pixels_inside_the_region():
    rng = np.random.default_rng(7)
    values = rng.normal(size=(40, 50)).astype("float32")
    valid = rng.random((40, 50)) > 0.2
    inside = np.zeros((40, 50), dtype=bool)
    inside[5:35, 10:45] = True
    values[~valid] = np.nan
    stats = frame_stats(values, valid, inside)
    chosen = values[valid & inside].astype(np.float64)
    assert stats == FrameStats(
        valid_fraction=chosen.size / inside.sum(), mean=float(chosen.mean()), median=float(np.median(chosen)),
        p10=float(np.percentile(chosen, 10)), p90=float(np.percentile(chosen, 90)),
    )
    assert frame_stats(values, np.zeros_like(valid), inside) == FrameStats(valid_fraction=0.0)
    assert frame_stats(values, valid, np.zeros_like(inside)) is None


def test_stats_of_an_analytic_cog_equal_numpy_in_the_manifest_and_stats_csv(tmp_path):
    config = make_stats_site(tmp_path)
    output = build(config).output_dir
    entry = _entry(output)
    assert entry["stats"]["csv"] == "animations/c--a/stats.csv" and entry["stats"]["units"] == "K"
    for month, frame in enumerate(entry["frames"]):
        expected = expected_stats(month)
        assert frame["stats"] == pytest.approx(expected, rel=1e-12, abs=1e-12), month
    assert entry["frames"][1]["stats"]["valid_fraction"] < 0.9  # the nodata block is left out
    with (output / "animations/c--a/stats.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["frame", "datetime", "label", "mean", "median", "p10", "p90", "valid_fraction", "units"]
    assert [row["frame"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["datetime"] == "2020-01-01T00:00:00Z" and rows[0]["units"] == "K"
    for row, frame in zip(rows, entry["frames"], strict=True):
        for name, value in frame["stats"].items():
            assert float(row[name]) == value  # the same numbers, exactly
    page = (output / "animations/c--a/index.html").read_text()
    assert 'href="stats.csv"' in page and '<svg class="stats-chart"' in page and "stats__table" in page


def test_gap_frames_have_empty_cells_and_null_stats(tmp_path):
    config = make_stats_site(tmp_path, months=(0, 1, 3, 4), holes=False)  # no April: a gap frame
    output = build(config).output_dir
    entry = _entry(output)
    assert [frame["kind"] for frame in entry["frames"]] == ["data", "data", "gap", "data", "data"]
    assert entry["frames"][2]["stats"] is None and entry["frames"][3]["stats"] == pytest.approx(expected_stats(3, holes=False))
    rows = list(csv.DictReader((output / "animations/c--a/stats.csv").open(newline="")))
    assert [rows[2][name] for name in ("mean", "median", "p10", "p90", "valid_fraction")] == [""] * 5
    assert rows[2]["datetime"] == "2020-03-01T00:00:00Z" and rows[3]["mean"] != ""
    page = (output / "animations/c--a/index.html").read_text()
    assert page.count('class="stats-chart__point') == 4  # no point for the gap frame


def test_frames_from_the_cache_keep_their_stats_without_reading_a_cog(tmp_path):
    config = make_stats_site(tmp_path)
    output = build(config, renderer=CountingRenderer()).output_dir
    first = _entry(output)
    csv_text = (output / "animations/c--a/stats.csv").read_text()
    (output / "animations/c--a/c--a.gif").unlink()  # the animation is built again, from the frame cache
    renderer = CountingRenderer()
    result = build(config, renderer=renderer)
    assert result.summary.built == 1 and renderer.reads == []
    assert _entry(output)["frames"] == first["frames"]
    assert (output / "animations/c--a/stats.csv").read_text() == csv_text
    # Carried over unchanged (nothing rebuilt): the record keeps the statistics too.
    result = build(config, renderer=renderer)
    assert result.summary.cached == 1 and renderer.reads == []
    assert _entry(output)["frames"] == first["frames"]
    assert (output / "animations/c--a/stats.csv").read_text() == csv_text


def test_a_cache_entry_with_changed_stats_is_a_miss(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    cache = FrameCache(tmp_path)
    layer = np.arange(12, dtype=np.uint8).reshape(3, 4)
    stats = FrameStats(valid_fraction=0.5, mean=1.0, median=1.0, p10=0.0, p90=2.0)
    cache.put("ab" * 32, layer, stats)
    entry = cache.get_entry("ab" * 32, (3, 4))
    assert entry is not None and entry.stats == stats and np.array_equal(entry.layer, layer)
    path = next((tmp_path / "frames").rglob("*.png"))
    with Image.open(path) as image:
        text = dict(image.text)
        pixels = np.asarray(image).copy()
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value.replace('"mean": 1.0', '"mean": 9.0') if key == STATS_CHUNK else value)
    Image.fromarray(pixels, mode="L").save(path, pnginfo=info)
    assert cache.get_entry("ab" * 32, (3, 4)) is None


def test_chart_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0.3, 9.7) == [0, 2.5, 5, 7.5, 10]
    ticks = nice_ticks(-1.2e16, 3.3e16)
    assert ticks[0] <= -1.2e16 and ticks[-1] >= 3.3e16 and len(ticks) <= 7


class _FixedRenderer:
    """Gives the same values for every item: a known field with a nodata corner."""

    concurrency = 1

    def __init__(self, values: np.ndarray, valid: np.ndarray) -> None:
        self.data = FrameData(values=values, valid=valid)

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: object = None) -> FrameData:
        return FrameData(values=self.data.values.copy(), valid=self.data.valid.copy())


def test_stats_are_of_the_values_as_read_not_clamped_or_reshaped_by_the_colour_formula():
    from affine import Affine

    values = np.linspace(-50.0, 150.0, 20 * 30, dtype="float32").reshape(20, 30)  # beyond the rescale both ways
    valid = np.ones(values.shape, dtype=bool)
    valid[:5, :5] = False
    inside = np.zeros(values.shape, dtype=bool)
    inside[2:18, 3:27] = True
    grid = Grid(crs="EPSG:4326", transform=Affine(1, 0, 0, 0, -1, 20), width=30, height=20)
    frame = FramePlan(datetime=datetime(2020, 1, 1, tzinfo=UTC), items=(ItemAsset("i", datetime(2020, 1, 1, tzinfo=UTC), "x.tif"),))
    levels = Levels(n_levels=249, transparent=255, nodata=254)
    renderer = _FixedRenderer(values, valid)
    plain = Style(rescale=(0.0, 100.0))
    shaped = Style(rescale=(0.0, 100.0), color_ops=(ColorOp("gamma", (2.5,)),))
    layer_plain, stats_plain = layer_and_stats(frame, grid, plain, inside, levels, renderer)
    layer_shaped, stats_shaped = layer_and_stats(frame, grid, shaped, inside, levels, renderer)
    assert not np.array_equal(layer_plain, layer_shaped)  # the formula changes the colours…
    assert stats_plain == stats_shaped == frame_stats(values, valid, inside)  # …never the numbers
    assert stats_plain is not None and stats_plain.p10 is not None and stats_plain.p10 < 0 < 100 < stats_plain.p90
