"""The config's data sections: ``site``, ``sources``, ``collections``, ``regions``, ``animations``
and ``cache``.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from generator.config.base import _HEX, HEX_COLOR_PATTERN, Band, Colormap, Resampling, Rescale, StrictModel
from generator.config.render import RenderOverrides
from generator.core.colors import DEFAULT_BORDER_COLOR, DEFAULT_HALO_COLOR, MAX_BORDER_LAYERS
from generator.core.dates import parse_interval
from generator.core.env import ENV_REF
from generator.core.query import Composite, query_problems
from generator.core.scales import StyleScale, mapping_scale, style_problem, ticks_problem
from generator.core.specs import DEFAULT_MAX_READ_BYTES, DEFAULT_MAX_READ_PIXELS


class SiteSection(StrictModel):
    title: str = Field(min_length=1)
    description: str = ""
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    templates: str | None = None


class HttpSection(StrictModel):
    """How a source talks HTTP (STAC API, TiTiler, remote files); defaults suit public services."""

    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    read_timeout: float = Field(default=60.0, gt=0, le=3600)
    retries: int = Field(default=4, ge=0, le=20)
    retry_after_max: float = Field(default=60.0, ge=0, le=3600)
    max_per_host: int = Field(default=4, ge=1, le=64)
    max_cog_reads: int = Field(default=16, ge=1, le=256)  # remote files the local renderer reads at once
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    total_timeout: float = Field(default=300.0, gt=0, le=86400)  # one request, headers and body


class S3Section(StrictModel):
    """Access to ``s3://`` asset hrefs."""

    unsigned: bool = False  # public buckets: send no credentials (GDAL's AWS_NO_SIGN_REQUEST)
    endpoint: str | None = Field(default=None, pattern=r"^https?://")  # an S3-compatible server
    region: str | None = None
    # Requester-pays buckets: GDAL sends AWS_REQUEST_PAYER=requester; credentials come from the
    # environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …), never from the config.
    requester_pays: bool = False

    @model_validator(mode="after")
    def _pays_with_credentials(self) -> S3Section:
        if self.requester_pays and self.unsigned:
            raise ValueError("`requester_pays` needs signed requests (the requester is billed): drop `unsigned: true`")
        return self


_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP token (RFC 9110)


class SourceSection(StrictModel):
    catalog: str | None = None
    api: str | None = Field(default=None, pattern=r"^https?://")  # a STAC API root
    kind: str | None = Field(default=None, min_length=1)  # a source kind registered by a module of your own
    options: dict[str, Any] | None = None  # that kind's settings (checked against what it registered)
    allow_local_assets: bool = False  # items read over the network may point at local files
    raster_api: str | None = Field(default=None, pattern=r"^https?://")  # a TiTiler endpoint
    raster_api_max_body_bytes: int = Field(default=16_384, ge=1024)  # region bodies sent to TiTiler are simplified to fit
    headers: dict[str, str] = Field(default_factory=dict)  # sent with every request; values take ${ENV_VAR}
    s3: S3Section = S3Section()
    page_size: int = Field(default=100, ge=1, le=10_000)  # items per STAC API page (`limit`)
    max_pages: int = Field(default=100, ge=1, le=100_000)  # STAC API pages followed per search
    http: HttpSection = HttpSection()
    # What one local read of an asset may touch (source pixels at the overview read, and those
    # pixels' decoded bytes), checked from the file's metadata before reading; larger reads fail
    # their animation. Raise them for huge files without overviews.
    max_read_pixels: int = Field(default=DEFAULT_MAX_READ_PIXELS, ge=1)
    max_read_bytes: int = Field(default=DEFAULT_MAX_READ_BYTES, ge=1)
    # Asset hrefs signed at read time with short-lived tokens (Planetary Computer SAS tokens).
    sign: Literal["planetary-computer"] | None = None
    sign_url: str | None = Field(default=None, pattern=r"^https?://")  # the token endpoint; default: Planetary Computer's

    @model_validator(mode="after")
    def _sign_url_with_sign(self) -> SourceSection:
        if self.sign_url is not None and self.sign is None:
            raise ValueError("`sign_url` goes with `sign: planetary-computer`")
        return self

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> SourceSection:
        if sum(value is not None for value in (self.catalog, self.api, self.kind)) != 1:
            raise ValueError(
                "give exactly one of `catalog` (a static STAC catalog), `api` (a STAC API URL) "
                "or `kind` (a source kind of your own)"
            )
        if self.kind in ("catalog", "api"):
            raise ValueError(f"the built-in kind {self.kind!r} is written `{self.kind}: <where>`, not `kind: {self.kind}`")
        if self.options is not None and self.kind is None:
            raise ValueError("`options` go with `kind`: `catalog` and `api` sources take their settings as keys")
        return self

    @field_validator("headers")
    @classmethod
    def _headers_resolvable(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.match(_HEADER_NAME, name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            for match in ENV_REF.finditer(text):
                variable = match.group(1)
                if variable and variable not in os.environ:
                    raise ValueError(
                        f"header {name!r} uses ${{{variable}}} but the environment variable {variable} is not set"
                    )
        return value


class StyleSection(StrictModel):
    # `[low, high]`, or for true colour one `[low, high]` per channel: `[[r0, r1], [g0, g1], [b0, b1]]`.
    rescale: Rescale | tuple[Rescale, Rescale, Rescale] | None = None
    colormap: Colormap | None = None
    units: str | None = None
    nodata: float | None = None
    # One band mapped through the colormap, or three (`[1, 2, 3]`: red, green, blue) for true colour.
    bidx: Band | tuple[Band, Band, Band] | None = None
    resampling: Resampling | None = None
    # Missing values inside the region: a colour, or `transparent` (like outside the region).
    nodata_color: str | None = Field(default=None, pattern=r"^(?:#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})|transparent)$")
    # How values are spread over the colormap between the rescale bounds: `linear` (default),
    # `log` (log10; both bounds above 0), or `raw`: linear, with `rescale` in the file's digital
    # numbers (STAC `raster:bands` scale/offset not applied). A closed choice, see core.scales.
    scale: StyleScale | None = None
    ticks: list[float] | None = Field(default=None, min_length=1, max_length=20)  # the legend's ticks
    # True colour only: brighten (> 1) or darken (< 1) each rescaled channel; push colours away
    # from (> 1) or towards (< 1, 0 = grey) their grey.
    gamma: float | None = Field(default=None, gt=0, le=10)
    saturation: float | None = Field(default=None, ge=0, le=10)

    @field_validator("rescale", mode="before")
    @classmethod
    def _three_channels(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(part, list) for part in value) and len(value) != 3:
            raise ValueError(
                f"give [min, max], or one [min, max] per channel for true colour: [[r0, r1], [g0, g1], [b0, b1]]; got {value!r}"
            )
        return value

    @field_validator("ticks")
    @classmethod
    def _ordered_ticks(cls, value: list[float] | None) -> list[float] | None:
        problem = None if value is None else ticks_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _scale_fits_rescale(self) -> StyleSection:
        if self.band_rescale is not None:
            if self.colormap is not None or isinstance(self.bidx, int):
                raise ValueError(
                    "a rescale per channel ([[r0, r1], [g0, g1], [b0, b1]]) is for true colour; "
                    "a colormap maps one band: give one [min, max]"
                )
            return self
        if isinstance(self.bidx, tuple) and self.colormap is not None:
            raise ValueError("bidx with three bands renders true colour, which takes no colormap: drop one of them")
        # Without a rescale here, the STAC render's is checked when the style is resolved.
        rescale = self.rescale
        problem = None if rescale is None else style_problem(rescale, mapping_scale(self.scale), self.tuple_ticks)  # type: ignore[arg-type]
        if problem:
            raise ValueError(problem)
        return self

    @property
    def tuple_ticks(self) -> tuple[float, ...] | None:
        return None if self.ticks is None else tuple(self.ticks)

    @property
    def band_rescale(self) -> tuple[tuple[float, float], ...] | None:
        """The rescale per channel (true colour), or None for one shared ``[min, max]``."""
        if self.rescale is None or not isinstance(self.rescale[0], tuple):
            return None
        return tuple((float(low), float(high)) for low, high in self.rescale)


class StacRender(BaseModel):
    """One entry of a STAC collection's ``renders`` (VEDA style), as far as animations use it.

    Checked by the rules of ``style:`` (``Rescale``, ``Colormap``, ``Band``, ``Resampling``), so a
    value the config would refuse is refused here too; ``plan.renders`` names the collection, the
    render and the key in messages. Other keys (``title``, ``minmax_zoom``…) are ignored.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    rescale: Rescale | None = None  # the first [min, max] of the list given per band
    colormap_name: Colormap | None = None
    colormap: dict[Any, Any] | None = None  # a categorical {value: colour} map (see plan.categorical)
    bidx: Band | None = None  # a list of one band is that band
    expression: str | None = None
    resampling: Resampling | None = None
    nodata: float | None = None
    color_formula: str | None = None
    assets: list[str] | None = None
    unscale: bool | None = None  # TiTiler: apply the file's scale/offset before `rescale`
    rgb_bidx: tuple[Band, Band, Band] | None = None  # `bidx: [r, g, b]`: a true-colour render
    rgb_rescale: tuple[Rescale, Rescale, Rescale] | None = None  # its `rescale`, one per band

    @field_validator("rescale", mode="before")
    @classmethod
    def _first_band(cls, value: Any) -> Any:
        # VEDA writes one [min, max] per band ([[0, 1]]); we read one band and take the first.
        if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
            return value[0]
        return value

    @field_validator("colormap_name", mode="before")
    @classmethod
    def _a_name(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a colormap name such as 'viridis'")
        return value

    @field_validator("colormap", mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a {value: colour} mapping (a categorical colormap)")
        return value

    @field_validator("bidx", mode="before")
    @classmethod
    def _one_band(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) != 1:
                raise ValueError(
                    "must be one band, or three (red, green, blue) for a true-colour image: pick one "
                    "band with style.bidx, or combine bands with an `expression`"
                )
            return value[0]
        return value

    @model_validator(mode="before")
    @classmethod
    def _rgb_render(cls, data: Any) -> Any:
        # `bidx: [1, 2, 3]` (and one rescale per band) is TiTiler's true-colour render.
        if isinstance(data, dict) and isinstance(data.get("bidx"), list) and len(data["bidx"]) == 3:
            data = {**data, "rgb_bidx": data["bidx"]}
            del data["bidx"]
            rescale = data.get("rescale")
            if isinstance(rescale, list) and len(rescale) == 3 and all(isinstance(pair, list) for pair in rescale):
                data["rgb_rescale"] = rescale
        return data


def _to_text(value: Any) -> Any:
    """YAML turns ``2021-01-01`` into a date; keep such values as the text the user wrote."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


class CollectionSection(StrictModel):
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    # The data asset's key, or three keys `[red, green, blue]` of single-band assets for true colour.
    asset: str | list[str] | None = None
    datetime: str | None = None  # an interval, or a rolling window such as P24M/..
    last: int | None = Field(default=None, ge=1)  # keep only the newest N time steps
    style: StyleSection | None = None
    # a time step with data on less of the region than this share is a gap (plan.coverage)
    min_coverage: float = Field(default=0.0, ge=0.0, le=1.0)

    _text_datetime = field_validator("datetime", mode="before")(_to_text)
    # Which items: the STAC API query extension ({eo:cloud_cover: {lt: 20}}; sent to APIs that
    # declare it, evaluated here otherwise), a CQL2 JSON `filter` (STAC APIs declaring the filter
    # extension only), and how the items of one step are ranked (the first valid pixel wins).
    query: dict[str, Any] | None = None
    filter: dict[str, Any] | None = None
    composite: Composite | None = None

    @field_validator("asset")
    @classmethod
    def _three_assets(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and (len(value) != 3 or len(set(value)) != 3 or not all(value)):
            raise ValueError(
                f"a list of assets renders true colour and names three different assets "
                f"[red, green, blue], got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _truecolor_style(self) -> CollectionSection:
        style = self.style
        if isinstance(self.asset, list) and style is not None:
            if style.colormap is not None:
                raise ValueError("`asset: [red, green, blue]` renders true colour, which takes no style.colormap")
            if style.bidx is not None:
                raise ValueError("`asset: [red, green, blue]` reads band 1 of each asset: drop style.bidx")
        return self

    @field_validator("datetime")
    @classmethod
    def _valid_interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value)
        return value

    # The collection's id at its source, when it differs from `id`: several entries can then use
    # one STAC collection (different assets or styles) under ids of their own.
    stac_collection: str | None = Field(default=None, min_length=1)
    @field_validator("query")
    @classmethod
    def _known_operators(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        problems = [] if value is None else query_problems(value, str(info.data.get("id", "?")))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("filter")
    @classmethod
    def _cql2_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("op"), str):
            raise ValueError(
                "must be a CQL2 JSON expression with an `op`, e.g. {op: '<', args: [{property: eo:cloud_cover}, 20]}"
            )
        return value




class BorderLayerSection(StrictModel):
    """One border overlay layer: its own lines, colour, width and optional halo."""

    geometry: str | dict[str, Any]
    color: str = Field(default=DEFAULT_BORDER_COLOR, pattern=HEX_COLOR_PATTERN)
    width: int | None = Field(default=None, ge=1, le=50)  # px; default grows with the frame
    halo: bool | str = False
    halo_width: int = Field(default=1, ge=1, le=20)  # px on each side of the line
    # Credit for the lines (e.g. "IGN, Licence Ouverte"): drawn in the frame's attribution line
    # and listed on the animation page, like the data's own attribution.
    attribution: str | None = Field(default=None, min_length=1)

    @field_validator("halo")
    @classmethod
    def _halo_colour(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not _HEX.fullmatch(value):
            raise ValueError(f"halo must be true, false or a hex colour like '#ffffff', got {value!r}")
        return value

    @property
    def halo_color(self) -> str | None:
        """The halo's colour, or None without a halo (``true`` means white)."""
        if self.halo is True:
            return DEFAULT_HALO_COLOR
        return self.halo or None


class RegionSection(StrictModel):
    id: str = Field(min_length=1)
    title: str | None = None
    geometry: str | dict[str, Any] | None = None
    bbox: tuple[float, float, float, float] | None = None
    borders: str | dict[str, Any] | list[BorderLayerSection] | None = None

    @field_validator("borders")
    @classmethod
    def _layer_count(cls, value: Any) -> Any:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_BORDER_LAYERS:
            raise ValueError(f"give 1 to {MAX_BORDER_LAYERS} border layers, got {len(value)}")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> RegionSection:
        if (self.geometry is None) == (self.bbox is None):
            raise ValueError("give exactly one of `geometry` (GeoJSON path, URL or inline) or `bbox`")
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south < north <= 90):
                raise ValueError(
                    f"bbox {list(self.bbox)} must be [west, south, east, north] in degrees "
                    "with south < north"
                )
            if west == east:
                raise ValueError(f"bbox {list(self.bbox)} has no width")
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.id


class AnimationSection(StrictModel):
    id: str | None = Field(default=None, min_length=1)
    collection: str
    region: str
    render: RenderOverrides | None = None
    style: StyleSection | None = None  # style keys of this animation, over its collection's


def merged_style(collection: StyleSection | None, animation: StyleSection | None) -> StyleSection | None:
    """An animation's ``style:`` over its collection's, key by key, validated as one style
    (raises ``pydantic.ValidationError``)."""
    if animation is None:
        return collection
    base = collection.model_dump(exclude_none=True) if collection is not None else {}
    return StyleSection.model_validate({**base, **animation.model_dump(exclude_none=True)})


class CacheSection(StrictModel):
    """Where builds keep what they can reuse, and for how long STAC searches are trusted."""

    dir: str = ".cache"
    search_ttl: int = Field(default=0, ge=0)  # seconds; 0 = always search again
    # fsspec options for a cache.dir URL (e.g. {endpoint_url: http://minio:9000} for s3://)
    storage_options: dict[str, Any] = Field(default_factory=dict)


#: The address forms a Dask scheduler listens on.
SCHEDULER_ADDRESS = r"^(tcp|tls|ws|wss|ucx)://\S+$"


class ExecutorSection(StrictModel):
    """Where the build's tasks run: ``local`` processes (``--jobs``) or a Dask cluster's workers."""

    kind: str = "local"
    scheduler: str | None = Field(default=None, pattern=SCHEDULER_ADDRESS)  # e.g. tcp://10.0.0.5:8786

    @model_validator(mode="after")
    def _kind_and_address(self) -> ExecutorSection:
        if self.kind not in ("local", "dask"):
            raise ValueError(f"kind {self.kind!r} is unknown: use local (the default) or dask")
        if self.kind == "dask" and self.scheduler is None:
            raise ValueError("kind dask needs scheduler: the Dask scheduler's address, e.g. tcp://10.0.0.5:8786")
        if self.kind == "local" and self.scheduler is not None:
            raise ValueError("scheduler is only used with kind: dask; set kind: dask or remove scheduler")
        return self
