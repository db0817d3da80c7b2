"""Core value types passed between pipeline stages (plain frozen dataclasses, no I/O).

Stages import these; nothing here imports a stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from generator.core.scales import DEFAULT_SCALE, Scale

if TYPE_CHECKING:  # the grid's transform is made (and affine loaded) where frames are planned
    from affine import Affine

FrameKind = Literal["data", "gap"]
Moment = datetime  # for fields named ``datetime``


@dataclass(frozen=True)
class Grid:
    """The output raster of one animation: CRS, affine transform and size in pixels.

    ``crs`` is anything ``rasterio.crs.CRS.from_user_input`` accepts (we store WKT or
    ``EPSG:xxxx`` strings so the grid stays hashable and picklable).
    """

    crs: str
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in ``crs`` units."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))


#: Field metadata of a style field that never changes a frame's data layer (its palette
#: indices): such a field is left out of the frame-cache key (``style_fingerprint``), but still
#: counts for the animation fingerprint. Every other field counts for both, new ones included.
LAYER_NEUTRAL_KEY = "layer_neutral"
LAYER_NEUTRAL: Mapping[str, bool] = MappingProxyType({LAYER_NEUTRAL_KEY: True})


@dataclass(frozen=True)
class ColorOp:
    """One exactly-applicable colour-formula operation on the rescaled value in [0, 1]."""

    name: str  # "gamma" or "sigmoidal"
    args: tuple[float, ...]


@dataclass(frozen=True)
class Category:
    """One class of a categorical style: its data value, colour and (optional) legend label."""

    value: float
    rgb: tuple[int, int, int]
    label: str = field(metadata=LAYER_NEUTRAL)


@dataclass(frozen=True)
class CategoricalScheme:
    """The classes of a categorical style, sorted by value (transparent classes dropped)."""

    categories: tuple[Category, ...]

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(category.value for category in self.categories)

    @property
    def value_range(self) -> tuple[float, float]:
        """A ``rescale``-like range spanning the classes (the Style needs one; never used to map)."""
        low, high = min(self.values), max(self.values)
        return (low, high) if high > low else (low, low + 1.0)


@dataclass(frozen=True)
class TrueColor:
    """How a true-colour style makes red, green and blue (``render.truecolor``).

    ``bands``: the band of each channel — in the one multi-band asset, or band 1 of each of the
    three assets named by ``assets`` (the config's ``asset: [red, green, blue]``; the frame's items
    then carry those assets as ``ItemAsset.channels``). ``rescale``: ``[low, high]`` per channel,
    in the same units as ``Style.rescale``. ``gamma`` brightens (> 1) or darkens (< 1) each rescaled
    channel (t ** (1 / gamma)); ``saturation`` scales the colour away from (> 1) or towards (< 1)
    its grey. Every field changes pixels, so all are in the frame-cache key.
    """

    bands: tuple[int, int, int] = (1, 2, 3)
    rescale: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] = ((0.0, 255.0),) * 3
    gamma: float = 1.0
    saturation: float = 1.0
    assets: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """What a page says instead of a colour bar: which asset or band is red, green and blue."""
        names = self.assets if self.assets else tuple(f"band {band}" for band in self.bands)
        return f"true colour (red, green, blue = {', '.join(names)})"


@dataclass(frozen=True)
class Style:
    """How data values become colours, fully resolved (the plan stage fills it, see ``plan.styles``).

    ``colormap`` is a rio-tiler colormap name (e.g. ``"viridis"``, ``"rdbu_r"``) or a tuple of
    CSS hex colours (``"#rrggbb"``) spread evenly from ``rescale[0]`` to ``rescale[1]``.
    ``expression`` (rio-tiler syntax, bands ``b1``, ``b2``…) replaces ``bidx`` when set.
    ``color_ops`` remap the rescaled values (``plan.formulas.value_transform``). ``categories`` is
    set for a categorical colormap; the palette then comes from it. ``band_chosen`` is True when
    the config or the STAC render names the band(s) explicitly. ``scale`` is how values are
    spread between the bounds (``core.scales``: ``linear`` or ``log``); ``ticks`` the legend's
    ticks as configured (None: chosen for the scale, ``overlays.legend``).
    """

    rescale: tuple[float, float]
    colormap: str | tuple[str, ...] = field(default="viridis", metadata=LAYER_NEUTRAL)
    units: str | None = field(default=None, metadata=LAYER_NEUTRAL)
    nodata: float | None = None
    bidx: int = 1
    resampling: str = "nearest"
    expression: str | None = None
    color_ops: tuple[ColorOp, ...] = ()
    categories: CategoricalScheme | None = None
    band_chosen: bool = False
    #: Missing values inside the region: ``"#rrggbb"``, ``"transparent"``, or None for a light
    #: grey chosen against the colormap (``render.palette.nodata_rgb``). Only the palette entry's
    #: colour changes, never a layer's indices.
    nodata_color: str | None = field(default=None, metadata=LAYER_NEUTRAL)
    scale: Scale = DEFAULT_SCALE
    ticks: tuple[float, ...] | None = field(default=None, metadata=LAYER_NEUTRAL)

    #: True: values are made physical with the asset's ``raster:bands`` scale/offset before
    #: ``rescale`` applies (a config ``rescale``); False: ``rescale`` applies to the file's raw
    #: values (``style.scale: raw``, or a STAC render's rescale without ``unscale: true``).
    unscale: bool = False
    #: Set for a true-colour style: three channels rendered as RGB, no colormap (``TrueColor``).
    truecolor: TrueColor | None = None


@dataclass(frozen=True)
class BandScaling:
    """One band's STAC ``raster:bands`` entry, as far as reading values needs it.

    Physical value = digital number × ``scale`` + ``offset``; ``nodata`` marks missing pixels
    (used when the style sets none, so it also covers files without a nodata tag).
    """

    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.offset == 0.0


@dataclass(frozen=True)
class AssetRef:
    """One asset of a source's item: where the file is and what it is."""

    href: str  # absolute URL or local path (a relative href is resolved by the source)
    roles: tuple[str, ...] = ()
    media_type: str | None = None
    updated: str | None = None  # the asset's own ``updated`` time, when given
    #: The asset's ``raster:bands`` (band 1 first), when the item gives them; empty otherwise.
    bands: tuple[BandScaling, ...] = ()
    title: str | None = None  # the asset's ``title`` (named in messages listing assets to choose from)


@dataclass(frozen=True)
class AssetDescription:
    """One entry of a collection's ``item_assets``: what its items' asset under that key is."""

    title: str | None = None
    roles: tuple[str, ...] = ()
    media_type: str | None = None


@dataclass(frozen=True)
class SourceItem:
    """One item of a source, whatever its kind (a STAC item, a dated file…), as the planner needs it.

    ``start``/``end`` are the time range the item covers (both ``datetime`` for an instant);
    ``footprint`` is a GeoJSON geometry and ``bbox`` (west, south, east, north) its bounds, in
    lon/lat; neither given: the item is taken for every region. ``href`` is where the item's own
    document lives, when it has one; ``remote`` is True when that document was read from the
    network (its assets must then be remote too, unless the source allows local ones).
    """

    id: str
    datetime: Moment  # the time step, timezone-aware (UTC)
    start: Moment
    end: Moment
    assets: dict[str, AssetRef] = field(hash=False)
    footprint: dict[str, Any] | None = field(default=None, hash=False)
    bbox: tuple[float, ...] | None = None
    href: str | None = None
    updated: str | None = None  # the item's ``updated`` time, when given
    remote: bool = False
    #: The satellite (STAC ``platform``, else ``constellation``), lower case, when the item says:
    #: items of one platform on one solar day are one acquisition (``plan.acquisitions``).
    platform: str | None = None
    #: The item's STAC ``properties`` (JSON values): what ``collections[].query`` is evaluated on
    #: and ``composite: least-cloudy`` ranks by (``eo:cloud_cover``).
    properties: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class ChannelAsset:
    """One of the three assets of a true-colour frame (``asset: [red, green, blue]``)."""

    key: str
    href: str
    updated: str | None = None
    bands: tuple[BandScaling, ...] = ()


@dataclass(frozen=True)
class ItemAsset:
    """One STAC item's data asset, as a frame needs it.

    With ``asset: [red, green, blue]``, ``channels`` holds the three assets (``href`` and
    ``bands`` are then the red one's, so pages and lists still name a file).
    """

    item_id: str
    datetime: datetime  # timezone-aware, UTC
    href: str  # absolute local path or URL of the COG
    item_href: str | None = None  # where the STAC item itself lives, when known
    updated: str | None = None  # the item's `updated` timestamp, when the catalog gives one (cache key)
    #: ``raster:bands`` of the asset (else of the collection's ``item_assets``): scale, offset, nodata.
    bands: tuple[BandScaling, ...] = ()
    #: The item's ``eo:cloud_cover`` (percent) when it gives a number: ``composite: least-cloudy``
    #: ranks by it, and ``provenance.json`` shows it. Never part of a cache key (no pixel changes).
    cloud_cover: float | None = None
    channels: tuple[ChannelAsset, ...] = ()

    def band(self, number: int) -> BandScaling:
        """Band ``number`` (from 1)'s scaling; identity when STAC does not describe it."""
        return self.bands[number - 1] if 0 < number <= len(self.bands) else BandScaling()


@dataclass(frozen=True)
class FramePlan:
    """One time step of an animation: the items whose pixels make the frame, first wins."""

    datetime: datetime
    items: tuple[ItemAsset, ...]
    kind: FrameKind = "data"


@dataclass(frozen=True)
class CollectionInfo:
    """What we show about a STAC collection, read once from the catalog."""

    id: str
    title: str
    description: str = ""
    license: str | None = None
    providers: tuple[dict[str, Any], ...] = ()
    renders: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    synthetic: bool = False  # the demo catalog marks its collections as synthetic data
    doi: str | None = None  # ``sci:doi`` of the collection, when it has one
    citation: str | None = None  # ``sci:citation``: how the data provider asks to be cited
    time_density: str | None = None  # how often it has data (``dashboard:time_density``: day, month…)
    #: ``raster:bands`` of the collection's ``item_assets``, by asset key (used when an item's asset has none).
    item_asset_bands: dict[str, tuple[BandScaling, ...]] = field(default_factory=dict, hash=False)
    #: The collection's ``item_assets`` (title, roles, media type by key): the assets its items have.
    item_assets: dict[str, AssetDescription] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class FrameStats:
    """The numbers behind one data frame: statistics of its values over the region.

    Computed from the values read for the frame (physical units, as the style's ``rescale`` is,
    before any colour formula), over the valid pixels whose centre lies inside the region.
    ``valid_fraction`` is their share of the region's pixels; the other numbers are None when
    the frame has no valid pixel there. Percentiles interpolate linearly (numpy's default).
    """

    valid_fraction: float
    mean: float | None = None
    median: float | None = None
    p10: float | None = None
    p90: float | None = None


AnimationStatus = Literal["ok", "failed", "stale"]  # stale: this build failed, last good files kept
MEDIA_STATUSES = ("ok", "stale")  # the statuses whose animation files exist in the output


@dataclass(frozen=True)
class AnimationFiles:
    """Paths of one animation's outputs, relative to the output folder (POSIX separators).

    ``outputs`` maps each output format (an encoder's name: ``"gif"``, ``"webp"``, …) to its
    file, in the order the encoders are registered; the GIF is always there.
    """

    page: str
    outputs: dict[str, str] = field(hash=False)
    poster: str
    thumbnail: str
    legend: str | None = None  # the colorbar legend as drawn on the frames, for the page
    frames: tuple[str, ...] = ()  # one palette PNG per frame, in order, for the page's player

    @property
    def gif(self) -> str:
        """The GIF: the gallery shows it, so every animation has one."""
        return self.outputs["gif"]


@dataclass(frozen=True)
class FileDigest:
    """One published file as a record vouches for it: its path relative to the output folder
    (POSIX separators), its size in bytes and the SHA-256 of its bytes (hex)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class AnimationRecord:
    """Everything the site stage needs to know about one animation, built or failed.

    ``frames`` are the frames actually in the GIF, in order; ``frame_labels`` holds the date
    label drawn on each of them (same length). ``legend_colors`` are CSS hex colours sampled
    evenly along the data levels of the palette, low to high, for a gradient on the page.
    """

    id: str
    slug: str
    status: AnimationStatus
    collection_id: str
    region_id: str
    region_title: str
    files: AnimationFiles
    collection: CollectionInfo | None = None
    style: Style | None = None
    frames: tuple[FramePlan, ...] = ()
    frame_labels: tuple[str, ...] = ()
    legend_colors: tuple[str, ...] = ()
    legend_classes: tuple[tuple[str, str], ...] = ()  # categorical styles: (label, "#rrggbb") per class
    fingerprint: str | None = None  # what the files were made from (see cache.animation_fingerprint)
    width: int = 0
    height: int = 0
    error: str | None = None
    notes: tuple[str, ...] = ()  # what the build changed to meet limits (size budget, dropped frames)
    crs: str | None = None  # the output projection (EPSG code, PROJ string or WKT)
    render: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # effective render settings
    # Credits for what is drawn besides the data, as (what, credit): ("Borders", "IGN, Licence Ouverte").
    map_credits: tuple[tuple[str, str], ...] = ()
    # The region's outline as simplified lon/lat rings (EPSG:4326), for the page's locator globe.
    region_outline: tuple[tuple[tuple[float, float], ...], ...] = ()
    # What looks wrong with a built animation (every frame empty): also in ``notes``; shown on its
    # card, and ``--strict`` makes it a failure.
    warnings: tuple[str, ...] = ()
    # The resolved output folder the files were published in, and each media file as published
    # (all of them but the pages, which the site stage rewrites): a kept record vouches for
    # exactly these bytes in exactly that folder. Kept in the cache folder only, never published.
    output_dir: str | None = None
    published: tuple[FileDigest, ...] = ()
    # Per frame of ``frames``: the statistics of its values over the region (``FrameStats``);
    # None for a gap frame. Empty when the style is categorical (class codes have no mean).
    frame_stats: tuple[FrameStats | None, ...] = ()
    # The asset key(s) the frames were read from (``collections[].asset``, else the one chosen).
    assets: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        collection_title = self.collection.title if self.collection else self.collection_id
        return f"{collection_title} — {self.region_title}"


@dataclass(frozen=True)
class SiteInfo:
    """The ``site:`` block of the configuration."""

    title: str
    description: str = ""
    base_url: str | None = None  # absolute URL where the site is published (for Open Graph tags)
    templates: Path | None = None  # a folder whose templates/CSS override ours
    source_root: Path | None = None  # the config's folder: local asset paths are published relative to it
