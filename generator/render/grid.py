"""The output grid of an animation: its projection, extent and pixel size, and region masks on it.

Owns: picking the output CRS (``auto`` = Lambert azimuthal equal-area centred on the region),
projecting lon/lat geometries into it, sizing the grid (longest side = ``size`` px, the region's
projected aspect ratio kept) and rasterizing the region outline into an "inside" mask, and making a
region split at ±180° one continuous shape (``unwrap_antimeridian``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from generator.core.errors import ConfigError
from generator.core.model import Grid

if TYPE_CHECKING:
    from pyproj import Transformer

MARGIN_FRACTION = 0.02  # a little air around the region so its outline is never cut by the frame edge


def output_crs(crs_option: str, region: BaseGeometry) -> str:
    """The CRS (as a string rasterio and pyproj accept) for ``render.crs``."""
    option = crs_option.strip()
    if option.lower() == "auto":
        centre = region.centroid
        return (
            f"+proj=laea +lat_0={centre.y:.4f} +lon_0={centre.x:.4f} "
            "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
        )
    if option.isdigit():
        option = f"EPSG:{option}"
    from pyproj import CRS  # deferred, like every reader: a build with nothing to render needs none
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(option)
    except CRSError as error:
        raise ConfigError(
            f"render.crs: {crs_option!r} is not a CRS ({error}); use `auto` or e.g. EPSG:4326, EPSG:3035"
        ) from None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.to_wkt()


@lru_cache(maxsize=32)
def transformer(source: str, target: str) -> Transformer:
    """The (x, y)-ordered transformer from CRS ``source`` to ``target``, made once per process for
    each pair: making one costs milliseconds (the region, its borders and the context layers each
    ask for the grid's); a pyproj transformer is immutable and may be shared between threads."""
    from pyproj import Transformer  # deferred, like every reader: a build with nothing to render needs none

    return Transformer.from_crs(source, target, always_xy=True)


def project(geometry: BaseGeometry, crs: str) -> BaseGeometry:
    """Reproject a lon/lat geometry into ``crs`` (densified first so straight edges bend correctly)."""
    to_crs = transformer("EPSG:4326", crs)
    densified = shapely.segmentize(geometry, max_segment_length=0.25)
    projected = shapely.transform(densified, lambda xy: np.column_stack(to_crs.transform(xy[:, 0], xy[:, 1])))
    if not np.all(np.isfinite(shapely.get_coordinates(projected))):
        raise ConfigError(f"the region does not fit in the output projection {crs}; choose another render.crs")
    return projected


def make_grid(projected_region: BaseGeometry, crs: str, size: int) -> Grid:
    """A grid whose longest side is ``size`` pixels around the projected region (plus a margin)."""
    west, south, east, north = projected_region.bounds
    width_units, height_units = east - west, north - south
    longest = max(width_units, height_units)
    if not longest > 0:
        raise ConfigError("the region has no extent in the output projection")
    margin = longest * MARGIN_FRACTION
    west, south, east, north = west - margin, south - margin, east + margin, north + margin
    longest += 2 * margin
    pixel = longest / size
    width = max(1, round((east - west) / pixel))
    height = max(1, round((north - south) / pixel))
    # Centre the region in the rounded pixel grid.
    west -= (width * pixel - (east - west)) / 2
    north += (height * pixel - (north - south)) / 2
    from affine import Affine  # loaded with the first grid (a build with nothing to render needs none)

    transform = Affine(pixel, 0.0, west, 0.0, -pixel, north)
    return Grid(crs=crs, transform=transform, width=width, height=height)


def inside_mask(projected_region: BaseGeometry, grid: Grid) -> np.ndarray:
    """Boolean mask of the pixels whose centre lies inside the region."""
    from rasterio.features import rasterize

    mask = rasterize(
        [(projected_region, 1)],
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="uint8",
        all_touched=False,
    )
    return mask.astype(bool)


def crosses_antimeridian(geometry: BaseGeometry) -> bool:
    """True for a lon/lat geometry split at ±180° (parts touching both edges of the map)."""
    west, _, east, _ = geometry.bounds
    if east - west <= 180:
        return False
    parts = list(getattr(geometry, "geoms", [geometry]))
    touches_east = any(part.bounds[2] >= 180 - 1e-9 for part in parts)
    touches_west = any(part.bounds[0] <= -180 + 1e-9 for part in parts)
    return touches_east and touches_west


def unwrap_antimeridian(geometry: BaseGeometry) -> BaseGeometry:
    """A region split at ±180° as one continuous shape: western parts shifted by +360°.

    Projections centred near 180° (``render.crs: auto``) then see the region whole, its centroid
    falls in the region, and the clip mask has no seam. Other geometries are returned unchanged.
    """
    if not crosses_antimeridian(geometry):
        return geometry
    parts = list(getattr(geometry, "geoms", [geometry]))
    shifted = [
        shapely.transform(part, lambda xy: xy + np.array([360.0, 0.0])) if part.centroid.x < 0 else part
        for part in parts
    ]
    return shapely.unary_union(shifted)
