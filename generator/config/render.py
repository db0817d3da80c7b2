"""The ``render`` section: frame size and projection, timing, overlays, basemap, formats,
cadence, size budget and renderer — defaults, and per-animation overrides.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PlainValidator, field_validator, model_validator
from pydantic_core import PydanticCustomError

from generator.config.base import StrictModel
from generator.core.specs import Cadence, Corner, GapPolicy, Layout, RendererName

__all__ = [
    "BASEMAP_PRESETS", "AttributionOverlay", "BasemapSection", "Cadence", "ContextLayer", "Corner", "DateOverlay", "FontSize",
    "GapPolicy", "LegendOverlay", "Mp4Section", "OutputFormat", "OverlayToggle", "OverlaysSection", "RenderOverrides",
    "RenderSection", "RendererName", "ScaleBarOverlay", "TimelineOverlay", "TitleOverlay", "WebpSection", "basemap_crs_problem",
]
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


class ScaleBarOverlay(OverlayToggle):
    """Off unless asked for: ``true``, or a mapping (``{position: top-right}`` shows it too)."""

    show: bool = False
    position: Corner = "bottom-left"
    size: int | None = FontSize  # font size of the label in px; default grows with the frame

    @model_validator(mode="before")
    @classmethod
    def _mapping_shows(cls, value: Any) -> Any:
        return {**value, "show": True} if isinstance(value, dict) and value and "show" not in value else value


class TimelineOverlay(OverlayToggle):
    show: bool = False
    position: Literal["top", "bottom"] = "bottom"
    thickness: int | None = Field(default=None, ge=1, le=100)  # px; default grows with the frame


#: A layer of geographic context (Natural Earth, shipped with the package).
ContextLayer = Literal["coastline", "countries"]


class OverlaysSection(StrictModel):
    """Which overlays are drawn on every frame, where, and how large."""

    date: DateOverlay = DateOverlay()
    borders: bool = True
    # None: coastline and countries without a basemap, nothing with one (its tiles show them).
    context: list[ContextLayer] | None = None
    legend: LegendOverlay = LegendOverlay()
    title: TitleOverlay = TitleOverlay()
    attribution: AttributionOverlay = AttributionOverlay()
    timeline: TimelineOverlay = TimelineOverlay()
    scale_bar: ScaleBarOverlay = ScaleBarOverlay(show=False)

    @field_validator("context")
    @classmethod
    def _distinct_layers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))


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


def _known_format(value: Any) -> str:
    """A name of a registered output format (``generator.encode.registry``)."""
    # The encode stage owns the formats; imported here, when a config is read, so that a
    # format registered by a plugin module is accepted too.
    from generator.encode.registry import names

    known = names()
    if isinstance(value, str) and value in known:
        return value
    quoted = [repr(name) for name in known]
    expected = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


#: An output format: the name of a registered encoder ("gif", "webp", "mp4", …).
OutputFormat = Annotated[str, PlainValidator(_known_format)]


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


# The bounds of the render settings an animation may override, written once for both places.
FrameSize = Annotated[int, Field(ge=16, le=4096)]  # px, the longer side
FrameMs = Annotated[int, Field(ge=10, le=60_000)]  # how long each frame shows
EndPauseMs = Annotated[int, Field(ge=0, le=60_000)]  # added to the last frame
LoopCount = Annotated[int, Field(ge=0, le=65_535)]  # 0: forever; GIF and WebP store it in 16 bits
DateFormat = Annotated[str, Field(min_length=1)]
MaxBytes = Annotated[int, Field(ge=1024)]  # the size budget of an animation's files


class RenderOverrides(StrictModel):
    """Per-animation render options; every key is optional and falls back to ``render:``."""

    size: FrameSize | None = None
    crs: str | None = None
    frame_ms: FrameMs | None = None
    loop: LoopCount | None = None
    end_pause_ms: EndPauseMs | None = None
    date_format: DateFormat | None = None
    overlays: OverlaysSection | None = None
    formats: list[OutputFormat] | None = Field(default=None, min_length=1)
    cadence: Cadence | None = None
    gaps: GapPolicy | None = None
    webp: WebpSection | None = None
    mp4: Mp4Section | None = None
    max_bytes: MaxBytes | None = None
    drop_frames: bool | None = None
    renderer: RendererName | None = None
    basemap: BasemapSection | Literal[False] | None = None  # false: no basemap for this animation
    layout: Layout | None = None
    font: str | None = Field(default=None, min_length=1)

    _formats = field_validator("formats")(_gif_first)
    _text_crs = field_validator("crs", mode="before")(lambda v: str(v) if isinstance(v, int) else v)


def _gif_only() -> list[OutputFormat]:
    return ["gif"]


class RenderSection(StrictModel):
    """Render defaults for every animation."""

    size: FrameSize = 512
    crs: str = "auto"
    frame_ms: FrameMs = 300
    loop: LoopCount = 0
    end_pause_ms: EndPauseMs = 1000
    date_format: DateFormat = "%Y-%m"
    overlays: OverlaysSection = OverlaysSection()
    formats: list[OutputFormat] = Field(default_factory=_gif_only, min_length=1)
    cadence: Cadence = "auto"
    gaps: GapPolicy = "frame"
    webp: WebpSection = WebpSection()
    mp4: Mp4Section = Mp4Section()
    max_bytes: MaxBytes | None = None
    drop_frames: bool = False
    renderer: RendererName = "local"
    basemap: BasemapSection | None = None
    layout: Layout = "bands"  # text in bands above and below the map, or `inset` boxes on it
    # A TrueType/OpenType file for every text on the frames (relative to the config); none: DejaVu Sans.
    font: str | None = Field(default=None, min_length=1)

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
