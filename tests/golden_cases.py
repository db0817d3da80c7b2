"""Frames for the golden-image tests, shared by the tests and ``scripts/make_goldens.py``.

Each case paints overlays on a synthetic gradient over a real region (metropolitan France from
``tests/data/geo``), so the goldens show the overlays as a user sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from PIL import Image
from shapely.geometry import shape

from generator.config import BasemapSection, OverlaysSection
from generator.core.model import CollectionInfo, Style
from generator.core.scales import value_at
from generator.overlays.basemap import (
    WEB_MERCATOR,
    basemap_attribution,
    data_level_colors,
    fetch_mosaic,
    make_basemap,
    mosaic_on_grid,
    tile_range,
    zoom_for,
)
from generator.overlays.painter import OverlayPainter, default_attribution, overlay_palette
from generator.render.grid import inside_mask, make_grid, project
from generator.render.palette import nodata_rgb, to_indices, with_reserved
from generator.sources.regions import BorderLayer

GEO_DIR = Path(__file__).resolve().parent / "data" / "geo"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
SIZE = 256
STYLE = Style(rescale=(0.0, 1.5e16), colormap="viridis", units="molecules/cm²")
#: NO₂ columns read on a log scale: ticks at powers of ten.
LOG_STYLE = Style(rescale=(1e14, 1e17), colormap="viridis", units="molecules/cm²", scale="log")
COLLECTION = CollectionInfo(
    id="no2", title="NO₂ troposphérique", license="CC-BY-4.0", providers=({"name": "NASA GES DISC"},)
)
ALL_OFF: dict[str, Any] = {
    "date": False, "borders": False, "context": [], "legend": False, "title": False, "attribution": False,
    "timeline": False,
}


def france() -> shapely.Geometry:
    return shape(json.loads((GEO_DIR / "france-metropole.geojson").read_text(encoding="utf-8"))["geometry"])


def departements() -> shapely.Geometry:
    features = json.loads((GEO_DIR / "france-departements.geojson").read_text(encoding="utf-8"))["features"]
    return shapely.GeometryCollection([shape(feature["geometry"]) for feature in features])


def paint_case(
    overlays: dict[str, Any], crs: str = "EPSG:3035", layers: tuple[BorderLayer, ...] = (), frame_index: int = 4,
    style: Style = STYLE,
) -> tuple[np.ndarray, np.ndarray]:
    """(palette indices, 256×3 palette) of one frame with ``overlays`` on top of ALL_OFF: a
    gradient from the low to the high end of ``style``'s rescale, evenly along its scale."""
    outline = france()
    projected = project(outline, crs)
    grid = make_grid(projected, crs, SIZE)
    settings = OverlaysSection.model_validate({**ALL_OFF, **overlays})
    painter = OverlayPainter.create(
        settings, grid, style, border_layers=layers, collection=COLLECTION, region_title="France",
        labels=["2024-01", "2024-12"], frame_count=12,
    )
    ramp = np.linspace(0.0, 1.0, grid.width)
    values = np.tile(value_at(ramp, style.rescale, style.scale), (grid.height, 1))
    indices = to_indices(values, inside_mask(projected, grid), style.rescale, painter.palette, style.scale)
    painter.paint(indices, frame_index, "2024-05")
    return indices, np.asarray(painter.palette.colors)


def _halo_layers() -> tuple[BorderLayer, ...]:
    return (
        BorderLayer(departements(), "#606060", 1),
        BorderLayer(france(), "#101010", 2, "#ffffff", 1),
    )


CASES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "legend": lambda: paint_case({"legend": True}),
    "legend_vertical": lambda: paint_case({"legend": {"orientation": "vertical", "position": "top-right"}}),
    "title": lambda: paint_case({"title": True}),
    "attribution": lambda: paint_case({"attribution": True}),
    "timeline": lambda: paint_case({"timeline": True}),
    "date_top_right": lambda: paint_case({"date": {"position": "top-right"}}),
    "date_bottom_left": lambda: paint_case({"date": True}),
    "borders_halo": lambda: paint_case({"borders": True}, crs="EPSG:2154", layers=_halo_layers()),
    # Natural Earth coastlines and countries around France, under its border (the default look).
    # The lines cover ~1.5 % of the frame (≈575 coastline and ≈415 border pixels): the shared
    # 0.5 % tolerance (≈320 pixels) fails when either layer goes missing or moves, and lets
    # other PROJ/GEOS versions move a few line pixels by one (as for the region borders).
    "context": lambda: paint_case(
        {"borders": True, "context": ["coastline", "countries"]}, crs="EPSG:3035", layers=(BorderLayer(france()),),
    ),
    # A log legend (ticks at 1e14…1e17 over a gradient even in log10) and the scale bar in the
    # other bottom corner, on an equal-area grid. The shared 0.5 % tolerance holds: the bar's
    # length comes from a geodesic measurement stable far below a pixel, so only glyph hinting
    # may differ, while a tick, a label or the bar moved by one pixel, or a bar of another round
    # length, changes more pixels than that.
    "log_legend_scale_bar": lambda: paint_case(
        {"legend": True, "scale_bar": True}, crs="EPSG:3035", style=LOG_STYLE,
    ),
    "projected_all": lambda: paint_case(
        {"date": True, "borders": True, "legend": True, "title": True, "attribution": True, "timeline": True},
        crs="EPSG:3035", layers=_halo_layers(),
    ),
}


# Layouts ---------------------------------------------------------------------------------------

#: The regions of the layout goldens: France (about square) and two 5:1 boxes, in plain
#: longitude/latitude so the boxes keep their aspect exactly.
LAYOUT_REGIONS: dict[str, tuple[Callable[[], shapely.Geometry], str, str]] = {
    "france": (france, "EPSG:3035", "France"),
    "wide": (lambda: shapely.box(0.0, 45.0, 25.0, 50.0), "EPSG:4326", "A strip five times wider than tall"),
    "tall": (
        lambda: shapely.box(0.0, 40.0, 5.0, 65.0), "EPSG:4326",
        "A narrow region five times taller than wide, with a long title that has to wrap",
    ),
}


def layout_case(layout: str, region: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(palette indices, 256×3 palette) of a finished frame — map, overlays and, with
    ``bands``, the bands — as the engine composes it: every overlay on (timeline too), a
    gradient with a cloud of missing values inside the region."""
    make_outline, crs, title = LAYOUT_REGIONS[region]
    outline = make_outline()
    projected = project(outline, crs)
    grid = make_grid(projected, crs, size)
    inside = inside_mask(projected, grid)
    palette = overlay_palette(STYLE.colormap, (BorderLayer(outline, "#101010", 1),))
    palette = with_reserved(palette, {"nodata": nodata_rgb(None, palette) or (0, 0, 0)})
    rows, columns = np.mgrid[0 : grid.height, 0 : grid.width]
    cloud = (rows - 0.4 * grid.height) ** 2 + (columns - 0.45 * grid.width) ** 2 < (0.15 * min(grid.shape)) ** 2
    values = np.tile(np.linspace(0.0, 1.5e16, grid.width), (grid.height, 1))
    layer = to_indices(values, inside & ~cloud, STYLE.rescale, palette)
    layer[inside & (layer == palette.transparent)] = palette.index("nodata")
    painter = OverlayPainter.create(
        OverlaysSection.model_validate({"timeline": True}), grid, STYLE,
        border_layers=(BorderLayer(outline, "#101010", 1),), collection=COLLECTION, region_title=title,
        labels=["2024-01", "2024-12"], frame_count=12, palette=palette, layout=layout,  # type: ignore[arg-type]
        coverage=(layer < palette.n_levels).astype(np.uint16), nodata=True,
    )
    return painter.compose(layer, 4, "2024-05"), np.asarray(palette.colors)


#: Each layout at the extremes it must hold up at: a small frame, and 5:1 and 1:5 regions.
LAYOUT_CASES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    f"{layout}_{region}_{size}": (lambda layout=layout, region=region, size=size: layout_case(layout, region, size))
    for layout in ("bands", "inset")
    for region, size in (("france", 200), ("wide", 512), ("tall", 512))
}
CASES.update(LAYOUT_CASES)


# Basemap ---------------------------------------------------------------------------------------

LAND_RGB, WATER_RGB, ROAD_RGB = (242, 239, 233), (170, 211, 223), (230, 160, 90)


def synthetic_tile(z: int, x: int, y: int) -> np.ndarray:
    """A map-like 256-px tile drawn from world pixel coordinates, so tiles join seamlessly:
    land, wavy water bodies and a road grid."""
    rows, columns = np.mgrid[0:256, 0:256]
    gx, gy = (x * 256 + columns).astype(float), (y * 256 + rows).astype(float)
    tile = np.empty((256, 256, 4), dtype=np.uint8)
    tile[...] = (*LAND_RGB, 255)
    tile[np.sin(gx / 37.0) + np.cos(gy / 23.0) > 1.1, :3] = WATER_RGB
    tile[(gx % 96 < 2) | (gy % 80 < 2), :3] = ROAD_RGB
    return tile


def paint_basemap_case(overlays: dict[str, Any], opacity: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A Web Mercator frame of France over synthetic tiles; data only in the south half."""
    settings = BasemapSection.model_validate({"preset": "osm", "opacity": opacity})
    projected = project(france(), WEB_MERCATOR)
    grid = make_grid(projected, WEB_MERCATOR, SIZE)
    inside = inside_mask(projected, grid)
    tiles = tile_range(grid, zoom_for(grid, settings.max_zoom))
    rgba = mosaic_on_grid(fetch_mosaic(tiles, synthetic_tile), tiles, grid)
    basemap = make_basemap(settings, rgba, inside, data_level_colors(STYLE.colormap), overlay_palette(STYLE.colormap))
    painter = OverlayPainter.create(
        OverlaysSection.model_validate({**ALL_OFF, **overlays}), grid, STYLE, collection=COLLECTION,
        region_title="France", labels=["2024-01", "2024-12"], frame_count=12, palette=basemap.palette,
        attribution=basemap_attribution(settings, default_attribution(COLLECTION)),
    )
    values = np.tile(np.linspace(0.0, 1.5e16, grid.width), (grid.height, 1))
    valid = inside.copy()
    valid[: grid.height // 2] = False  # nodata in the north: the basemap shows through
    indices = basemap.composite(to_indices(values, valid, STYLE.rescale, basemap.palette))
    painter.paint(indices, 4, "2024-05")
    return indices, np.asarray(basemap.palette.colors)


BASEMAP_CASES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "basemap": lambda: paint_basemap_case({"attribution": True, "date": True}),
}


def to_rgb(indices: np.ndarray, colors: np.ndarray) -> np.ndarray:
    return colors[indices]


def save_golden(path: Path, indices: np.ndarray, colors: np.ndarray) -> None:
    image = Image.fromarray(indices, mode="P")
    image.putpalette(colors.astype(np.uint8).tobytes())
    image.save(path, optimize=True)


def load_golden(path: Path) -> np.ndarray:
    """The golden as RGB."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
