"""Resolved, immutable settings that flow down from the plan stage to every stage below the CLI.

``generator.config`` validates ``site_config.yml`` into pydantic models; ``generator.plan.site``
turns those into these frozen dataclasses (paths resolved against the config's folder, per-
animation render overrides merged, the text that messages name kept as ``where``). Stages other
than ``config`` and ``plan`` take these types and never the config models, so the config's
schema can change without reaching the drawing, reading or encoding code. Attribute names are
the config's keys, so ``spec.render.overlays.date.position`` reads as the YAML does.

Plain values only; nothing here reads a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from generator.core.colors import DEFAULT_BORDER_COLOR
from generator.core.query import Composite, ItemQuery, ItemSearch
from generator.core.scales import StyleScale

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
Cadence = Literal["auto", "none", "daily", "weekly", "monthly", "yearly"]
GapPolicy = Literal["frame", "skip"]
#: An output format: the name of a registered encoder ("gif", "webp", "mp4", …; see encode.registry).
OutputFormat = str
RendererName = Literal["local", "titiler"]
#: Where the text overlays go: in bands above and below the map, or in boxes on it.
Layout = Literal["bands", "inset"]


# --- render settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class OverlayToggle:
    """An overlay that can be switched off; ``bool(overlay)`` is its ``show`` flag."""

    show: bool = True

    def __bool__(self) -> bool:
        return self.show


@dataclass(frozen=True)
class DateOverlay(OverlayToggle):
    position: Corner = "bottom-left"
    size: int | None = None  # font size in px; None: grows with the frame


@dataclass(frozen=True)
class TitleOverlay(OverlayToggle):
    text: str | None = None  # None: "<collection title> — <region title>"
    position: Corner = "top-left"
    size: int | None = None


@dataclass(frozen=True)
class AttributionOverlay(OverlayToggle):
    text: str | None = None  # None: providers and license from the STAC collection
    position: Corner = "bottom-right"
    size: int | None = None


@dataclass(frozen=True)
class LegendOverlay(OverlayToggle):
    position: Corner = "bottom-right"
    orientation: Literal["horizontal", "vertical"] = "horizontal"
    length: float = 0.4  # share of the frame's width (or height)
    size: int | None = None


@dataclass(frozen=True)
class ScaleBarOverlay(OverlayToggle):
    show: bool = False
    position: Corner = "bottom-left"
    size: int | None = None  # label font size in px; None: grows with the frame


@dataclass(frozen=True)
class TimelineOverlay(OverlayToggle):
    show: bool = False
    position: Literal["top", "bottom"] = "bottom"
    thickness: int | None = None  # px; None: grows with the frame


@dataclass(frozen=True)
class OverlaysSpec:
    """Which overlays are drawn on every frame, where, and how large."""

    date: DateOverlay = DateOverlay()
    borders: bool = True
    #: Natural Earth layers under the borders ("coastline", "countries"); the plan fills
    #: in the config's default (coastline and countries unless there is a basemap).
    context: tuple[str, ...] = ()
    legend: LegendOverlay = LegendOverlay()
    title: TitleOverlay = TitleOverlay()
    attribution: AttributionOverlay = AttributionOverlay()
    timeline: TimelineOverlay = TimelineOverlay()
    scale_bar: ScaleBarOverlay = ScaleBarOverlay()


@dataclass(frozen=True)
class BasemapSpec:
    """An XYZ tile layer drawn under the data (frames are then in Web Mercator)."""

    url: str  # XYZ template with {z}, {x} and {y}
    attribution: str  # drawn on every frame, whatever the overlays say
    opacity: float = 1.0  # of the data over the basemap
    outside: Literal["show", "hide"] = "show"  # the basemap outside the region
    max_zoom: int = 19


@dataclass(frozen=True)
class WebpSpec:
    lossless: bool = True
    quality: int = 90


@dataclass(frozen=True)
class Mp4Spec:
    background: str = "#ffffff"


@dataclass(frozen=True)
class RenderSpec:
    """The effective render settings of one animation (defaults with its overrides merged)."""

    size: int = 512
    crs: str = "auto"
    frame_ms: int = 300
    loop: int = 0
    end_pause_ms: int = 1000
    date_format: str = "%Y-%m"
    overlays: OverlaysSpec = OverlaysSpec()
    formats: tuple[OutputFormat, ...] = ("gif",)
    cadence: Cadence = "auto"
    gaps: GapPolicy = "frame"
    webp: WebpSpec = WebpSpec()
    mp4: Mp4Spec = Mp4Spec()
    max_bytes: int | None = None
    drop_frames: bool = False
    renderer: RendererName = "local"
    basemap: BasemapSpec | None = None
    layout: Layout = "bands"
    font: Path | None = None  # render.font, resolved; None: the bundled DejaVu Sans

    def format_options(self, name: str) -> object | None:
        """The options of output format ``name`` (the config's ``render.<name>``), None without any.

        A format with options of its own adds its spec field above and its name here.
        """
        return {"webp": self.webp, "mp4": self.mp4}.get(name)


# --- sources -----------------------------------------------------------------------------------

#: What one local read of an asset may touch by default: 2^28 source pixels (a 16384 × 16384
#: window; a 4096-px frame read from a COG's fitting overview touches at most 8192 × 8192, so
#: normal reads pass with room for reprojection) and 2 GiB of decoded data (those pixels as
#: float64). A sparse 200000 × 200000 GeoTIFF without overviews (40 billion pixels) is refused
#: before GDAL starts on it.
DEFAULT_MAX_READ_PIXELS = 1 << 28
DEFAULT_MAX_READ_BYTES = 2 << 30



@dataclass(frozen=True)
class HttpSpec:
    """How a source talks HTTP (STAC API, TiTiler, remote files)."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4
    retry_after_max: float = 60.0
    max_per_host: int = 4
    max_cog_reads: int = 16
    max_body_bytes: int = 256 * 1024 * 1024
    total_timeout: float = 300.0  # one request, headers and body


@dataclass(frozen=True)
class S3Spec:
    """Access to ``s3://`` asset hrefs."""

    unsigned: bool = False
    endpoint: str | None = None
    region: str | None = None
    requester_pays: bool = False


@dataclass(frozen=True)
class SourceSpec:
    """One ``sources.<name>`` block, of one source kind (``sources.registry``).

    The built-in kinds are a static catalog (``catalog``, resolved) and a STAC API (``api``);
    another registered kind is named by ``kind`` and gets its settings as ``options`` (an
    instance of the dataclass it registered; relative paths in it are relative to ``base_dir``,
    the config's folder). ``kind`` is filled in from ``catalog``/``api`` when not given.
    ``where`` names the block in messages (``"<config path>: sources.<name>"``). Header values
    are kept as written (``${ENV_VAR}`` is expanded when a session is made).
    ``allow_local_assets``: items read from the network may point at local files.
    """

    name: str
    where: str
    catalog: str | None = None
    api: str | None = None
    raster_api: str | None = None
    raster_api_max_body_bytes: int = 16_384
    headers: Mapping[str, str] = field(default_factory=dict)
    s3: S3Spec = S3Spec()
    page_size: int = 100
    max_pages: int = 100
    http: HttpSpec = HttpSpec()
    max_read_pixels: int = DEFAULT_MAX_READ_PIXELS  # source pixels one local read of an asset may touch
    max_read_bytes: int = DEFAULT_MAX_READ_BYTES  # decoded bytes one local read of an asset may touch
    allow_local_assets: bool = False
    kind: str = ""
    options: Any = None
    base_dir: Path | None = None
    sign: str | None = None  # "planetary-computer": asset hrefs signed at read time
    sign_url: str | None = None  # the token endpoint (None: the signer's default)

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", "catalog" if self.catalog is not None else "api")


# --- regions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeoJsonRef:
    """A GeoJSON the config points at: a file or URL (``location``, resolved) or an inline object.

    ``written`` is the path or URL as the config wrote it, for messages.
    """

    written: str | None = None
    location: str | None = None
    inline: Mapping[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.written if self.written is not None else "inline GeoJSON"


@dataclass(frozen=True)
class BorderLayerSpec:
    """One border overlay layer as configured (colours as ``#rrggbb``/``#rgb`` text)."""

    geometry: GeoJsonRef
    color: str = DEFAULT_BORDER_COLOR
    width: int | None = None  # px; None: grows with the frame
    halo_color: str | None = None  # None: no halo
    halo_width: int = 1
    attribution: str | None = None


@dataclass(frozen=True)
class RegionSpec:
    """One ``regions[i]`` entry: a GeoJSON outline or a bbox, and optional border layers.

    ``where`` names the entry in messages (``"<config path>: regions[<i>]"``). ``borders`` is a
    single GeoJSON (one layer in the default style) or a tuple of styled layers.
    """

    id: str
    title: str
    where: str
    geometry: GeoJsonRef | None = None
    bbox: tuple[float, float, float, float] | None = None
    borders: GeoJsonRef | tuple[BorderLayerSpec, ...] | None = None


# --- collections, cache, site -----------------------------------------------------------------


@dataclass(frozen=True)
class StyleSpec:
    """A collection's ``style:`` block as configured (merged over STAC renders by ``plan.styles``)."""

    rescale: tuple[float, float] | None = None
    colormap: str | tuple[str, ...] | None = None
    units: str | None = None
    nodata: float | None = None
    bidx: int | None = None
    resampling: str | None = None
    nodata_color: str | None = None  # "#rrggbb", "transparent"; None: a light grey chosen per colormap
    scale: StyleScale | None = None  # "linear", "log" or "raw" (core.scales); None: linear
    ticks: tuple[float, ...] | None = None  # the legend's ticks; None: chosen for the scale
    band_rescale: tuple[tuple[float, float], ...] | None = None  # true colour: [low, high] per channel
    rgb_bidx: tuple[int, int, int] | None = None  # `bidx: [r, g, b]`: true colour from one asset
    gamma: float | None = None  # true colour only
    saturation: float | None = None  # true colour only


@dataclass(frozen=True)
class CollectionSpec:
    """One ``collections[i]`` entry; ``where`` is ``"collections[<i>]"`` for messages."""

    id: str
    source: str
    where: str
    asset: str | tuple[str, ...] | None = None  # three keys: true colour from three assets
    datetime: str | None = None  # an interval, or a rolling window such as P24M/..
    last: int | None = None
    style: StyleSpec | None = None
    stac_collection: str | None = None  # the STAC collection's id, when it differs from ``id``
    min_coverage: float = 0.0  # a time step with data on less of the region is a gap (plan.coverage)
    query: ItemQuery | None = None  # the query extension's conditions on item properties
    filter: str | None = None  # a CQL2 JSON expression, as canonical JSON text (STAC APIs only)
    composite: Composite | None = None  # how a step's items are ranked; None: least-cloudy or newest

    @property
    def stac_id(self) -> str:
        """The collection's id at its source (``stac_collection``, else ``id``)."""
        return self.stac_collection or self.id

    @property
    def search(self) -> ItemSearch:
        """What the source is asked besides time and place (``query``, ``filter``)."""
        return ItemSearch(query=self.query, filter=self.filter)


@dataclass(frozen=True)
class CacheSpec:
    """Where builds keep what they can reuse (resolved), and how long STAC searches are trusted."""

    dir: Path
    search_ttl: int = 0
    # ``cache.dir`` given as a URL (s3://, gs://, …): the frames live there, shared by the
    # workers; ``dir`` is then a local `.cache/` beside the config for the build's own state.
    url: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)  # fsspec options for ``url``


@dataclass(frozen=True)
class ExecutorSpec:
    """``executor:``: where the build's tasks run (``local`` processes, or a ``dask`` scheduler's workers)."""

    kind: str = "local"
    scheduler: str | None = None
