"""Frame layout (``render.layout``: bands around the map, or inset boxes over the least data) and
the look of missing values (``style.nodata_color`` and the legend's no-data swatch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from affine import Affine
from PIL import Image

from generator.config import OverlaysSection
from generator.core.colors import NODATA_GREYS
from generator.core.model import CollectionInfo, Grid, Style
from generator.engine.build import BuildOptions, build
from generator.overlays.layout import Request, place, stack_bands
from generator.overlays.painter import OverlayPainter, overlay_palette
from generator.render.palette import nodata_rgb
from generator.sources.regions import BorderLayer

from .conftest import NODATA, FakeItem, column_values, write_catalog, write_cog

NO2 = Style(rescale=(0.0, 1.5e16), colormap="viridis", units="molecules/cm²")
STAC = CollectionInfo(id="no2", title="Tropospheric NO₂", license="CC-BY-4.0", providers=({"name": "NASA"},))
TEXT_OFF = {"date": False, "legend": False, "title": False, "attribution": False, "timeline": False}
DEGREE = 0.01  # grid pixel size in degrees


def grid_of(width: int, height: int) -> Grid:
    return Grid("EPSG:4326", Affine(DEGREE, 0, 0, 0, -DEGREE, height * DEGREE), width, height)


def painter_for(width: int, height: int, layout: str, overlays: dict[str, Any] | None = None, **kwargs: Any) -> OverlayPainter:
    grid = grid_of(width, height)
    outline = shapely.box(0.1 * width * DEGREE, 0.1 * height * DEGREE, 0.9 * width * DEGREE, 0.9 * height * DEGREE)
    return OverlayPainter.create(
        OverlaysSection.model_validate({"timeline": True, **(overlays or {})}), grid, NO2,
        border_layers=(BorderLayer(outline, "#101010", 2, "#ffffff", 1),), collection=STAC, region_title="Somewhere",
        labels=["2024-01", "2024-12"], frame_count=12, layout=layout, **kwargs,  # type: ignore[arg-type]
    )


def gradient(painter: OverlayPainter) -> np.ndarray:
    height, width = painter.grid.shape
    return (np.arange(width, dtype=np.uint8)[np.newaxis, :] % painter.palette.n_levels).repeat(height, axis=0)


SHAPES = [(200, 200), (2048, 2048), (512, 103), (103, 512), (2048, 410), (96, 480), (320, 200)]


@pytest.mark.parametrize(("width", "height"), SHAPES)
def test_with_bands_no_overlay_pixel_lands_on_the_map(width: int, height: int) -> None:
    painter = painter_for(width, height, "bands", {"legend": {"orientation": "vertical"}} if width == 320 else None)
    layer = gradient(painter)
    frame = painter.compose(layer.copy(), 3, "2024-04")
    x, y = painter.map_origin
    on_map = frame[y : y + height, x : x + width]
    # Every map pixel is the data layer's, except the lines the borders overlay draws.
    borders_only = painter.paint(np.full(painter.frame_shape, 0, np.uint8), 3, "2024-04", only={"borders"})
    border_pixels = borders_only[y : y + height, x : x + width] != 0
    assert border_pixels.any()
    assert np.array_equal(on_map[~border_pixels], layer[~border_pixels])
    # The map keeps its size; the frame grows by the bands, which hold every text overlay.
    assert painter.frame_shape[0] > height and painter.frame_shape[1] >= width
    assert not painter.notes, painter.notes  # everything fitted
    band = painter.palette.index("label_box")
    assert (frame[:y] == band).mean() > 0.5 and (frame[y + height :] == band).mean() > 0.5


@pytest.mark.parametrize(("width", "height"), SHAPES)
def test_with_every_text_overlay_off_the_frame_is_the_map_grid(width: int, height: int) -> None:
    painter = painter_for(width, height, "bands", TEXT_OFF)
    assert painter.frame_shape == (height, width) and painter.map_origin == (0, 0)
    layer = gradient(painter)
    frame = painter.compose(layer.copy(), 0, "2024-01")
    assert frame.shape == (height, width)


def test_bands_put_the_title_above_and_the_rest_below() -> None:
    painter = painter_for(512, 400, "bands")
    top = painter.map_origin[1]
    boxes = {overlay.name: overlay.box for overlay in painter.overlays if overlay.box is not None}
    assert boxes["title"].y + boxes["title"].height <= top
    for name in ("date", "legend", "attribution", "timeline"):
        assert boxes[name].y >= top + 400, name
    # The timeline hugs the map; the date and legend share the row under it.
    assert boxes["timeline"].y == top + 400
    assert boxes["date"].y < boxes["attribution"].y and boxes["legend"].y < boxes["attribution"].y


def test_a_narrow_map_gets_a_frame_wide_enough_for_its_text() -> None:
    painter = painter_for(60, 300, "bands")
    assert painter.frame_shape[1] >= 256 - 1 and not painter.notes
    assert painter.map_origin[0] == (painter.frame_shape[1] - 60) // 2


def test_long_titles_wrap_in_the_band() -> None:
    title = "A very long title for an animation that would never fit on a single line of a small frame"
    painter = painter_for(256, 256, "bands", {"title": {"text": title}})
    (box,) = [overlay.box for overlay in painter.overlays if overlay.name == "title"]
    assert box is not None and box.width <= painter.frame_shape[1]
    one_line = painter_for(256, 256, "bands", {"title": {"text": "Short"}})
    (short,) = [overlay.box for overlay in one_line.overlays if overlay.name == "title"]
    assert short is not None and box.height > 2 * short.height  # three lines


def test_inset_boxes_go_where_they_hide_the_least_data() -> None:
    # Data fills the frame except its top-right quarter: every box avoids the data if it can.
    coverage = np.full((400, 400), 12, dtype=np.uint16)
    coverage[:200, 200:] = 0
    painter = painter_for(400, 400, "inset", {**TEXT_OFF, "legend": True}, coverage=coverage)
    (legend,) = [overlay.box for overlay in painter.overlays if overlay.name == "legend"]
    assert legend is not None and legend.x >= 200 and legend.y + legend.height <= 200
    # Without a survey, boxes keep their configured corner (bottom-right for the legend).
    plain = painter_for(400, 400, "inset", {**TEXT_OFF, "legend": True})
    (corner,) = [overlay.box for overlay in plain.overlays if overlay.name == "legend"]
    assert corner is not None and corner.y > 200 and corner.x > 200
    # Ties go to the configured corner.
    even = painter_for(400, 400, "inset", {**TEXT_OFF, "legend": True}, coverage=np.ones((400, 400), np.uint16))
    (tied,) = [overlay.box for overlay in even.overlays if overlay.name == "legend"]
    assert (tied.x, tied.y) == (corner.x, corner.y)


def test_place_with_a_cost_keeps_boxes_apart() -> None:
    requests = [Request(name, 100, 40, "bottom-right") for name in ("a", "b", "c", "d", "e")]
    placed = place(requests, 300, 300, margin=4, gap=2, cost=lambda box: float(box.x + box.y))
    boxes = list(placed.values())
    assert len(boxes) == 5
    for first in boxes:
        for second in boxes:
            if first is not second:
                assert not first.touches(second, 0)


def test_stack_bands_pairs_left_and_right_boxes_and_stacks_the_rest() -> None:
    requests = [
        Request("timeline", 300, 3, "bottom"), Request("date", 60, 20, "bottom-left"),
        Request("legend", 120, 40, "bottom-right"), Request("attribution", 250, 16, "bottom-right"),
        Request("title", 250, 24, "top-left"),
    ]
    bands = stack_bands(requests, 300, 200, margin=6, gap=3)
    boxes = bands.boxes
    assert boxes["title"].y == 6 and bands.top == 6 + 24 + 6
    assert boxes["timeline"].y == bands.top + 200
    assert boxes["date"].y > boxes["timeline"].y and boxes["legend"].y >= boxes["timeline"].y + 3
    assert boxes["date"].x == 6 and boxes["legend"].x == 300 - 6 - 120
    assert boxes["attribution"].y >= boxes["legend"].y + 40
    assert bands.bottom == boxes["attribution"].y + 16 + 6 - (bands.top + 200)


# No data --------------------------------------------------------------------------------------


def test_the_default_nodata_colour_is_a_grey_far_from_the_colormap() -> None:
    for colormap in ("viridis", "magma", "rdbu_r", "ylorrd"):
        palette = overlay_palette(colormap)
        grey = nodata_rgb(None, palette)
        assert grey in NODATA_GREYS
        distance = np.sqrt(((palette.data_colors().astype(float) - np.array(grey)) ** 2).sum(axis=1)).min()
        assert distance >= 40, colormap
    assert nodata_rgb("#ff00ff", overlay_palette("viridis")) == (255, 0, 255)
    assert nodata_rgb("transparent", overlay_palette("viridis")) is None


def test_the_legend_swatch_is_there_only_when_data_is_missing() -> None:
    for orientation in ("horizontal", "vertical"):
        settings = {**TEXT_OFF, "legend": {"orientation": orientation}}
        with_gaps = painter_for(400, 400, "bands", settings, nodata=True)
        without = painter_for(400, 400, "bands", settings)
        nodata = with_gaps.palette.index("nodata")
        assert with_gaps.legend_patch is not None and (with_gaps.legend_patch == nodata).sum() > 25
        assert without.legend_patch is not None and not (without.legend_patch == nodata).any()


def cloudy_site(folder: Path, *, cloudy: bool, extra: str = "", renders: dict[str, Any] | None = None) -> Path:
    """Four months over a 40×40° square region; with ``cloudy``, month 2 has a cloud of nodata."""
    items = []
    for month in range(4):
        values = column_values(64) + month
        if cloudy and month == 2:
            values[20:40, 20:40] = NODATA  # rows 20–40 from the north: latitudes 44–24, inside
        items.append(FakeItem(id=f"m{month}", datetime=f"2020-{month + 1:02d}-01T00:00:00Z",
                              cog=write_cog(folder / "cogs" / f"m{month}.tif", values)))
    renders = renders or {"dashboard": {"rescale": [[0, 80]], "colormap_name": "viridis"}}
    write_catalog(folder / "catalog", "c", items, renders=renders)
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Clouds}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        f"collections: [{{id: c, source: s{extra}}}]\n"
        "regions: [{id: r, geometry: {type: Polygon, coordinates: [[[12, 12], [52, 12], [52, 52], [12, 52], [12, 12]]]}}]\n"
        "render: {size: 128}\n"
    )
    return config


def rgba(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def test_missing_values_inside_the_region_have_the_nodata_colour_outside_is_transparent(tmp_path: Path) -> None:
    config = cloudy_site(tmp_path, cloudy=True)
    (record,) = build(config, tmp_path / "out", options=BuildOptions(jobs=1, use_cache=False)).records
    assert record.status == "ok", record.error
    frame = rgba(tmp_path / "out" / record.files.frames[2])
    clear = rgba(tmp_path / "out" / record.files.frames[1])
    grey = (200, 200, 200)  # viridis' default no-data grey
    # Every frame has the legend's no-data swatch; the cloudy one has the cloud too.
    cloud = np.all(frame == (*grey, 255), axis=-1).sum() - np.all(clear == (*grey, 255), axis=-1).sum()
    assert cloud > 200, "the cloud inside the region is painted in the no-data colour"
    # Outside the region stays transparent: the map's corners (between the bands).
    transparent_rows = np.flatnonzero((frame[..., 3] == 0).any(axis=1))
    assert len(transparent_rows) > 0 and frame[transparent_rows[0], :, 3].tolist().count(0) > 50
    # The legend shows the swatch; a build without gaps has none.
    assert np.all(rgba(tmp_path / "out" / record.files.legend) == (*grey, 255), axis=-1).sum() > 25
    (plain,) = build(cloudy_site(tmp_path / "clear", cloudy=False), tmp_path / "clear-out").records
    assert not np.all(rgba(tmp_path / "clear-out" / plain.files.legend)[..., :3] == grey, axis=-1).any()


def test_nodata_color_can_be_set_or_be_transparent(tmp_path: Path) -> None:
    config = cloudy_site(tmp_path / "pink", cloudy=True, extra=", style: {nodata_color: '#ff00ff'}")
    (record,) = build(config, tmp_path / "pink-out").records
    frame = rgba(tmp_path / "pink-out" / record.files.frames[2])
    assert np.all(frame == (255, 0, 255, 255), axis=-1).sum() > 200
    config = cloudy_site(tmp_path / "holes", cloudy=True, extra=", style: {nodata_color: transparent}")
    (record,) = build(config, tmp_path / "holes-out").records
    holes = rgba(tmp_path / "holes-out" / record.files.frames[2])
    clear = rgba(tmp_path / "holes-out" / record.files.frames[1])
    assert (holes[..., 3] == 0).sum() >= (clear[..., 3] == 0).sum() + 200
    assert not np.all(rgba(tmp_path / "holes-out" / record.files.legend)[..., :3] == (200, 200, 200), axis=-1).any()


def test_without_a_cache_the_survey_does_not_read_cogs_twice(tmp_path: Path) -> None:
    from generator.render.local import LocalRenderer

    reads: list[str] = []

    class Counting(LocalRenderer):
        def read(self, item: Any, grid: Any, style: Any, region: object = None) -> Any:
            reads.append(item.item_id)
            return super().read(item, grid, style, region)

    config = cloudy_site(tmp_path, cloudy=True)
    (record,) = build(config, tmp_path / "out", renderer=Counting(), options=BuildOptions(jobs=1, use_cache=False)).records
    assert record.status == "ok" and sorted(reads) == ["m0", "m1", "m2", "m3"]


def test_categorical_pages_list_no_data_when_frames_lack_it(tmp_path: Path) -> None:
    classes = {"dashboard": {"colormap": {str(value): [value * 3, 0, 0, 255] for value in range(70)}}}
    (record,) = build(cloudy_site(tmp_path / "a", cloudy=True, renders=classes), tmp_path / "a-out").records
    assert record.status == "ok", record.error
    assert record.legend_classes[-1][0] == "No data" and len(record.legend_classes) == 71
    (clear,) = build(cloudy_site(tmp_path / "b", cloudy=False, renders=classes), tmp_path / "b-out").records
    assert all(label != "No data" for label, _ in clear.legend_classes)


def test_bad_layout_and_nodata_colour_are_config_errors() -> None:
    from pydantic import ValidationError

    from generator.config import RenderSection, StyleSection

    assert RenderSection().layout == "bands" and RenderSection.model_validate({"layout": "inset"}).layout == "inset"
    with pytest.raises(ValidationError):
        RenderSection.model_validate({"layout": "corners"})
    assert StyleSection.model_validate({"nodata_color": "#abc"}).nodata_color == "#abc"
    for bad in ("grey", "#12345", "none"):
        with pytest.raises(ValidationError):
            StyleSection.model_validate({"nodata_color": bad})
