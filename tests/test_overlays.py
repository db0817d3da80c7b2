"""Tests for overlays: border lines (shared edges once, even thickness) and the date label."""

from __future__ import annotations

import json
import math
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

from generator.core.model import Grid
from generator.overlays.painter import (
    boundary_lines,
    burn,
    draw_label,
    label_font_px,
    line_mask,
)
from generator.render.palette import Palette, build_palette

GEO_DIR = Path(__file__).resolve().parent / "data" / "geo"
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


# Painter: layout, legibility, legend -----------------------------------------------------------

from generator.config import OverlaysSection, RenderOverrides, RenderSection  # noqa: E402
from generator.core.errors import ConfigError  # noqa: E402
from generator.core.model import CollectionInfo, Style  # noqa: E402
from generator.overlays.legend import format_ticks  # noqa: E402
from generator.overlays.painter import OverlayPainter, default_attribution, default_title  # noqa: E402
from generator.overlays.text import fold_text  # noqa: E402
from tests.golden_cases import CASES, GOLDEN_DIR, LAYOUT_CASES, load_golden, to_rgb  # noqa: E402

TEXT_OVERLAYS = ("date", "title", "attribution", "legend")
BOXED_OVERLAYS = (*TEXT_OVERLAYS, "timeline")
ALL_ON = {"date": True, "legend": True, "title": True, "attribution": True, "timeline": True, "borders": True}
NO2 = Style(rescale=(0.0, 1.5e16), colormap="viridis", units="molecules/cm²")
STAC = CollectionInfo(
    id="no2", title="Tropospheric NO₂ monthly mean", license="CC-BY-4.0",
    providers=({"name": "NASA GES DISC"}, {"name": "Copernicus"}),
)
BACKGROUND = 5  # a data level: every overlay pixel differs from it


def plain_grid(width: int, height: int) -> Grid:
    return Grid("EPSG:3857", Affine(PIXEL, 0, ORIGIN_X, 0, -PIXEL, ORIGIN_Y), width, height)


def make_painter(width: int, height: int, overlays: dict[str, Any] | None = None, **kwargs: Any) -> OverlayPainter:
    settings = OverlaysSection.model_validate(overlays if overlays is not None else ALL_ON)
    options: dict[str, Any] = dict(
        collection=STAC, region_title="Île-de-France", labels=["2024-01-15", "2024-12-31"], frame_count=10
    )
    return OverlayPainter.create(settings, plain_grid(width, height), kwargs.pop("style", NO2), **{**options, **kwargs})


def footprint(painter: OverlayPainter, name: str, label: str = "2024-06-30") -> np.ndarray:
    """Pixels that change when overlay ``name`` alone is drawn on a plain data frame."""
    blank = np.full(painter.grid.shape, BACKGROUND, dtype=np.uint8)
    return painter.paint(blank.copy(), 5, label, only={name}) != blank


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def wcag_contrast(a: np.ndarray, b: np.ndarray) -> float:
    def luminance(rgb: np.ndarray) -> float:
        c = rgb.astype(float) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("size", [(256, 256), (256, 180), (180, 256), (512, 512), (1024, 768), (1024, 1024)])
def test_overlays_never_collide(size: tuple[int, int]) -> None:
    width, height = size
    painter = make_painter(width, height)
    boxes = {}
    for name in BOXED_OVERLAYS:
        mask = footprint(painter, name)
        assert mask.any(), f"{name} was not drawn at {width}×{height}: {painter.notes}"
        boxes[name] = bbox(mask)
    for first, (t1, b1, l1, r1) in boxes.items():
        for second, (t2, b2, l2, r2) in boxes.items():
            if first < second:
                apart = b1 <= t2 or b2 <= t1 or r1 <= l2 or r2 <= l1
                assert apart, f"{first} {boxes[first]} overlaps {second} {boxes[second]} at {width}×{height}"
    # Every overlay drawn together is exactly the overlays drawn one by one.
    together = painter.paint(np.full(painter.grid.shape, BACKGROUND, np.uint8), 5, "2024-06-30")
    union = np.logical_or.reduce([footprint(painter, name) for name in BOXED_OVERLAYS])
    assert np.array_equal(together != BACKGROUND, union)


def test_text_is_legible_at_256_px() -> None:
    painter = make_painter(
        256, 256, title="HHH", attribution="EEE", style=Style(rescale=(0.0, 300.0), colormap="viridis")
    )
    palette = painter.palette
    ramp = palette.label_ramp()
    strong_ink = list(ramp[len(ramp) // 2 :])
    blank = np.full(painter.grid.shape, BACKGROUND, dtype=np.uint8)
    for name, label in (("date", "2024"), ("title", None), ("attribution", None), ("legend", None)):
        drawn = painter.paint(blank.copy(), 0, label or "2024", only={name})
        top, bottom, left, right = bbox(drawn != BACKGROUND)
        box = drawn[top:bottom, left:right]
        ink_rows = np.flatnonzero(np.isin(box, strong_ink).any(axis=1))
        assert ink_rows[-1] - ink_rows[0] + 1 >= 9, f"{name}: capitals/digits under 9 px"
        values, counts = np.unique(box, return_counts=True)
        backing = values[np.argmax(counts)]
        assert backing == palette.index("label_box")
        ratio = wcag_contrast(palette.colors[palette.index("label_text")], palette.colors[backing])
        assert ratio >= 4.5, f"{name}: contrast {ratio:.1f}"
        # Anti-aliased text only through the reserved greys (the legend adds its frame and strip).
        extra = set(values.tolist()) - set(ramp)
        if name == "legend":
            extra -= {palette.index("legend_frame")} | set(range(palette.n_levels))
        assert not extra, f"{name} uses palette entries {extra} outside the text ramp"


def legend_strip_at_ticks(painter: OverlayPainter) -> list[tuple[int, int, int]]:
    """RGB of the colour strip at each tick mark, left to right, read from a painted frame."""
    mask = footprint(painter, "legend")
    frame = painter.paint(np.full(painter.grid.shape, BACKGROUND, np.uint8), 0, None, only={"legend"})
    top, bottom, left, right = bbox(mask)
    box = frame[top:bottom, left:right]
    frame_rows = np.flatnonzero((box == painter.palette.index("legend_frame")).sum(axis=1) > 20)
    outline_bottom = frame_rows[-1]  # the strip's lower outline: ticks hang below it
    ticks = np.flatnonzero(box[outline_bottom + 1] == painter.palette.index("legend_frame"))
    return [tuple(int(c) for c in painter.palette.colors[box[outline_bottom - 1, x]]) for x in ticks]


def viridis_rgb(value: float, low: float, high: float, n_levels: int) -> tuple[int, int, int]:
    from rio_tiler.colormap import cmap

    level = min(n_levels - 1, max(0, math.floor((value - low) / (high - low) * n_levels)))
    entry = cmap.get("viridis")[round(level * 255 / (n_levels - 1))]
    return (int(entry[0]), int(entry[1]), int(entry[2]))


@pytest.mark.parametrize(
    "rescale,labelled",
    [((0.0, 1.5e16), (0.0, 7.5e15, 1.5e16)), ((-3.0, 3.0), (-3.0, 0.0, 3.0)), ((0.0, 0.25), (0.0, 0.125, 0.25))],
)
def test_legend_colours_at_ticks_are_the_colormap_at_the_labelled_values(
    rescale: tuple[float, float], labelled: tuple[float, ...]
) -> None:
    painter = make_painter(256, 256, {"legend": True}, style=Style(rescale=rescale, colormap="viridis"))
    sampled = legend_strip_at_ticks(painter)
    n = painter.palette.n_levels
    assert sampled == [viridis_rgb(value, *rescale, n) for value in labelled]


def test_legend_ticks_are_labelled_for_their_magnitude() -> None:
    assert format_ticks([0.0, 7.5e15, 1.5e16]) == ["0", "7.5e15", "1.5e16"]
    assert format_ticks([0.0, 0.125, 0.25]) == ["0", "0.125", "0.25"]
    assert format_ticks([-3.0, 0.0, 3.0]) == ["-3", "0", "3"]
    assert format_ticks([0.0, 127.5, 255.0]) == ["0", "127.5", "255"]
    assert format_ticks([2e-5, 6e-5, 1e-4]) == ["2e-5", "6e-5", "1e-4"]
    assert format_ticks([0.0, 6.17e16, 1.2345e17]) == ["0", "6.17e16", "1.23e17"]
    assert format_ticks([0.0, 0.0]) == ["0", "0"]


def test_timeline_bar_grows_with_the_frame_number() -> None:
    painter = make_painter(300, 200, {"timeline": True}, frame_count=4)
    bar = painter.palette.index("timeline_bar")
    lengths = []
    for number in range(4):
        frame = painter.paint(np.full((200, 300), BACKGROUND, np.uint8), number, None)
        lengths.append(int((frame == bar).any(axis=0).sum()))
        assert (frame[-1] != BACKGROUND).all()  # the track spans the bottom edge
    assert lengths == [75, 150, 225, 300]


def test_date_box_keeps_its_place_and_size_between_frames() -> None:
    painter = make_painter(256, 256, {"date": {"position": "top-right"}})
    boxes = {bbox(footprint(painter, "date", label)) for label in ("2024-01-15", "2024-11-11", "2024-12-31")}
    assert len(boxes) == 1
    top, bottom, left, right = boxes.pop()
    assert top < 128 and left > 128


def test_small_frames_leave_out_what_does_not_fit() -> None:
    painter = make_painter(48, 48)
    frame = painter.paint(np.full((48, 48), BACKGROUND, np.uint8), 0, "2024-01-15")
    assert painter.notes and all("does not fit" in note for note in painter.notes)
    assert frame.shape == (48, 48)


def test_defaults_from_stac() -> None:
    assert default_title(STAC, "France") == "Tropospheric NO₂ monthly mean — France"
    assert default_attribution(STAC) == "Data: NASA GES DISC, Copernicus · CC-BY-4.0"
    assert default_attribution(CollectionInfo(id="x", title="x")) is None
    # Nothing to attribute: no attribution box.
    painter = make_painter(256, 256, {"attribution": True}, collection=CollectionInfo(id="x", title="x"))
    assert not footprint(painter, "attribution").any()


ACCENTED = "Península Ibérica — Côte, Zürich, Łódź, NO₂, µg/m³, 25 °C"


def test_accents_subscripts_and_symbols_draw_as_written_with_real_glyphs() -> None:
    from generator.overlays.text import font, has_glyph

    assert fold_text(ACCENTED) == ACCENTED
    typeface = font(24)
    notdef = typeface.getmask("\uffff")  # a non-character: the font's "missing glyph" box
    for char in set(ACCENTED) - {" "}:
        assert has_glyph(char), char
        mask = typeface.getmask(char)
        assert (mask.size, bytes(mask)) != (notdef.size, bytes(notdef)), f"{char!r} is drawn as a box"
    # Inked, anti-aliased text: the accented line covers more pixels than its folded spelling.
    folded = "Peninsula Iberica - Cote, Zurich, Lodz, NO2, ug/m3, 25 C"
    assert sum(typeface.getmask(ACCENTED)) > sum(typeface.getmask(folded))


def test_text_the_font_lacks_is_folded_not_boxed() -> None:
    from generator.overlays.text import has_glyph

    assert not has_glyph("東")  # DejaVu Sans has no CJK
    assert fold_text("東京 — Tōkyō") == "?? — Tōkyō"
    assert fold_text("© OpenStreetMap · 2024") == "© OpenStreetMap · 2024"


MONO = Path(__file__).resolve().parent / "data" / "fonts" / "DejaVuSansMono.ttf"


def test_render_font_is_used_for_every_text_and_only_inside_its_block() -> None:
    from generator.overlays.text import DEFAULT_FONT, font, text_width, using_font

    proportional = text_width("Illicit 1111", 20)
    with using_font(MONO):
        assert font(20).path == str(MONO)
        monospaced = text_width("Illicit 1111", 20)
    assert font(20).path == str(DEFAULT_FONT) and text_width("Illicit 1111", 20) == proportional
    assert monospaced > proportional * 1.15  # narrow letters take a whole cell in a monospaced face


def test_a_painter_draws_its_text_with_the_configured_font() -> None:
    settings = OverlaysSection.model_validate({**{k: False for k in ALL_ON}, "title": True})
    grid = square_grid()
    style = Style(rescale=(0.0, 1.0), colormap="viridis")
    frames = {}
    for name, chosen in (("default", None), ("mono", MONO)):
        painter = OverlayPainter.create(settings, grid, style, title="Illicit 1111", font=chosen, layout="bands")
        frames[name] = painter.compose(np.zeros(grid.shape, dtype=np.uint8), 0, "2024-01")
    assert frames["default"].shape == frames["mono"].shape  # the band height follows the size, not the face
    assert not np.array_equal(frames["default"], frames["mono"])


def test_a_missing_or_unusable_font_is_a_clear_error(tmp_path: Path) -> None:
    from generator.core.errors import RenderError
    from generator.overlays.text import font, using_font

    config = tmp_path / "site_config.yml"
    config.write_text(
        "site: {title: t}\nsources: {s: {catalog: c.json}}\ncollections: [{id: c, source: s}]\n"
        "regions: [{id: r, bbox: [0, 0, 1, 1]}]\nrender: {font: fonts/missing.ttf}\n"
    )
    from generator.plan.site import load_site

    with pytest.raises(ConfigError, match=r"render.font: font file not found: .*fonts/missing.ttf"):
        load_site(config)
    not_a_font = tmp_path / "notes.ttf"
    not_a_font.write_text("not a font")
    with using_font(not_a_font), pytest.raises(RenderError, match="render.font: cannot use .*notes.ttf"):
        font(12)


def test_a_font_file_changed_between_builds_of_one_process_is_read_again(tmp_path: Path) -> None:
    """A service or a test that builds again after ``render.font``'s file was replaced draws
    with the new face, not the one kept from the first build."""
    import os
    import shutil

    from generator.overlays.text import DEFAULT_FONT, text_width, using_font

    chosen = tmp_path / "brand.ttf"
    shutil.copyfile(DEFAULT_FONT, chosen)
    with using_font(chosen):
        proportional = text_width("Illicit 1111", 20)
    shutil.copyfile(MONO, chosen)
    os.utime(chosen, ns=(1, 1))  # a different modification time even on a coarse clock
    with using_font(chosen):
        assert text_width("Illicit 1111", 20) > proportional * 1.15


def test_border_layers_use_their_own_colours_and_halo() -> None:
    from generator.sources.regions import BorderLayer

    grid = square_grid()
    to_lonlat = pyproj.Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    line = shapely.transform(
        shapely.LineString([(ORIGIN_X + 5 * PIXEL, ORIGIN_Y - 30.5 * PIXEL), (ORIGIN_X + 60 * PIXEL, ORIGIN_Y - 30.5 * PIXEL)]),
        lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])),
    )
    layers = (BorderLayer(line, "#ff0000", 1, "#00ff00", 1),)
    painter = OverlayPainter.create(OverlaysSection.model_validate({**{k: False for k in ALL_ON}, "borders": True}),
                                    grid, NO2, border_layers=layers)
    frame = painter.paint(np.full(grid.shape, BACKGROUND, np.uint8), 0, None)
    column = frame[:, 30]
    rgb = [tuple(int(c) for c in painter.palette.colors[i]) for i in column[28:34]]
    red, green = (255, 0, 0), (0, 255, 0)
    assert rgb.count(red) == 1 and rgb.count(green) == 2
    assert rgb.index(green) + 1 == rgb.index(red)  # halo on both sides of the line


# Goldens --------------------------------------------------------------------------------------

#: Golden frames were made with the Pillow in tests/golden/PILLOW_VERSION. Another FreeType or
#: Pillow may hint glyph edges a pixel differently, which changes a few edge pixels of each text
#: line: ≤ 0.5 % of a 256-px frame (~320 px) absorbs that, while a moved, missing or recoloured
#: overlay changes thousands of pixels.
GOLDEN_TOLERANCE = 0.005
#: The layout goldens (``LAYOUT_CASES``: each layout at 200 px and for 5:1 and 1:5 regions) are
#: denser in text: glyph pixels are 1–4.3 % of those frames (the 200-px inset frame is the
#: densest), so a different hinting may touch up to ~1 % of their pixels. 1 % still catches a
#: layout change: the smallest text box, the 200-px date label (66×20 px, 2.1 % of the bands
#: frame, 3.4 % of the inset one), moved or lost changes more than that, and a band of another
#: height shifts the whole map. The 3-px timeline (0.9 %) and the legend's no-data swatch
#: (~0.2 %) have their own tests (tests/test_layout.py).
LAYOUT_GOLDEN_TOLERANCE = 0.01


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_frames(name: str) -> None:
    path = GOLDEN_DIR / f"{name}.png"
    assert path.exists(), f"missing golden {path}: run scripts/make_goldens.py"
    expected = load_golden(path)
    indices, colors = CASES[name]()
    actual = to_rgb(indices, colors)
    assert actual.shape == expected.shape
    differing = np.any(actual != expected, axis=2).mean()
    tolerance = LAYOUT_GOLDEN_TOLERANCE if name in LAYOUT_CASES else GOLDEN_TOLERANCE
    assert differing <= tolerance, f"{name}: {differing:.2%} of pixels differ from the golden"


# Configuration ---------------------------------------------------------------------------------


def test_overlay_settings_accept_booleans_and_mappings() -> None:
    settings = OverlaysSection.model_validate({"date": False, "legend": {"position": "top-left", "length": 0.5}})
    assert not settings.date and settings.legend and settings.legend.position == "top-left"
    assert settings.title and settings.attribution and settings.borders and not settings.timeline
    merged = RenderSection().merged(RenderOverrides.model_validate({"overlays": {"legend": False, "timeline": True}}))
    assert not merged.overlays.legend and merged.overlays.timeline and merged.overlays.date


def test_overlay_settings_reject_unknown_keys_and_values() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        OverlaysSection.model_validate({"legend": {"positon": "top-left"}})
    with pytest.raises(ValidationError):
        OverlaysSection.model_validate({"date": {"position": "middle"}})


def test_border_layers_config_and_loading(tmp_path: Path) -> None:
    from generator.config import parse_config
    from generator.plan.site import site_plan
    from generator.sources.regions import load_regions

    line = {"type": "LineString", "coordinates": [[2.0, 46.0], [3.0, 47.0]]}
    config_text = json.dumps({
        "site": {"title": "t"}, "sources": {"s": {"catalog": "c.json"}},
        "collections": [{"id": "c", "source": "s"}],
        "regions": [
            {"id": "a", "bbox": [1, 45, 4, 48], "borders": [
                {"geometry": line, "color": "#ff0000", "width": 2, "halo": True, "attribution": "IGN"},
                {"geometry": line, "halo": "#00ff00", "halo_width": 2, "attribution": "IGN"},
                {"geometry": line, "attribution": "Natural Earth"},
            ]},
            {"id": "b", "bbox": [1, 45, 4, 48], "borders": line},
        ],
    })
    config = parse_config(config_text, tmp_path / "site_config.yml")
    regions = load_regions(site_plan(config).regions)
    first, second, third = regions["a"].border_layers
    assert (first.attribution, third.attribution) == ("IGN", "Natural Earth")
    assert regions["a"].border_credit == "IGN · Natural Earth"  # each credit once, in layer order
    assert regions["b"].border_credit is None
    assert (first.color, first.width, first.halo, first.halo_width) == ("#ff0000", 2, "#ffffff", 1)
    assert (second.color, second.width, second.halo, second.halo_width) == ("#282828", None, "#00ff00", 2)
    assert len(regions["b"].border_layers) == 1 and regions["b"].border_layers[0].halo is None
    assert regions["b"].borders is not None
    too_many = json.loads(config_text)
    too_many["regions"][0]["borders"] *= 2
    with pytest.raises(ConfigError, match="border layers"):
        parse_config(json.dumps(too_many), tmp_path / "site_config.yml")
    blank = json.loads(config_text)
    blank["regions"][0]["borders"][0]["attribution"] = ""
    with pytest.raises(ConfigError, match="attribution"):
        parse_config(json.dumps(blank), tmp_path / "site_config.yml")


def test_every_registered_overlay_has_its_settings_and_a_rank_when_boxed() -> None:
    from generator.overlays.registry import OVERLAY_NAMES, OVERLAYS

    settings = OverlaysSection()
    assert OVERLAY_NAMES == ("context", "borders", "timeline", "title", "attribution", "legend", "date", "scale_bar")
    assert all(hasattr(settings, name) for name in OVERLAY_NAMES)
    ranks = [rank for _, rank in OVERLAYS if rank is not None]
    assert len(ranks) == len(set(ranks))  # the layout order is total
