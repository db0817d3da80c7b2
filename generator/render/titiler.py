"""The TiTiler renderer: frames read by a TiTiler raster API (``render.renderer: titiler``).

Owns the request per frame and the region body sent with it. For each item it calls
``POST {raster_api}/cog/feature?url=…`` with the region as ONE (Multi)Polygon Feature (TiTiler
rejects FeatureCollections) and asks for unscaled values (``format=npy``: the band, then the mask)
so the shared palette mapping, overlays and animation apply unchanged.

Exact grid: TiTiler reads the bounding box of the geometry it gets, which is the region's, not our
grid's (ours has a margin and is pixel-centred). So the geometry is sent in the grid's CRS
(``coord_crs`` = ``dst_crs``) with a GeoJSON ``bbox`` member equal to the grid bounds: rio-tiler
takes a geometry's ``bbox`` as its bounds, so with ``width``/``height`` of our grid the output
pixels are exactly ours (nothing stretches: the grid's aspect already matches).

Body size: API gateways limit request bodies (VEDA's: 16 KB), so a larger outline is simplified
at sub-pixel tolerances, then grown by that tolerance, until it fits. The grown outline covers
the region, so TiTiler's mask never removes a pixel the region keeps; the exact clip to the
region is applied downstream by every renderer alike (``generator.render.layers.data_layer``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import requests
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from generator.core.errors import ConfigError, RenderError
from generator.core.model import Grid, ItemAsset, Style
from generator.core.redaction import public_url, redact_urls_in_text
from generator.core.specs import SourceSpec
from generator.render.frames import FrameData
from generator.render.registry import RendererSetup, register_renderer
from generator.sources.http import HttpSettings, make_session
from generator.sources.signing import HrefSigner, source_signer

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 16 * 1024
DEFAULT_CONCURRENCY = 4
# Simplification tolerances tried in turn, in output pixels.
TOLERANCES_PX = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
# Coordinates are rounded to this fraction of a pixel: invisible at the output size, far shorter JSON.
COORDINATE_STEP_PX = 0.01


@dataclass(frozen=True)
class FeatureBody:
    """The JSON body sent to ``/cog/feature`` and how it was made."""

    data: bytes
    tolerance_px: float  # 0 = the outline as it is (coordinates rounded only)
    vertices: int


def _decimals(grid: Grid) -> int:
    pixel = abs(grid.transform.a)
    return max(0, math.ceil(-math.log10(pixel * COORDINATE_STEP_PX)))


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    return [part for part in shapely.get_parts(geometry) if part.geom_type == "Polygon" and not part.is_empty]


def _ring(coords: Any, decimals: int) -> list[list[float]]:
    rounded = np.round(np.asarray(coords)[:, :2], decimals)
    return [[_number(x, decimals), _number(y, decimals)] for x, y in rounded]


def _number(value: float, decimals: int) -> float:
    return int(value) if decimals == 0 else float(value)


def feature_json(geometry: BaseGeometry, grid: Grid) -> bytes:
    """One MultiPolygon Feature in the grid's CRS, its ``bbox`` = the grid bounds."""
    decimals = _decimals(grid)
    coordinates = [
        [_ring(polygon.exterior.coords, decimals), *(_ring(ring.coords, decimals) for ring in polygon.interiors)]
        for polygon in _polygons(geometry)
    ]
    # The bbox is not rounded: it pins the output grid exactly.
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "MultiPolygon", "coordinates": coordinates, "bbox": list(grid.bounds)},
    }
    return json.dumps(feature, separators=(",", ":")).encode()


def _candidates(region: BaseGeometry, grid: Grid) -> Iterator[tuple[float, BaseGeometry]]:
    pixel = abs(grid.transform.a)
    for tolerance_px in TOLERANCES_PX:
        if tolerance_px == 0:
            yield 0.0, region
            continue
        tolerance = tolerance_px * pixel
        simplified = region.simplify(tolerance, preserve_topology=True)
        # Grow by the tolerance (plus the rounding) so the outline sent still covers the region.
        grown = simplified.buffer(tolerance * 1.05 + pixel * COORDINATE_STEP_PX, join_style="mitre", mitre_limit=2.0)
        yield tolerance_px, grown


def region_body(region: BaseGeometry, grid: Grid, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FeatureBody:
    """The smallest-tolerance body for ``region`` (projected into ``grid.crs``) within ``max_bytes``."""
    if not _polygons(region):
        raise RenderError("the region has no polygon to send to TiTiler")
    for tolerance_px, geometry in _candidates(region, grid):
        data = feature_json(geometry, grid)
        if len(data) <= max_bytes:
            return FeatureBody(data=data, tolerance_px=tolerance_px, vertices=len(shapely.get_coordinates(geometry)))
    # Still too large (very many islands): the grid's rectangle, clipped downstream like any frame.
    log.warning(
        "the region outline does not fit in %d bytes even simplified; TiTiler gets the frame's rectangle "
        "(the clip to the region is still applied here)", max_bytes,
    )
    west, south, east, north = grid.bounds
    box = shapely.box(west, south, east, north)
    data = feature_json(box, grid)
    if len(data) > max_bytes:
        raise RenderError(f"even a rectangle needs {len(data)} bytes; raise the TiTiler body-size limit ({max_bytes})")
    return FeatureBody(data=data, tolerance_px=math.inf, vertices=5)


class TitilerRenderer:
    """Reads frames through a TiTiler raster API; see the module docstring.

    ``session`` should come from ``generator.sources.http.make_session`` (retries, Retry-After, the
    User-Agent and the per-host bound); without one, a session is made from ``http_settings``.
    ``concurrency`` is how many frames ``render_frames`` requests at once (keep it ≤ the
    session's per-host bound).
    """

    def __init__(
        self,
        raster_api: str,
        session: requests.Session | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | tuple[float, float] | None = None,
        http_settings: HttpSettings | None = None,
        signer: HrefSigner | None = None,
    ) -> None:
        self.http_settings = http_settings
        self.signer = signer  # signs each href just before it is sent (``sources.<name>.sign``)
        if session is None:
            session = make_session(http_settings)
        self.raster_api = raster_api.rstrip("/")
        self.session = session
        self.max_body_bytes = max_body_bytes
        self.concurrency = concurrency
        self.timeout = timeout
        self._bodies: dict[tuple[Grid, bytes], FeatureBody] = {}

    def __getstate__(self) -> dict[str, Any]:
        # For process pools: a session (sockets, locks) does not travel; the child makes its own
        # from the same settings, and its host bound then applies per process.
        state = dict(self.__dict__)
        state["session"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.session = make_session(self.http_settings)

    def body_for(self, grid: Grid, region: BaseGeometry | None) -> FeatureBody:
        """The request body for a grid and projected region, computed once per animation."""
        if region is None:
            west, south, east, north = grid.bounds
            region = shapely.box(west, south, east, north)
        key = (grid, shapely.to_wkb(region))
        if key not in self._bodies:
            self._bodies[key] = region_body(region, grid, self.max_body_bytes)
        return self._bodies[key]

    def params(self, item: ItemAsset, grid: Grid, style: Style) -> dict[str, str | int]:
        """The query parameters of one frame's request."""
        params: dict[str, str | int] = {
            "url": item.href,
            "coord_crs": grid.crs,
            "dst_crs": grid.crs,
            "width": grid.width,
            "height": grid.height,
            "format": "npy",
            "resampling": style.resampling,
            "reproject": style.resampling,
        }
        expression = style.expression
        if expression:
            params["expression"] = expression
        else:
            params["bidx"] = style.bidx
        if style.nodata is not None:
            params["nodata"] = repr(float(style.nodata)) if math.isfinite(style.nodata) else "nan"
        return params

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: BaseGeometry | None = None) -> FrameData:
        body = self.body_for(grid, region)
        url = f"{self.raster_api}/cog/feature"
        signed = item if self.signer is None else dataclasses.replace(item, href=self.signer.sign(item.href))
        try:
            response = self.session.post(
                url,
                params=self.params(signed, grid, style),
                data=body.data,
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,  # None, as when omitted: the session's own default
            )
        except requests.RequestException as error:
            raise RenderError(
                f"item {item.item_id!r}: TiTiler at {public_url(self.raster_api)} did not answer: "
                f"{redact_urls_in_text(str(error))}"
            ) from None
        if response.status_code != 200:
            raise RenderError(
                f"item {item.item_id!r}: TiTiler at {public_url(self.raster_api)} answered {response.status_code} for "
                f"{public_url(item.href)}: {redact_urls_in_text(response.text[:300].strip())}"
            )
        check_bounds(response.headers.get("Content-Bbox"), grid, self.raster_api)
        return parse_npy(response.content, grid, item)


@register_renderer("titiler")
def titiler_renderer(source: SourceSpec, settings: HttpSettings) -> RendererSetup:
    """TiTiler calls are I/O-bound: a thread pool as wide as the source's per-host bound."""
    if source.raster_api is None:
        raise ConfigError(f"{source.where}: render.renderer: titiler needs `raster_api` (the TiTiler endpoint)")
    renderer = TitilerRenderer(
        source.raster_api, make_session(settings), http_settings=settings,
        max_body_bytes=source.raster_api_max_body_bytes, concurrency=source.http.max_per_host,
        signer=source_signer(source, settings),
    )
    return RendererSetup(renderer, f"titiler:{public_url(source.raster_api)}", threads=source.http.max_per_host)


def check_bounds(header: str | None, grid: Grid, raster_api: str) -> None:
    """Refuse an answer on other bounds than the grid's (a TiTiler that ignores the geometry's bbox)."""
    if not header:
        return
    try:
        bounds = [float(value) for value in header.split(",")]
    except ValueError:
        return
    pixel = abs(grid.transform.a)
    if len(bounds) == 4 and max(abs(a - b) for a, b in zip(bounds, grid.bounds, strict=True)) > 0.01 * pixel:
        raise RenderError(
            f"TiTiler at {public_url(raster_api)} rendered bounds {bounds} instead of the frame's {list(grid.bounds)}; "
            "this TiTiler version does not honour a geometry's bbox: use render.renderer: local"
        )


def parse_npy(content: bytes, grid: Grid, item: ItemAsset) -> FrameData:
    """TiTiler's ``npy``: the band(s) then the mask (255 = valid) → values + validity on the grid."""
    try:
        array = np.load(io.BytesIO(content))  # numpy >= 1.16.3 refuses object arrays: no answer runs code
    except (ValueError, OSError) as error:
        raise RenderError(f"item {item.item_id!r}: TiTiler's npy answer is unreadable ({error})") from None
    if array.ndim != 3 or array.shape[1:] != grid.shape or array.shape[0] < 2:
        raise RenderError(
            f"item {item.item_id!r}: TiTiler returned an array of shape {array.shape}, expected "
            f"(2, {grid.height}, {grid.width}); is the raster API a TiTiler?"
        )
    values = array[0].astype("float32")
    valid = (array[-1] > 0) & np.isfinite(values)
    return FrameData(values=np.where(valid, values, np.nan).astype("float32"), valid=valid)
