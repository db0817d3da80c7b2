"""Conversions from the config's pydantic sections to the frozen specs of ``generator.core.specs``.

Owns one function per section: paths resolved against the config's folder, lists made tuples,
the names messages use kept as ``where``. ``plan.site`` and ``plan.animations`` use them; no
other stage sees a config model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.core.canonical import canonical_json
from generator.core.errors import ConfigError
from generator.core.paths import resolve_ref
from generator.core.query import parse_query
from generator.core.specs import (
    AttributionOverlay,
    BasemapSpec,
    BorderLayerSpec,
    CollectionSpec,
    DateOverlay,
    GeoJsonRef,
    HttpSpec,
    LegendOverlay,
    Mp4Spec,
    OverlaysSpec,
    RegionSpec,
    RenderSpec,
    S3Spec,
    ScaleBarOverlay,
    SourceSpec,
    StyleSpec,
    TimelineOverlay,
    TitleOverlay,
    WebpSpec,
)
from generator.sources.registry import source_kind

if TYPE_CHECKING:  # the config models load with a config (pydantic is not needed to import this)
    from generator.config import (
        BasemapSection,
        BorderLayerSection,
        CollectionSection,
        HttpSection,
        LoadedConfig,
        OverlaysSection,
        RegionSection,
        RenderSection,
        SourceSection,
        StyleSection,
    )


def http_spec(section: HttpSection) -> HttpSpec:
    return HttpSpec(
        connect_timeout=section.connect_timeout, read_timeout=section.read_timeout, retries=section.retries,
        retry_after_max=section.retry_after_max, max_per_host=section.max_per_host, max_cog_reads=section.max_cog_reads,
        max_body_bytes=section.max_body_bytes, total_timeout=section.total_timeout,
    )


def source_spec(name: str, section: SourceSection, config: LoadedConfig) -> SourceSpec:
    where = f"{config.path}: sources.{name}"
    return SourceSpec(
        name=name,
        where=where,
        catalog=resolve_ref(section.catalog, config.base_dir) if section.catalog is not None else None,
        api=section.api,
        raster_api=section.raster_api,
        raster_api_max_body_bytes=section.raster_api_max_body_bytes,
        headers=dict(section.headers),
        s3=S3Spec(
            unsigned=section.s3.unsigned, endpoint=section.s3.endpoint, region=section.s3.region,
            requester_pays=section.s3.requester_pays,
        ),
        page_size=section.page_size,
        max_pages=section.max_pages,
        http=http_spec(section.http),
        max_read_pixels=section.max_read_pixels,
        max_read_bytes=section.max_read_bytes,
        allow_local_assets=section.allow_local_assets,
        kind=section.kind or "",
        options=source_options(section, where) if section.kind is not None else None,
        base_dir=config.base_dir if section.kind is not None else None,
        sign=section.sign,
        sign_url=section.sign_url,
    )


def source_options(section: SourceSection, where: str) -> Any:
    """``sources.<name>.options`` validated into the dataclass its kind registered (``ConfigError``)."""
    assert section.kind is not None
    kind = source_kind(section.kind, where)
    given = dict(section.options or {})
    if kind.options is None:
        if given:
            raise ConfigError(f"{where}.options: source kind {kind.name!r} takes no options")
        return None
    known = sorted(item.name for item in dataclasses.fields(kind.options) if item.init)
    problems = [
        f"{where}.options.{key}: unknown key (allowed keys here: {', '.join(known)})" for key in given if key not in known
    ]
    if not problems:
        from pydantic import TypeAdapter, ValidationError

        try:
            return TypeAdapter(kind.options).validate_python(given)
        except ValidationError as error:
            problems = [
                f"{where}.options.{'.'.join(str(part) for part in problem['loc'])}: "
                f"{str(problem['msg']).removeprefix('Value error, ')}"
                for problem in error.errors()
            ]
    raise ConfigError(problems)


def geojson_ref(ref: str | dict[str, Any], base_dir: Path) -> GeoJsonRef:
    if isinstance(ref, dict):
        return GeoJsonRef(inline=ref)
    return GeoJsonRef(written=ref, location=resolve_ref(ref, base_dir))


def border_layer_spec(section: BorderLayerSection, base_dir: Path) -> BorderLayerSpec:
    return BorderLayerSpec(
        geometry=geojson_ref(section.geometry, base_dir), color=section.color, width=section.width,
        halo_color=section.halo_color, halo_width=section.halo_width, attribution=section.attribution,
    )


def region_spec(section: RegionSection, index: int, config: LoadedConfig) -> RegionSpec:
    base_dir = config.base_dir
    borders: GeoJsonRef | tuple[BorderLayerSpec, ...] | None = None
    if isinstance(section.borders, list):
        borders = tuple(border_layer_spec(layer, base_dir) for layer in section.borders)
    elif section.borders is not None:
        borders = geojson_ref(section.borders, base_dir)
    return RegionSpec(
        id=section.id,
        title=section.display_title,
        where=f"{config.path}: regions[{index}]",
        geometry=geojson_ref(section.geometry, base_dir) if section.geometry is not None else None,
        bbox=section.bbox,
        borders=borders,
    )


def style_spec(section: StyleSection) -> StyleSpec:
    colormap = section.colormap if section.colormap is None or isinstance(section.colormap, str) else tuple(section.colormap)
    band_rescale = section.band_rescale
    rgb_bidx = section.bidx if isinstance(section.bidx, tuple) else None
    return StyleSpec(
        rescale=None if band_rescale else section.rescale,  # type: ignore[arg-type]
        colormap=colormap, units=section.units, nodata=section.nodata,
        bidx=None if rgb_bidx else section.bidx,  # type: ignore[arg-type]
        resampling=section.resampling, nodata_color=section.nodata_color,
        scale=section.scale, ticks=tuple(section.ticks) if section.ticks is not None else None,
        band_rescale=band_rescale, rgb_bidx=rgb_bidx, gamma=section.gamma, saturation=section.saturation,
    )


def collection_spec(section: CollectionSection, index: int) -> CollectionSpec:
    return CollectionSpec(
        id=section.id, source=section.source, where=f"collections[{index}]",
        asset=tuple(section.asset) if isinstance(section.asset, list) else section.asset,
        datetime=section.datetime, last=section.last,
        style=style_spec(section.style) if section.style is not None else None,
        min_coverage=section.min_coverage,
        stac_collection=section.stac_collection,
        query=parse_query(section.query, section.id) if section.query else None,
        filter=canonical_json(section.filter) if section.filter is not None else None,
        composite=section.composite,
    )


#: ``overlays.context`` when the config does not say: the geography a basemap would have shown.
DEFAULT_CONTEXT = ("coastline", "countries")


def overlays_spec(section: OverlaysSection, basemap: bool = False) -> OverlaysSpec:
    """The overlays of an animation; ``basemap``: whether it has one (no default context then)."""
    date, legend, title = section.date, section.legend, section.title
    attribution, timeline = section.attribution, section.timeline
    context: tuple[str, ...] = DEFAULT_CONTEXT
    if section.context is not None:
        context = tuple(section.context)
    elif basemap:
        context = ()
    return OverlaysSpec(
        date=DateOverlay(show=date.show, position=date.position, size=date.size),
        borders=section.borders,
        context=context,
        legend=LegendOverlay(
            show=legend.show, position=legend.position, orientation=legend.orientation, length=legend.length,
            size=legend.size,
        ),
        title=TitleOverlay(show=title.show, text=title.text, position=title.position, size=title.size),
        attribution=AttributionOverlay(
            show=attribution.show, text=attribution.text, position=attribution.position, size=attribution.size
        ),
        timeline=TimelineOverlay(show=timeline.show, position=timeline.position, thickness=timeline.thickness),
        scale_bar=ScaleBarOverlay(
            show=section.scale_bar.show, position=section.scale_bar.position, size=section.scale_bar.size
        ),
    )


def basemap_spec(section: BasemapSection) -> BasemapSpec:
    return BasemapSpec(
        url=section.url, attribution=section.attribution, opacity=section.opacity, outside=section.outside,
        max_zoom=section.max_zoom,
    )


def render_spec(section: RenderSection, base_dir: Path | None = None) -> RenderSpec:
    """The effective render settings of an animation (``RenderSection.merged`` already applied);
    ``render.font`` is resolved against ``base_dir`` (the config's folder)."""
    return RenderSpec(
        size=section.size,
        crs=section.crs,
        frame_ms=section.frame_ms,
        loop=section.loop,
        end_pause_ms=section.end_pause_ms,
        date_format=section.date_format,
        overlays=overlays_spec(section.overlays, basemap=section.basemap is not None),
        formats=tuple(section.formats),
        cadence=section.cadence,
        gaps=section.gaps,
        webp=WebpSpec(lossless=section.webp.lossless, quality=section.webp.quality),
        mp4=Mp4Spec(background=section.mp4.background),
        max_bytes=section.max_bytes,
        drop_frames=section.drop_frames,
        renderer=section.renderer,
        basemap=basemap_spec(section.basemap) if section.basemap is not None else None,
        layout=section.layout,
        font=(base_dir or Path()) / section.font if section.font else None,
    )
