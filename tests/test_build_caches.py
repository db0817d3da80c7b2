"""Work the animations of one build share is done once per build: region grids and masks, border
and context lines, searches (counted, not timed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

import generator.overlays.borders as borders
import generator.overlays.context as context
import generator.render.datasets as datasets
import generator.render.layers as layers
from generator.cli.main import main
from generator.core import buildcache
from generator.core.dates import Interval
from generator.core.model import Grid, SourceItem
from generator.overlays.painter import overlay_palette
from generator.plan.schedule import SearchCache
from generator.sources.regions import Region

from .conftest import FakeItem, column_values, write_catalog, write_cog
from .test_engine import RENDERS

GRID = Grid(crs="EPSG:4326", transform=from_origin(0.0, 64.0, 1.0, 1.0), width=64, height=64)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls: list[int] = []
    inner = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return inner(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def two_collection_site(folder: Path, collections: int = 2, regions: int = 1) -> Path:
    cog = write_cog(folder / "cogs" / "a.tif", column_values(64))
    sources, entries = [], []
    for number in range(1, collections + 1):
        write_catalog(folder / f"cat{number}", f"c{number}", [FakeItem("i1", "2020-01-01T00:00:00Z", cog)], renders=RENDERS)
        sources.append(f"s{number}: {{catalog: cat{number}/catalog.json}}")
        entries.append(f"{{id: c{number}, source: s{number}}}")
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Shared}\n"
        f"sources: {{{', '.join(sources)}}}\n"
        f"collections: [{', '.join(entries)}]\n"
        "regions: [{id: a, bbox: [8, 8, 56, 56], borders: {type: LineString, coordinates: [[8, 30], [56, 30]]}}"
        + "".join(f", {{id: r{number}, bbox: [{8 + number % 30}, {8 + number // 30}, 40, 40]}}" for number in range(1, regions))
        + "]\n"
        "render: {size: 64}\n"
    )
    return config


def test_two_collections_over_one_region_share_its_mask_and_border_lines(tmp_path, monkeypatch):
    masks = counting(monkeypatch, layers, "inside_mask")
    lines = counting(monkeypatch, borders, "line_mask")
    # One process (the grids and layouts are tasks: with workers, each worker keeps its own).
    assert main(["build", "--no-cache", "--jobs", "1", "--config", str(two_collection_site(tmp_path / "one", 1))]) == 0
    one = (len(masks), len(lines))
    masks.clear()
    lines.clear()
    assert main(["build", "--no-cache", "--jobs", "1", "--config", str(two_collection_site(tmp_path / "two", 2))]) == 0
    assert one[0] >= 1 and one[1] >= 1  # the region is masked and its border drawn
    assert (len(masks), len(lines)) == one  # the second animation computed neither again
    assert buildcache.sizes() == 0  # and nothing is kept for the next build


def test_a_gallery_of_more_regions_than_the_caches_hold_draws_each_regions_context_once(tmp_path, monkeypatch):
    """A build runs each region's animations together, so what it keeps of a region's grid (here
    its two context layers: more than the per-build caches hold for all regions) is still there
    when the region's next collection asks; the gallery lists them in config order."""
    import json

    lines = counting(monkeypatch, context, "line_mask")
    regions = buildcache.MAXSIZE // 2 + 2
    config = two_collection_site(tmp_path, 2, regions)
    assert main(["build", "-q", "--no-cache", "--jobs", "1", "--config", str(config)]) == 0
    assert len(lines) == 2 * regions  # coastlines and country borders, once per region
    manifest = json.loads((tmp_path / "output" / "manifest.json").read_text())
    listed = [(entry["collection"], entry["region"]) for entry in manifest["animations"]]
    names = ["a", *(f"r{number}" for number in range(1, regions))]
    assert listed == [(collection, region) for collection in ("c1", "c2") for region in names]


def test_grid_and_masks_are_made_again_after_a_build_and_are_read_only(monkeypatch):
    masks = counting(monkeypatch, layers, "inside_mask")
    region = Region(id="a", title="A", geometry=shapely.box(8, 8, 56, 56))
    first = layers.prepare_grid(region, "EPSG:4326", 64)
    assert layers.prepare_grid(region, "EPSG:4326", 64) is first and len(masks) == 1
    assert not first.inside.flags.writeable
    layers.prepare_grid(region, "EPSG:4326", 32)  # another size: another grid
    assert len(masks) == 2
    buildcache.clear()
    layers.prepare_grid(region, "EPSG:4326", 64)
    assert len(masks) == 3
    buildcache.clear()


def test_context_lines_are_rasterized_once_per_grid(monkeypatch):
    lines = counting(monkeypatch, context, "line_mask")
    palette = overlay_palette("viridis")
    first = context.context_masks(["coastline", "countries"], GRID, palette)
    again = context.context_masks(["coastline", "countries"], GRID, palette)
    assert len(lines) == 2
    assert [mask is other for (_, mask, _), (_, other, _) in zip(first, again, strict=True)] == [True, True]
    buildcache.clear()
    context.context_masks(["coastline"], GRID, palette)
    assert len(lines) == 3
    buildcache.clear()


class CountingSource:
    def __init__(self) -> None:
        self.searches: list[str] = []

    def items(self, collection_id: str, interval: Interval | None, region: object) -> list[SourceItem]:
        self.searches.append(collection_id)
        return []


@pytest.mark.parametrize("root_ttl", [(None, 0), ("cache", 3600)])
def test_a_search_is_made_once_per_build(tmp_path, root_ttl):
    root, ttl = root_ttl
    source = CountingSource()
    region = Region(id="a", title="A", geometry=shapely.box(8, 8, 56, 56))
    searches = SearchCache(tmp_path / root if root else None, ttl)
    for _ in range(3):
        searches.items(source, "s", "c", None, region)  # type: ignore[arg-type]
    searches.items(source, "s", "d", None, region)  # type: ignore[arg-type]
    assert source.searches == ["c", "d"]
    assert SearchCache(None, 0).items(source, "s", "c", None, region) == []  # type: ignore[arg-type]
    assert source.searches == ["c", "d", "c"]  # another build searches again (TTL 0)


def test_a_cog_shown_by_several_animations_is_opened_once_per_build(tmp_path, monkeypatch):
    opens: list[str] = []
    real_open = rasterio.open

    def counted(path: str, *args: Any, **kwargs: Any) -> Any:
        opens.append(path)
        return real_open(path, *args, **kwargs)

    config = two_collection_site(tmp_path, collections=2, regions=2)  # 2 assets, each in 2 animations
    monkeypatch.setattr(rasterio, "open", counted)
    assert main(["build", "--jobs", "1", "--no-cache", "--config", str(config)]) == 0
    assert sorted(Path(path).parent.parent.parent.name for path in opens) == ["cat1", "cat2"]  # not once per region
    assert buildcache.sizes() == 0 and not datasets._open  # closed when the build ended
    assert main(["build", "--jobs", "1", "--no-cache", "--config", str(config)]) == 0
    assert len(opens) == 4  # the next build opens them again


def test_a_long_series_shown_by_several_regions_is_opened_once_per_build(tmp_path, monkeypatch):
    """Each region's animation reads the whole series in turn: the assets stay open for the next."""
    cogs = [write_cog(tmp_path / "cogs" / f"{month}.tif", column_values(64) + month) for month in range(1, 13)]
    items = [FakeItem(f"i{month}", f"2020-{month:02d}-01T00:00:00Z", cog) for month, cog in enumerate(cogs, start=1)]
    write_catalog(tmp_path / "cat", "c", items, renders=RENDERS)
    config = tmp_path / "site_config.yml"
    config.write_text(
        "site: {title: Series}\nsources: {s: {catalog: cat/catalog.json}}\ncollections: [{id: c, source: s}]\n"
        "regions: [{id: a, bbox: [8, 8, 56, 56]}, {id: b, bbox: [10, 10, 40, 40]}, {id: c, bbox: [20, 12, 50, 44]}]\n"
        "render: {size: 64, formats: [gif]}\n"
    )
    opens: list[str] = []
    real_open = rasterio.open
    monkeypatch.setattr(rasterio, "open", lambda path, *args, **kwargs: opens.append(path) or real_open(path, *args, **kwargs))
    assert main(["build", "--jobs", "1", "--no-cache", "--config", str(config)]) == 0
    assert sorted(Path(path).name for path in opens) == sorted(cog.name for cog in cogs)  # 12 opens, not 36


def test_the_kept_datasets_are_a_budget_of_the_process_not_of_each_thread(tmp_path, monkeypatch):
    """Datasets kept by a thread that reads no more are closed first when others need room."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(datasets, "KEPT", 2)
    paths = [str(write_cog(tmp_path / f"{name}.tif", column_values(64))) for name in "abc"]

    def keep(path: str) -> rasterio.io.DatasetReader:
        with datasets.kept_open(path) as src:
            return src

    with ThreadPoolExecutor(1) as other:
        first = other.submit(keep, paths[0]).result()  # kept by the other thread
        second, third = keep(paths[1]), keep(paths[2])
        assert first.closed and not second.closed and not third.closed
        assert other.submit(keep, paths[0]).result() is not first  # opened again
    buildcache.clear()
    assert second.closed and third.closed and not datasets._open


def test_a_rewritten_file_is_opened_again(tmp_path):
    path = write_cog(tmp_path / "a.tif", column_values(64))
    with datasets.kept_open(str(path)) as first, datasets.kept_open(str(path)) as again:
        assert first is again and first.read(1)[0, 0] == column_values(64)[0, 0]
    write_cog(path, column_values(64) + 5)
    with datasets.kept_open(str(path)) as changed:
        assert changed is not first and changed.read(1)[0, 0] == column_values(64)[0, 0] + 5
    buildcache.clear()
    assert first.closed and changed.closed


def _age(folder: Path, seconds: float) -> None:
    """Every file under ``folder`` last modified ``seconds`` ago (older than the racy window)."""
    import os
    import time

    for path in folder.rglob("*.json"):
        os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_a_static_catalog_on_disk_is_walked_again_only_when_one_of_its_files_changed(tmp_path):
    from generator.sources.catalog import StaticCatalogSource

    walks: list[str] = []

    class CountingCatalog(StaticCatalogSource):
        def items(self, collection_id: str, *args: Any, **kwargs: Any) -> list[SourceItem]:
            walks.append(collection_id)
            return super().items(collection_id, *args, **kwargs)

    def month(number: int) -> FakeItem:
        return FakeItem(f"m{number}", f"2024-0{number}-01T00:00:00Z", "https://cogs.invalid/a.tif")

    catalog = write_catalog(tmp_path / "cat", "c", [month(1), month(2)])
    _age(tmp_path / "cat", 60)
    region = Region(id="a", title="A", geometry=shapely.box(8, 8, 56, 56))

    def one_build() -> list[str]:  # a build: its own search cache and source, the same cache folder
        searches = SearchCache(tmp_path / "cache", 0)
        return [item.id for item in searches.items(CountingCatalog("s", str(catalog)), "s", "c", None, region)]

    assert one_build() == ["m1", "m2"]
    assert one_build() == ["m1", "m2"] and walks == ["c"]  # TTL 0, yet no file changed: not walked
    write_catalog(tmp_path / "cat", "c", [month(1), month(2), month(3)])  # a new item: collection.json changes
    _age(tmp_path / "cat", 30)
    assert one_build() == ["m1", "m2", "m3"] and walks == ["c", "c"]
    assert one_build() == ["m1", "m2", "m3"] and walks == ["c", "c"]
    (tmp_path / "cat" / "c" / "m3" / "m3.json").write_text(
        (tmp_path / "cat" / "c" / "m3" / "m3.json").read_text().replace("2024-03-01", "2024-04-01")
    )  # an item's date edited in place, just now: walked again, and not kept (its mtime may not move again)
    assert [one_build(), one_build()] == [["m1", "m2", "m3"]] * 2 and walks == ["c"] * 4
    dates = [item.datetime.month for item in SearchCache(tmp_path / "cache", 0).items(
        CountingCatalog("s", str(catalog)), "s", "c", None, region
    )]
    assert dates == [1, 2, 4]


def test_the_warp_geometry_of_a_grid_is_worked_out_once_per_build_for_files_of_one_layout(tmp_path, monkeypatch):
    import rasterio.warp
    import rio_tiler.utils
    from affine import Affine

    from generator.core.model import ItemAsset, Style
    from generator.render.local import LocalRenderer

    grid_into_source = counting(monkeypatch, rasterio.warp, "calculate_default_transform")
    vrt_transforms = counting(monkeypatch, rio_tiler.utils, "get_vrt_transform")
    paths = [write_cog(tmp_path / f"f{n}.tif", column_values(64) + n) for n in range(3)]
    grid = Grid(crs="EPSG:3857", transform=Affine(200_000.0, 0, 0, 0, -200_000.0, 7_000_000.0), width=30, height=30)
    style = Style(rescale=(0, 70), resampling="bilinear")  # downsampling: the warped VRT read
    buildcache.clear()
    first = [LocalRenderer().read(ItemAsset(path.stem, None, str(path)), grid, style) for path in paths]  # type: ignore[arg-type]
    assert (len(grid_into_source), len(vrt_transforms)) == (1, 1)
    buildcache.clear()
    again = [LocalRenderer().read(ItemAsset(path.stem, None, str(path)), grid, style) for path in paths]  # type: ignore[arg-type]
    assert (len(grid_into_source), len(vrt_transforms)) == (2, 2)  # worked out again in the next build
    for one, other in zip(first, again, strict=True):
        assert one.valid.any() and np.array_equal(one.values, other.values, equal_nan=True)
    assert not np.array_equal(first[0].values, first[1].values, equal_nan=True)  # each frame is its own file
    buildcache.clear()


def test_a_collection_is_asked_for_once_per_build(tmp_path, monkeypatch):
    from generator.sources.catalog import StaticCatalogSource

    asked = counting(monkeypatch, StaticCatalogSource, "collection")
    config = two_collection_site(tmp_path, collections=1, regions=3)
    assert main(["build", "--jobs", "1", "--config", str(config), "-q"]) == 0
    assert len(asked) == 1  # not once per region
    assert main(["build", "--jobs", "1", "--config", str(config), "-q"]) == 0
    assert len(asked) == 2  # the next build asks again


def test_a_search_result_is_planned_once_while_it_and_the_spec_are_the_same(tmp_path, monkeypatch):
    import generator.plan.schedule as schedule
    from generator.core.memo import BuildMemo
    from generator.engine.build import BuildOptions, build

    from .test_engine import make_site

    planned = counting(monkeypatch, schedule, "plan_frames")
    config = make_site(tmp_path, months=4)
    _age(tmp_path / "catalog", 60)  # the catalog's walk is kept: the next build reads the same entry
    options = BuildOptions(memo=BuildMemo())  # the builds of a process that rebuilds share their memo
    (record,) = build(config, options=options).records
    assert len(planned) == 1 and len(record.frames) == 4
    (again,) = build(config, options=options).records  # a later build given the memo, nothing changed
    assert len(planned) == 1 and again.frames == record.frames
    (alone,) = build(config).records  # a build without it reads and plans the entry again
    assert len(planned) == 2 and alone.frames == record.frames
    config.write_text(config.read_text().replace("{id: c, source: s}", "{id: c, source: s, last: 2}"))
    (fewer,) = build(config, options=options).records  # another spec: planned again
    assert len(planned) == 3 and len(fewer.frames) == 2
    make_site(tmp_path, months=5)  # a new item: another search result
    config.write_text(config.read_text().replace("{id: c, source: s}", "{id: c, source: s, last: 3}"))
    (more,) = build(config, options=options).records
    assert len(planned) == 4 and [frame.datetime.month for frame in more.frames] == [3, 4, 5]


def test_the_grid_crs_is_parsed_once_per_build(tmp_path):
    from affine import Affine

    from generator.core.model import ItemAsset, Style
    from generator.render import local, warp

    paths = [write_cog(tmp_path / f"f{n}.tif", column_values(64) + n) for n in range(3)]
    grid = Grid(crs="EPSG:3857", transform=Affine(200_000.0, 0, 0, 0, -200_000.0, 7_000_000.0), width=30, height=30)
    buildcache.clear()
    for resampling in ("bilinear", "nearest"):  # the warped VRT read and the reprojection
        for path in paths:
            local.LocalRenderer().read(ItemAsset(path.stem, None, str(path)), grid, Style(rescale=(0, 70), resampling=resampling))  # type: ignore[arg-type]
    assert warp._parsed_crs.cache_info().misses == 1
    assert warp.grid_crs("EPSG:3857") == rasterio.crs.CRS.from_epsg(3857)
    buildcache.clear()
    assert warp._parsed_crs.cache_info().currsize == 0


@pytest.mark.parametrize("inside_env", [True, False])
def test_a_dataset_evicted_from_the_kept_ones_is_closed(tmp_path, monkeypatch, inside_env):
    """Within a read (its ``rasterio.Env`` in force) or outside any."""
    from contextlib import ExitStack

    monkeypatch.setattr(datasets, "KEPT", 1)
    first, second = (str(write_cog(tmp_path / f"{name}.tif", column_values(64))) for name in "ab")
    with datasets.kept_open(first) as old:
        pass
    with ExitStack() as stack:
        if inside_env:
            stack.enter_context(rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"))
        with datasets.kept_open(second) as new:
            assert old.closed and not new.closed
    buildcache.clear()
    assert new.closed


def test_one_transformer_serves_the_region_its_borders_and_the_context_layers(monkeypatch):
    import pyproj
    from shapely.geometry import box

    from generator.overlays.context import lonlat_boxes, to_grid
    from generator.render import grid as grid_module

    made: list[tuple[object, object]] = []
    original = pyproj.Transformer.from_crs

    def counting(source: object, target: object, **options: object) -> pyproj.Transformer:
        made.append((source, target))
        return original(source, target, **options)

    monkeypatch.setattr(pyproj.Transformer, "from_crs", staticmethod(counting))
    crs = "+proj=laea +lat_0=47.1234 +lon_0=3.4567 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"  # no other test's
    region = grid_module.project(box(0, 44, 6, 50), crs)
    grid_module.project(box(1, 45, 2, 46), crs)  # a border layer
    grid = grid_module.make_grid(region, crs, 64)
    assert lonlat_boxes(grid) and not to_grid(box(1, 45, 2, 46).boundary, grid).is_empty
    assert made == [("EPSG:4326", crs), (crs, "EPSG:4326")]  # one each way


def test_the_caches_are_emptied_when_the_last_of_the_builds_running_at_once_ends():
    """Two builds in threads of one process: the first to end leaves the other its caches."""
    from generator.render import warp

    with buildcache.building():
        with buildcache.building():
            warp.grid_crs("EPSG:4326")
        assert warp._parsed_crs.cache_info().currsize == 1
    assert buildcache.sizes() == 0


def test_a_dataset_being_read_when_the_kept_ones_are_closed_is_closed_by_its_reader(tmp_path):
    """Another build ending mid-read closes what it can; the dataset in use stays readable."""
    path = str(write_cog(tmp_path / "a.tif", column_values(64)))
    with datasets.kept_open(path) as src:
        buildcache.clear()
        assert not src.closed and src.read(1)[0, 0] == column_values(64)[0, 0]
    assert src.closed and not datasets._open
    with datasets.kept_open(path) as again:
        assert again is not src and not again.closed
    buildcache.clear()
    assert again.closed


def test_a_dataset_evicted_while_it_is_read_is_closed_when_the_read_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "KEPT", 1)
    first, second = (str(write_cog(tmp_path / f"{name}.tif", column_values(64))) for name in "ab")
    with datasets.kept_open(first) as outer:
        with datasets.kept_open(second) as inner:
            assert not outer.closed and outer.read(1).shape == (64, 64)
        assert not inner.closed  # the one kept
    assert outer.closed
    buildcache.clear()
    assert inner.closed
