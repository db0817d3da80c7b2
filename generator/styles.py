"""Style resolution: the config's ``style:`` over the STAC collection's ``renders`` (VEDA style).

Owns the rules: prefer the render named ``dashboard``, else the first one; ``rescale`` is a list
of ``[min, max]`` per band (we take the band we read); config keys win key by key. A collection
with neither a render nor ``style.rescale`` fails with a message saying what to add.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .config import StyleSection
from .errors import StyleError
from .model import Style

log = logging.getLogger(__name__)

PREFERRED_RENDER = "dashboard"
RESAMPLINGS = {"nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode"}


@dataclass(frozen=True)
class ResolvedStyle:
    """The style to render with, and the asset keys the chosen render names (may be empty)."""

    style: Style
    render_assets: tuple[str, ...] = ()
    render_name: str | None = None


def pick_render(renders: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    usable = [(name, render) for name, render in renders.items() if isinstance(render, dict)]
    for name, render in usable:
        if name == PREFERRED_RENDER:
            return name, render
    return usable[0] if usable else None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _render_rescale(render: dict[str, Any], where: str) -> tuple[float, float] | None:
    rescale = render.get("rescale")
    if rescale is None:
        return None
    pair = _first(rescale) if isinstance(rescale, list) and rescale and isinstance(rescale[0], list) else rescale
    try:
        low, high = (float(value) for value in pair)
    except (TypeError, ValueError):
        raise StyleError(f"{where}: `rescale` {rescale!r} is not [[min, max]]; set style.rescale in the config") from None
    return low, high


def resolve_style(collection_id: str, renders: dict[str, Any], section: StyleSection | None, where: str) -> ResolvedStyle:
    """Merge ``style:`` (``where`` names it in messages) over the collection's renders."""
    picked = pick_render(renders)
    render_name, render = picked if picked else (None, {})
    render_where = f"collection {collection_id!r} renders.{render_name}"
    rescale = _render_rescale(render, render_where) if render else None
    colormap: str | tuple[str, ...] = "viridis"
    if isinstance(render.get("colormap_name"), str):
        colormap = render["colormap_name"]
    elif "colormap" in render:
        log.warning("%s: categorical `colormap` is not supported yet; using viridis", render_where)
    for unsupported in ("expression", "color_formula"):
        if unsupported in render:
            log.warning("%s: `%s` is not supported yet and is ignored", render_where, unsupported)
    bidx = _first(render.get("bidx")) or 1
    nodata = render.get("nodata")
    resampling = render.get("resampling", "nearest")
    if resampling not in RESAMPLINGS:
        log.warning("%s: unknown resampling %r; using nearest", render_where, resampling)
        resampling = "nearest"
    units = None
    if section is not None:
        rescale = section.rescale or rescale
        if section.colormap is not None:
            colormap = section.colormap if isinstance(section.colormap, str) else tuple(section.colormap)
        units = section.units
        nodata = section.nodata if section.nodata is not None else nodata
        bidx = section.bidx or bidx
        resampling = section.resampling or resampling
    if rescale is None:
        raise StyleError(
            f"collection {collection_id!r} has no `renders` with a rescale in its STAC metadata and no "
            f"style.rescale in the config: add `style: {{rescale: [min, max]}}` under {where}"
        )
    try:
        nodata_value = None if nodata is None else float(nodata)
        band = int(bidx)
    except (TypeError, ValueError):
        raise StyleError(f"{render_where}: bad `nodata` {nodata!r} or `bidx` {bidx!r}") from None
    style = Style(
        rescale=rescale,
        colormap=colormap,
        units=units,
        nodata=nodata_value,
        bidx=band,
        resampling=resampling,
    )
    assets = render.get("assets") or []
    return ResolvedStyle(style=style, render_assets=tuple(str(a) for a in assets), render_name=render_name)
