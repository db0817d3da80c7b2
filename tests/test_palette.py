"""Tests for palettes: exact colormap levels, reserved entries, values → indices."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from rio_tiler.colormap import cmap

from generator.core.errors import StyleError
from generator.render.palette import (
    LABEL_RAMP,
    PALETTE_SIZE,
    RESERVED_COLORS,
    Palette,
    build_palette,
    n_data_levels,
    to_indices,
)


@pytest.fixture(scope="module")
def viridis() -> Palette:
    return build_palette("viridis")


# Layout --------------------------------------------------------------------------------------


def test_data_levels_are_what_the_reserved_entries_leave(viridis: Palette) -> None:
    free = 256 - len(RESERVED_COLORS)
    # Odd, so a diverging colormap's middle colour is one level: an entry may be left unused.
    assert viridis.n_levels == (free if free % 2 else free - 1)
    assert n_data_levels() == viridis.n_levels
    assert viridis.colors.shape == (256, 3)
    assert viridis.colors.dtype == np.uint8


def test_reserved_indices_are_distinct_and_after_the_data_levels(viridis: Palette) -> None:
    indices = [viridis.index(entry.name) for entry in RESERVED_COLORS]
    assert len(set(indices)) == len(RESERVED_COLORS)
    assert all(viridis.n_levels <= i < PALETTE_SIZE for i in indices)
    for entry in RESERVED_COLORS:
        assert tuple(viridis.colors[viridis.index(entry.name)]) == entry.rgb


def test_required_reserved_entries_exist(viridis: Palette) -> None:
    for name in ("transparent", "border", "label_box", "label_text", "label_aa1", "label_aa2"):
        viridis.index(name)
    assert viridis.transparent == viridis.index("transparent")
    assert tuple(viridis.colors[viridis.index("label_text")]) == (255, 255, 255)


def test_label_ramp_goes_from_box_to_text_through_greys(viridis: Palette) -> None:
    ramp = viridis.label_ramp()
    assert ramp[0] == viridis.index("label_box")
    assert ramp[-1] == viridis.index("label_text")
    assert len(ramp) == len(LABEL_RAMP) >= 4  # box, at least two greys, text
    brightness = [int(viridis.colors[i].astype(int).sum()) for i in ramp]
    assert brightness == sorted(brightness)
    assert len(set(brightness)) == len(brightness)


def test_unknown_reserved_name_is_a_key_error(viridis: Palette) -> None:
    with pytest.raises(KeyError, match="glow"):
        viridis.index("glow")


def test_palette_is_read_only(viridis: Palette) -> None:
    with pytest.raises(ValueError):
        viridis.colors[0] = (1, 2, 3)


def test_rgb_bytes_is_the_768_byte_table(viridis: Palette) -> None:
    table = viridis.rgb_bytes()
    assert len(table) == 768
    index = viridis.index("border")
    assert table[3 * index : 3 * index + 3] == bytes(viridis.colors[index])


# Named colormaps -----------------------------------------------------------------------------


def test_viridis_levels_are_rio_tiler_entries_by_index(viridis: Palette) -> None:
    entries = cmap.get("viridis")
    n = viridis.n_levels
    for level in range(n):
        source = round(level * 255 / (n - 1))
        assert tuple(viridis.colors[level]) == tuple(int(c) for c in entries[source][:3])


def test_every_data_colour_comes_from_the_colormap(viridis: Palette) -> None:
    source_colors = {tuple(int(c) for c in rgba[:3]) for rgba in cmap.get("viridis").values()}
    assert {tuple(int(c) for c in rgb) for rgb in viridis.data_colors()} <= source_colors


def test_ends_of_the_colormap_are_kept(viridis: Palette) -> None:
    entries = cmap.get("viridis")
    assert tuple(viridis.data_colors()[0]) == tuple(int(c) for c in entries[0][:3])
    assert tuple(viridis.data_colors()[-1]) == tuple(int(c) for c in entries[255][:3])


def test_colormap_names_are_case_insensitive(viridis: Palette) -> None:
    assert np.array_equal(build_palette("Viridis").colors, viridis.colors)
    assert np.array_equal(build_palette("RdBu_r").colors, build_palette("rdbu_r").colors)


def test_every_rio_tiler_colormap_name_is_accepted() -> None:
    for name in cmap.list():
        palette = build_palette(name)
        assert palette.data_colors().shape == (palette.n_levels, 3)


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(StyleError) as caught:
        build_palette("viridiss")
    message = str(caught.value)
    assert "'viridiss'" in message
    assert "viridis" in message.replace("'viridiss'", "")


def test_a_single_hex_colour_as_name_is_explained() -> None:
    with pytest.raises(StyleError, match="at least two"):
        build_palette("#ff0000")


# Custom colour lists -------------------------------------------------------------------------


def test_black_to_white_is_a_linear_grey_ramp() -> None:
    palette = build_palette(["#000", "#ffffff"])
    n = palette.n_levels
    for level in (0, 1, n // 3, n // 2, n - 2, n - 1):
        grey = round(255 * level / (n - 1))
        assert tuple(palette.colors[level]) == (grey, grey, grey)


def test_three_colour_list_passes_through_the_middle_stop() -> None:
    palette = build_palette(("#FF0000", "#00ff00", "#0000ff"))
    n = palette.n_levels
    assert tuple(palette.colors[0]) == (255, 0, 0)
    assert tuple(palette.colors[n - 1]) == (0, 0, 255)
    # n is odd, so the middle level sits exactly on the middle stop.
    assert n % 2 == 1
    assert tuple(palette.colors[(n - 1) // 2]) == (0, 255, 0)


@pytest.mark.parametrize("bad", ["red", "#12345", "#ggg", "000000", ""])
def test_bad_hex_colour_is_named(bad: str) -> None:
    with pytest.raises(StyleError) as caught:
        build_palette(["#000000", bad])
    assert repr(bad) in str(caught.value)


def test_custom_list_needs_two_colours() -> None:
    with pytest.raises(StyleError, match="at least two"):
        build_palette(["#000000"])


# Legend --------------------------------------------------------------------------------------


def test_legend_hex_samples_data_levels_low_to_high(viridis: Palette) -> None:
    legend = viridis.legend_hex(16)
    assert len(legend) == 16
    assert all(re.fullmatch(r"#[0-9a-f]{6}", color) for color in legend)
    first, last = viridis.data_colors()[0], viridis.data_colors()[-1]
    assert legend[0] == "#{:02x}{:02x}{:02x}".format(*first)
    assert legend[-1] == "#{:02x}{:02x}{:02x}".format(*last)
    assert legend[0] == "#440154"  # viridis starts dark purple...
    assert legend[-1] == "#fde724"  # ...and ends yellow in rio-tiler's table


# Values → indices ----------------------------------------------------------------------------


def _expected_level(value: float, lo: float, hi: float, n_levels: int) -> int:
    return min(max(math.floor((value - lo) / (hi - lo) * n_levels), 0), n_levels - 1)


def test_to_indices_matches_the_formula_on_hand_picked_values(viridis: Palette) -> None:
    n = viridis.n_levels
    values = np.array([0.0, 0.01, 2.5, 5.0, 7.49, 9.99, 10.0], dtype=np.float32)
    got = to_indices(values, np.ones(values.shape, bool), (0, 10), viridis)
    assert got.dtype == np.uint8
    assert got[0] == 0
    assert got[-1] == n - 1  # the top of the range is the top level, not one past it
    expected = [_expected_level(float(v), 0.0, 10.0, n) for v in values]
    assert got.tolist() == expected
    # Spot values worked out by hand for the current layout, to pin the formula itself.
    if n == 249:
        assert got.tolist() == [0, 0, 62, 124, 186, 248, 248]


def test_values_outside_the_range_are_clipped(viridis: Palette) -> None:
    values = np.array([[-1e6, -0.5], [10.5, 3e38]], dtype=np.float32)
    got = to_indices(values, np.ones(values.shape, bool), (0, 10), viridis)
    assert got.tolist() == [[0, 0], [viridis.n_levels - 1, viridis.n_levels - 1]]


def test_nan_inf_and_invalid_pixels_are_transparent(viridis: Palette) -> None:
    values = np.array([np.nan, np.inf, -np.inf, 5.0, 5.0])
    valid = np.array([True, True, True, False, True])
    got = to_indices(values, valid, (0, 10), viridis)
    t = viridis.transparent
    assert got.tolist() == [t, t, t, t, _expected_level(5.0, 0, 10, viridis.n_levels)]


def test_reversed_range_reverses_the_colormap(viridis: Palette) -> None:
    n = viridis.n_levels
    values = np.array([10.0, 7.5, 2.5, 0.0, -3.0])
    got = to_indices(values, np.ones(values.shape, bool), (10, 0), viridis)
    assert got[0] == 0 and got[3] == n - 1 and got[4] == n - 1
    assert got.tolist() == [_expected_level(float(v), 10.0, 0.0, n) for v in values]


def test_integer_input_works(viridis: Palette) -> None:
    values = np.array([0, 100, 200], dtype=np.uint16)
    got = to_indices(values, np.ones(3, bool), (0, 200), viridis)
    top = viridis.n_levels - 1
    assert got.tolist() == [0, _expected_level(100, 0, 200, viridis.n_levels), top]


def test_equal_rescale_bounds_are_a_style_error(viridis: Palette) -> None:
    with pytest.raises(StyleError, match="equal"):
        to_indices(np.zeros(3), np.ones(3, bool), (4.0, 4.0), viridis)


def test_non_finite_rescale_is_a_style_error(viridis: Palette) -> None:
    with pytest.raises(StyleError):
        to_indices(np.zeros(3), np.ones(3, bool), (0.0, float("nan")), viridis)


def test_mismatched_mask_is_rejected(viridis: Palette) -> None:
    with pytest.raises(ValueError):
        to_indices(np.zeros((2, 2)), np.ones(3, bool), (0, 1), viridis)


def test_large_frame_keeps_shape_and_never_hits_reserved_levels(viridis: Palette) -> None:
    rng = np.random.default_rng(7)
    values = rng.uniform(-5, 15, size=(1024, 1024)).astype(np.float32)
    values[::97, ::89] = np.nan
    got = to_indices(values, np.ones(values.shape, bool), (0, 10), viridis)
    assert got.shape == values.shape
    data = got[np.isfinite(values)]
    assert data.max() == viridis.n_levels - 1 and data.min() == 0
    assert np.all(got[~np.isfinite(values)] == viridis.transparent)


def test_every_overlay_entry_is_reserved_in_one_list() -> None:
    names = {entry.name for entry in RESERVED_COLORS}
    expected = {
        "transparent", "label_box", "label_text", "legend_frame", "timeline_track", "timeline_bar",
        *(f"border_{n}" for n in range(1, 5)), *(f"halo_{n}" for n in range(1, 5)),
    }
    assert expected <= names
    assert set(LABEL_RAMP) <= names


def test_reserved_colours_can_be_overridden_without_moving_anything(viridis: Palette) -> None:
    custom = build_palette("viridis", {"border_2": (255, 0, 0), "halo_2": (0, 255, 0)})
    assert custom.n_levels == viridis.n_levels
    assert dict(custom.reserved) == dict(viridis.reserved)
    assert tuple(custom.colors[custom.index("border_2")]) == (255, 0, 0)
    assert tuple(custom.colors[custom.index("halo_2")]) == (0, 255, 0)
    assert np.array_equal(custom.data_colors(), viridis.data_colors())
    assert custom.index("border") == custom.index("border_1")  # the older name still works
    with pytest.raises(ValueError, match="glow"):
        build_palette("viridis", {"glow": (1, 2, 3)})


def test_named_colormaps_are_read_without_importing_rio_tiler():
    """rio-tiler's colormap tables are read from its files; the levels equal those rio-tiler gives."""
    code = (
        "import sys, json\n"
        "from generator.render.palette import colormap_levels\n"
        "names = ['viridis', 'rdbu_r', 'magma', 'cfastie']\n"
        "ours = {name: colormap_levels(name, 250).tolist() for name in names}\n"
        "imported = 'rio_tiler' in sys.modules\n"
        "import rio_tiler.colormap\n"
        "theirs = {name: colormap_levels(name, 250).tolist() for name in names}\n"
        "print(json.dumps([imported, ours == theirs]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [False, True]
