"""The ``site_config.yml`` schema (pydantic models) and ``load_config``.

Owns: reading the YAML safely, validating every key (unknown keys are errors), cross-checking
references between sections, and turning every problem into a ``ConfigError`` line that names
the file, the dotted path of the bad value and what to do. Paths stay as written; they are
resolved against the config file's folder by ``resolve_ref``. Only ``generator.plan`` reads
these models: it turns them into the frozen specs of ``generator.core.specs`` for every other
stage. The models are split by section:
``base`` (shared), ``sections`` (site, sources, collections, regions, animations, cache),
``render`` (the render block) and ``loading`` (the whole file).
"""

from __future__ import annotations

from generator.config.base import (
    HEX_COLOR_PATTERN,
    Resampling,
    StrictModel,
    colormap_value_problem,
    is_url,
    rescale_problem,
    resolve_ref,
)
from generator.config.loading import (
    LoadedConfig,
    SiteConfig,
    dotted_path,
    load_config,
    parse_config,
)
from generator.config.render import (
    BASEMAP_PRESETS,
    AttributionOverlay,
    BasemapSection,
    Cadence,
    Corner,
    DateOverlay,
    FontSize,
    GapPolicy,
    LegendOverlay,
    Mp4Section,
    OutputFormat,
    OverlaysSection,
    OverlayToggle,
    RendererName,
    RenderOverrides,
    RenderSection,
    TimelineOverlay,
    TitleOverlay,
    WebpSection,
    basemap_crs_problem,
)
from generator.config.sections import (
    AnimationSection,
    BorderLayerSection,
    CacheSection,
    CollectionSection,
    ExecutorSection,
    HttpSection,
    RegionSection,
    S3Section,
    SiteSection,
    SourceSection,
    StacRender,
    StyleSection,
    merged_style,
)
from generator.core.colors import DEFAULT_BORDER_COLOR, DEFAULT_HALO_COLOR, MAX_BORDER_LAYERS
from generator.core.env import expand_env

__all__ = [
    "AnimationSection",
    "AttributionOverlay",
    "BASEMAP_PRESETS",
    "BasemapSection",
    "BorderLayerSection",
    "CacheSection",
    "ExecutorSection",
    "Cadence",
    "CollectionSection",
    "Corner",
    "DateOverlay",
    "FontSize",
    "GapPolicy",
    "HEX_COLOR_PATTERN",
    "HttpSection",
    "LegendOverlay",
    "LoadedConfig",
    "DEFAULT_BORDER_COLOR",
    "DEFAULT_HALO_COLOR",
    "MAX_BORDER_LAYERS",
    "Mp4Section",
    "OutputFormat",
    "OverlayToggle",
    "OverlaysSection",
    "RegionSection",
    "RenderOverrides",
    "RenderSection",
    "RendererName",
    "Resampling",
    "S3Section",
    "SiteConfig",
    "SiteSection",
    "SourceSection",
    "StacRender",
    "expand_env",
    "StrictModel",
    "StyleSection",
    "TimelineOverlay",
    "TitleOverlay",
    "WebpSection",
    "basemap_crs_problem",
    "colormap_value_problem",
    "dotted_path",
    "is_url",
    "load_config",
    "merged_style",
    "parse_config",
    "rescale_problem",
    "resolve_ref",
]
