"""True colour: a 3-band asset or three single-band assets rendered as RGB on one palette per animation.

The pictures come from an analytic field (red = 4·column, green = 4·row, blue = 2·(row + column),
shifted per frame), so the colour each pixel should have is computed here, independently of the
code under test.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image, ImageSequence
from pyproj import Transformer
from rasterio.shutil import copy as copy_dataset
from rasterio.transform import from_origin

from generator.cli.main import main
from generator.config import parse_config
from generator.core.errors import ConfigError, StyleError
from generator.core.model import ChannelAsset, ItemAsset, Style, TrueColor
from generator.core.records import decode, encode
from generator.core.specs import StyleSpec
from generator.engine.build import BuildOptions, build
from generator.plan.styles import resolve_style
from generator.render.grid import inside_mask, make_grid, project
from generator.render.palette import LABEL_BOX_RGB, build_palette
from generator.render.truecolor import CUBE_BITS, PaletteMapper, palette_colors, to_rgb, truecolor_palette
from tests.servers.tiles import serve_tiles

SIZE = 64
DATES = ["2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z", "2021-03-01T00:00:00Z", "2021-04-01T00:00:00Z"]
#: How much farther than the nearest palette colour a pixel's colour may be: the lookup cube's
#: cells span 2^(8 - CUBE_BITS) values, so a cell centre is within half a cell diagonal of every
#: colour in it, and the triangle inequality gives twice that (see ``render.truecolor``).
LUT_SLACK = 2 * (2 ** (8 - CUBE_BITS) / 2 - 0.5) * math.sqrt(3)
#: Three single-band assets, each with its own raster:bands scale/offset (digital numbers differ).
SCALING = {"red": (0.0001, -0.1), "green": (0.001, 0.0), "blue": (0.5, 2.0)}
QUIET = "overlays: {date: false, borders: false, title: false, legend: false, attribution: false, timeline: false, context: []}"


def field(frame: int) -> np.ndarray:
    """The expected 8-bit colours of frame ``frame`` (3 × 64 × 64)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    red = (4 * cols + 16 * frame) % 256
    return np.stack([red, 4 * rows, 2 * (rows + cols)]).astype(np.uint8)


def write_tif(path: Path, bands: np.ndarray, dtype: str, nodata: float | None = None) -> Path:
    """``bands`` (count × 64 × 64) as a COG over lon 0–64, lat 0–64."""
    profile = dict(
        driver="GTiff", width=SIZE, height=SIZE, count=len(bands), dtype=dtype, crs="EPSG:4326",
        transform=from_origin(0, SIZE, 1, 1), nodata=nodata,
    )
    plain = path.with_suffix(".plain.tif")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(bands.astype(dtype))
    copy_dataset(plain, path, driver="COG", blocksize=32, overviews="AUTO")
    plain.unlink()
    return path


def write_rgb_catalog(root: Path, *, colormap: bool = False, item_assets: bool = True) -> Path:
    """One collection with, per item, a 3-band uint8 ``visual`` asset and the same picture as three
    single-band float assets (``red``, ``green``, ``blue``) in reflectance 0–0.3 via their scale/offset."""
    collection_dir = root / "rgb"
    links = []
    for number, when in enumerate(DATES):
        item_dir = collection_dir / f"i{number}"
        colours = field(number)
        write_tif(item_dir / "visual.tif", colours, "uint8")
        assets: dict[str, Any] = {
            "visual": {
                "href": "./visual.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["visual"], "raster:bands": [{"data_type": "uint8"}] * 3,
            }
        }
        for channel, (key, (scale, offset)) in enumerate(SCALING.items()):
            physical = colours[channel].astype(np.float64) / 255 * 0.3
            write_tif(item_dir / f"{key}.tif", ((physical - offset) / scale)[None], "float32", nodata=-9999)
            assets[key] = {
                "href": f"./{key}.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"], "raster:bands": [{"scale": scale, "offset": offset, "nodata": -9999}],
            }
        document = {
            "type": "Feature", "stac_version": "1.0.0", "id": f"i{number}",
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [64, 0], [64, 64], [0, 64], [0, 0]]]},
            "bbox": [0, 0, 64, 64], "properties": {"datetime": when}, "assets": assets,
            "links": [{"rel": "collection", "href": "../collection.json", "type": "application/json"}],
            "collection": "rgb",
        }
        (item_dir / f"i{number}.json").write_text(json.dumps(document))
        links.append({"rel": "item", "href": f"./i{number}/i{number}.json", "type": "application/json"})
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": "rgb", "title": "RGB", "description": "True colour.",
        "license": "CC0-1.0", "extent": {"spatial": {"bbox": [[0, 0, 64, 64]]}, "temporal": {"interval": [[None, None]]}},
        "item_assets": {"visual": {"roles": ["visual"], "raster:bands": [{"data_type": "uint8"}] * 3}},
        "links": [{"rel": "root", "href": "../catalog.json", "type": "application/json"}, *links],
    }
    if not item_assets:
        del collection["item_assets"]
    if colormap:
        collection["renders"] = {"dashboard": {"rescale": [[0, 255]], "colormap_name": "viridis"}}
    collection_dir.mkdir(parents=True, exist_ok=True)
    (collection_dir / "collection.json").write_text(json.dumps(collection))
    catalog = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "test", "description": "test catalog",
        "links": [{"rel": "child", "href": "./rgb/collection.json", "type": "application/json"}],
    }
    (root / "catalog.json").write_text(json.dumps(catalog))
    return root / "catalog.json"


def write_config(folder: Path, collection: str, titiler: str | None = None) -> Path:
    path = folder / "site_config.yml"
    api, renderer = (f", raster_api: '{titiler}'", ", renderer: titiler") if titiler else ("", "")
    path.write_text(
        "site: {title: RGB}\n"
        f"sources: {{s: {{catalog: {folder / 'catalog' / 'catalog.json'}{api}}}}}\n"
        f"collections:\n  - {{id: rgb, source: s, {collection}}}\n"
        "regions:\n  - {id: all, bbox: [0, 0, 64, 64]}\n"
        f"render: {{size: 64, crs: 'EPSG:4326', formats: [gif], {QUIET}{renderer}}}\n"
    )
    return path


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rgb")
    write_rgb_catalog(folder / "catalog")
    return folder


def expected_colours(number: int) -> tuple[np.ndarray, np.ndarray]:
    """The colour each output pixel should show in frame ``number`` (nearest source pixel, on the
    build's grid around the region) and the pixels inside the region."""
    grid = make_grid(shapely.box(0, 0, SIZE, SIZE), "EPSG:4326", SIZE)
    inside = inside_mask(shapely.box(0, 0, SIZE, SIZE), grid)
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    source_rows = np.clip(np.floor(SIZE - y), 0, SIZE - 1).astype(int)
    source_cols = np.clip(np.floor(x), 0, SIZE - 1).astype(int)
    colours = np.moveaxis(field(number), 0, -1)[source_rows, source_cols].astype(np.int64)
    return colours, inside


def frames_rgb(output: Path, paths: tuple[str, ...]) -> list[np.ndarray]:
    return [np.asarray(Image.open(output / path).convert("RGB")).astype(np.int64) for path in paths]


def run(catalog: Path, folder: Path, collection: str, titiler: str | None = None) -> tuple[Any, list[np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog").symlink_to(catalog / "catalog", target_is_directory=True)
    config = write_config(folder, collection, titiler)
    result = build(config, folder / "out", options=BuildOptions(jobs=1, cache_dir=folder / "cache"))
    (record,) = result.records
    assert record.status == "ok", record.error
    return result, frames_rgb(result.output_dir, record.files.frames)


@pytest.fixture(scope="module")
def visual(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[np.ndarray]]:
    """The build of the 3-band ``visual`` asset, shared by the tests that only look at it."""
    return run(catalog, tmp_path_factory.mktemp("visual"), "asset: visual")


def test_a_three_band_visual_asset_renders_the_expected_colours(visual: tuple[Any, list[np.ndarray]]) -> None:
    result, frames = visual
    (record,) = result.records
    assert record.style is not None and record.style.truecolor is not None
    assert record.legend_colors == () and record.files.legend is None  # no colour bar for true colour
    gif = Image.open(result.output_dir / record.files.gif)
    palette = np.array(gif.getpalette()[: 256 * 3]).reshape(-1, 3)[: build_palette("viridis").n_levels]
    errors = []
    for number, frame in enumerate(frames):
        expected, inside = expected_colours(number)
        assert frame.shape == expected.shape and inside.sum() > 0.8 * inside.size
        got = np.sqrt(((frame - expected) ** 2).sum(axis=2))[inside]
        nearest = np.sqrt(((expected[:, :, None, :] - palette[None, None]) ** 2).sum(axis=3)).min(axis=2)[inside]
        # Each pixel gets (up to the lookup cube) the palette colour nearest to its true colour.
        assert (got <= nearest + LUT_SLACK + 1e-9).all()
        errors.append(got.mean())
    # The animation has 4 × 4096 distinct colours (four parallel sheets, 4 levels apart) for 235
    # entries: each entry stands for ~70 colours, a patch of radius ≈ √(70 · 4² · 1.5 / π) ≈ 23,
    # whose mean distance to its centre is ≈ ⅔ of that: the error an optimal palette has too.
    assert max(errors) < 16, errors
    page = (result.output_dir / record.files.page).read_text()
    assert "True colour (red, green, blue = band 1, band 2, band 3)" in page
    (entry,) = json.loads((result.output_dir / "manifest.json").read_text())["animations"]
    assert entry["style"]["truecolor"]["bands"] == [1, 2, 3] and entry["style"]["colormap"] is None


def test_true_colour_settings_and_three_assets_survive_the_kept_record() -> None:
    style = Style(rescale=(0, 0.3), truecolor=TrueColor(rescale=((0, 0.3), (0, 0.2), (0, 0.1)), gamma=1.5, assets=("r", "g", "b")))
    item = ItemAsset("i", datetime(2021, 1, 1, tzinfo=UTC), "r.tif", channels=(ChannelAsset("r", "r.tif"), ChannelAsset("g", "g.tif")))
    assert decode(Style, json.loads(json.dumps(encode(style, Style)))) == style
    assert decode(ItemAsset, json.loads(json.dumps(encode(item, ItemAsset)))) == item


def test_three_assets_with_their_own_scale_offset_give_the_visual_picture(
    catalog: Path, tmp_path: Path, visual: tuple[Any, list[np.ndarray]]
) -> None:
    result, three = run(catalog, tmp_path / "three", "asset: [red, green, blue], style: {rescale: [0, 0.3]}")
    assert all(np.array_equal(a, b) for a, b in zip(visual[1], three, strict=True))
    (record,) = result.records
    assert record.frames[0].items[0].channels[2].key == "blue"
    assert "red, green, blue = red, green, blue" in (result.output_dir / record.files.page).read_text()


def test_titiler_renders_true_colour_channel_by_channel(
    catalog: Path, tmp_path: Path, loopback_titiler: Any, visual: tuple[Any, list[np.ndarray]]
) -> None:
    """TiTiler is asked for each channel as one band (raw values; scale/offset applied after)."""
    local = visual[1]
    _, remote = run(catalog, tmp_path / "titiler", "asset: [red, green, blue], style: {rescale: [0, 0.3]}", loopback_titiler.url)
    assert all(np.array_equal(a, b) for a, b in zip(local, remote, strict=True))


def test_true_colour_over_a_basemap(catalog: Path, tmp_path: Path) -> None:
    """Under a basemap the palette shares its entries with the tiles: the data keeps its colours."""
    folder = tmp_path / "basemap"
    folder.mkdir()
    (folder / "catalog").symlink_to(catalog / "catalog", target_is_directory=True)
    with serve_tiles() as server:
        config = write_config(folder, "asset: visual")
        config.write_text(config.read_text().replace(
            "crs: 'EPSG:4326',", f"layout: inset, basemap: {{url: '{server.template()}', attribution: Tiles}},"
        ))
        result = build(config, folder / "out", options=BuildOptions(jobs=1, cache_dir=folder / "cache"))
    (record,) = result.records
    assert record.status == "ok", record.error
    region = project(shapely.box(0, 0, SIZE, SIZE), "EPSG:3857")
    grid = make_grid(region, "EPSG:3857", SIZE)
    inside = inside_mask(region, grid)
    with Image.open(result.output_dir / record.files.gif) as gif:
        frame = np.asarray(gif.convert("RGB")).astype(np.int64)  # the palette frame
    box = np.all(frame == LABEL_BOX_RGB, axis=-1)  # the basemap's attribution, always drawn
    rows, cols = np.nonzero(inside & ~box)
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    lon, lat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(x, y)
    source = np.moveaxis(field(0), 0, -1)[np.clip(np.floor(SIZE - lat), 0, SIZE - 1).astype(int),
                                          np.clip(np.floor(lon), 0, SIZE - 1).astype(int)]
    errors = np.sqrt(((frame[rows, cols] - source.astype(np.int64)) ** 2).sum(axis=1))
    # 128 data entries under a basemap instead of 235: √(235 / 128) ≈ 1.35 times the ~10 of the
    # test above, plus nearest-pixel edges on the Mercator grid.
    assert np.median(errors) < 24, np.median(errors)
    # The frame PNG is full colour: the data's own colours (but for those same edges).
    full = frames_rgb(result.output_dir, record.files.frames[:1])[0]
    exact = np.all(full[rows, cols] == source, axis=1)
    assert exact.mean() > 0.9, exact.mean()


def test_one_palette_for_the_whole_animation(visual: tuple[Any, list[np.ndarray]]) -> None:
    result, _ = visual
    (record,) = result.records
    with Image.open(result.output_dir / record.files.gif) as gif:
        table = {tuple(gif.getpalette()[i : i + 3]) for i in range(0, 768, 3)}  # type: ignore[index]
        frames = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
    assert len(frames) == len(DATES)
    # Every frame shows only colours of the GIF's one (global) palette.
    assert all(set(map(tuple, frame.reshape(-1, 3).tolist())) <= table for frame in frames)
    # The same source colour shows the same palette colour in every frame (the frames share most
    # colours, at shifted columns: red = 4·column + 16·frame), so nothing flickers.
    shown_as: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
    for number, frame in enumerate(frames):
        expected, inside = expected_colours(number)
        for colour, shown in zip(map(tuple, expected[inside]), map(tuple, frame[inside]), strict=True):
            shown_as.setdefault(colour, set()).add(shown)
    assert len(shown_as) > 1000 and all(len(found) == 1 for found in shown_as.values())


def test_gamma_saturation_bidx_and_assets_render_again(catalog: Path, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "catalog").symlink_to(catalog / "catalog", target_is_directory=True)
    options = BuildOptions(jobs=1, cache_dir=folder / "cache")
    previous = None
    for collection in (
        "asset: visual", "asset: visual, style: {gamma: 2}", "asset: visual, style: {gamma: 2, saturation: 0}",
        "asset: visual, style: {bidx: [3, 2, 1], gamma: 2, saturation: 0}",
        "asset: [red, green, blue], style: {rescale: [0, 0.3]}", "asset: [blue, green, red], style: {rescale: [0, 0.3]}",
    ):
        result = build(write_config(folder, collection), folder / "out", options=options)
        assert result.summary.frames_rendered == len(DATES) and result.summary.frames_cached == 0, collection
        (record,) = result.records
        frame = frames_rgb(result.output_dir, record.files.frames[:1])[0]
        assert previous is None or not np.array_equal(frame, previous), collection
        previous = frame
    again = build(write_config(folder, collection), folder / "out2", options=options)
    assert again.summary.frames_cached == len(DATES)


def test_to_rgb_applies_rescale_then_gamma_then_saturation() -> None:
    values = np.array([[[0.0, 0.1, 0.2, 0.3]], [[0.3, 0.2, 0.1, 0.0]], [[0.15, 0.15, 0.15, 0.15]]])
    t = np.clip(values / 0.3, 0, 1)
    plain = TrueColor(rescale=((0, 0.3),) * 3)
    assert np.array_equal(to_rgb(values, plain), np.rint(np.moveaxis(t, 0, -1) * 255).astype(np.uint8))
    brighter = to_rgb(values, TrueColor(rescale=((0, 0.3),) * 3, gamma=2.0))
    assert np.array_equal(brighter, np.rint(np.moveaxis(t ** 0.5, 0, -1) * 255).astype(np.uint8))
    grey = to_rgb(values, TrueColor(rescale=((0, 0.3),) * 3, saturation=0.0))
    luma = 0.2126 * t[0] + 0.7152 * t[1] + 0.0722 * t[2]
    assert np.array_equal(grey, np.rint(np.stack([luma] * 3, axis=-1) * 255).astype(np.uint8))
    vivid = to_rgb(values, TrueColor(rescale=((0, 0.3),) * 3, saturation=1.5)).astype(int)
    expected = np.clip(luma + 1.5 * (t - luma), 0, 1)
    assert np.array_equal(vivid, np.rint(np.moveaxis(expected, 0, -1) * 255).astype(int))
    # A channel rescaled on its own: blue's [0, 0.15] saturates at 0.15.
    per_band = to_rgb(values, TrueColor(rescale=((0, 0.3), (0, 0.3), (0, 0.15))))
    assert (per_band[..., 2] == 255).all()


def test_palette_mapping_is_nearest_within_the_cube_and_keeps_reserved_entries() -> None:
    rng = np.random.default_rng(7)
    colours = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    layer = np.concatenate([colours, np.full((32, 32, 1), 255, np.uint8)], axis=2)
    layer[0, 0, 3] = 0  # no value here
    base = build_palette("viridis")
    palette = truecolor_palette(palette_colors([layer], base.n_levels), base)
    assert dict(palette.reserved) == dict(base.reserved)
    inside = np.ones((32, 32), dtype=bool)
    inside[-1, -1] = False
    indices = PaletteMapper(palette, inside)(layer)
    assert indices[0, 0] == palette.index("nodata") and indices[-1, -1] == palette.transparent
    data = palette.data_colors().astype(float)
    got = np.sqrt(((palette.colors[indices].astype(float) - colours) ** 2).sum(axis=2))
    nearest = np.sqrt(((colours[:, :, None, :].astype(float) - data[None, None]) ** 2).sum(axis=3)).min(axis=2)
    mask = inside.copy()
    mask[0, 0] = False
    assert (got[mask] <= nearest[mask] + LUT_SLACK + 1e-9).all()
    assert (indices[mask] < palette.n_levels).all()


def test_few_colours_are_kept_exactly() -> None:
    layer = np.zeros((4, 4, 4), dtype=np.uint8)
    layer[..., 3] = 255
    layer[:2, :, :3] = (10, 200, 30)
    colours = palette_colors([layer], 235)
    assert {tuple(c) for c in colours} == {(0, 0, 0), (10, 200, 30)}


def test_a_colormap_on_a_multiband_asset_without_bidx_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rgb_catalog(tmp_path / "catalog", colormap=True)
    config = write_config(tmp_path, "asset: visual")
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    assert "asset 'visual' has 3 bands but the style maps one band through a colormap: set style.bidx (1 to 3)" in (
        capsys.readouterr().err
    )
    # bidx picks the band: green = 4·row, through the render's viridis over [0, 255].
    config = write_config(tmp_path, "asset: visual, style: {bidx: 2}")
    assert main(["validate", "--offline", "--config", str(config)]) == 0
    (record,) = build(config, tmp_path / "out", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache")).records
    assert record.status == "ok" and record.style is not None and record.style.truecolor is None
    frame = np.asarray(Image.open(tmp_path / "out" / record.files.frames[0]))
    levels = build_palette("viridis").n_levels
    colours, inside = expected_colours(0)
    expected = np.clip(np.floor(colours[..., 1] / 255 * levels), 0, levels - 1)
    assert np.array_equal(frame[inside], expected[inside])


def test_style_checks_of_true_colour() -> None:
    with pytest.raises(StyleError, match="has 2 bands"):
        resolve_style("c", {}, StyleSpec(rescale=(0, 1)), "collections[0]", "pair", 2)
    with pytest.raises(StyleError, match="gamma and style.saturation are for true colour"):
        resolve_style("c", {}, StyleSpec(rescale=(0, 1), colormap="magma", gamma=2.0), "collections[0]", "one", 1)
    with pytest.raises(StyleError, match=r"true colour reads bands \[4, 2, 1\] but asset 'visual' has 3 band"):
        resolve_style("c", {}, StyleSpec(rgb_bidx=(4, 2, 1)), "collections[0]", "visual", 3)
    with pytest.raises(StyleError, match="has 1 band"):  # a rescale per channel on a one-band asset
        resolve_style("c", {}, StyleSpec(band_rescale=((0, 1),) * 3), "collections[0]", "one", 1)
    per_channel = resolve_style("c", {}, StyleSpec(band_rescale=((0, 1),) * 3), "collections[0]", "visual").style
    assert per_channel.truecolor is not None and per_channel.truecolor.bands == (1, 2, 3)
    style = resolve_style(
        "c", {}, StyleSpec(band_rescale=((0, 1), (0, 2), (0, 3)), saturation=1.2), "collections[0]", ("r", "g", "b")
    ).style
    assert style.truecolor == TrueColor(bands=(1, 1, 1), rescale=((0, 1), (0, 2), (0, 3)), saturation=1.2, assets=("r", "g", "b"))
    assert style.unscale  # a config rescale is in physical units


def test_without_item_assets_the_first_item_says_and_the_frame_cache_never_hides_it(tmp_path: Path) -> None:
    write_rgb_catalog(tmp_path / "catalog", colormap=True, item_assets=False)
    options = BuildOptions(jobs=1, cache_dir=tmp_path / "cache")
    (picked,) = build(write_config(tmp_path, "asset: visual, style: {bidx: 1}"), tmp_path / "out", options=options).records
    assert picked.status == "ok", picked.error
    result = build(write_config(tmp_path, "asset: visual"), tmp_path / "out", options=options)
    (record,) = result.records
    assert record.status == "stale" and result.summary.frames_cached == 0  # failed; last good files kept
    assert record.error is not None and "asset 'visual' has 3 bands but the style maps one band" in record.error


@pytest.mark.parametrize(
    ("collection", "says"),
    [
        ("asset: [a, b]", "collections[0].asset: a list of assets renders true colour and names three different assets"),
        ("asset: [a, a, b]", "three different assets"),
        ("asset: [a, b, c], style: {colormap: magma}", "renders true colour, which takes no style.colormap"),
        ("asset: [a, b, c], style: {bidx: 2}", "reads band 1 of each asset: drop style.bidx"),
        ("style: {rescale: [[0, 1], [0, 1]]}", "style.rescale: give [min, max], or one [min, max] per channel"),
        ("style: {rescale: [[0, 1], [0, 1], [0, 1]], colormap: magma}", "a rescale per channel"),
        ("style: {bidx: [1, 2, 3], colormap: magma}", "bidx with three bands renders true colour, which takes no colormap"),
        ("style: {bidx: [1, 2]}", "style.bidx"),
        ("style: {gamma: 0}", "style.gamma: Input should be greater than 0"),
        ("style: {saturation: -1}", "style.saturation: Input should be greater than or equal to 0"),
    ],
)
def test_true_colour_config_errors_name_the_key(collection: str, says: str) -> None:
    text = (
        "site: {title: T}\nsources: {s: {catalog: c.json}}\n"
        f"collections:\n  - {{id: c, source: s, {collection}}}\nregions: [{{id: r, bbox: [0, 0, 1, 1]}}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, Path("site.yml"))
    assert says in str(raised.value)


def test_a_true_colour_render_gives_its_gamma_and_saturation(caplog: pytest.LogCaptureFixture) -> None:
    render = {"dashboard": {"bidx": [1, 2, 3], "rescale": [[0, 3000], [0, 3000], [0, 2500]],
                            "color_formula": "Gamma RGB 3.2 Saturation 0.8 Sigmoidal RGB 25 0.35"}}
    with caplog.at_level("WARNING"):
        style = resolve_style("s2", render, None, "collections[0]").style
    assert style.truecolor == TrueColor(rescale=((0, 3000), (0, 3000), (0, 2500)), gamma=3.2, saturation=0.8)
    assert "Sigmoidal RGB 25 0.35" in caplog.text  # warned about, not applied
    tuned = resolve_style("s2", render, StyleSpec(gamma=1.0), "collections[0]").style
    assert tuned.truecolor is not None and (tuned.truecolor.gamma, tuned.truecolor.saturation) == (1.0, 0.8)


def test_validate_online_asks_the_first_item_when_item_assets_are_silent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rgb_catalog(tmp_path / "catalog", colormap=True, item_assets=False)
    assert main(["validate", "--offline", "--config", str(write_config(tmp_path, "asset: visual"))]) == 0  # cannot know
    assert main(["validate", "--config", str(write_config(tmp_path, "asset: visual"))]) == 1
    assert "collection rgb: collection 'rgb': asset 'visual' has 3 bands but the style maps one band" in capsys.readouterr().err
    assert main(["validate", "--config", str(write_config(tmp_path, "asset: visual, style: {bidx: 3}"))]) == 0
