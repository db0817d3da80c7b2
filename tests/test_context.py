"""Geographic context: Natural Earth coastlines and country borders shipped with the package,
drawn on frames (``render.overlays.context``) and as land on the page's locator globe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from PIL import Image
from pyproj import Transformer
from shapely.geometry import shape

from generator.config import RenderOverrides, RenderSection
from generator.core.colors import CONTEXT_COLORS, CONTEXT_ENTRIES
from generator.core.model import Grid, Style
from generator.core.specs import AttributionOverlay, DateOverlay, LegendOverlay, OverlaysSpec, TitleOverlay
from generator.engine.build import build
from generator.overlays.context import context_masks, context_width_px, lonlat_boxes
from generator.overlays.painter import OverlayPainter, overlay_palette
from generator.plan.specs import DEFAULT_CONTEXT, render_spec
from generator.render.grid import make_grid, output_crs, project, unwrap_antimeridian
from generator.render.layers import prepare_grid
from generator.site.locator import land_path, locator_svg
from generator.sources import geodata
from generator.sources.regions import BorderLayer, Region

from .conftest import FakeItem, write_catalog, write_cog

COAST = np.array(CONTEXT_COLORS[CONTEXT_ENTRIES["coastline"]])
COUNTRIES = np.array(CONTEXT_COLORS[CONTEXT_ENTRIES["countries"]])


def france(test_geo: Path) -> shapely.Geometry:
    return shape(json.loads((test_geo / "france-metropole.geojson").read_text(encoding="utf-8"))["geometry"])


def pixel_of(grid: Grid, lon: float, lat: float) -> tuple[int, int]:
    """(row, column) of the pixel holding lon/lat."""
    x, y = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(lon, lat)
    column, row = ~grid.transform * (x, y)
    return int(row), int(column)


def window(mask: np.ndarray, grid: Grid, west: float, south: float, east: float, north: float) -> np.ndarray:
    """The part of ``mask`` between two lon/lat corners (the pixels of their bounding rectangle)."""
    rows, columns = zip(*(pixel_of(grid, lon, lat) for lon in (west, east) for lat in (south, north)), strict=True)
    top, bottom = max(0, min(rows)), min(grid.height, max(rows) + 1)
    left, right = max(0, min(columns)), min(grid.width, max(columns) + 1)
    assert bottom - top > 3 and right - left > 3, "the window must lie in the frame"
    return mask[top:bottom, left:right]


def masks(grid: Grid, layers: tuple[str, ...] = DEFAULT_CONTEXT) -> dict[str, np.ndarray]:
    return {layer: mask for layer, mask, _ in context_masks(layers, grid, overlay_palette("viridis"))}


# The shipped data ------------------------------------------------------------------------------


def test_topojson_arcs_decode_and_polygons_are_cut_at_the_antimeridian() -> None:
    # Quantized, delta-encoded, stitched like world-atlas: arc 0 runs 179°E → 179°W across ±180°,
    # arc 1 comes back.
    topology = geodata.decode({
        "type": "Topology",
        "transform": {"scale": [1, 1], "translate": [-180, -90]},
        "objects": {"island": {"type": "GeometryCollection", "geometries": [{"type": "Polygon", "arcs": [[0, 1]]}]}},
        "arcs": [[[359, 70], [-358, 0], [0, 2]], [[1, 72], [358, 0], [0, -2]]],
    })
    assert topology.arcs[0].tolist() == [[179.0, -20.0], [-179.0, -20.0], [-179.0, -18.0]]
    assert topology.ring([0, 1]).tolist() == [[179, -20], [-179, -20], [-179, -18], [179, -18], [179, -20]]
    assert topology.ring([~1])[0].tolist() == [179.0, -20.0]
    parts = topology.polygons("island")
    assert sorted(part.bounds for part in parts) == [(-180.0, -20.0, -179.0, -18.0), (179.0, -20.0, 180.0, -18.0)]
    assert all(part.is_valid for part in parts) and sum(part.area for part in parts) == pytest.approx(4.0)


def test_arcs_are_decoded_at_once_as_each_alone_would_be() -> None:
    # Quantized: every arc's deltas summed from its own start (the arcs before it do not leak in),
    # an empty arc stays empty with empty bounds; unquantized: the points as given.
    quantized = geodata.decode({
        "type": "Topology", "transform": {"scale": [0.5, 0.25], "translate": [-10, 20]}, "objects": {},
        "arcs": [[[4, 8], [2, -4]], [], [[1, 1]], [[10, 0], [-1, 1], [-1, 1]]],
    })
    assert [arc.tolist() for arc in quantized.arcs] == [
        [[-8.0, 22.0], [-7.0, 21.0]], [], [[-9.5, 20.25]], [[-5.0, 20.0], [-5.5, 20.25], [-6.0, 20.5]],
    ]
    assert quantized.bounds.tolist() == [
        [-8.0, 21.0, -7.0, 22.0], [np.inf, np.inf, -np.inf, -np.inf], [-9.5, 20.25, -9.5, 20.25], [-6.0, 20.0, -5.0, 20.5],
    ]
    plain = geodata.decode({"type": "Topology", "objects": {}, "arcs": [[[1.5, 2.5], [3, 4]], [[0.25, -1]]]})
    assert [arc.tolist() for arc in plain.arcs] == [[[1.5, 2.5], [3.0, 4.0]], [[0.25, -1.0]]]


def same_topology(one: geodata.Topology, other: geodata.Topology) -> bool:
    return (
        len(one.arcs) == len(other.arcs)
        and all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(one.arcs, other.arcs, strict=True))
        and np.array_equal(one.bounds, other.bounds)
        and one.objects == other.objects
    )


@pytest.mark.parametrize("name", [geodata.COUNTRIES_50M, geodata.LAND_110M])
def test_the_shipped_topologies_read_by_numpy_are_what_json_gives(name: str) -> None:
    import gzip

    text = gzip.decompress((geodata.GEODATA / name).read_bytes()).decode("utf-8")
    assert geodata._split_arcs(text) is not None  # the numpy path is the one taken
    assert same_topology(geodata.parse_topology(text), geodata.decode(json.loads(text)))


TOPOLOGIES = {
    "quantized": '{"type":"Topology","objects":{"o":{"arcs":[[0]]}},"arcs":[[[4,8],[2,-4]],[[1,1]],[[10,0],[-1,1],[-1,1]]],'
                 '"transform":{"scale":[0.5,0.25],"translate":[-10,20]}}',
    "arcs first, spaces around": ' { "arcs" : [[[4,8],[2,-4]]] , "objects" : {}, "transform": {"scale": [1, 1], "translate": [0, 0]} } ',
    "no arcs": '{"type":"Topology","objects":{},"arcs":[],"transform":{"scale":[1,1],"translate":[0,0]}}',
    "an empty arc": '{"objects":{},"arcs":[[[4,8]],[],[[1,1]]],"transform":{"scale":[1,1],"translate":[0,0]}}',
    "spaces in the arcs": '{"objects":{},"arcs":[[[4, 8], [2, -4]]],"transform":{"scale":[1,1],"translate":[0,0]}}',
    "not quantized": '{"type":"Topology","objects":{},"arcs":[[[1.5,2.5],[3,4]],[[0.25,-1]]]}',
    "three numbers a point": '{"objects":{},"arcs":[[[4,8,1],[2,-4,1]]],"transform":{"scale":[1,1],"translate":[0,0]}}',
    "a key twice": '{"objects":{},"arcs":[[[4,8]]],"arcs":[[[1,1]]],"transform":{"scale":[1,1],"translate":[0,0]}}',
}


@pytest.mark.parametrize("text", TOPOLOGIES.values(), ids=TOPOLOGIES.keys())
def test_any_topology_text_reads_as_json_decodes_it(text: str) -> None:
    try:
        expected = geodata.decode(json.loads(text))
    except Exception as error:  # the same failure, whichever path reads it
        with pytest.raises(type(error)):
            geodata.parse_topology(text)
        return
    assert same_topology(geodata.parse_topology(text), expected)


def test_a_topology_that_is_not_json_fails_as_json_says() -> None:
    with pytest.raises(json.JSONDecodeError):
        geodata.parse_topology('{"objects":{},"arcs":[[[1,2]]],"transform":')


def test_lines_of_arcs_cut_at_the_antimeridian_and_drop_the_pole_edge() -> None:
    topology = geodata.decode({
        "type": "Topology", "objects": {},
        "arcs": [
            [[170.0, 10.0], [179.0, 10.0]],  # kept as it is
            [[-179.0, 10.0], [179.0, 11.0]],  # crosses ±180°: cut in two
            [[-170.0, 89.95], [170.0, 89.95]],  # along the pole: not a coast
            [[5.0, 5.0]],  # a single point: no line
            [[-175.0, 0.0], [-170.0, 0.0]],  # far from the previous arc's end, yet crossing nothing
        ],
    })
    found = geodata.Lines.of(topology, np.arange(5))
    assert [line.tolist() for line in found.lines] == [
        [[170.0, 10.0], [179.0, 10.0]],
        [[180.0, 10.5], [179.0, 11.0]],
        [[-179.0, 10.0], [-180.0, 10.5]],
        [[-175.0, 0.0], [-170.0, 0.0]],
    ]
    assert found.bounds.tolist() == [
        [170.0, 10.0, 179.0, 10.0], [179.0, 10.5, 180.0, 11.0], [-180.0, 10.0, -179.0, 10.5], [-175.0, 0.0, -170.0, 0.0],
    ]


def test_natural_earth_layers_are_read_once_and_stay_within_the_world() -> None:
    data = geodata.natural_earth()
    assert geodata.natural_earth() is data  # cached: read once per process
    for layer in (data.coastline, data.countries):
        assert len(layer.lines) > 300
        assert layer.bounds[:, 0].min() >= -180 and layer.bounds[:, 2].max() <= 180
        assert max(np.abs(np.diff(line[:, 0])).max() for line in layer.lines) < 180  # no jump across ±180°
    # Each edge once: no coastline piece is also a border piece.
    coast = {line.tobytes() for line in data.coastline.lines}
    assert not any(line.tobytes() in coast for line in data.countries.lines)
    land = shapely.MultiPolygon(geodata.globe_land())
    assert land.is_valid and len(land.geoms) > 100
    # Stitched polygons (Eurasia with Chukotka, Antarctica) cover their land, not the sea between.
    assert land.contains(shapely.Point(100, 60)) and land.contains(shapely.Point(-175, 66))
    assert land.contains(shapely.Point(0, -85))
    assert not land.contains(shapely.Point(-150, 0)) and not land.contains(shapely.Point(0, 88))


def test_lines_are_clipped_to_the_boxes_asked_for() -> None:
    coast = geodata.lines("coastline", [(-6.0, 46.0, -1.0, 49.0)])  # Brittany
    assert coast.length > 5 and shapely.box(-6, 46, -1, 49).buffer(1e-9).contains(coast)
    assert geodata.lines("coastline", [(-30.0, 40.0, -25.0, 45.0)]).is_empty  # the open Atlantic
    assert geodata.lines("countries", [(1.0, 45.0, 3.0, 47.0)]).is_empty  # inside France


# Frames -------------------------------------------------------------------------------------


@pytest.fixture
def france_site(tmp_path: Path, test_geo: Path) -> Path:
    """France's outline as the region over one synthetic COG covering western Europe."""
    west, north, res = -8.0, 54.0, 0.125
    values = np.tile(np.linspace(0, 64, 160, dtype="float32"), (112, 1))
    cog = write_cog(tmp_path / "cogs" / "europe.tif", values, west=west, north=north, res=res)
    write_catalog(tmp_path / "catalog", "eu", [FakeItem(id="eu-1", datetime="2022-01-01T00:00:00Z", cog=cog)],
                  renders={"x": {"rescale": [[0, 64]], "colormap_name": "viridis"}})
    (tmp_path / "france.geojson").write_text((test_geo / "france-metropole.geojson").read_text(encoding="utf-8"))
    return tmp_path


def build_poster(site: Path, overlays: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The poster of the one animation as (H, W, 3) RGB and its alpha (True: opaque)."""
    (site / "site_config.yml").write_text(
        "site: {title: Context}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        "collections: [{id: eu, source: s}]\n"
        "regions: [{id: france, geometry: france.geojson}]\n"
        "render: {size: 256, formats: [gif], overlays: {date: false, title: false, attribution: false, "
        f"legend: false {overlays}}}}}\n"
    )
    result = build(site / "site_config.yml", output_dir=site / "out")
    manifest = json.loads((result.output_dir / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = manifest["animations"]
    assert entry["status"] == "ok", entry["error"]
    with Image.open(result.output_dir / entry["poster"]) as poster:
        rgba = np.asarray(poster.convert("RGBA"))
    return rgba[..., :3], rgba[..., 3] > 0


def coloured(rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return np.all(rgb == colour, axis=-1)


def test_coastline_and_countries_are_drawn_by_default_where_natural_earth_has_them(
    france_site: Path, test_geo: Path
) -> None:
    rgb, opaque = build_poster(france_site)
    prepared = prepare_grid(Region("france", "France", france(test_geo)), "auto", 256)
    grid = prepared.grid
    assert rgb.shape[:2] == grid.shape
    coast, border = coloured(rgb, COAST), coloured(rgb, COUNTRIES)
    # Brittany's coast (its own outline hides the line only where the two coincide) …
    assert window(coast, grid, -5.2, 47.2, -1.5, 49.0).sum() >= 20
    # … England's across the Channel, outside the region, where the frame was transparent …
    assert window(coast & ~coloured(rgb, np.array([40, 40, 40])), grid, -5.5, 50.0, 1.5, 51.5).sum() >= 40
    # … none over the open Bay of Biscay, nor in France's interior away from its borders.
    assert window(coast | border, grid, -5.0, 44.2, -2.7, 46.0).sum() == 0
    assert window(coast | border, grid, 1.0, 45.5, 4.0, 47.5).sum() == 0
    # Land borders: Spain–Andorra–France in the Pyrenees, Belgium, Switzerland, Italy.
    assert window(border, grid, -1.8, 42.2, 3.3, 43.4).sum() >= 15
    assert window(border, grid, 5.8, 45.8, 7.8, 47.6).sum() >= 10
    # Thin lines: the context never covers more than a sliver of the data.
    assert opaque[prepared.inside].all() and (coast | border)[prepared.inside].mean() < 0.03


def test_empty_context_and_a_basemap_turn_the_context_off(france_site: Path) -> None:
    rgb, _ = build_poster(france_site, ", context: []")
    assert not (coloured(rgb, COAST) | coloured(rgb, COUNTRIES)).any()
    # With a basemap its tiles show the geography: no context unless asked for.
    assert render_spec(RenderSection.model_validate({"basemap": "osm"})).overlays.context == ()
    asked = RenderSection.model_validate({"basemap": "osm", "overlays": {"context": ["coastline"]}})
    assert render_spec(asked).overlays.context == ("coastline",)
    assert render_spec(RenderSection()).overlays.context == ("coastline", "countries")
    # An animation dropping the basemap gets the default back.
    merged = RenderSection.model_validate({"basemap": "osm"}).merged(RenderOverrides.model_validate({"basemap": False}))
    assert render_spec(merged).overlays.context == DEFAULT_CONTEXT


def test_context_config_is_a_list_of_known_layers() -> None:
    from pydantic import ValidationError

    section = RenderSection.model_validate({"overlays": {"context": ["countries", "coastline", "countries"]}})
    assert section.overlays.context == ["countries", "coastline"]
    with pytest.raises(ValidationError):
        RenderSection.model_validate({"overlays": {"context": ["rivers"]}})
    with pytest.raises(ValidationError):
        RenderSection.model_validate({"overlays": {"context": "coastline"}})


def test_painter_draws_context_under_the_region_borders(test_geo: Path) -> None:
    outline = france(test_geo)
    grid = make_grid(project(outline, "EPSG:3035"), "EPSG:3035", 256)
    off = {"date": DateOverlay(False), "legend": LegendOverlay(False), "title": TitleOverlay(False)}
    painter = OverlayPainter.create(
        OverlaysSpec(context=DEFAULT_CONTEXT, attribution=AttributionOverlay(False), **off),  # type: ignore[arg-type]
        grid, Style(rescale=(0.0, 1.0)), border_layers=(BorderLayer(outline),),
    )
    frame = np.full(grid.shape, painter.palette.transparent, dtype=np.uint8)
    painter.paint(frame, 0, None)
    border = painter.palette.index("border_1")
    coast = painter.palette.index(CONTEXT_ENTRIES["coastline"])
    assert (frame == coast).sum() > 200 and (frame == border).sum() > 200
    only_border = np.full(grid.shape, painter.palette.transparent, dtype=np.uint8)
    painter.paint(only_border, 0, None, only={"borders"})
    assert np.array_equal(frame[only_border == border], only_border[only_border == border])  # borders on top


@pytest.mark.parametrize("crs", ["auto", "EPSG:3035", "EPSG:4326", "EPSG:3857", "EPSG:2154"])
def test_context_in_any_crs(crs: str, test_geo: Path) -> None:
    outline = france(test_geo)
    grid_crs = output_crs(crs, outline)
    grid = make_grid(project(outline, grid_crs), grid_crs, 200)
    layers = masks(grid)
    assert window(layers["coastline"], grid, -5.2, 47.2, -1.5, 49.0).sum() >= 15, crs
    assert window(layers["coastline"], grid, -5.0, 44.2, -2.7, 46.0).sum() == 0, crs
    assert window(layers["countries"], grid, -1.8, 42.2, 3.3, 43.4).sum() >= 10, crs
    assert context_width_px(grid) == 1


@pytest.mark.parametrize("crs", ["auto", "EPSG:4326", "EPSG:3832"])
def test_context_across_the_antimeridian(crs: str) -> None:
    """Fiji: Viti Levu lies west of 180°, Vanua Levu's tip and the Lau islands east of it."""
    fiji = unwrap_antimeridian(shapely.MultiPolygon([
        shapely.box(176.5, -19.5, 180.0, -15.5), shapely.box(-180.0, -19.5, -178.0, -15.5),
    ]))
    grid_crs = output_crs(crs, fiji)
    grid = make_grid(project(fiji, grid_crs), grid_crs, 256)
    boxes = lonlat_boxes(grid)
    assert len(boxes) == 2 and all(-180 <= west < east <= 180 for west, _, east, _ in boxes)
    coast = masks(grid)["coastline"]
    assert window(coast, grid, 177.2, -18.3, 178.8, -17.2).sum() >= 20, crs  # Viti Levu
    assert window(coast, grid, 180.01, -19.3, 181.8, -16.0).sum() >= 5, crs  # east of 180° (179.99°W…)
    assert window(coast, grid, 177.0, -19.4, 177.3, -19.2).sum() == 0, crs  # open sea south-west


def test_lonlat_boxes_of_a_polar_grid_take_every_longitude() -> None:
    arctic = shapely.box(-180, 75, 180, 90)
    grid = make_grid(project(shapely.box(-30, 78, 40, 85), "EPSG:3413"), "EPSG:3413", 128)
    assert lonlat_boxes(grid)[0][1] > 60
    polar = make_grid(project(arctic, "EPSG:3413"), "EPSG:3413", 128)
    (box,) = lonlat_boxes(polar)
    assert box[0] == -180 and box[2] == 180 and box[3] == 90
    assert masks(polar)["coastline"].sum() > 100  # Greenland, Svalbard, Siberia


# The locator globe ------------------------------------------------------------------------------


def test_locator_globe_fills_land() -> None:
    europe = ((-5.0, 42.0), (8.0, 42.0), (8.0, 51.0), (-5.0, 51.0), (-5.0, 42.0))
    svg = locator_svg([europe], "France")
    assert svg.index('class="locator__sphere"') < svg.index('class="locator__land"') < svg.index('class="locator__region"')
    path = land_path((1.5, 46.5))
    assert path.count("M") > 10 and len(path) < 20_000  # many shapes, still small for a page
    numbers = np.array([float(n) for n in path.replace("M", " ").replace("L", " ").replace("Z", " ").split()])
    assert numbers.min() >= 80 - 72.5 and numbers.max() <= 80 + 72.5  # on the disc
    # The globe's centre is land over Africa, sea in the mid-Pacific.
    assert on_land(land_path((20.0, 5.0)), 80, 80) and not on_land(land_path((-150.0, 0.0)), 80, 80)


def on_land(path: str, x: float, y: float) -> bool:
    """Whether (x, y) is filled by an even-odd SVG path of M/L/Z commands."""
    rings = []
    for command in path.split("M")[1:]:
        points = [tuple(map(float, pair.split())) for pair in command.rstrip("Z").split("L")]
        rings.append(shapely.Polygon(points))
    return sum(ring.contains(shapely.Point(x, y)) for ring in rings) % 2 == 1
