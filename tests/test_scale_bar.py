"""Tests for the scale bar overlay: its length is the ground length at the map's centre,
checked against geodesic lengths computed independently of the overlay's code, in an
equal-area grid, plain longitude/latitude and Web Mercator."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely

from generator.config import OverlaysSection
from generator.core.model import Grid, Style
from generator.overlays.painter import OverlayPainter
from generator.overlays.scale_bar import length_label, round_length, scale_bar_length
from generator.render.grid import make_grid, project

STYLE = Style(rescale=(0.0, 1.0))
WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3
OFF = {"date": False, "borders": False, "context": [], "legend": False, "title": False, "attribution": False}


def grid_for(box: tuple[float, float, float, float], crs: str, size: int = 512) -> Grid:
    return make_grid(project(shapely.box(*box), crs), crs, size)


def parallel_metres_per_degree(latitude: float) -> float:
    """Length of one degree of longitude along the parallel at ``latitude`` on WGS84."""
    phi = math.radians(latitude)
    return math.pi / 180 * WGS84_A * math.cos(phi) / math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)


def centre_latitude(grid: Grid, crs: str) -> float:
    x, y = grid.transform * (grid.width / 2, grid.height / 2)
    return pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)[1]


def assert_within_a_pixel(bar_metres: float, bar_pixels: int, metres_per_pixel: float) -> None:
    # The bar is rounded to whole pixels: its drawn length is the round length within half a pixel.
    assert abs(bar_pixels * metres_per_pixel - bar_metres) <= 0.5 * metres_per_pixel + 1e-6 * bar_metres


def test_round_lengths_and_labels() -> None:
    assert [round_length(value) for value in (0.9, 1.0, 1.9, 2.0, 4.99, 5.0, 9.99, 10.0, 730e3)] == [
        0.5, 1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 10.0, 500e3,
    ]
    assert [length_label(value) for value in (0.5, 200.0, 1000.0, 50e3, 2e6)] == ["0.5 m", "200 m", "1 km", "50 km", "2000 km"]


@pytest.mark.parametrize("latitude", [0.0, 45.0, 60.0, 75.0])
def test_longitude_latitude_grid_where_a_degree_shrinks_with_latitude(latitude: float) -> None:
    crs = "EPSG:4326"
    grid = grid_for((0.0, latitude - 1.0, 8.0, latitude + 1.0), crs)
    degrees_per_pixel = grid.transform.a
    phi = centre_latitude(grid, crs)
    per_pixel = degrees_per_pixel * parallel_metres_per_degree(phi)
    bar = scale_bar_length(grid, 0.25 * grid.width)
    assert_within_a_pixel(bar.metres, bar.pixels, per_pixel)
    assert 0.1 * grid.width <= bar.pixels <= 0.25 * grid.width + 1


def test_longitude_latitude_bar_grows_with_latitude() -> None:
    # The same round length takes more pixels where a degree is shorter.
    equator = grid_for((0.0, -1.0, 8.0, 1.0), "EPSG:4326")
    north = grid_for((0.0, 59.0, 8.0, 61.0), "EPSG:4326")
    assert equator.transform.a == pytest.approx(north.transform.a)
    at_equator = scale_bar_length(equator, 300).pixels / scale_bar_length(equator, 300).metres
    at_sixty = scale_bar_length(north, 300).pixels / scale_bar_length(north, 300).metres
    assert at_sixty / at_equator == pytest.approx(
        parallel_metres_per_degree(0.0) / parallel_metres_per_degree(60.0), rel=0.01
    )


@pytest.mark.parametrize("latitude", [0.0, 30.0, 60.0, 70.0])
def test_web_mercator_where_the_scale_grows_away_from_the_equator(latitude: float) -> None:
    crs = "EPSG:3857"
    grid = grid_for((0.0, latitude - 1.0, 4.0, latitude + 1.0), crs)
    _, y = grid.transform * (grid.width / 2, grid.height / 2)
    # EPSG:3857 maps the geodetic latitude by the spherical formula on a sphere of radius a: one
    # projected metre is cos φ / √(1 − e² sin² φ) ground metres along the parallel.
    phi = 2 * math.atan(math.exp(y / WGS84_A)) - math.pi / 2
    per_pixel = grid.transform.a * math.cos(phi) / math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)
    bar = scale_bar_length(grid, 0.25 * grid.width)
    assert_within_a_pixel(bar.metres, bar.pixels, per_pixel)
    if latitude >= 60:
        assert per_pixel < 0.55 * grid.transform.a  # the grid's metres are not ground metres


@pytest.mark.parametrize("box", [(-5.0, 42.0, 8.0, 51.0), (20.0, 60.0, 30.0, 70.0), (-9.0, 36.0, -6.0, 42.0)])
def test_equal_area_grid(box: tuple[float, float, float, float]) -> None:
    crs = "EPSG:3035"
    grid = grid_for(box, crs)
    bar = scale_bar_length(grid, 0.25 * grid.width)
    # Independently: the bar's two ends, centred on the map, as lon/lat, and the geodesic between
    # them on GRS80 (EPSG:3035's ellipsoid); LAEA's scale barely changes along so short a run.
    half = bar.pixels / 2
    ends = [grid.transform * (grid.width / 2 + dx, grid.height / 2) for dx in (-half, half)]
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4258", always_xy=True)
    (lon1, lat1), (lon2, lat2) = (to_lonlat.transform(x, y) for x, y in ends)
    measured = pyproj.Geod(ellps="GRS80").inv(lon1, lat1, lon2, lat2)[2]
    assert_within_a_pixel(bar.metres, bar.pixels, measured / bar.pixels)
    assert abs(measured - bar.metres) / bar.metres < 0.02


def test_overlay_setting_is_off_by_default_and_takes_true_or_a_position() -> None:
    assert not OverlaysSection().scale_bar
    assert OverlaysSection.model_validate({"scale_bar": True}).scale_bar.position == "bottom-left"
    settings = OverlaysSection.model_validate({"scale_bar": {"position": "top-right", "size": 20}})
    assert settings.scale_bar and settings.scale_bar.position == "top-right" and settings.scale_bar.size == 20


def _painted(layout: str, position: str) -> tuple[OverlayPainter, np.ndarray]:
    grid = grid_for((-5.0, 42.0, 8.0, 51.0), "EPSG:3035", 256)
    settings = OverlaysSection.model_validate({**OFF, "scale_bar": {"position": position}})
    painter = OverlayPainter.create(settings, grid, STYLE, layout=layout)  # type: ignore[arg-type]
    layer = np.zeros(grid.shape, dtype=np.uint8)
    return painter, painter.compose(layer, 0, None)


def test_inset_bar_sits_in_its_corner_in_label_colours() -> None:
    painter, frame = _painted("inset", "top-right")
    (bar,) = [overlay for overlay in painter.overlays if overlay.name == "scale_bar"]
    box = bar.box
    assert box is not None
    assert box.x + box.width > frame.shape[1] - 20 and box.y < 20
    patch = frame[box.y : box.y + box.height, box.x : box.x + box.width]
    assert set(np.unique(patch).tolist()) <= set(painter.palette.label_ramp())
    assert (patch == painter.palette.index("label_text")).sum() > 20


def test_bands_bar_goes_in_the_bottom_band() -> None:
    painter, frame = _painted("bands", "bottom-left")
    (bar,) = [overlay for overlay in painter.overlays if overlay.name == "scale_bar"]
    assert bar.box is not None and frame.shape[0] > painter.grid.height
    assert bar.box.y >= painter.map_origin[1] + painter.grid.height  # under the map, not on it
