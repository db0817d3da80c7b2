"""Values in the units STAC documents: ``raster:bands`` scale/offset before a config ``rescale``,
``style.scale: raw``, a render's rescale on raw values (unless ``unscale: true``), STAC nodata for
files without a nodata tag, the warning for a rescale that leaves the frames one colour, and
static catalogs whose ``rel: item`` links point at an API ``/items`` endpoint.

The COGs copy an Earth Search Sentinel-2 L2A item (``tests/data/stac/earth-search``): its CRS and
origin (``proj:*``, at a coarser resolution), uint16 digital numbers, nodata 0, scale 0.0001 and
offset −0.1; the reflectance is an analytic field (0.005 × column), so every expected level is known.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.shutil import copy as copy_dataset

from generator.core.model import BandScaling, FramePlan, Grid, ItemAsset, Style
from generator.core.specs import StyleSpec
from generator.engine.build import build
from generator.plan.styles import resolve_style
from generator.render.frames import render_frame
from generator.render.grid import inside_mask, make_grid, output_crs, project
from generator.render.local import LocalRenderer
from generator.render.palette import build_palette, to_indices
from generator.render.titiler import TitilerRenderer
from generator.sources.catalog import StaticCatalogSource
from generator.sources.http import HttpSettings, make_session
from generator.sources.stac_common import collection_info, raster_bands

from .servers.range_http import serve_directory
from .servers.titiler import TitilerServer

EARTH_SEARCH = Path(__file__).parent / "data" / "stac" / "earth-search"
ITEM = json.loads((EARTH_SEARCH / "items" / "S2B_24MWV_20250731_0_L2A.json").read_text())
RED = ITEM["assets"]["red"]
(BAND,) = RED["raster:bands"]
EPSG = f"EPSG:{ITEM['properties']['proj:epsg']}"
SIZE = 64
RES = RED["proj:shape"][0] * RED["proj:transform"][0] / SIZE  # the whole tile in 64 px
TRANSFORM = Affine(RES, 0, RED["proj:transform"][2], 0, -RES, RED["proj:transform"][5])
GRID = Grid(crs=EPSG, transform=TRANSFORM, width=SIZE, height=SIZE)
COLS = np.tile(np.arange(SIZE), (SIZE, 1))
ROWS = COLS.T
REFLECTANCE = 0.005 * COLS  # the analytic field: 0 … 0.315
WEDGE = ROWS + COLS < 20  # a corner the file leaves empty (digital number 0)


def digital_numbers() -> np.ndarray:
    """Reflectance → uint16 the way the file stores it: (reflectance − offset) / scale."""
    dn = np.rint((REFLECTANCE - BAND["offset"]) / BAND["scale"]).astype("uint16")
    dn[WEDGE] = BAND["nodata"]
    return dn


def write_s2_cog(path: Path, *, nodata_tag: bool) -> Path:
    plain = path.with_suffix(".plain.tif")
    profile: dict[str, Any] = dict(
        driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint16", crs=EPSG, transform=TRANSFORM,
    )
    if nodata_tag:
        profile["nodata"] = BAND["nodata"]
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(digital_numbers(), 1)
    copy_dataset(plain, path, driver="COG", overviews="NONE")
    plain.unlink()
    return path


def asset(path: Path, bands: tuple[BandScaling, ...] | None = None) -> ItemAsset:
    return ItemAsset(
        item_id=ITEM["id"], datetime=datetime(2025, 7, 31, tzinfo=UTC), href=str(path),
        bands=raster_bands(RED["raster:bands"]) if bands is None else bands,
    )


@pytest.fixture(scope="module")
def untagged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The COG without a nodata tag (as some Planetary Computer files are): STAC has to say it."""
    return write_s2_cog(tmp_path_factory.mktemp("s2") / "red.tif", nodata_tag=False)


@pytest.fixture(scope="module")
def titiler(loopback_titiler: TitilerServer) -> TitilerRenderer:
    return TitilerRenderer(loopback_titiler.url, make_session(HttpSettings(retries=0)))


def renderers(titiler: TitilerRenderer) -> list[Any]:
    return [LocalRenderer(), titiler]


def read(renderer: Any, item: ItemAsset, style: Style) -> Any:
    return render_frame(FramePlan(item.datetime, (item,)), GRID, style, renderer, shapely.box(*GRID.bounds))


def test_raster_bands_are_read_from_the_items_and_the_collections_item_assets() -> None:
    assert raster_bands(RED["raster:bands"]) == (BandScaling(scale=0.0001, offset=-0.1, nodata=0.0),)
    # VEDA's items carry scale 1 / offset 0: nothing to apply, and no change to any cache key.
    assert raster_bands([{"scale": 1, "offset": 0, "data_type": "float32"}]) == ()
    assert raster_bands([{"nodata": "nan"}])[0].nodata is not None
    collection = json.loads((EARTH_SEARCH / "collection-sentinel-2-l2a.json").read_text())
    info = collection_info(collection)
    assert info.item_asset_bands["red"] == (BandScaling(scale=0.0001, offset=0.0, nodata=0.0),)


def test_a_config_rescale_is_in_reflectance(untagged: Path, titiler: TitilerRenderer) -> None:
    style = resolve_style("sentinel-2-l2a", {}, StyleSpec(rescale=(0.0, 0.3)), "collections[0]").style
    assert style.unscale
    palette = build_palette("viridis")
    expected = to_indices(REFLECTANCE, ~WEDGE, (0.0, 0.3), palette)
    for renderer in renderers(titiler):
        data = read(renderer, asset(untagged), style)
        assert not data.valid[WEDGE].any()  # STAC nodata, though the file has no nodata tag
        assert data.valid[~WEDGE].all()
        np.testing.assert_allclose(data.values[~WEDGE], REFLECTANCE[~WEDGE], atol=1e-6)
        levels = to_indices(data.values, data.valid, (0.0, 0.3), palette)
        # Only values exactly on a level edge (0.005·col·n/0.3 an integer) may round to either side.
        edges = (COLS * palette.n_levels) % 60 == 0
        assert np.array_equal(levels[~edges], expected[~edges])
        assert np.abs(levels.astype(int) - expected.astype(int)).max() <= 1
        assert levels[0, -1] == palette.n_levels - 1 and levels[-1, 0] == 0  # the scale is used end to end


def test_style_scale_raw_keeps_digital_numbers(untagged: Path, titiler: TitilerRenderer) -> None:
    style = resolve_style("s", {}, StyleSpec(rescale=(1000.0, 4000.0), scale="raw"), "collections[0]").style
    assert not style.unscale
    for renderer in renderers(titiler):
        data = read(renderer, asset(untagged), style)
        assert np.array_equal(data.values[~WEDGE], digital_numbers()[~WEDGE].astype("float32"))
        assert not data.valid[WEDGE].any()


def test_a_render_rescale_applies_to_raw_values_unless_it_unscales(untagged: Path, titiler: TitilerRenderer) -> None:
    raw = resolve_style("s", {"dashboard": {"rescale": [[1000, 4000]]}}, None, "collections[0]").style
    unscaled = resolve_style("s", {"dashboard": {"rescale": [[0, 0.3]], "unscale": True}}, None, "collections[0]").style
    assert not raw.unscale and unscaled.unscale
    # The config's rescale is in STAC units even over a render that reads raw values.
    assert resolve_style("s", {"dashboard": {"rescale": [[1000, 4000]]}}, StyleSpec(rescale=(0, 0.3)), "c").style.unscale
    # Classes of a categorical render are raw values, whatever the config's rescale.
    classes = {"dashboard": {"colormap": {"1": "#ff0000", "2": "#0000ff"}}}
    assert not resolve_style("s", classes, StyleSpec(rescale=(0, 3)), "c").style.unscale
    for renderer in renderers(titiler):
        assert np.array_equal(read(renderer, asset(untagged), raw).values[~WEDGE], digital_numbers()[~WEDGE])
        np.testing.assert_allclose(read(renderer, asset(untagged), unscaled).values[~WEDGE], REFLECTANCE[~WEDGE], atol=1e-6)


def test_an_expression_works_on_physical_values(untagged: Path, titiler: TitilerRenderer) -> None:
    style = resolve_style("s", {"r": {"expression": "b1*10", "rescale": [[0, 3]], "unscale": True}}, None, "c").style
    for renderer in renderers(titiler):
        data = read(renderer, asset(untagged), style)
        np.testing.assert_allclose(data.values[~WEDGE], 10 * REFLECTANCE[~WEDGE], atol=1e-5)
        assert not data.valid[WEDGE].any()


def test_without_stac_nodata_the_untagged_zeros_are_data(untagged: Path) -> None:
    """What the issue saw: zeros painted as data. STAC's nodata is what fixes it."""
    style = Style(rescale=(0.0, 0.3), unscale=True)
    data = read(LocalRenderer(), asset(untagged, (BandScaling(0.0001, -0.1),)), style)
    assert data.valid[WEDGE].all()
    np.testing.assert_allclose(data.values[WEDGE], -0.1, atol=1e-6)


def test_scale_one_offset_zero_reads_like_no_raster_bands(untagged: Path) -> None:
    style = Style(rescale=(1000.0, 4000.0), nodata=0.0, unscale=True)
    plain = read(LocalRenderer(), asset(untagged, ()), style)
    identity = read(LocalRenderer(), asset(untagged, raster_bands([{"scale": 1, "offset": 0}])), style)
    assert np.array_equal(plain.values, identity.values, equal_nan=True)


# --- a whole build: item_assets fallback, the saturation warning --------------------------------


def write_s2_catalog(root: Path, cog: Path, *, item_bands: bool) -> Path:
    """A static catalog with the Earth Search collection's ``item_assets`` and one item, its red
    asset pointing at ``cog``; without ``item_bands`` the item has no ``raster:bands`` of its own."""
    root.mkdir(parents=True, exist_ok=True)
    collection = json.loads((EARTH_SEARCH / "collection-sentinel-2-l2a.json").read_text())
    collection["item_assets"] = {"red": collection["item_assets"]["red"]}
    collection["item_assets"]["red"]["raster:bands"][0]["offset"] = -0.1
    collection["links"] = [
        {"rel": "root", "href": "./collection.json", "type": "application/json"},
        {"rel": "item", "href": "./item.json", "type": "application/geo+json"},
        # An API habit copied into a static catalog: skipped with a warning, not fatal.
        {"rel": "item", "href": "https://earth-search.example/v1/collections/sentinel-2-l2a/items", "type": "application/geo+json"},
    ]
    item = json.loads(json.dumps(ITEM))
    red = dict(item["assets"]["red"], href=str(cog))
    if not item_bands:
        del red["raster:bands"]
    item["assets"] = {"red": red}
    item["links"] = [{"rel": "collection", "href": "./collection.json", "type": "application/json"}]
    (root / "collection.json").write_text(json.dumps(collection))
    (root / "item.json").write_text(json.dumps(item))
    return root / "collection.json"


def region_bbox() -> list[float]:
    """A lon/lat box well inside the tile (the middle half)."""
    to_lonlat = Transformer.from_crs(EPSG, "EPSG:4326", always_xy=True)
    west, south, east, north = GRID.bounds
    quarter_x, quarter_y = (east - west) / 4, (north - south) / 4
    lon0, lat0 = to_lonlat.transform(west + quarter_x, south + quarter_y)
    lon1, lat1 = to_lonlat.transform(east - quarter_x, north - quarter_y)
    return [round(lon0, 4), round(lat0, 4), round(lon1, 4), round(lat1, 4)]


def write_config(folder: Path, rescale: str, extra: str = "") -> Path:
    config = folder / "site_config.yml"
    config.write_text(
        f"""\
site: {{title: S2}}
sources: {{s2: {{catalog: catalog/collection.json}}}}
collections:
  - {{id: sentinel-2-l2a, source: s2, asset: red, style: {{rescale: {rescale}{extra}}}}}
regions:
  - {{id: tile, bbox: {region_bbox()}}}
render: {{size: 64, overlays: {{date: false, borders: false, context: []}}}}
"""
    )
    return config


def test_a_badly_chosen_rescale_warns_naming_the_percentiles(tmp_path: Path, untagged: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_s2_catalog(tmp_path / "catalog", untagged, item_bands=False)  # raster:bands from item_assets
    # Digital numbers would be ~1000-4000: as a rescale in reflectance units, everything is at the top.
    config = write_config(tmp_path, "[0, 1000]")
    with caplog.at_level(logging.WARNING):
        (record,) = build(config, tmp_path / "out").records
    assert record.status == "ok"
    (warning,) = [note for note in record.warnings if "rescale" in note]
    assert "low end of rescale [0, 1000] (in physical units" in warning
    # The region holds columns 16-47: reflectance 0.08-0.235, so its 2nd-98th percentiles are about that.
    low, high = (float(number) for number in warning.split("percentiles are ")[1].split(":")[0].split(" to "))
    assert 0.075 <= low <= 0.095 and 0.22 <= high <= 0.24
    assert warning in record.notes
    assert any("sit at the low end" in message for message in caplog.messages)
    assert any("/items" in note and "skipped" in note for note in record.notes)

    # A rescale in reflectance covers the data: no warning.
    good = write_config(tmp_path, "[0, 0.3]")
    (record,) = build(good, tmp_path / "out2").records
    assert record.status == "ok"
    assert not [note for note in record.warnings if "rescale" in note]


def test_style_scale_raw_in_a_build_and_the_items_own_bands_first(tmp_path: Path, untagged: Path) -> None:
    write_s2_catalog(tmp_path / "catalog", untagged, item_bands=True)
    raw = write_config(tmp_path, "[1000, 4000]", ", scale: raw")
    (record,) = build(raw, tmp_path / "out").records
    assert record.status == "ok" and not [note for note in record.warnings if "rescale" in note]
    (frame,) = record.frames
    assert frame.items[0].bands == (BandScaling(0.0001, -0.1, 0.0),)  # the item's offset, not item_assets'


# --- static catalogs with API-style item links ---------------------------------------------------


def test_item_links_to_an_api_items_endpoint_or_a_non_item_are_skipped(tmp_path: Path, untagged: Path) -> None:
    href = write_s2_catalog(tmp_path / "catalog", untagged, item_bands=True)
    (tmp_path / "catalog" / "features.json").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    collection = json.loads(href.read_text())
    collection["links"].append({"rel": "item", "href": "./features.json", "type": "application/geo+json"})
    href.write_text(json.dumps(collection))
    source = StaticCatalogSource(name="s2", href=str(href))
    items = source.items("sentinel-2-l2a", None, shapely.box(-180, -90, 180, 90))
    assert [item.id for item in items] == [ITEM["id"]]
    assert len(source.notes) == 2
    assert "/items" in source.notes[0] and "API `/items` endpoint" in source.notes[0]
    assert "features.json" in source.notes[1] and "not an Item" in source.notes[1]


@pytest.mark.parametrize("resampling", ["nearest", "average", "bilinear"])
def test_local_and_titiler_give_the_same_levels_on_a_reprojected_grid(
    untagged: Path, titiler: TitilerRenderer, resampling: str
) -> None:
    """Lon/lat output at half the source's resolution: both renderers read, mask and scale alike."""
    region = shapely.box(*region_bbox())
    grid_crs = output_crs("auto", region)
    projected = project(region, grid_crs)
    grid = make_grid(projected, grid_crs, 32)
    inside = inside_mask(projected, grid)
    style = replace(resolve_style("s", {}, StyleSpec(rescale=(0.0, 0.3)), "c").style, resampling=resampling)
    palette = build_palette("viridis")
    frame = FramePlan(datetime(2025, 7, 31, tzinfo=UTC), (asset(untagged),))
    local = render_frame(frame, grid, style, LocalRenderer(), projected)
    remote = render_frame(frame, grid, style, titiler, projected)
    assert np.array_equal(local.valid & inside, remote.valid & inside)
    assert local.valid[inside].all()
    local_levels = to_indices(local.values, local.valid & inside, style.rescale, palette)
    remote_levels = to_indices(remote.values, remote.valid & inside, style.rescale, palette)
    assert (local_levels == remote_levels).mean() >= 0.995
    assert np.abs(local_levels.astype(int) - remote_levels.astype(int)).max() <= 1
    # The values are reflectance: the region spans columns 16-47, 0.08-0.235.
    assert 0.07 <= float(np.nanmin(local.values[inside])) and float(np.nanmax(local.values[inside])) <= 0.245


def test_veda_style_renders_read_as_before(untagged: Path, titiler: TitilerRenderer) -> None:
    """A VEDA collection: a render rescale, items with scale 1 / offset 0. Nothing changes: the
    values, the style's read and the cache key are those of an item without raster:bands."""
    renders = {"dashboard": {"rescale": [[1000, 4000]], "colormap_name": "viridis", "nodata": 0}}
    style = resolve_style("veda", renders, None, "collections[0]").style
    veda = asset(untagged, raster_bands([{"scale": 1, "offset": 0, "data_type": "uint16"}]))
    plain = asset(untagged, ())
    assert veda == plain
    for renderer in renderers(titiler):
        data = read(renderer, veda, style)
        assert np.array_equal(data.values[~WEDGE], digital_numbers()[~WEDGE])
        assert not data.valid[WEDGE].any()


def test_a_remote_untagged_cog_reads_in_reflectance_over_http(untagged: Path) -> None:
    """The same file served with range requests on loopback, as Earth Search serves its COGs."""
    style = resolve_style("sentinel-2-l2a", {}, StyleSpec(rescale=(0.0, 0.3)), "collections[0]").style
    with serve_directory(untagged.parent) as server:
        remote = replace(asset(untagged), href=server.href(untagged.name))
        data = read(LocalRenderer(), remote, style)
        assert any(request.get("range") for request in server.requests)
    assert not data.valid[WEDGE].any() and data.valid[~WEDGE].all()
    np.testing.assert_allclose(data.values[~WEDGE], REFLECTANCE[~WEDGE], atol=1e-6)
