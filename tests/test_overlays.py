"""Tests for overlays: border lines (shared edges once, even thickness) and the date label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import shape

from generator.model import Grid
from generator.overlays import (
    boundary_lines,
    burn,
    draw_label,
    label_font_px,
    line_mask,
)
from generator.palette import Palette, build_palette

GEO_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "geo"
DEPARTEMENTS = GEO_DIR / "france-departements.geojson"


@pytest.fixture(scope="module")
def palette() -> Palette:
    return build_palette("viridis")


# Measuring line thickness --------------------------------------------------------------------


def run_lengths(mask: np.ndarray, axis: int) -> np.ndarray:
    """For every True pixel, the length of the run of True pixels through it along ``axis``."""
    rows = mask if axis == 1 else mask.T
    # A False column after each row keeps runs from wrapping onto the next row.
    padded = np.pad(rows, ((0, 0), (0, 1))).ravel()
    edges = np.diff(np.concatenate(([0], padded.astype(np.int8))))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    out = np.zeros(padded.shape, dtype=np.int64)
    out[padded] = np.repeat(lengths, lengths)
    out = out.reshape(rows.shape[0], rows.shape[1] + 1)[:, :-1]
    return out if axis == 1 else out.T


def test_run_lengths_helper_on_a_known_pattern() -> None:
    mask = np.array(
        [
            [1, 1, 0, 1],
            [0, 1, 0, 1],
            [1, 1, 1, 0],
        ],
        dtype=bool,
    )
    assert run_lengths(mask, 1).tolist() == [[2, 2, 0, 1], [0, 1, 0, 1], [3, 3, 3, 0]]
    assert run_lengths(mask, 0).tolist() == [[1, 3, 0, 2], [0, 3, 0, 2], [1, 3, 1, 0]]


def in_thick_patch(mask: np.ndarray, width_px: int) -> np.ndarray:
    """Pixels inside a full (w+1)×(w+1) square of line pixels.

    A band w pixels thick holds no such square in any direction (a diagonal band needs
    w·√2), so these pixels mark where a line is thicker than drawn: doubled borders,
    junctions, or detail folded onto itself.
    """
    square = np.ones((width_px + 1, width_px + 1), dtype=bool)
    return ndimage.binary_opening(mask, structure=square)


# Shared edges --------------------------------------------------------------------------------


def square(x0: float, y0: float, size: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


def test_shared_edge_appears_once() -> None:
    left, right = square(0, 0, 10), square(10, 0, 10)
    lines = boundary_lines([left, right])
    assert lines.geom_type in ("LineString", "MultiLineString")
    # Outline of the 20×10 union (60) plus the shared edge once (10).
    assert lines.length == pytest.approx(70.0)


def test_four_squares_share_each_edge_once() -> None:
    squares = [square(x, y, 10) for x in (0, 10) for y in (0, 10)]
    assert boundary_lines(squares).length == pytest.approx(80.0 + 40.0)


def test_accepted_geometry_kinds() -> None:
    poly = square(0, 0, 10)
    line = shapely.LineString([(20, 0), (30, 0)])
    collection = shapely.GeometryCollection([poly, line, shapely.Point(5, 5)])
    assert boundary_lines(collection).length == pytest.approx(50.0)
    assert boundary_lines(shapely.MultiPolygon([poly, square(20, 0, 10)])).length == (
        pytest.approx(80.0)
    )
    assert boundary_lines(line).length == pytest.approx(10.0)
    assert boundary_lines([]).is_empty
    assert boundary_lines(shapely.Point(1, 1)).is_empty


def test_boundary_lines_rejects_non_geometries() -> None:
    with pytest.raises(TypeError):
        boundary_lines("POLYGON ((0 0, 1 0, 1 1, 0 0))")


# line_mask on squares ------------------------------------------------------------------------

PIXEL = 1000.0  # metres, EPSG:3857
ORIGIN_X, ORIGIN_Y = 500_000.0, 6_000_000.0


def square_grid() -> Grid:
    return Grid("EPSG:3857", Affine(PIXEL, 0, ORIGIN_X, 0, -PIXEL, ORIGIN_Y), 64, 64)


def four_squares() -> list[shapely.Polygon]:
    # Edges at pixel coordinates 10.3, 30.3 and 50.3 (columns) / 10.4, 30.4, 50.4 (rows):
    # off pixel boundaries and centres, so which pixels a line hits is unambiguous.
    size = 20 * PIXEL
    x0, y_top = ORIGIN_X + 10.3 * PIXEL, ORIGIN_Y - 10.4 * PIXEL
    return [
        square(x0 + i * size, y_top - (j + 1) * size, size) for i in range(2) for j in range(2)
    ]


@pytest.mark.parametrize("width", [1, 2, 3])
def test_internal_and_outer_edges_have_the_same_thickness(width: int) -> None:
    mask = line_mask(boundary_lines(four_squares()), square_grid(), width)
    vertical_thickness = run_lengths(mask, 1)  # across vertical lines
    horizontal_thickness = run_lengths(mask, 0)  # across horizontal lines
    rows = slice(14, 27)  # along the vertical edges, away from every junction
    cols = slice(14, 27)  # along the horizontal edges
    for col_center in (10, 30, 50):  # outer, internal, outer
        band = vertical_thickness[rows, col_center - 4 : col_center + 5]
        assert set(band[band > 0].tolist()) == {width}, f"vertical line at x≈{col_center}"
        pixels_per_row = np.count_nonzero(mask[rows, col_center - 4 : col_center + 5], axis=1)
        assert pixels_per_row.tolist() == [width] * 13
    for row_center in (10, 30, 50):
        band = horizontal_thickness[row_center - 4 : row_center + 5, cols]
        assert set(band[band > 0].tolist()) == {width}, f"horizontal line at y≈{row_center}"


def test_thin_line_is_one_pixel_and_connected() -> None:
    grid = square_grid()
    start = (ORIGIN_X + 3.2 * PIXEL, ORIGIN_Y - 5.1 * PIXEL)
    end = (ORIGIN_X + 60.7 * PIXEL, ORIGIN_Y - 41.6 * PIXEL)
    line = shapely.LineString([start, end])
    mask = line_mask(line, grid, 1)
    _, count = ndimage.label(mask, structure=np.ones((3, 3)))
    assert count == 1
    # A shallow thin line has exactly one pixel per column it crosses.
    columns = np.flatnonzero(mask.any(axis=0))
    assert np.all(mask[:, columns].sum(axis=0) == 1)
    assert columns.min() <= 4 and columns.max() >= 59


def test_line_mask_edge_cases() -> None:
    grid = square_grid()
    assert not line_mask(shapely.MultiLineString(), grid).any()
    far_away = shapely.LineString([(0, 0), (1000, 1000)])
    assert not line_mask(far_away, grid, 3).any()
    with pytest.raises(ValueError):
        line_mask(boundary_lines(four_squares()), grid, 0)


def test_line_mask_with_a_north_up_grid_of_non_square_pixels() -> None:
    grid = Grid("EPSG:3857", Affine(2 * PIXEL, 0, ORIGIN_X, 0, -PIXEL, ORIGIN_Y), 32, 64)
    x = ORIGIN_X + 10.3 * 2 * PIXEL
    vertical = shapely.LineString([(x, ORIGIN_Y - 5 * PIXEL), (x, ORIGIN_Y - 60 * PIXEL)])
    mask = line_mask(vertical, grid, 2)
    widths = np.count_nonzero(mask[10:50], axis=1)
    assert set(widths.tolist()) == {2}  # width is in output pixels, whatever their aspect


def test_burn_sets_index_in_place() -> None:
    frame = np.zeros((4, 5), dtype=np.uint8)
    mask = np.zeros((4, 5), dtype=bool)
    mask[1, 2] = mask[3, 4] = True
    result = burn(frame, mask, 249)
    assert result is frame
    assert frame[1, 2] == 249 and frame[3, 4] == 249
    assert int(frame.sum()) == 2 * 249
    with pytest.raises(ValueError):
        burn(frame, np.zeros((2, 2), dtype=bool), 1)


# line_mask on real départements --------------------------------------------------------------


@pytest.fixture(scope="module")
def france() -> tuple[list[shapely.Geometry], Grid]:
    if not DEPARTEMENTS.exists():
        pytest.fail(f"{DEPARTEMENTS} is missing: the shared test data must sit beside the checkout")
    features = json.loads(DEPARTEMENTS.read_text(encoding="utf-8"))["features"]
    to_laea = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)

    def project(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(to_laea.transform(coords[:, 0], coords[:, 1]))

    departements = [shapely.transform(shape(f["geometry"]), project) for f in features]
    minx, miny, maxx, maxy = shapely.total_bounds(departements)
    size = 512
    pixel = max(maxx - minx, maxy - miny) / (size - 8)
    transform = Affine(pixel, 0, minx - 4 * pixel, 0, -pixel, maxy + 4 * pixel)
    return departements, Grid("EPSG:3035", transform, size, size)


def split_outer_internal(
    mask: np.ndarray, departements: list[shapely.Geometry], grid: Grid, width: int
) -> tuple[np.ndarray, np.ndarray]:
    outline = line_mask(boundary_lines(shapely.unary_union(departements)), grid, 1)
    near_outline = ndimage.binary_dilation(outline, iterations=width + 1)
    return mask & near_outline, mask & ~near_outline


def naive_per_feature_borders(
    departements: list[shapely.Geometry], grid: Grid, width: int
) -> np.ndarray:
    """The approach this module replaces: each feature's own edge pixels, OR-ed together."""
    out = np.zeros(grid.shape, dtype=bool)
    for geometry in departements:
        inside = rasterio.features.rasterize(
            [(geometry, 1)], out_shape=grid.shape, transform=grid.transform
        ).astype(bool)
        out |= inside & ~ndimage.binary_erosion(inside, iterations=width)
    return out


@pytest.mark.parametrize("width", [1, 2])
def test_departement_borders_inside_are_as_thin_as_outside(
    france: tuple[list[shapely.Geometry], Grid], width: int
) -> None:
    departements, grid = france
    mask = line_mask(boundary_lines(departements), grid, width)
    outer, internal = split_outer_internal(mask, departements, grid, width)
    assert outer.sum() > 1000 and internal.sum() > 1000
    thick = in_thick_patch(mask, width)
    outer_thick, internal_thick = thick[outer].mean(), thick[internal].mean()
    # Thicker-than-drawn spots only come from junctions and wiggly detail, and internal lines
    # have no more of them than the coast and land border.
    assert internal_thick < 0.3
    assert internal_thick <= outer_thick + 0.05

    if width == 1:
        # In the terms of runs: most border pixels are crossed by a 1-px run one way or the other.
        thinnest_run = np.minimum(run_lengths(mask, 0), run_lengths(mask, 1))
        assert (thinnest_run[internal] <= 1).mean() > 0.7
        assert (thinnest_run[internal] <= 1).mean() >= (thinnest_run[outer] <= 1).mean() - 0.05


@pytest.mark.parametrize("width", [1, 2])
def test_the_measure_detects_doubled_internal_borders(
    france: tuple[list[shapely.Geometry], Grid], width: int
) -> None:
    departements, grid = france
    naive = naive_per_feature_borders(departements, grid, width)
    outer, internal = split_outer_internal(naive, departements, grid, width)
    thick = in_thick_patch(naive, width)
    assert thick[internal].mean() > 0.7  # shared edges drawn twice, side by side
    assert thick[internal].mean() > thick[outer].mean() + 0.4


def test_shared_edges_are_merged_on_real_data(
    france: tuple[list[shapely.Geometry], Grid],
) -> None:
    departements, grid = france
    merged = boundary_lines(departements)
    each_ring = sum(shapely.boundary(d).length for d in departements)
    outline = shapely.boundary(shapely.unary_union(departements)).length
    # Every internal edge is counted twice in the sum of rings and once in the merged lines.
    assert merged.length == pytest.approx((each_ring + outline) / 2, rel=0.01)


# Date label ----------------------------------------------------------------------------------


def label_indices(palette: Palette) -> set[int]:
    return set(palette.label_ramp())


def draw_on_blank(
    palette: Palette, height: int, width: int, text: str, **kwargs: Any
) -> np.ndarray:
    frame = np.full((height, width), 17, dtype=np.uint8)
    return draw_label(frame, text, palette, **kwargs)


def label_bbox(frame: np.ndarray, background: int = 17) -> tuple[int, int, int, int]:
    rows = np.flatnonzero((frame != background).any(axis=1))
    cols = np.flatnonzero((frame != background).any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


@pytest.mark.parametrize("size", [256, 1024])
def test_label_uses_only_label_colours_in_a_solid_box(palette: Palette, size: int) -> None:
    frame = draw_on_blank(palette, size, size, "2024-01-15")
    top, bottom, left, right = label_bbox(frame)
    box = frame[top:bottom, left:right]
    assert set(np.unique(box).tolist()) <= label_indices(palette)
    assert palette.index("label_text") in box and palette.index("label_box") in box
    # Anti-aliasing really uses the greys in between.
    assert any(i in box for i in palette.label_ramp()[1:-1])
    assert np.all(frame[:top] == 17) and np.all(frame[bottom:] == 17)


@pytest.mark.parametrize("size", [256, 1024])
def test_label_fits_inside_the_frame_with_a_margin(palette: Palette, size: int) -> None:
    for corner in ("bottom-left", "bottom-right", "top-left", "top-right"):
        frame = draw_on_blank(palette, size, size, "2024-12-31", corner=corner)
        top, bottom, left, right = label_bbox(frame)
        assert top > 0 and left > 0 and bottom < size and right < size
        assert right - left < size / 2  # a date label stays a corner label


def test_corners_put_the_label_in_the_right_quadrant(palette: Palette) -> None:
    size = 256
    expected = {
        "top-left": (True, True),
        "top-right": (True, False),
        "bottom-left": (False, True),
        "bottom-right": (False, False),
    }
    for corner, (is_top, is_left) in expected.items():
        frame = draw_on_blank(palette, size, size, "2024", corner=corner)
        top, bottom, left, right = label_bbox(frame)
        assert (bottom <= size // 2) if is_top else (top >= size // 2)
        assert (right <= size // 2) if is_left else (left >= size // 2)


def test_label_digits_are_legible_at_256_px(palette: Palette) -> None:
    frame = draw_on_blank(palette, 256, 256, "2024-01-15")
    ramp = palette.label_ramp()
    mostly_ink = np.isin(frame, ramp[len(ramp) // 2 :])  # coverage of at least one half
    ink_rows = np.flatnonzero(mostly_ink.any(axis=1))
    digit_height = ink_rows[-1] - ink_rows[0] + 1  # digits are cap height, no descender
    assert digit_height >= 9
    ink_cols = np.flatnonzero(mostly_ink.any(axis=0))
    assert ink_cols[-1] - ink_cols[0] + 1 >= 50  # ten characters, not squeezed


def test_label_font_grows_with_the_frame() -> None:
    sizes = [label_font_px(s, s) for s in (64, 256, 512, 1024, 2048)]
    assert sizes == sorted(sizes)
    assert sizes[1] >= 13 and sizes[3] > 2 * sizes[1]
    assert label_font_px(1024, 256) == label_font_px(256, 256)  # the short side decides


def test_label_box_keeps_its_height_whatever_the_letters(palette: Palette) -> None:
    boxes = [label_bbox(draw_on_blank(palette, 256, 256, text)) for text in ("2024", "Jan", "yg")]
    heights = {bottom - top for top, bottom, _, _ in boxes}
    assert len(heights) == 1


def test_explicit_font_size_is_used(palette: Palette) -> None:
    small = label_bbox(draw_on_blank(palette, 512, 512, "2024", font_px=12))
    large = label_bbox(draw_on_blank(palette, 512, 512, "2024", font_px=36))
    assert (large[1] - large[0]) > 2 * (small[1] - small[0])


@pytest.mark.parametrize("shape", [(40, 60), (12, 30), (3, 3), (1, 200), (0, 0)])
def test_tiny_frames_never_crash(palette: Palette, shape: tuple[int, int]) -> None:
    frame = np.full(shape, 17, dtype=np.uint8)
    draw_label(frame, "2024-01-15 12:00 UTC", palette, corner="top-right")
    assert set(np.unique(frame).tolist()) <= label_indices(palette) | {17}


def test_label_shrinks_to_fit_a_small_frame(palette: Palette) -> None:
    height, width = 28, 90
    full_size = label_bbox(draw_on_blank(palette, 256, 256, "2024-01-15"))
    frame = draw_on_blank(palette, height, width, "2024-01-15")
    top, bottom, left, right = label_bbox(frame)
    assert top > 0 and left > 0 and bottom < height and right < width
    assert right - left < full_size[3] - full_size[2]  # it did shrink to get there


def test_empty_label_draws_nothing(palette: Palette) -> None:
    frame = draw_on_blank(palette, 64, 64, "   ")
    assert np.all(frame == 17)


def test_label_returns_the_same_frame(palette: Palette) -> None:
    frame = np.zeros((64, 64), dtype=np.uint8)
    assert draw_label(frame, "2024", palette) is frame
