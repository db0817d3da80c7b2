"""Tests for ``style.scale`` (linear, log) and ``style.ticks``: the value → level mapping, the
legend's ticks, and the checks that name the key to fix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from generator.config import parse_config
from generator.core.errors import ConfigError, StyleError
from generator.core.model import AnimationFiles, AnimationRecord, ColorOp, FramePlan, Grid, ItemAsset, Style
from generator.core.scales import SCALES, Scale
from generator.overlays.legend import LegendSpec, render_legend, strip_indices, strip_positions, tick_labels
from generator.plan.formulas import value_transform
from generator.plan.specs import style_spec
from generator.plan.styles import resolve_style
from generator.render.frames import FrameData
from generator.render.layers import Levels, data_layer
from generator.render.palette import Palette, build_palette, to_indices
from generator.site.pages import _legend_view
from generator.site.provenance import style_entry

CONFIG = """\
site: {title: Test}
sources: {demo: {catalog: cat/catalog.json}}
collections:
  - {id: no2, source: demo, style: STYLE}
regions:
  - {id: box, bbox: [0, 40, 10, 50]}
"""


@pytest.fixture(scope="module")
def palette() -> Palette:
    return build_palette("viridis")


def problems(style: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("STYLE", style), Path("site_config.yml"))
    return caught.value.problems


# The mapping ---------------------------------------------------------------------------------


def test_every_scale_value_has_a_rule() -> None:
    assert set(SCALES) == {"linear", "log"} == set(Scale.__args__)  # type: ignore[attr-defined]


def test_log_levels_match_numpy(palette: Palette) -> None:
    low, high = 1e14, 1e17
    rng = np.random.default_rng(5)
    values = 10.0 ** rng.uniform(13.5, 17.5, size=4000)
    levels = to_indices(values, np.ones(values.shape, bool), (low, high), palette, "log")
    n = palette.n_levels
    expected = np.clip(np.floor((np.log10(values) - 14.0) / 3.0 * n), 0, n - 1).astype(np.uint8)
    assert np.array_equal(levels, expected)


def test_log_levels_of_known_values(palette: Palette) -> None:
    n = palette.n_levels
    values = np.array([1e14, 10**14.5, 1e15, 1e16, 10**16.999, 1e17, 1e18, 5e13, 0.0, -3.0, np.nan])
    valid = np.ones(values.shape, bool)
    levels = to_indices(values, valid, (1e14, 1e17), palette, "log").tolist()
    # One decade is a third of the levels, whatever the values' size.
    assert levels[:7] == [0, n // 6, n // 3, 2 * n // 3, n - 1, n - 1, n - 1]
    # At or below 0 is below the range, like values under min; NaN is transparent.
    assert levels[7:] == [0, 0, 0, palette.transparent]
    # A reversed rescale reverses the colormap: 0 and below get the last colour.
    reversed_levels = to_indices(values[:9], valid[:9], (1e17, 1e14), palette, "log").tolist()
    assert reversed_levels[0] == n - 1 and reversed_levels[5] == 0 and reversed_levels[8] == n - 1


def test_linear_is_the_default_and_unchanged(palette: Palette) -> None:
    values = np.linspace(-1.0, 2.0, 999)
    valid = np.ones(values.shape, bool)
    expected = np.clip(np.floor(values * palette.n_levels), 0, palette.n_levels - 1).astype(np.uint8)
    assert np.array_equal(to_indices(values, valid, (0.0, 1.0), palette), expected)
    assert np.array_equal(to_indices(values, valid, (0.0, 1.0), palette, "linear"), expected)


@pytest.mark.parametrize("rescale", [(0.0, 1e16), (-1.0, 10.0), (1e16, 0.0)])
def test_log_with_a_bound_at_or_below_zero_is_a_render_error(palette: Palette, rescale: tuple[float, float]) -> None:
    with pytest.raises(StyleError, match=r"style\.scale: log needs both rescale bounds above 0"):
        to_indices(np.ones(3), np.ones(3, bool), rescale, palette, "log")


def test_a_colour_formula_runs_along_the_log_axis() -> None:
    style = Style(rescale=(1.0, 1e4), scale="log", color_ops=(), units=None)
    assert value_transform(style) is None
    gamma = Style(rescale=(1.0, 1e4), scale="log", color_ops=(ColorOp("gamma", (2.0,)),))
    transform = value_transform(gamma)
    assert transform is not None
    # t = 0.25 on the log axis (10), gamma 2 → t = 0.5 → 100.
    assert transform(np.array([10.0]))[0] == pytest.approx(100.0, rel=1e-5)


# Config and style resolution -----------------------------------------------------------------


def test_log_with_min_at_or_below_zero_is_a_config_error() -> None:
    (line,) = problems("{rescale: [0, 1.5e16], scale: log}")
    assert line.startswith("site_config.yml: collections[0].style: style.scale: log needs both rescale bounds above 0")


def test_an_unknown_scale_is_a_config_error_listing_the_choices() -> None:
    (line,) = problems("{rescale: [1, 10], scale: cubic}")
    assert "collections[0].style.scale" in line and "'linear'" in line and "'log'" in line


def test_log_over_a_stac_rescale_at_zero_is_a_style_error_naming_the_key() -> None:
    renders = {"dashboard": {"rescale": [[0, 1e16]]}}
    config = parse_config(CONFIG.replace("STYLE", "{scale: log}"), Path("site_config.yml"))
    section = config.model.collections[0].style
    assert section is not None
    with pytest.raises(StyleError, match=r"style\.scale: log needs both rescale bounds above 0.*collections\[0\]"):
        resolve_style("no2", renders, style_spec(section), "collections[0]")
    resolved = resolve_style("no2", {"dashboard": {"rescale": [[1e14, 1e16]]}}, style_spec(section), "collections[0]")
    assert resolved.style.scale == "log" and resolved.style.rescale == (1e14, 1e16)


@pytest.mark.parametrize(
    ("style", "message"),
    [
        ("{rescale: [0, 10], ticks: [0, 5, 12]}", "style.ticks: 12 outside the rescale [0, 10]"),
        ("{rescale: [1e14, 1e17], scale: log, ticks: [1e13, 1e15]}", "style.ticks: 1e+13 outside the rescale"),
        ("{rescale: [10, 0], ticks: [-1]}", "style.ticks: -1 outside the rescale [10, 0]"),
        ("{rescale: [0, 10], ticks: [5, 2]}", "give them in increasing order"),
        ("{rescale: [0, 10], ticks: [2, 2]}", "give them in increasing order"),
    ],
)
def test_bad_ticks_are_config_errors(style: str, message: str) -> None:
    (line,) = problems(style)
    assert message in line


def test_ticks_reach_the_style() -> None:
    config = parse_config(CONFIG.replace("STYLE", "{rescale: [1e14, 1e17], scale: log, ticks: [2e14, 1e16]}"), Path("c.yml"))
    section = config.model.collections[0].style
    assert section is not None
    style = resolve_style("no2", {}, style_spec(section), "collections[0]").style
    assert style.scale == "log" and style.ticks == (2e14, 1e16)


# Legend ticks --------------------------------------------------------------------------------


def test_log_ticks_at_powers_of_ten() -> None:
    assert tick_labels((1e14, 1e17), "log") == [(1e14, "1e14"), (1e15, "1e15"), (1e16, "1e16"), (1e17, "1e17")]
    assert [label for _, label in tick_labels((0.01, 1000.0), "log")] == ["0.01", "0.1", "1", "10", "100", "1000"]


def test_log_ticks_add_2_and_5_when_there_are_few_decades() -> None:
    labels = [label for _, label in tick_labels((3e14, 2e16), "log")]
    assert labels == ["5e14", "1e15", "2e15", "5e15", "1e16", "2e16"]
    assert [label for _, label in tick_labels((1.0, 10.0), "log")] == ["1", "2", "5", "10"]
    # Nothing round inside: the bounds.
    assert [label for _, label in tick_labels((3.0, 4.0), "log")] == ["3", "4"]


def test_log_ticks_thin_out_over_many_decades() -> None:
    labels = [label for _, label in tick_labels((1e-3, 1e12), "log")]
    assert labels == ["0.001", "1", "1000", "1e6", "1e9", "1e12"]


def test_explicit_ticks_linear_and_log() -> None:
    assert tick_labels((0.0, 10.0), "linear", (0.0, 2.5, 5.0, 10.0)) == [
        (0.0, "0"), (2.5, "2.5"), (5.0, "5"), (10.0, "10"),
    ]
    assert tick_labels((1e14, 1e17), "log", (3e14, 1e16)) == [(3e14, "3e14"), (1e16, "1e16")]


def test_log_legend_ticks_sit_where_their_values_are(palette: Palette) -> None:
    spec = LegendSpec(rescale=(1e14, 1e17), scale="log")
    ticks = tick_labels(spec.rescale, spec.scale)
    assert strip_positions(spec, ticks, 301) == [0, 100, 200, 300]
    strip = strip_indices(spec, palette, ticks, 301)
    for position, (value, _) in zip([0, 100, 200, 300], ticks, strict=True):
        level = to_indices(np.array([value]), np.ones(1, bool), spec.rescale, palette, "log")[0]
        assert strip[position] == level
    # The strip runs evenly through the levels, as the frames do on the log axis.
    assert abs(int(strip[150]) - palette.n_levels // 2) <= 1


@pytest.mark.parametrize("orientation", ["horizontal", "vertical"])
def test_a_log_legend_with_many_ticks_fits_its_length(palette: Palette, orientation: str) -> None:
    spec = LegendSpec(rescale=(1e-3, 1e12), units="mm", scale="log")
    legend = render_legend(spec, palette, length_px=40, size_px=13, orientation=orientation,  # type: ignore[arg-type]
                           max_length_px=60)
    long_side = legend.shape[1] if orientation == "horizontal" else legend.shape[0]
    assert long_side < 140
    grown = render_legend(spec, palette, length_px=40, size_px=13, orientation=orientation)  # type: ignore[arg-type]
    assert (grown.shape[1] if orientation == "horizontal" else grown.shape[0]) > long_side


def test_the_page_and_provenance_say_the_scale() -> None:
    style = Style(rescale=(1e14, 1e17), scale="log")
    files = AnimationFiles(page="a/index.html", outputs={"gif": "a/a.gif"}, poster="a/p.png", thumbnail="a/t.png")
    record = AnimationRecord(
        id="a", slug="a", status="ok", collection_id="c", region_id="r", region_title="R", files=files, style=style
    )
    view = _legend_view(record, "a/index.html")
    assert view is not None and view.scale == "log"
    entry = style_entry(style)
    assert entry is not None and entry["scale"] == "log"


def test_a_data_layer_uses_the_style_scale(palette: Palette) -> None:
    grid = Grid("EPSG:3857", Affine(1, 0, 0, 0, -1, 4), 4, 1)
    values = np.array([[1e14, 1e15, 1e16, 1e17]], dtype=np.float32)

    class Fixed:
        concurrency = 1

        def read(self, item: ItemAsset, grid: Grid, style: Style, region: object = None) -> FrameData:
            return FrameData(values=values.copy(), valid=np.ones(values.shape, bool))

    moment = datetime(2024, 1, 1, tzinfo=UTC)
    frame = FramePlan(moment, (ItemAsset("i", moment, "x.tif"),))
    levels = Levels(palette.n_levels, palette.transparent, palette.index("nodata"))
    inside = np.ones(grid.shape, bool)
    log = data_layer(frame, grid, Style(rescale=(1e14, 1e17), scale="log"), inside, levels, Fixed())
    linear = data_layer(frame, grid, Style(rescale=(1e14, 1e17)), inside, levels, Fixed())
    n = palette.n_levels
    assert log.tolist() == [[0, n // 3, 2 * n // 3, n - 1]]
    expected = np.clip(np.floor((values.astype(np.float64) - 1e14) / (1e17 - 1e14) * n), 0, n - 1)
    assert linear.tolist() == expected.astype(int).tolist()
