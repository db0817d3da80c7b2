"""Basemaps: zoom and tiles, config, palette and compositing, and builds against a loopback tile server."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from PIL import Image
from rio_tiler.colormap import cmap

from generator.cli.main import main
from generator.config import BasemapSection, RenderSection, load_config, parse_config
from generator.core.errors import ConfigError, RenderError
from generator.core.model import Grid
from generator.engine.build import BuildOptions, build
from generator.overlays.basemap import (
    TileFetcher,
    TileRange,
    decode_tile,
    fetch_mosaic,
    make_basemap,
    tile_range,
    tile_session,
    zoom_for,
)
from generator.overlays.painter import overlay_palette
from generator.render.palette import LABEL_BOX_RGB

from .conftest import NODATA, FakeItem, column_values, write_catalog, write_cog
from .golden_cases import BASEMAP_CASES, GOLDEN_DIR, load_golden, to_rgb
from .servers.common import unavailable
from .servers.tiles import BLOCKED_RGB, TileServer, serve_tiles, tile_color

REPO = Path(__file__).resolve().parent.parent
R = 6378137.0
HALF = math.pi * R  # half the Web Mercator world, metres
ZOOM0_RES = 2 * math.pi * R / 256  # metres per tile pixel at zoom 0: 156543.03…


def mercator_grid(west: float, north: float, pixel: float, width: int, height: int) -> Grid:
    return Grid("EPSG:3857", Affine(pixel, 0.0, west, 0.0, -pixel, north), width, height)


# Zoom and tiles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pixel", "expected"),
    [
        (ZOOM0_RES, 0),  # exactly zoom 0's resolution
        (ZOOM0_RES / 2, 1),
        (ZOOM0_RES / 3, 2),  # between zooms: the finer one, never upscaled tiles
        (ZOOM0_RES / 2**10 * 1.5, 10),
        (ZOOM0_RES * 4, 0),  # coarser than the whole world in one tile
    ],
)
def test_zoom_is_the_coarsest_not_coarser_than_the_frame(pixel: float, expected: int) -> None:
    assert zoom_for(mercator_grid(0, 0, pixel, 10, 10), max_zoom=19) == expected


def test_zoom_stops_at_the_servers_deepest_level() -> None:
    assert zoom_for(mercator_grid(0, 0, 0.01, 10, 10), max_zoom=17) == 17


def test_tile_range_covers_the_grid() -> None:
    # Zoom 2: tiles are a quarter of the world (10 018 754 m); the grid spans x 1 m … 3 tile widths.
    span = 2 * HALF / 4
    grid = mercator_grid(-HALF + 1.0, HALF - 1.0, span / 256, 256 * 3 - 1, 256)
    assert tile_range(grid, 2) == TileRange(2, 0, 0, 2, 1)


def test_tiles_wrap_across_the_antimeridian_and_stop_at_the_poles() -> None:
    tiles = TileRange(zoom=1, x0=1, y0=-1, x1=2, y1=0)
    assert tiles.tiles() == [(1, 1, 0), (1, 0, 0)]


# Config ----------------------------------------------------------------------------------------

SITE = """\
site: {title: T}
sources: {s: {catalog: c.json}}
collections: [{id: c, source: s}]
regions: [{id: r, bbox: [0, 0, 1, 1]}]
"""


def test_the_osm_preset_fills_url_and_attribution() -> None:
    settings = BasemapSection.model_validate("osm")
    assert settings.url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert settings.attribution == "© OpenStreetMap contributors"
    assert (settings.opacity, settings.outside) == (1.0, "show")
    tuned = BasemapSection.model_validate({"preset": "osm", "opacity": 0.6, "outside": "hide"})
    assert (tuned.url, tuned.opacity, tuned.outside) == (settings.url, 0.6, "hide")


@pytest.mark.parametrize(
    ("basemap", "message"),
    [
        ("toner", "unknown basemap preset 'toner'"),
        ({"url": "https://example.org/{z}/{x}.png", "attribution": "x"}, "lacks {y}"),
        ({"url": "https://example.org/{z}/{x}/{y}.png"}, "render.basemap.attribution: required key is missing"),
        ({"preset": "osm", "opacity": 1.5}, "render.basemap.opacity"),
    ],
)
def test_bad_basemaps_are_config_errors(basemap: object, message: str) -> None:
    text = SITE + "render: " + json.dumps({"basemap": basemap}) + "\n"
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("(", r"\(")):
        parse_config(text, Path("site.yml"))


def test_a_basemap_with_another_projection_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(SITE + "render: {crs: 'EPSG:4326', basemap: osm}\n", Path("site.yml"))
    assert "render.crs 'EPSG:4326' cannot be used with render.basemap" in str(error.value)
    assert RenderSection.model_validate({"crs": "EPSG:3857", "basemap": "osm"}).basemap is not None
    assert RenderSection.model_validate({"crs": "auto", "basemap": "osm"}).basemap is not None


def test_an_animation_combining_a_projection_and_a_basemap_is_a_config_error() -> None:
    text = SITE + (
        "render: {crs: 'EPSG:3035'}\n"
        "animations: [{collection: c, region: r, render: {basemap: osm}}]\n"
    )
    with pytest.raises(ConfigError, match=r"animations\[0\]\.render\.crs 'EPSG:3035' cannot be used with render\.basemap"):
        parse_config(text, Path("site.yml"))


def test_an_animation_can_switch_the_basemap_off() -> None:
    text = SITE + (
        "render: {basemap: osm}\n"
        "animations: [{id: plain, collection: c, region: r, render: {basemap: false, crs: 'EPSG:4326'}},"
        " {id: faint, collection: c, region: r, render: {basemap: {opacity: 0.5, url: 'https://t.example/{z}/{x}/{y}.png',"
        " attribution: 'T'}}}]\n"
    )
    config = parse_config(text, Path("site.yml"))
    plain, faint = (config.model.render.merged(animation.render) for animation in config.model.animations or [])
    assert plain.basemap is None and plain.crs == "EPSG:4326"
    assert faint.basemap is not None and faint.basemap.opacity == 0.5 and faint.basemap.attribution == "T"


def test_the_basemap_example_validates_offline(capsys: pytest.CaptureFixture[str]) -> None:
    path = REPO / "examples" / "basemap.yml"
    config = load_config(path)
    basemap = config.model.render.basemap
    assert basemap is not None and basemap.url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert main(["validate", "--offline", "--config", str(path)]) == 0
    assert "is valid" in capsys.readouterr().out


def test_the_default_gallery_has_no_basemap() -> None:
    config = load_config(REPO / "site_config.yml")
    assert config.model.render.basemap is None
    assert all(a.render is None or not a.render.basemap for a in config.model.animations or [])


# Palette and compositing ------------------------------------------------------------------------

SEA, LAND = (170, 211, 223), (242, 239, 233)


def two_colour_basemap(height: int = 8, width: int = 8) -> np.ndarray:
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:, : width // 2, :3] = SEA
    rgba[:, width // 2 :, :3] = LAND
    return rgba


def viridis_levels(n: int) -> np.ndarray:
    """The viridis colormap at ``n`` levels, resampled by index from rio-tiler's 256 entries."""
    table = cmap.get("viridis")
    entries = np.array([table[k][:3] for k in sorted(table)], dtype=np.uint8)
    return entries[np.rint(np.arange(n) * 255 / (n - 1)).astype(int)]


def test_at_full_opacity_data_keeps_its_exact_colours_and_the_basemap_fills_the_rest() -> None:
    reserved = overlay_palette("viridis")
    inside = np.ones((8, 8), dtype=bool)
    inside[:, -1] = False
    levels = viridis_levels(128)
    basemap = make_basemap(BasemapSection.model_validate("osm"), two_colour_basemap(), inside, levels, reserved)
    palette = basemap.palette
    assert palette.n_levels == 128 and np.array_equal(palette.data_colors(), levels)
    for name in ("border_1", "label_box", "label_text", "timeline_bar", "transparent"):
        assert tuple(palette.colors[palette.index(name)]) == tuple(reserved.colors[reserved.index(name)])
    layer = np.full((8, 8), palette.transparent, dtype=np.uint8)
    layer[2:4, :] = 100  # data level 100 across both halves
    frame = basemap.composite(layer)
    rgb = palette.colors[frame]
    assert np.all(frame[2:4] == 100)
    assert tuple(rgb[0, 0]) == SEA and tuple(rgb[0, 6]) == LAND and tuple(rgb[0, 7]) == LAND  # outside: show


def test_outside_hide_leaves_the_basemap_out_beyond_the_region() -> None:
    inside = np.ones((8, 8), dtype=bool)
    inside[:, -1] = False
    settings = BasemapSection.model_validate({"preset": "osm", "outside": "hide"})
    basemap = make_basemap(settings, two_colour_basemap(), inside, viridis_levels(128), overlay_palette("viridis"))
    frame = basemap.composite(np.full((8, 8), basemap.palette.transparent, dtype=np.uint8))
    assert np.all(frame[:, -1] == basemap.palette.transparent)
    assert tuple(basemap.palette.colors[frame[0, 6]]) == LAND


def test_below_full_opacity_data_is_blended_over_the_basemap_with_one_fixed_palette() -> None:
    settings = BasemapSection.model_validate({"preset": "osm", "opacity": 0.5})
    levels = viridis_levels(128)
    basemap = make_basemap(settings, two_colour_basemap(), np.ones((8, 8), bool), levels, overlay_palette("viridis"))
    palette = basemap.palette
    layer = np.full((8, 8), palette.transparent, dtype=np.uint8)
    layer[:, :] = np.arange(8, dtype=np.uint8) * 16  # a different data level in every column
    frame = basemap.composite(layer)
    for column in range(8):
        under = np.array(SEA if column < 4 else LAND, dtype=float)
        expected = 0.5 * levels[column * 16].astype(float) + 0.5 * under
        got = palette.colors[frame[0, column]].astype(float)
        # 128 data levels + the quantized blends stand for the mixture; 20 per channel is a
        # clearly visible miss, smaller ones are the fixed palette's approximation.
        assert np.max(np.abs(got - expected)) <= 20, (column, got, expected)
    again = basemap.composite(layer)
    assert np.array_equal(frame, again)  # the same lookup every frame


def test_a_tile_that_is_not_an_image_or_not_256_px_is_an_error() -> None:
    with pytest.raises(RenderError, match="is not an image"):
        decode_tile(b"<html>Access blocked</html>", "http://t/1/2/3.png")
    small = Image.new("RGB", (512, 512))
    import io

    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    with pytest.raises(RenderError, match="512×512 px"):
        decode_tile(buffer.getvalue(), "http://t/1/2/3.png")


# The loopback tile server -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tile_server() -> Iterator[TileServer]:
    try:
        with serve_tiles(delay=0.03) as server:
            yield server
    except (OSError, TimeoutError) as error:
        unavailable(f"the loopback tile server did not start: {error}")


def test_tiles_are_fetched_at_most_two_at_a_time_with_the_projects_user_agent(
    tile_server: TileServer, tmp_path: Path
) -> None:
    tile_server.reset()
    fetcher = TileFetcher(tile_server.template(), tmp_path / "tiles", tile_session())
    mosaic = fetch_mosaic(TileRange(3, 0, 0, 2, 2), fetcher, workers=8)  # more workers than allowed
    assert tile_server.request_count == 9
    assert tile_server.max_in_flight == 2  # the per-host bound, observed by the server
    assert all(agent.startswith("eo-timelapse-generator/") for agent in tile_server.user_agents)
    assert tuple(mosaic[256 + 10, 512 + 10, :3]) == tile_color(3, 2, 1)
    again = TileFetcher(tile_server.template(), tmp_path / "tiles", tile_session())
    fetch_mosaic(TileRange(3, 0, 0, 2, 2), again)
    assert tile_server.request_count == 9 and again.from_cache == 9  # the disk cache answered


# Builds ----------------------------------------------------------------------------------------

MONTHS = ["2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z", "2021-03-01T00:00:00Z"]
#: A right triangle: the frame's upper-right half is outside the region.
TRIANGLE = {"type": "Polygon", "coordinates": [[[10, 10], [30, 10], [10, 30], [10, 10]]]}
NODATA_NORTH_OF = 25.0  # the COG has no data north of this latitude


def site(folder: Path, animations: str = "", basemap: str = "") -> Path:
    """A catalog of 3 monthly frames (value = longitude's whole degrees) and its config."""
    data = column_values(64)
    data[: 64 - int(NODATA_NORTH_OF)] = NODATA  # rows 0…38 cover latitudes 25…64
    items = []
    for month, when in enumerate(MONTHS):
        cog = write_cog(folder / "cogs" / f"c-{month}.tif", data)
        items.append(FakeItem(id=f"c-{month}", datetime=when, cog=cog))
    write_catalog(folder / "catalog", "c", items, renders={"dashboard": {"rescale": [[0, 64]], "colormap_name": "viridis"}})
    overlays = "{date: false, legend: false, title: false, borders: false, attribution: false}"
    config = f"""\
site: {{title: Basemaps}}
sources: {{test: {{catalog: catalog/catalog.json}}}}
collections: [{{id: c, source: test}}]
regions: [{{id: tri, geometry: {json.dumps(TRIANGLE)}}}]
{animations}
render: {{size: 128, frame_ms: 100, layout: inset, overlays: {overlays}, {basemap}}}
"""
    (folder / "site_config.yml").write_text(config)
    return folder / "site_config.yml"


def basemap_key(server: TileServer, layer: str = "tiles") -> str:
    return f"basemap: {{url: '{server.template(layer)}', attribution: 'Loopback tiles'}}"


def frame_rgb(output: Path, path: str) -> np.ndarray:
    with Image.open(output / path) as image:
        return np.asarray(image.convert("RGBA"))


def lonlat(grid_west: float, grid_north: float, pixel: float, row: int, column: int) -> tuple[float, float, float, float]:
    x = grid_west + (column + 0.5) * pixel
    y = grid_north - (row + 0.5) * pixel
    lon = math.degrees(x / R)
    lat = math.degrees(2 * math.atan(math.exp(y / R)) - math.pi / 2)
    return x, y, lon, lat


def test_a_basemap_build_shows_tiles_around_and_under_nodata_and_exact_data(
    tile_server: TileServer, tmp_path: Path
) -> None:
    config = site(tmp_path, basemap=basemap_key(tile_server))
    tile_server.reset()
    result = build(config, tmp_path / "out", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache"))
    (record,) = result.records
    assert record.status == "ok", record.error
    assert record.crs == "EPSG:3857" and max(record.width, record.height) == 128 and len(record.files.frames) == 3
    assert tile_server.request_count > 0 and tile_server.max_in_flight <= 2
    assert all(agent.startswith("eo-timelapse-generator/") for agent in tile_server.user_agents)
    # The grid, recomputed from the region: Mercator bounds plus the 2 % margin, longest side 128 px.
    west, east = 10 * math.pi / 180 * R, 30 * math.pi / 180 * R
    south = R * math.log(math.tan(math.pi / 4 + math.radians(10) / 2))
    north = R * math.log(math.tan(math.pi / 4 + math.radians(30) / 2))
    longest = max(east - west, north - south) * 1.04
    pixel = longest / 128
    grid_west = (west + east) / 2 - record.width * pixel / 2
    grid_north = (south + north) / 2 + record.height * pixel / 2
    zoom = math.ceil(math.log2(ZOOM0_RES / pixel))
    span = 2 * HALF / 2**zoom
    viridis = viridis_levels(128)
    frame = frame_rgb(tmp_path / "out", record.files.frames[-1])
    # The attribution is drawn although the config switches it off: the basemap's is mandatory.
    # (On the map, `layout: inset`, in the corner where it hides the least data.)
    rows, columns = np.nonzero(np.all(frame[..., :3] == LABEL_BOX_RGB, axis=-1))
    assert len(rows) > 50
    seen = {"data": 0, "nodata": 0, "outside": 0}
    for row in range(4, record.height - 4, 3):
        for column in range(4, record.width - 4, 3):
            if rows.min() - 2 <= row <= rows.max() + 2 and columns.min() - 2 <= column <= columns.max() + 2:
                continue  # under the attribution box
            x, y, lon, lat = lonlat(grid_west, grid_north, pixel, row, column)
            tile_x, tile_y = (x + HALF) / span, (HALF - y) / span
            near_tile_edge = min(tile_x % 1, 1 - tile_x % 1, tile_y % 1, 1 - tile_y % 1) * 256 < 8
            inside = lon > 10.3 and lat > 10.3 and lon + lat < 39.6  # well inside the triangle
            outside = lon + lat > 40.6
            got = frame[row, column]
            if inside and lat < NODATA_NORTH_OF - 0.5 and 0.15 < lon % 1 < 0.85:
                level = math.floor(math.floor(lon) / 64 * 128)
                assert tuple(got[:3]) == tuple(viridis[level]) and got[3] == 255, (row, column, lon)
                seen["data"] += 1
            elif (outside or (inside and lat > NODATA_NORTH_OF + 0.5)) and not near_tile_edge:
                expected = np.array(tile_color(zoom, math.floor(tile_x), math.floor(tile_y)))
                # The basemap is approximated by its quantized colours and resampled with
                # Lanczos: a few units per channel, never a neighbouring tile's colour (≥ 60 away).
                assert got[3] == 255 and np.max(np.abs(got[:3].astype(int) - expected)) <= 12, (row, column, got)
                seen["outside" if outside else "nodata"] += 1
    assert min(seen.values()) >= 10, seen


def test_404_and_403_tiles_fail_their_animation_and_others_build(tile_server: TileServer, tmp_path: Path) -> None:
    animations = f"""animations:
  - {{id: good, collection: c, region: tri}}
  - {{id: holey, collection: c, region: tri, render: {{{basemap_key(tile_server, "holey")}}}}}
  - {{id: blocked, collection: c, region: tri, render: {{{basemap_key(tile_server, "blocked")}}}}}
"""
    config = site(tmp_path, animations=animations, basemap=basemap_key(tile_server))
    result = build(config, tmp_path / "out", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache"))
    good, holey, blocked = result.records
    assert good.status == "ok", good.error
    assert holey.status == "failed" and blocked.status == "failed"
    assert f"basemap tile {tile_server.url}/holey/" in (holey.error or "") and "HTTP 404" in (holey.error or "")
    assert f"basemap tile {tile_server.url}/blocked/" in (blocked.error or "") and "HTTP 403" in (blocked.error or "")
    assert "refused access" in (blocked.error or "")
    assert not (tmp_path / "out" / blocked.files.gif).exists() and not (tmp_path / "out" / holey.files.gif).exists()
    frame = frame_rgb(tmp_path / "out", good.files.frames[0])
    assert not np.any(np.all(frame[..., :3] == BLOCKED_RGB, axis=-1))


def test_a_second_build_uses_the_tile_cache_with_the_server_stopped(tmp_path: Path) -> None:
    try:
        server_context = serve_tiles(delay=0.0)
        server = server_context.__enter__()
    except (OSError, TimeoutError) as error:
        unavailable(f"the loopback tile server did not start: {error}")
    try:
        config = site(tmp_path, basemap=basemap_key(server))
        first = build(config, tmp_path / "out1", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache"))
        assert first.records[0].status == "ok", first.records[0].error
        fetched = server.request_count
        assert fetched > 0 and any((tmp_path / "cache" / "tiles").rglob("*.tile"))
    finally:
        server_context.__exit__(None, None, None)
    # A new output folder: the animation is rendered again (basemap included), not carried over.
    second = build(config, tmp_path / "out2", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache"))
    assert second.records[0].status == "ok", second.records[0].error
    assert server.request_count == fetched  # zero requests: every tile came from the cache
    one = frame_rgb(tmp_path / "out1", first.records[0].files.frames[0])
    two = frame_rgb(tmp_path / "out2", second.records[0].files.frames[0])
    assert np.array_equal(one, two)


def test_without_the_cache_tiles_are_fetched_into_a_temporary_folder(tile_server: TileServer, tmp_path: Path) -> None:
    config = site(tmp_path, basemap=basemap_key(tile_server))
    tile_server.reset()
    result = build(config, tmp_path / "out", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache", use_cache=False))
    assert result.records[0].status == "ok", result.records[0].error
    assert tile_server.request_count > 0
    assert not (tmp_path / "cache" / "tiles").exists()


# Golden ----------------------------------------------------------------------------------------

#: The basemap golden holds overlays (text: the same Pillow/FreeType caveat as the overlay goldens,
#: ≤ 0.5 % of pixels) and a basemap that is resampled (Lanczos) and quantized (median cut): another
#: Pillow may move a basemap colour by a few units, which is not a visible change. So pixels count
#: as different only when a channel moves by more than 8, and at most 0.5 % of them may.
BASEMAP_CHANNEL_TOLERANCE = 8
BASEMAP_GOLDEN_TOLERANCE = 0.005


@pytest.mark.parametrize("name", sorted(BASEMAP_CASES))
def test_basemap_golden_frame(name: str) -> None:
    path = GOLDEN_DIR / f"{name}.png"
    assert path.exists(), f"missing golden {path}: run scripts/make_goldens.py"
    expected = load_golden(path)
    indices, colors = BASEMAP_CASES[name]()
    actual = to_rgb(indices, colors)
    assert actual.shape == expected.shape
    moved = np.abs(actual.astype(int) - expected.astype(int)).max(axis=2) > BASEMAP_CHANNEL_TOLERANCE
    assert moved.mean() <= BASEMAP_GOLDEN_TOLERANCE, f"{name}: {moved.mean():.2%} of pixels differ from the golden"


def test_an_api_key_in_the_tile_url_is_never_published_nor_a_folder_name(tile_server: TileServer, tmp_path: Path) -> None:
    from generator.engine.animation import _published_render
    from generator.plan.specs import render_spec

    template = tile_server.template("holey") + "?apikey=SECRET123&style=dark"
    render = RenderSection.model_validate({"basemap": {"url": template, "attribution": "T"}})
    assert "SECRET123" not in json.dumps(_published_render(render_spec(render)))
    fetcher = TileFetcher(template, tmp_path / "tiles", tile_session())
    with pytest.raises(RenderError) as error:
        fetcher(4, 0, 0)  # (0 + 0) % 3 == 0: a 404 tile
    assert "HTTP 404" in str(error.value) and "SECRET123" not in str(error.value)
    fetcher(4, 1, 0)
    assert not any("SECRET123" in str(path) for path in (tmp_path / "tiles").rglob("*"))
