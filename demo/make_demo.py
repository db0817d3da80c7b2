"""Generate the synthetic demo STAC catalog (``demo/``) and the demo regions (``regions/``).

The default ``site_config.yml`` builds its gallery from these files, so a fresh checkout can
render real animations without any network access. Everything here is **synthetic**: the
values only look plausible, they are not measurements.

Usage::

    python demo/make_demo.py            # rewrite demo/ (next to this script) and regions/
    python demo/make_demo.py --out DIR  # write DIR/demo/... and DIR/regions/... instead

What is written:

* ``demo/catalog.json`` -- a self-contained STAC 1.0.0 catalog (relative links only).
* ``demo/<collection>/collection.json`` and, per month, ``demo/<collection>/<item>/<item>.json``
  plus ``<item>.tif``: a float32 Cloud-Optimized GeoTIFF (EPSG:4326, 0.1 degree, nodata -9999,
  deflate, 128 px tiles, averaged internal overviews) for each month 2021-01 ... 2022-12 of two
  collections: a nitrogen dioxide column and a land surface temperature anomaly.
* ``regions/british-isles.geojson`` (Great Britain and Ireland): a coarse outline typed by hand.
  The France regions are real boundaries (IGN), made by ``scripts/make_france_regions.py``.

The output is deterministic: every pseudo-random number comes from an integer hash of fixed
keys (no clock, no global random state, no dependence on numpy's random streams), so running the
script again gives the same values; ``tests/test_demo_data.py`` checks that the committed files
match a fresh run. Existing collection folders are replaced, so no stale item survives.
"""

from __future__ import annotations

import argparse
import calendar
import functools
import itertools
import json
import math
import re
import shutil
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

STAC_VERSION = "1.0.0"
NODATA = -9999.0
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
ASSET_KEY = "cog_default"
PROJECT_NAME = "eo-timelapse-generator"
GENERATOR_SCRIPT = "demo/make_demo.py"

# The raster domain: western and central Europe at 0.1 degree, pixel edges on round numbers.
WEST, SOUTH, EAST, NORTH = -12.0, 36.0, 20.0, 62.0
PIXEL_SIZE = 0.1
WIDTH = round((EAST - WEST) / PIXEL_SIZE)  # 320
HEIGHT = round((NORTH - SOUTH) / PIXEL_SIZE)  # 260
DOMAIN_BBOX = (WEST, SOUTH, EAST, NORTH)
MONTHS = [(year, month) for year in (2021, 2022) for month in range(1, 13)]

COORDINATE_DECIMALS = 4


# --------------------------------------------------------------------------------------------
# Deterministic pseudo-randomness
# --------------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


def _splitmix64(state: int) -> int:
    """One splitmix64 output for ``state``: a well-mixed 64-bit integer."""
    z = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def stable_seed(*keys: object) -> int:
    """A seed derived from readable keys; CRC32 so it never changes between Python runs."""
    return zlib.crc32("/".join(str(key) for key in keys).encode("utf-8"))


class HashRandom:
    """A tiny counter-based generator of uniform floats, identical on every platform."""

    def __init__(self, seed: int) -> None:
        self._seed = _splitmix64(seed)
        self._counter = 0

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        self._counter += 1
        bits = _splitmix64(self._seed ^ _splitmix64(self._counter))
        return low + (high - low) * (bits >> 11) * 2.0**-53


def _hash_grid(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) value per integer lattice point: splitmix64 of the point and seed."""
    with np.errstate(over="ignore"):
        h = ix.astype(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= iy.astype(np.int64).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= np.uint64(_splitmix64(seed))
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def value_noise(shape: tuple[int, int], cell_px: float, seed: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: hashed lattice values every ``cell_px`` pixels, smoothstepped."""
    rows, cols = shape
    gy = np.arange(rows, dtype=np.float64)[:, None] / cell_px
    gx = np.arange(cols, dtype=np.float64)[None, :] / cell_px
    iy0, ix0 = np.floor(gy), np.floor(gx)
    fy, fx = gy - iy0, gx - ix0
    wy, wx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    iy0, ix0 = np.broadcast_to(iy0, shape), np.broadcast_to(ix0, shape)
    v00 = _hash_grid(ix0, iy0, seed)
    v10 = _hash_grid(ix0 + 1, iy0, seed)
    v01 = _hash_grid(ix0, iy0 + 1, seed)
    v11 = _hash_grid(ix0 + 1, iy0 + 1, seed)
    top = v00 + (v10 - v00) * wx
    bottom = v01 + (v11 - v01) * wx
    noise: np.ndarray = 2.0 * (top + (bottom - top) * wy) - 1.0
    return noise


def fractal_noise(shape: tuple[int, int], cell_px: float, octaves: int, seed: int) -> np.ndarray:
    """Sum of value-noise octaves (each half the cell size and amplitude), scaled to ~[-1, 1]."""
    total = np.zeros(shape)
    norm = 0.0
    for octave in range(octaves):
        amplitude = 0.5**octave
        total += amplitude * value_noise(shape, cell_px / 2**octave, seed + 7919 * octave)
        norm += amplitude
    return total / norm


# --------------------------------------------------------------------------------------------
# The raster grid and the synthetic fields (pure array logic, no I/O)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthContext:
    """Everything a field function needs to know about one time step."""

    year: int
    month: int
    index: int  # months since the first time step
    seed: int

    @property
    def month_of_year(self) -> int:
        return self.month - 1


def pixel_centres() -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of each pixel centre, as (1, W) and (H, 1) arrays."""
    lon = WEST + PIXEL_SIZE * (np.arange(WIDTH, dtype=np.float64) + 0.5)
    lat = NORTH - PIXEL_SIZE * (np.arange(HEIGHT, dtype=np.float64) + 0.5)
    return lon[None, :], lat[:, None]


def gaussian_blob(
    lon: np.ndarray,
    lat: np.ndarray,
    centre: tuple[float, float],
    sigma_along: float,
    sigma_across: float,
    angle_rad: float,
) -> np.ndarray:
    """Elliptical Gaussian (peak 1) on the (H, W) grid spanned by ``lon`` (1, W) and ``lat``
    (H, 1), in local degrees: longitudes are shrunk by cos(latitude) so blobs are round on the
    ground; ``angle_rad`` turns the long axis counter-clockwise from east.

    Only the window within 4 sigma of the centre is evaluated (the rest is < 4e-4 of the
    peak): it keeps the many small city hotspots cheap.
    """
    centre_lon, centre_lat = centre
    x_scale = math.cos(math.radians(centre_lat))
    reach = 4.0 * max(sigma_along, sigma_across)
    cols = np.flatnonzero(np.abs(lon[0] - centre_lon) * x_scale <= reach)
    rows = np.flatnonzero(np.abs(lat[:, 0] - centre_lat) <= reach)
    blob = np.zeros((lat.shape[0], lon.shape[1]))
    if cols.size == 0 or rows.size == 0:
        return blob
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    dx = (lon[:, window[1]] - centre_lon) * x_scale
    dy = lat[window[0], :] - centre_lat
    along = dx * math.cos(angle_rad) + dy * math.sin(angle_rad)
    across = -dx * math.sin(angle_rad) + dy * math.cos(angle_rad)
    blob[window] = np.exp(-0.5 * ((along / sigma_along) ** 2 + (across / sigma_across) ** 2))
    return blob


def distance_to_polyline(
    lon: np.ndarray, lat: np.ndarray, vertices: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Approximate ground distance in degrees of latitude from each pixel to a polyline."""
    mid_lat = sum(v[1] for v in vertices) / len(vertices)
    x_scale = math.cos(math.radians(mid_lat))
    px, py = lon * x_scale, lat
    best = np.full(np.broadcast_shapes(lon.shape, lat.shape), np.inf)
    for (x0, y0), (x1, y1) in itertools.pairwise(vertices):
        ax, ay, bx, by = x0 * x_scale, y0, x1 * x_scale, y1
        seg_x, seg_y = bx - ax, by - ay
        t = ((px - ax) * seg_x + (py - ay) * seg_y) / (seg_x**2 + seg_y**2)
        t = np.clip(t, 0.0, 1.0)
        best = np.minimum(best, np.hypot(px - (ax + t * seg_x), py - (ay + t * seg_y)))
    return best


def cloud_mask(context: MonthContext, cover_range: tuple[float, float]) -> np.ndarray:
    """Boolean mask of ragged elliptical "cloud" holes covering a few percent of the domain.

    Blobs gather around a few weather systems (plus some strays) and are added until the
    month's target cover, drawn within ``cover_range``, is reached: every month has holes in
    different places but a similar, bounded amount of them.
    """
    rng = HashRandom(stable_seed(context.seed, "clouds"))
    target = rng.uniform(*cover_range)
    systems = [(rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)) for _ in range(3)]
    rows = np.arange(HEIGHT, dtype=np.float64)[:, None]
    cols = np.arange(WIDTH, dtype=np.float64)[None, :]
    # Ragged edges: the ellipse radius wobbles with small-scale noise.
    edge_wobble = 0.9 * fractal_noise((HEIGHT, WIDTH), 5.0, 2, stable_seed(context.seed, "edges"))
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for _ in range(200):
        if mask.mean() >= target:
            break
        if rng.uniform() < 0.75:
            system_col, system_row = systems[int(rng.uniform(0, len(systems)))]
            centre_col = system_col + rng.uniform(-30.0, 30.0)
            centre_row = system_row + rng.uniform(-20.0, 20.0)
        else:
            centre_col, centre_row = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        semi_major = rng.uniform(3.0, 14.0)
        semi_minor = semi_major * rng.uniform(0.3, 0.8)
        angle = rng.uniform(0.0, math.pi)
        dx, dy = cols - centre_col, rows - centre_row
        along = dx * math.cos(angle) + dy * math.sin(angle)
        across = -dx * math.sin(angle) + dy * math.cos(angle)
        radius2 = (along / semi_major) ** 2 + (across / semi_minor) ** 2
        mask |= radius2 < 1.0 + edge_wobble
    return mask


# Nitrogen dioxide: urban / industrial hotspots (lon, lat, peak in 1e15 molecules/cm2,
# sigma_along, sigma_across in degrees, axis angle in degrees counter-clockwise from east).
NO2_HOTSPOTS: tuple[tuple[str, float, float, float, float, float, float], ...] = (
    ("Paris", 2.35, 48.86, 11.0, 0.40, 0.32, 0.0),
    ("London", -0.12, 51.51, 10.0, 0.40, 0.30, 0.0),
    ("Ruhr", 7.10, 51.45, 12.0, 0.55, 0.35, 10.0),
    ("Rotterdam", 4.40, 51.90, 9.0, 0.30, 0.22, 0.0),
    ("Antwerp", 4.40, 51.22, 7.5, 0.28, 0.22, 0.0),
    ("Brussels", 4.35, 50.85, 5.5, 0.25, 0.20, 0.0),
    ("Amsterdam", 4.90, 52.37, 5.0, 0.25, 0.20, 0.0),
    ("Lille", 3.06, 50.63, 4.0, 0.22, 0.18, 0.0),
    ("Milan", 9.19, 45.46, 11.0, 0.40, 0.28, 0.0),
    ("Po valley", 10.60, 45.05, 5.5, 1.60, 0.35, -8.0),
    ("Turin", 7.68, 45.07, 5.0, 0.25, 0.20, 0.0),
    ("Madrid", -3.70, 40.42, 10.0, 0.35, 0.30, 0.0),
    ("Barcelona", 2.17, 41.39, 8.0, 0.30, 0.22, 40.0),
    ("Lyon", 4.84, 45.76, 5.0, 0.28, 0.20, 90.0),
    ("Marseille", 5.37, 43.30, 5.0, 0.25, 0.20, 0.0),
    ("Toulouse", 1.44, 43.60, 2.5, 0.20, 0.18, 0.0),
    ("Bordeaux", -0.58, 44.84, 2.5, 0.20, 0.18, 0.0),
    ("Munich", 11.58, 48.14, 5.0, 0.28, 0.22, 0.0),
    ("Stuttgart", 9.18, 48.78, 4.5, 0.25, 0.20, 0.0),
    ("Frankfurt", 8.68, 50.11, 6.0, 0.30, 0.22, 0.0),
    ("Hamburg", 9.99, 53.55, 5.0, 0.28, 0.22, 0.0),
    ("Berlin", 13.40, 52.52, 6.0, 0.32, 0.26, 0.0),
    ("Prague", 14.42, 50.08, 4.0, 0.25, 0.20, 0.0),
    ("Upper Silesia", 19.00, 50.25, 7.0, 0.45, 0.30, 0.0),
    ("Vienna", 16.37, 48.21, 5.0, 0.25, 0.20, 0.0),
    ("Budapest", 19.04, 47.50, 5.0, 0.28, 0.22, 0.0),
    ("Zurich", 8.54, 47.38, 3.0, 0.20, 0.16, 0.0),
    ("Rome", 12.50, 41.90, 6.0, 0.30, 0.24, 0.0),
    ("Naples", 14.27, 40.85, 5.0, 0.25, 0.20, 0.0),
    ("Manchester", -2.24, 53.48, 6.0, 0.35, 0.24, 0.0),
    ("Birmingham", -1.89, 52.49, 5.0, 0.25, 0.20, 0.0),
    ("Leeds", -1.55, 53.80, 4.0, 0.22, 0.18, 0.0),
    ("Glasgow", -4.25, 55.86, 4.0, 0.25, 0.18, 0.0),
    ("Dublin", -6.26, 53.35, 4.0, 0.22, 0.18, 0.0),
    ("Lisbon", -9.14, 38.72, 4.0, 0.22, 0.18, 0.0),
    ("Porto", -8.61, 41.15, 3.0, 0.20, 0.16, 0.0),
    ("Valencia", -0.38, 39.47, 3.0, 0.20, 0.16, 0.0),
    ("Bilbao", -2.93, 43.26, 3.0, 0.20, 0.16, 0.0),
    ("Copenhagen", 12.57, 55.68, 3.0, 0.22, 0.16, 0.0),
    ("Gothenburg", 11.97, 57.71, 2.0, 0.18, 0.15, 0.0),
    ("Oslo", 10.75, 59.91, 2.5, 0.20, 0.15, 0.0),
    ("Stockholm", 18.07, 59.33, 2.5, 0.20, 0.15, 0.0),
    ("Algiers", 3.06, 36.75, 4.0, 0.22, 0.18, 0.0),
    ("Tunis", 10.18, 36.81, 3.0, 0.20, 0.16, 0.0),
)

# Busy shipping lanes: from the Atlantic off Portugal, across Biscay, up the English Channel
# and through the Dover Strait into the North Sea; and from Gibraltar eastwards.
NO2_SHIPPING_LANES: tuple[tuple[float, tuple[tuple[float, float], ...]], ...] = (
    (
        1.3,
        (
            (-9.9, 36.4),
            (-9.8, 43.3),
            (-6.0, 48.5),
            (-3.0, 49.85),
            (-1.0, 50.2),
            (1.4, 50.95),
            (2.9, 51.45),
            (3.8, 52.3),
            (4.3, 53.4),
            (5.5, 53.75),
            (7.5, 54.05),
        ),
    ),
    (0.8, ((-5.6, 36.05), (-2.0, 36.3), (3.0, 37.4), (9.6, 37.6), (11.6, 37.4))),
)

NO2_MIN = 0.1  # floor of the column, 1e15 molecules/cm2
NO2_SCALE = 1e15


def no2_column(context: MonthContext) -> np.ndarray:
    """Tropospheric NO2 column in molecules/cm2 for one month (NaN where "cloudy")."""
    lon, lat = pixel_centres()
    rng = HashRandom(stable_seed(context.seed, "weather"))
    # Winter columns are about twice the summer ones (longer lifetime, heating emissions).
    season = 1.0 + 0.33 * math.cos(2.0 * math.pi * context.month_of_year / 12.0)
    trend = 1.0 - 0.025 * context.index / 12.0
    weather = rng.uniform(0.9, 1.1)
    # Prevailing westerlies: plumes mostly drift east-north-east, stretched on windy months.
    wind_angle = math.radians(rng.uniform(-40.0, 80.0))
    wind_strength = rng.uniform(0.0, 1.0)

    # Remote air is clean; the polluted belt from England to Poland and down to the Po valley
    # raises the regional level.
    background = 0.35 + 1.3 * gaussian_blob(lon, lat, (6.5, 49.5), 7.0, 4.0, -0.15)
    background = background * (1.0 + 0.5 * (season - 1.0))

    hotspots = np.zeros((HEIGHT, WIDTH))
    for _name, h_lon, h_lat, peak, sigma_along, sigma_across, angle_deg in NO2_HOTSPOTS:
        # Each source wobbles a little from month to month.
        local = rng.uniform(0.85, 1.15)
        shift = 0.6 * wind_strength * sigma_along
        centre = (
            h_lon + shift * math.cos(wind_angle) / math.cos(math.radians(h_lat)),
            h_lat + shift * math.sin(wind_angle),
        )
        stretch = 1.0 + 0.8 * wind_strength
        hotspots += (
            local
            * peak
            / stretch**0.5
            * _plume(lon, lat, centre, sigma_along, sigma_across, angle_deg, wind_angle, stretch)
        )

    column: np.ndarray = background + (hotspots + shipping_lanes()) * season
    texture = 1.0 + 0.12 * fractal_noise((HEIGHT, WIDTH), 24.0, 3, stable_seed(context.seed, "tx"))
    column = np.maximum(column * texture * trend * weather, NO2_MIN) * NO2_SCALE
    column[cloud_mask(context, (0.015, 0.045))] = np.nan
    return column


@functools.cache
def shipping_lanes() -> np.ndarray:
    """NO2 from ship exhaust along the lanes (1e15 molecules/cm2), the same every month."""
    lon, lat = pixel_centres()
    lanes = np.zeros((HEIGHT, WIDTH))
    for peak, vertices in NO2_SHIPPING_LANES:
        lanes += peak * np.exp(-0.5 * (distance_to_polyline(lon, lat, vertices) / 0.15) ** 2)
    lanes.flags.writeable = False  # cached: callers must not change it
    return lanes


def _plume(
    lon: np.ndarray,
    lat: np.ndarray,
    centre: tuple[float, float],
    sigma_along: float,
    sigma_across: float,
    angle_deg: float,
    wind_angle: float,
    stretch: float,
) -> np.ndarray:
    """A source's own shape, a copy smeared downwind and a faint wide halo (the suburbs and
    the regional pollution around a city): peak 1."""
    own = gaussian_blob(lon, lat, centre, sigma_along, sigma_across, math.radians(angle_deg))
    sigma = 0.5 * (sigma_along + sigma_across)
    smeared = gaussian_blob(lon, lat, centre, sigma * stretch * 1.5, sigma, wind_angle)
    halo = gaussian_blob(lon, lat, centre, sigma * 3.0 * stretch**0.5, sigma * 3.0, wind_angle)
    return 0.45 * own + 0.4 * smeared + 0.15 * halo


LST_BLOBS = 5
LST_LIMIT = 7.0  # soft saturation, degrees Celsius


def lst_anomaly(context: MonthContext) -> np.ndarray:
    """Land surface temperature anomaly in degrees Celsius for one month (NaN where cloudy).

    A few large warm and cold anomalies drift across the domain over the two years, their
    strength swinging slowly between warm and cold; the blob parameters are fixed for the
    whole series (seeded by the collection, not the month) so the motion is continuous.
    """
    lon, lat = pixel_centres()
    rng = HashRandom(stable_seed("lst-anomaly-blobs"))
    anomaly = np.zeros((HEIGHT, WIDTH))
    for _ in range(LST_BLOBS):
        start = (rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH))
        velocity = (rng.uniform(-0.9, 0.9), rng.uniform(-0.6, 0.6))  # degrees per month
        sigma = rng.uniform(3.0, 5.5)
        amplitude = rng.uniform(4.0, 6.5)
        period = rng.uniform(9.0, 22.0)  # months
        phase = rng.uniform(0.0, 2.0 * math.pi)
        tilt = rng.uniform(-0.6, 0.6)  # radians; the long axis of the anomaly
        centre = (
            _bounce(start[0] + velocity[0] * context.index, WEST - 2.0, EAST + 2.0),
            _bounce(start[1] + velocity[1] * context.index, SOUTH - 2.0, NORTH + 2.0),
        )
        strength = amplitude * math.sin(2.0 * math.pi * context.index / period + phase)
        anomaly += strength * gaussian_blob(lon, lat, centre, sigma * 1.3, sigma, tilt)
    anomaly += 0.9 * fractal_noise((HEIGHT, WIDTH), 32.0, 3, stable_seed(context.seed, "tx"))
    anomaly = LST_LIMIT * np.tanh(anomaly / LST_LIMIT)
    anomaly[cloud_mask(context, (0.025, 0.06))] = np.nan
    return anomaly


def _bounce(value: float, low: float, high: float) -> float:
    """Reflect ``value`` back into [low, high] like a ball between two walls."""
    span = high - low
    folded = (value - low) % (2.0 * span)
    return low + (folded if folded <= span else 2.0 * span - folded)


def quantize(values: np.ndarray, quantum: float) -> np.ndarray:
    """Round to a multiple of ``quantum`` (a power of two), NaN kept.

    With a power-of-two quantum every value is exact in float32 and its low mantissa bits are
    zero, which compresses several times better than full-precision noise; the quanta chosen
    below are far finer than one step of a 256-colour ramp over the render range.
    """
    return np.round(values / quantum) * quantum


def to_raster(values: np.ndarray, quantum: float) -> np.ndarray:
    """Float32 raster ready to write: quantized, NaN replaced by the nodata value."""
    quantized = quantize(values, quantum)
    return np.where(np.isnan(quantized), NODATA, quantized).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Collections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCollection:
    id: str
    title: str
    description: str
    unit: str
    keywords: tuple[str, ...]
    renders: dict[str, Any]
    field: Callable[[MonthContext], np.ndarray]
    quantum: float  # values are stored as multiples of this power of two


COLLECTIONS: tuple[DemoCollection, ...] = (
    DemoCollection(
        id="no2-monthly",
        title="Nitrogen dioxide column (synthetic demo)",
        description=(
            "SYNTHETIC DEMO DATA, not a measurement. Monthly mean tropospheric nitrogen dioxide "
            "column in molecules/cm², computed by demo/make_demo.py: a regional background, "
            "hotspots over real European cities and industrial areas, shipping lanes through "
            "the English Channel, a winter-high seasonal cycle, a slight downward trend, "
            "texture noise and cloud-like gaps (nodata). Use it to try the gallery without "
            "network access."
        ),
        unit="molecules/cm²",
        keywords=("synthetic", "demo", "nitrogen dioxide", "NO2", "air quality", "Europe"),
        renders={
            "dashboard": {
                "assets": [ASSET_KEY],
                "rescale": [[0, 1.5e16]],
                "colormap_name": "viridis",
                "resampling": "bilinear",
            }
        },
        field=no2_column,
        quantum=2.0**43,  # about 8.8e12 molecules/cm2, 1/7 of a colour step
    ),
    DemoCollection(
        id="lst-anomaly-monthly",
        title="Land surface temperature anomaly (synthetic demo)",
        description=(
            "SYNTHETIC DEMO DATA, not a measurement. Monthly land surface temperature anomaly "
            "in °C, computed by demo/make_demo.py: large smooth warm and cold anomalies "
            "drifting from month to month, texture noise and cloud-like gaps (nodata). Use it "
            "to try a diverging colour map in the gallery without network access."
        ),
        unit="°C",
        keywords=("synthetic", "demo", "land surface temperature", "anomaly", "Europe"),
        renders={
            "dashboard": {
                "assets": [ASSET_KEY],
                "rescale": [[-6, 6]],
                "colormap_name": "rdbu_r",
                "resampling": "bilinear",
                "nodata": -9999,
            }
        },
        field=lst_anomaly,
        quantum=2.0**-6,  # 1/64 degree Celsius
    ),
)


# --------------------------------------------------------------------------------------------
# STAC documents (plain dicts; links are relative so the catalog can move as a folder)
# --------------------------------------------------------------------------------------------


def _month_bounds(year: int, month: int) -> tuple[str, str]:
    last_day = calendar.monthrange(year, month)[1]
    return f"{year}-{month:02d}-01T00:00:00Z", f"{year}-{month:02d}-{last_day:02d}T23:59:59Z"


def item_id(collection: DemoCollection, year: int, month: int) -> str:
    return f"{collection.id}-{year}-{month:02d}"


def domain_geometry() -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH], [WEST, NORTH], [WEST, SOUTH]]
        ],
    }


def catalog_document() -> dict[str, Any]:
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": "demo",
        "title": "Synthetic demo catalog",
        "description": (
            f"Synthetic demo data for {PROJECT_NAME}, made by {GENERATOR_SCRIPT}. "
            "The values only look plausible: they are not measurements."
        ),
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            *(
                {
                    "rel": "child",
                    "href": f"./{collection.id}/collection.json",
                    "type": "application/json",
                    "title": collection.title,
                }
                for collection in COLLECTIONS
            ),
        ],
    }


def collection_document(collection: DemoCollection) -> dict[str, Any]:
    first_start, _ = _month_bounds(*MONTHS[0])
    _, last_end = _month_bounds(*MONTHS[-1])
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "keywords": list(collection.keywords),
        "license": "CC0-1.0",
        "providers": [
            {
                "name": f"{PROJECT_NAME} (synthetic demo data)",
                "roles": ["producer", "processor"],
                "description": (
                    f"Values computed by {GENERATOR_SCRIPT}; synthetic, not a measurement."
                ),
            }
        ],
        "extent": {
            "spatial": {"bbox": [list(DOMAIN_BBOX)]},
            "temporal": {"interval": [[first_start, last_end]]},
        },
        "renders": collection.renders,
        "dashboard:time_density": "month",
        "dashboard:is_periodic": True,
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            *(
                {
                    "rel": "item",
                    "href": f"./{item_id(collection, year, month)}/"
                    f"{item_id(collection, year, month)}.json",
                    "type": "application/geo+json",
                }
                for year, month in MONTHS
            ),
        ],
    }


def item_document(collection: DemoCollection, year: int, month: int) -> dict[str, Any]:
    identifier = item_id(collection, year, month)
    start, end = _month_bounds(year, month)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": identifier,
        "collection": collection.id,
        "geometry": domain_geometry(),
        "bbox": list(DOMAIN_BBOX),
        "properties": {
            "datetime": start,
            "start_datetime": start,
            "end_datetime": end,
        },
        "assets": {
            ASSET_KEY: {
                "href": f"./{identifier}.tif",
                "type": COG_MEDIA_TYPE,
                "roles": ["data"],
                "title": f"{collection.title}, {year}-{month:02d}",
                "unit": collection.unit,
                "nodata": NODATA,
                "data_type": "float32",
            }
        },
        "links": [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ],
    }


# --------------------------------------------------------------------------------------------
# Regions: coarse outlines typed by hand (lon, lat), simplified from memory of the coastlines
# --------------------------------------------------------------------------------------------

GREAT_BRITAIN: tuple[tuple[float, float], ...] = (
    # East coast, from Dover northwards
    (1.40, 51.15), (1.44, 51.38), (0.95, 51.60), (1.28, 51.95), (1.75, 52.48),
    (1.30, 52.93), (0.49, 52.95), (0.20, 52.80), (0.34, 53.14), (0.12, 53.58),
    (-0.08, 54.12), (-0.61, 54.49), (-1.15, 54.63), (-1.42, 55.01), (-1.64, 55.58),
    (-2.00, 55.77), (-2.52, 56.00), (-3.19, 55.98), (-2.58, 56.28), (-2.90, 56.45),
    (-2.46, 56.71), (-2.08, 57.15), (-1.77, 57.50), (-2.00, 57.69), (-3.30, 57.72),
    (-4.22, 57.48), (-3.78, 57.86), (-3.09, 58.44), (-3.02, 58.64), (-3.37, 58.67),
    # North and west coasts of Scotland
    (-5.00, 58.62), (-5.37, 58.25), (-5.80, 57.60), (-5.65, 57.25), (-6.22, 56.72),
    (-5.47, 56.41), (-5.60, 55.90), (-5.80, 55.30), (-4.87, 55.80), (-4.63, 55.46),
    (-5.10, 54.85), (-4.86, 54.63), (-4.40, 54.70), (-3.60, 54.95), (-3.10, 54.95),
    # England and Wales, west coast
    (-3.64, 54.50), (-3.23, 54.10), (-3.05, 53.82), (-3.00, 53.45), (-3.40, 53.35),
    (-3.83, 53.33), (-4.63, 53.31), (-4.75, 52.79), (-4.10, 52.90), (-4.08, 52.41),
    (-4.68, 52.10), (-5.30, 51.88), (-5.05, 51.60), (-4.30, 51.57), (-3.17, 51.45),
    (-2.68, 51.58), (-3.00, 51.25), (-4.12, 51.21), (-4.53, 51.02), (-4.94, 50.54),
    # South coast, back to Dover
    (-5.71, 50.07), (-5.20, 49.96), (-4.14, 50.37), (-3.64, 50.22), (-3.41, 50.62),
    (-2.45, 50.52), (-1.95, 50.69), (-1.30, 50.78), (-0.79, 50.72), (0.24, 50.73),
    (0.97, 50.91), (1.40, 51.15),
)  # fmt: skip

IRELAND: tuple[tuple[float, float], ...] = (
    (-6.20, 53.34), (-6.03, 52.98), (-6.36, 52.17), (-6.95, 52.15), (-7.85, 51.95),
    (-8.27, 51.80), (-8.90, 51.60), (-9.82, 51.45), (-10.40, 51.85), (-10.47, 52.10),
    (-9.93, 52.56), (-9.45, 52.95), (-9.05, 53.27), (-10.10, 53.45), (-9.70, 53.80),
    (-10.05, 54.28), (-9.20, 54.25), (-8.60, 54.30), (-8.75, 54.70), (-8.28, 55.15),
    (-7.37, 55.38), (-7.00, 55.18), (-6.15, 55.22), (-5.80, 54.85), (-5.45, 54.45),
    (-5.90, 54.10), (-6.35, 54.00), (-6.12, 53.60), (-6.20, 53.34),
)  # fmt: skip




def _rounded(coords: Sequence[tuple[float, float]]) -> list[list[float]]:
    return [[round(x, COORDINATE_DECIMALS), round(y, COORDINATE_DECIMALS)] for x, y in coords]


def _canonical_polygon(polygon: Polygon) -> Polygon:
    """The polygon as it is written: coordinates rounded, exterior counter-clockwise
    (RFC 7946) and starting at its westernmost vertex, so the output never depends on the
    order in which shapely happens to return rings."""
    polygon = orient(polygon, sign=1.0)
    ring = [tuple(xy) for xy in _rounded(list(polygon.exterior.coords)[:-1])]
    start = min(range(len(ring)), key=lambda i: ring[i])
    ring = ring[start:] + ring[:start]
    return Polygon(ring + [ring[0]])


def british_isles() -> MultiPolygon:
    parts = [_canonical_polygon(Polygon(ring)) for ring in (GREAT_BRITAIN, IRELAND)]
    geometry = MultiPolygon(parts)
    _require_valid(geometry, "British Isles")
    return geometry


def _require_valid(geometry: Polygon | MultiPolygon, name: str) -> None:
    if not geometry.is_valid:
        from shapely.validation import explain_validity

        raise RuntimeError(f"{name}: invalid geometry ({explain_validity(geometry)})")


def _geometry_json(geometry: Polygon | MultiPolygon) -> dict[str, Any]:
    polygons = [geometry] if isinstance(geometry, Polygon) else list(geometry.geoms)
    coordinates = [[_rounded(list(p.exterior.coords))] for p in polygons]
    if isinstance(geometry, Polygon):
        return {"type": "Polygon", "coordinates": coordinates[0]}
    return {"type": "MultiPolygon", "coordinates": coordinates}


def _feature(geometry: Polygon | MultiPolygon, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": _geometry_json(geometry)}


def region_documents() -> dict[str, dict[str, Any]]:
    """GeoJSON documents by file name."""
    note = f"Coarse outline for the demo gallery, made by {GENERATOR_SCRIPT}."
    return {
        "british-isles.geojson": _feature(
            british_isles(), {"name": "British Isles", "description": note}
        ),
    }


# --------------------------------------------------------------------------------------------
# Disk I/O
# --------------------------------------------------------------------------------------------


_NUMBER_ARRAY = re.compile(r"\[[\s\d.eE+,-]+\]")


def to_json_text(document: dict[str, Any]) -> str:
    """Sorted keys, 2-space indent, and arrays of plain numbers (coordinates, bboxes) kept on
    one line so the files stay short and diff well."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return _NUMBER_ARRAY.sub(_one_line_array, text) + "\n"


def _one_line_array(match: re.Match[str]) -> str:
    numbers = match.group(0)[1:-1].replace(",", " ").split()
    return "[" + ", ".join(numbers) + "]"


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json_text(document), encoding="utf-8")


def write_cog(path: Path, raster: np.ndarray) -> None:
    """Write a float32 COG: deflate + floating-point predictor, 128 px tiles, averaged
    overviews (which skip nodata, so holes do not bleed into the coarser levels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "COG",
        "width": WIDTH,
        "height": HEIGHT,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(WEST, NORTH, PIXEL_SIZE, PIXEL_SIZE),
        "nodata": NODATA,
        "compress": "DEFLATE",
        "level": 6,  # level 9 is 4x slower for 5 % smaller files
        "predictor": 3,
        "blocksize": 128,
        "overview_resampling": "AVERAGE",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(raster, 1)


def month_contexts(collection: DemoCollection) -> Iterator[MonthContext]:
    for index, (year, month) in enumerate(MONTHS):
        yield MonthContext(year, month, index, stable_seed(collection.id, year, month))


def write_collection(demo_dir: Path, collection: DemoCollection) -> None:
    collection_dir = demo_dir / collection.id
    if collection_dir.exists():
        shutil.rmtree(collection_dir)
    write_json(collection_dir / "collection.json", collection_document(collection))
    for context in month_contexts(collection):
        identifier = item_id(collection, context.year, context.month)
        item_dir = collection_dir / identifier
        write_json(
            item_dir / f"{identifier}.json", item_document(collection, context.year, context.month)
        )
        raster = to_raster(collection.field(context), collection.quantum)
        write_cog(item_dir / f"{identifier}.tif", raster)


def generate(demo_dir: Path, regions_dir: Path) -> None:
    """Write the whole demo catalog into ``demo_dir`` and the region files into ``regions_dir``."""
    demo_dir.mkdir(parents=True, exist_ok=True)
    regions_dir.mkdir(parents=True, exist_ok=True)
    write_json(demo_dir / "catalog.json", catalog_document())
    for collection in COLLECTIONS:
        write_collection(demo_dir, collection)
    for file_name, document in region_documents().items():
        write_json(regions_dir / file_name, document)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write DIR/demo and DIR/regions instead of this script's folder and ../regions",
    )
    args = parser.parse_args(argv)
    script_dir = Path(__file__).resolve().parent
    if args.out is None:
        demo_dir, regions_dir = script_dir, script_dir.parent / "regions"
    else:
        demo_dir, regions_dir = args.out / "demo", args.out / "regions"
    generate(demo_dir, regions_dir)
    print(f"wrote {demo_dir} and {regions_dir}")


if __name__ == "__main__":
    main()
