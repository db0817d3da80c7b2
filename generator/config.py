"""The ``site_config.yml`` schema (pydantic models) and ``load_config``.

Owns: reading the YAML safely, validating every key (unknown keys are errors), cross-checking
references between sections, and turning every problem into a ``ConfigError`` line that names
the file, the dotted path of the bad value and what to do. Paths stay as written here; they are
resolved against the config file's folder by ``resolve_ref``.
"""

from __future__ import annotations

import math
import re
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .dates import parse_interval
from .errors import ConfigError

HEX_COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
_HEX = re.compile(HEX_COLOR_PATTERN)

Resampling = Literal["nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode"]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are not coerced wildly."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)


class S3Section(StrictModel):
    """Access to ``s3://`` asset hrefs."""

    unsigned: bool = False  # public buckets: send no credentials (GDAL's AWS_NO_SIGN_REQUEST)
    endpoint: str | None = Field(default=None, pattern=r"^https?://")  # an S3-compatible server
    region: str | None = None


_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP token (RFC 9110)
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SourceSection(StrictModel):
    catalog: str | None = None
    api: str | None = Field(default=None, pattern=r"^https?://")  # a STAC API root
    raster_api: str | None = Field(default=None, pattern=r"^https?://")  # a TiTiler endpoint
    raster_api_max_body_bytes: int = Field(default=16_384, ge=1024)  # region bodies sent to TiTiler are simplified to fit
    headers: dict[str, str] = Field(default_factory=dict)  # sent with every request; values take ${ENV_VAR}
    s3: S3Section = S3Section()
    page_size: int = Field(default=100, ge=1, le=10_000)  # items per STAC API page (`limit`)
    max_pages: int = Field(default=100, ge=1, le=100_000)  # STAC API pages followed per search
    http: HttpSection = HttpSection()

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> SourceSection:
        if (self.catalog is None) == (self.api is None):
            raise ValueError("give exactly one of `catalog` (a static STAC catalog) or `api` (a STAC API URL)")
        return self

    @field_validator("headers")
    @classmethod
    def _headers_resolvable(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.match(_HEADER_NAME, name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            for match in _ENV_REF.finditer(text):
                variable = match.group(1)
                if variable and variable not in os.environ:
                    raise ValueError(
                        f"header {name!r} uses ${{{variable}}} but the environment variable {variable} is not set"
                    )
        return value


class StyleSection(StrictModel):
    rescale: tuple[float, float] | None = None
    colormap: str | list[str] | None = None
    units: str | None = None
    nodata: float | None = None
    bidx: int | None = Field(default=None, ge=1)
    resampling: Resampling | None = None

    @field_validator("rescale")
    @classmethod
    def _finite_distinct(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is None:
            return value
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("rescale values must be finite numbers, e.g. [0, 1.5e16]")
        if low == high:
            raise ValueError(f"rescale [{low}, {high}] is empty: give two different values [min, max]")
        return value

    @field_validator("colormap")
    @classmethod
    def _enough_colors(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) < 2:
            raise ValueError("a custom colormap needs at least 2 colours, e.g. ['#000000', '#ffffff']")
        return value


def _to_text(value: Any) -> Any:
    """YAML turns ``2021-01-01`` into a date; keep such values as the text the user wrote."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


class CollectionSection(StrictModel):
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    asset: str | None = None
    datetime: str | None = None  # an interval, or a rolling window such as P24M/..
    last: int | None = Field(default=None, ge=1)  # keep only the newest N time steps
    style: StyleSection | None = None

    _text_datetime = field_validator("datetime", mode="before")(_to_text)

    @field_validator("datetime")
    @classmethod
    def _valid_interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value)
        return value


MAX_BORDER_LAYERS = 4  # each layer takes two reserved palette entries (line and halo)


class BorderLayerSection(StrictModel):
    """One border overlay layer: its own lines, colour, width and optional halo."""

    geometry: str | dict[str, Any]
    color: str = Field(default="#282828", pattern=HEX_COLOR_PATTERN)
    width: int | None = Field(default=None, ge=1, le=50)  # px; default grows with the frame
    halo: bool | str = False
    halo_width: int = Field(default=1, ge=1, le=20)  # px on each side of the line

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
            return "#ffffff"
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


Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
FontSize = Field(default=None, ge=6, le=200)


class OverlayToggle(StrictModel):
    """An overlay that can be switched with a plain ``true``/``false`` or set up with a mapping.

    ``bool(overlay)`` is its ``show`` flag, so ``if overlays.date:`` reads naturally.
    """

    show: bool = True

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, value: Any) -> Any:
        return {"show": value} if isinstance(value, bool) else value

    def __bool__(self) -> bool:
        return self.show


class DateOverlay(OverlayToggle):
    position: Corner = "bottom-left"
    size: int | None = FontSize  # font size in px; default grows with the frame


class TitleOverlay(OverlayToggle):
    text: str | None = None  # default: "<collection title> — <region title>"
    position: Corner = "top-left"
    size: int | None = FontSize


class AttributionOverlay(OverlayToggle):
    text: str | None = None  # default: providers and license from the STAC collection
    position: Corner = "bottom-right"
    size: int | None = FontSize


class LegendOverlay(OverlayToggle):
    position: Corner = "bottom-right"
    orientation: Literal["horizontal", "vertical"] = "horizontal"
    length: float = Field(default=0.4, ge=0.1, le=1.0)  # share of the frame's width (or height)
    size: int | None = FontSize


class TimelineOverlay(OverlayToggle):
    show: bool = False
    position: Literal["top", "bottom"] = "bottom"
    thickness: int | None = Field(default=None, ge=1, le=100)  # px; default grows with the frame


class OverlaysSection(StrictModel):
    """Which overlays are drawn on every frame, where, and how large."""

    date: DateOverlay = DateOverlay()
    borders: bool = True
    legend: LegendOverlay = LegendOverlay()
    title: TitleOverlay = TitleOverlay()
    attribution: AttributionOverlay = AttributionOverlay()
    timeline: TimelineOverlay = TimelineOverlay()


#: Named basemaps: ``basemap: osm`` (or ``{preset: osm, opacity: 0.7}``) fills these keys.
BASEMAP_PRESETS: dict[str, dict[str, Any]] = {
    "osm": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attribution": "© OpenStreetMap contributors",
        "max_zoom": 19,
    },
}
#: CRS values that mean Web Mercator, the only projection basemap tiles come in.
_MERCATOR_CRS = frozenset({"auto", "3857", "epsg:3857"})


class BasemapSection(StrictModel):
    """An XYZ tile layer drawn under the data; with it, frames are in Web Mercator (EPSG:3857)."""

    url: str = Field(pattern=r"^https?://")  # XYZ template with {z}, {x} and {y}
    attribution: str = Field(min_length=1)  # drawn on every frame, whatever render.overlays says
    opacity: float = Field(default=1.0, ge=0.0, le=1.0)  # of the data over the basemap
    outside: Literal["show", "hide"] = "show"  # the basemap outside the region
    max_zoom: int = Field(default=19, ge=0, le=24)  # the tile server's deepest zoom level

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"preset": value}
        if isinstance(value, dict) and "preset" in value:
            value = dict(value)
            name = value.pop("preset")
            if name not in BASEMAP_PRESETS:
                raise ValueError(
                    f"unknown basemap preset {name!r} (known: {', '.join(sorted(BASEMAP_PRESETS))}); "
                    "or give `url` (an XYZ template) and `attribution`"
                )
            value = {**BASEMAP_PRESETS[name], **value}
        return value

    @field_validator("url")
    @classmethod
    def _xyz_template(cls, value: str) -> str:
        missing = [part for part in ("{z}", "{x}", "{y}") if part not in value]
        if missing:
            raise ValueError(
                f"the tile URL template lacks {', '.join(missing)}; "
                "write it like https://tile.openstreetmap.org/{z}/{x}/{y}.png"
            )
        return value


def basemap_crs_problem(crs: str, basemap: BasemapSection | None) -> str | None:
    """Why ``crs`` cannot go with ``basemap`` (None when it can): tiles are Web Mercator only."""
    if basemap is None or crs.strip().lower() in _MERCATOR_CRS:
        return None
    return (
        f"render.crs {crs!r} cannot be used with render.basemap: basemap tiles are in Web Mercator, "
        "so frames with a basemap are too; set render.crs to auto (or EPSG:3857) or remove render.basemap"
    )


Cadence = Literal["auto", "none", "daily", "weekly", "monthly", "yearly"]
GapPolicy = Literal["frame", "skip"]
OutputFormat = Literal["gif", "webp", "mp4"]
RendererName = Literal["local", "titiler"]


class WebpSection(StrictModel):
    lossless: bool = True
    quality: int = Field(default=90, ge=0, le=100)


class Mp4Section(StrictModel):
    background: str = Field(default="#ffffff", pattern=r"^#[0-9a-fA-F]{6}$")


def _gif_first(formats: list[str] | None) -> list[str] | None:
    if formats is None:
        return None
    if "gif" not in formats:
        raise ValueError("`gif` must be one of the formats: the gallery shows the GIF (add webp/mp4 next to it)")
    return list(dict.fromkeys(formats))


class RenderOverrides(StrictModel):
    """Per-animation render options; every key is optional and falls back to ``render:``."""

    size: int | None = Field(default=None, ge=16, le=4096)
    crs: str | None = None
    frame_ms: int | None = Field(default=None, ge=10, le=60_000)
    loop: int | None = Field(default=None, ge=0, le=65_535)
    end_pause_ms: int | None = Field(default=None, ge=0, le=60_000)
    date_format: str | None = Field(default=None, min_length=1)
    overlays: OverlaysSection | None = None
    formats: list[OutputFormat] | None = Field(default=None, min_length=1)
    cadence: Cadence | None = None
    gaps: GapPolicy | None = None
    webp: WebpSection | None = None
    mp4: Mp4Section | None = None
    max_bytes: int | None = Field(default=None, ge=1024)
    drop_frames: bool | None = None
    renderer: RendererName | None = None
    basemap: BasemapSection | Literal[False] | None = None  # false: no basemap for this animation

    _formats = field_validator("formats")(_gif_first)
    _text_crs = field_validator("crs", mode="before")(lambda v: str(v) if isinstance(v, int) else v)


class RenderSection(StrictModel):
    """Render defaults for every animation."""

    size: int = Field(default=512, ge=16, le=4096)
    crs: str = "auto"
    frame_ms: int = Field(default=300, ge=10, le=60_000)
    loop: int = Field(default=0, ge=0, le=65_535)
    end_pause_ms: int = Field(default=1000, ge=0, le=60_000)
    date_format: str = Field(default="%Y-%m", min_length=1)
    overlays: OverlaysSection = OverlaysSection()
    formats: list[OutputFormat] = Field(default_factory=lambda: ["gif"], min_length=1)
    cadence: Cadence = "auto"
    gaps: GapPolicy = "frame"
    webp: WebpSection = WebpSection()
    mp4: Mp4Section = Mp4Section()
    max_bytes: int | None = Field(default=None, ge=1024)
    drop_frames: bool = False
    renderer: RendererName = "local"
    basemap: BasemapSection | None = None

    _formats = field_validator("formats")(_gif_first)
    _text_crs = field_validator("crs", mode="before")(lambda v: str(v) if isinstance(v, int) else v)

    @model_validator(mode="after")
    def _basemap_needs_mercator(self) -> RenderSection:
        problem = basemap_crs_problem(self.crs, self.basemap)
        if problem:
            raise ValueError(problem)
        return self

    def merged(self, overrides: RenderOverrides | None) -> RenderSection:
        """These defaults with an animation's overrides on top (nested sections key by key)."""
        if overrides is None:
            return self
        update = _override_fields(self, overrides)
        if update.get("basemap") is False:
            update["basemap"] = None
        return self.model_copy(update=update)


def _override_fields(base: BaseModel, overrides: BaseModel) -> dict[str, Any]:
    update: dict[str, Any] = {}
    for name in overrides.model_fields_set:
        value = getattr(overrides, name)
        if value is None:
            continue
        current = getattr(base, name, None)
        if isinstance(value, BaseModel) and isinstance(current, BaseModel):
            value = current.model_copy(update=_override_fields(current, value))
        update[name] = value
    return update


class AnimationSection(StrictModel):
    id: str | None = Field(default=None, min_length=1)
    collection: str
    region: str
    render: RenderOverrides | None = None


class CacheSection(StrictModel):
    """Where builds keep what they can reuse, and for how long STAC searches are trusted."""

    dir: str = ".cache"
    search_ttl: int = Field(default=0, ge=0)  # seconds; 0 = always search again


class SiteConfig(StrictModel):
    site: SiteSection
    sources: dict[str, SourceSection] = Field(min_length=1)
    collections: list[CollectionSection] = Field(min_length=1)
    regions: list[RegionSection] = Field(min_length=1)
    animations: list[AnimationSection] | None = None
    render: RenderSection = RenderSection()
    cache: CacheSection = CacheSection()


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from (paths in it are relative to ``base_dir``)."""

    model: SiteConfig
    path: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://", "s3://", "file://"))


def resolve_ref(ref: str, base_dir: Path) -> str:
    """A URL stays as it is; a local path is made absolute against the config's folder."""
    if is_url(ref):
        return ref
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def dotted_path(loc: tuple[int | str, ...]) -> str:
    """``("collections", 1, "style", "rescale")`` → ``collections[1].style.rescale``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Field names allowed at the mapping that holds ``loc``'s last key (for 'unknown key' hints)."""
    model: Any = SiteConfig
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            # Dict-valued sections (sources) are keyed by user names: stay on the value model.
            continue
        model = _model_of(field.annotation)
    return sorted(model.model_fields) if model is not None and hasattr(model, "model_fields") else []


def _model_of(annotation: Any) -> Any:
    """Find the pydantic model inside ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(part for part in error["loc"] if not str(part).startswith(("function-", "tagged-union")))
    # pydantic reports union members as extra loc parts (e.g. 'str', 'list[str]'); drop them.
    loc = tuple(part for part in loc if not (isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "dict"})))
    path = dotted_path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc)
        hint = f" (allowed keys here: {', '.join(known)})" if known else ""
        return f"{path}: unknown key{hint}"
    if kind == "missing":
        if loc and isinstance(loc[-1], int):
            return f"{dotted_path(loc[:-1])}: too few values"
        return f"{path}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message} (got {error['input']!r})" if kind != "value_error" else f"{path}: {message}"


def _unique(items: list[Any], what: str, section: str) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for index, item in enumerate(items):
        if item.id in seen:
            problems.append(
                f"{section}[{index}].id: duplicate {what} id {item.id!r} "
                f"(also {section}[{seen[item.id]}]); ids must be unique"
            )
        seen.setdefault(item.id, index)
    return problems


def _cross_check(config: SiteConfig) -> list[str]:
    problems = _unique(config.collections, "collection", "collections")
    problems += _unique(config.regions, "region", "regions")
    source_names = sorted(config.sources)
    for index, collection in enumerate(config.collections):
        if collection.source not in config.sources:
            problems.append(
                f"collections[{index}].source: unknown source {collection.source!r} "
                f"(defined sources: {', '.join(source_names)})"
            )
    for index, animation in enumerate(config.animations or []):
        merged = config.render.merged(animation.render)
        problem = basemap_crs_problem(merged.crs, merged.basemap)
        if problem:
            problems.append(f"animations[{index}].{problem}")
    collection_ids = [collection.id for collection in config.collections]
    region_ids = [region.id for region in config.regions]
    for index, animation in enumerate(config.animations or []):
        if animation.collection not in collection_ids:
            problems.append(
                f"animations[{index}].collection: unknown collection {animation.collection!r} "
                f"(defined under collections: {', '.join(collection_ids)})"
            )
        if animation.region not in region_ids:
            problems.append(
                f"animations[{index}].region: unknown region {animation.region!r} "
                f"(defined under regions: {', '.join(region_ids)})"
            )
    return problems


def parse_config(text: str, path: Path) -> LoadedConfig:
    """Validate YAML text as a site config; ``path`` is used for messages and relative paths."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML error: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with `site`, `sources`, `collections` and `regions` at the top level")
    try:
        model = SiteConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError([f"{path}: {_describe(item)}" for item in error.errors()]) from None
    problems = _cross_check(model)
    if problems:
        raise ConfigError([f"{path}: {problem}" for problem in problems])
    return LoadedConfig(model=model, path=path.resolve())


def load_config(path: Path) -> LoadedConfig:
    """Read and validate ``site_config.yml``; raises ``ConfigError`` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    return parse_config(text, path)
