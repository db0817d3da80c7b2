"""Style resolution: the config's ``style:`` over the STAC collection's chosen render (``renders``).

Owns the rules: ``rescale`` is a list of ``[min, max]`` per band (we take the first); config keys
win key by key. A collection with neither a render nor ``style.rescale`` fails with a message
saying what to add. The render is picked and its values checked in ``renders``; its
``expression`` and ``color_formula`` are read in ``formulas``.

Also owns what real-world renders carry beyond a rescale: a categorical ``colormap`` dict (a
discrete palette, see ``categorical.py``), band selection by ``bidx`` or a rio-tiler
``expression``, and ``color_formula`` (applied exactly where it can be, see ``formulas``).
Multi-band assets: a true-colour style (``TrueColor``) when the config's ``asset`` names three
assets, ``bidx`` names three bands (config or render), or the asset has three or more bands and no
colormap is set; a colormap on a multi-band asset without ``bidx`` is refused (``truecolor_of``).

Also owns which units ``rescale`` is written in (``Style.unscale``): a config ``rescale`` is in
physical units (STAC ``raster:bands`` scale/offset applied first, see ``render.frames.item_style``),
unless ``style.scale: raw``; a render's ``rescale`` is in raw values, as TiTiler reads them,
unless the render sets ``unscale: true``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from generator.core.canonical import canonical
from generator.core.errors import StyleError
from generator.core.model import LAYER_NEUTRAL_KEY, CategoricalScheme, Style, TrueColor
from generator.core.scales import DEFAULT_SCALE, Scale, mapping_scale, style_problem
from generator.core.specs import StyleSpec
from generator.plan.categorical import parse_categorical
from generator.plan.formulas import parse_color_formula, render_expression, rgb_formula
from generator.plan.renders import check_render, pick_render

if TYPE_CHECKING:  # the config models load with the first style resolved
    from generator.config import StacRender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedStyle:
    """The style to render with, and the asset keys the chosen render names (may be empty)."""

    style: Style
    render_assets: tuple[str, ...] = ()
    render_name: str | None = None
    colormap_set: bool = False  # the config or the render names a colormap (else viridis by default)
    rescale_set: bool = True  # the config or the render gives a rescale (else true colour's default)


def resolve_style(
    collection_id: str,
    renders: dict[str, Any],
    section: StyleSpec | None,
    where: str,
    asset: str | tuple[str, ...] | None = None,
    band_count: int | None = None,
) -> ResolvedStyle:
    """Merge ``style:`` (``where`` names it in messages) over the collection's renders.

    ``asset`` is the collection's configured ``asset`` (three keys: true colour) and
    ``band_count`` how many bands its data asset has, when the catalog says (``raster:bands``
    of the collection's ``item_assets`` or of an item): a multi-band asset styled without a
    colormap renders true colour; with a colormap but no ``bidx`` it is an error (see ``truecolor``).
    """
    resolved = _resolve_style(collection_id, renders, section, where)
    rgb = truecolor_of(collection_id, renders, section, where, asset, band_count, resolved)
    if rgb is None:
        if not resolved.rescale_set:
            raise StyleError(
                f"collection {collection_id!r} has no `renders` with a rescale in its STAC metadata and no "
                f"style.rescale in the config: add `style: {{rescale: [min, max]}}` under {where}"
            )
        tuned = section is not None and (section.gamma is not None or section.saturation is not None)
        if tuned and (resolved.colormap_set or resolved.style.band_chosen or (band_count or 3) < 3):
            raise StyleError(
                f"collection {collection_id!r}: style.gamma and style.saturation are for true colour "
                f"(three bands as red, green, blue), not a colormap: drop them (under {where})"
            )
        return resolved
    style = replace(
        resolved.style, truecolor=rgb, rescale=rgb.rescale[0], bidx=rgb.bands[0], band_chosen=True,
        expression=None, color_ops=(), categories=None,
        unscale=resolved.style.unscale if resolved.rescale_set else False,
    )
    return replace(resolved, style=style)


def _resolve_style(collection_id: str, renders: dict[str, Any], section: StyleSpec | None, where: str) -> ResolvedStyle:
    picked = pick_render(renders) if isinstance(renders, dict) else None
    render_name, raw = picked if picked else (None, {})
    render_where = f"collection {collection_id!r} renders.{render_name}"
    from generator.config import StacRender

    render = StacRender()
    if picked is not None:
        render, problems = check_render(collection_id, picked[0], raw, section, where)
        if problems:
            raise StyleError("; ".join(problems))
    rescale = render.rescale
    colormap: str | tuple[str, ...] = "viridis"
    categories: CategoricalScheme | None = None
    if render.colormap_name is not None:
        colormap = render.colormap_name if isinstance(render.colormap_name, str) else tuple(render.colormap_name)
    elif render.colormap is not None:
        categories = parse_categorical(render.colormap, render_where)
    expression = render_expression(raw, render_where) if render.expression is not None else None
    bidx = render.bidx or 1
    band_chosen = render.bidx is not None or expression is not None
    color_ops = parse_color_formula(render.color_formula, render_where) if render.color_formula else ()
    nodata = render.nodata
    resampling: str = render.resampling or "nearest"
    units = nodata_color = None
    # A render's rescale is in the file's raw values, as TiTiler reads them, unless it asks to unscale.
    unscale = bool(render.unscale)
    scale: Scale = DEFAULT_SCALE
    ticks: tuple[float, ...] | None = None
    if section is not None:
        if section.rescale or section.band_rescale:
            unscale = True  # the config's rescale is in the units STAC documents (raster:bands scale/offset)
        scale = mapping_scale(section.scale)
        ticks = section.ticks
        rescale = section.rescale or rescale
        if section.scale == "raw":
            unscale = False
        if section.colormap is not None:
            colormap = section.colormap if isinstance(section.colormap, str) else tuple(section.colormap)
            categories = None  # the config's continuous colormap wins over the render's classes
        units = section.units
        nodata_color = section.nodata_color
        nodata = section.nodata if section.nodata is not None else nodata
        if section.bidx:
            bidx, band_chosen, expression = section.bidx, True, None
        resampling = section.resampling or resampling
    if categories is not None:
        # Classes are labels: averaging them would invent classes, so read them with nearest.
        if resampling != "nearest":
            log.info("%s: categorical data is read with nearest resampling (not %s)", render_where, resampling)
        resampling = "nearest"
        rescale = rescale or categories.value_range
        color_ops = ()
        # The classes are the render's values, as TiTiler reads them: raw unless the render unscales.
        unscale = bool(render.unscale) and (section is None or section.scale != "raw")
    rescale_set = rescale is not None or bool(section is not None and section.band_rescale)
    if rescale is None and maybe_truecolor(render, section):
        rescale = TRUECOLOR_RESCALE  # true colour if the asset has three bands (else refused by truecolor_of)
    if rescale is None:
        raise StyleError(
            f"collection {collection_id!r} has no `renders` with a rescale in its STAC metadata and no "
            f"style.rescale in the config: add `style: {{rescale: [min, max]}}` under {where}"
        )
    if categories is None:
        problem = style_problem(rescale, scale, ticks)
        if problem:
            raise StyleError(f"collection {collection_id!r}: {problem} (under {where})")
    style = Style(
        rescale=rescale,
        colormap=colormap,
        units=units,
        nodata=nodata,
        bidx=bidx,
        resampling=resampling,
        expression=expression,
        color_ops=color_ops,
        categories=categories,
        band_chosen=band_chosen,
        nodata_color=nodata_color,
        unscale=unscale,
        scale=scale,
        ticks=ticks,
    )
    assets = render.assets or []
    colormap_set = (
        render.colormap_name is not None or render.colormap is not None
        or (section is not None and section.colormap is not None)
    )
    return ResolvedStyle(
        style=style, render_assets=tuple(str(a) for a in assets), render_name=render_name,
        colormap_set=colormap_set, rescale_set=rescale_set,
    )


def style_fingerprint(style: Style) -> Any:
    """Everything in a style that changes the values a renderer returns (for frame-cache keys).

    Every field of the resolved style, walked by ``core.canonical``, except those marked
    ``LAYER_NEUTRAL`` (colormap, units, class labels: they change colours, not palette indices).
    """
    return canonical(style, omit=LAYER_NEUTRAL_KEY)


#: The rescale of a true-colour style that gives none: a uint8 image (e.g. a ``visual`` asset) as is.
TRUECOLOR_RESCALE = (0.0, 255.0)


def maybe_truecolor(render: StacRender, section: StyleSpec | None) -> bool:
    """Whether the style may still turn out true colour: no colormap and no single band chosen."""
    if section is not None and (section.band_rescale or section.rgb_bidx):
        return True
    if render.rgb_bidx is not None and not (section is not None and (section.bidx or section.colormap)):
        return True
    configured = section is not None and (section.colormap is not None or section.bidx is not None)
    return not (configured or render.colormap_name is not None or render.colormap is not None
                or render.bidx is not None or render.expression is not None)


def truecolor_of(
    collection_id: str,
    renders: dict[str, Any],
    section: StyleSpec | None,
    where: str,
    asset: str | tuple[str, ...] | None,
    band_count: int | None,
    resolved: ResolvedStyle,
) -> TrueColor | None:
    """The true-colour settings of a style, or None when it maps one band through a colormap.

    True colour: ``asset: [red, green, blue]`` (band 1 of each); ``bidx: [r, g, b]`` in the config
    (or in the render, unless the config picks one band or a colormap); or an asset of three or
    more bands (``band_count``) styled without a colormap or band choice (bands 1, 2, 3). A
    colormap (or no band choice) on an asset of two or more bands is a :class:`StyleError`.
    """
    from generator.config import StacRender

    picked = pick_render(renders) if isinstance(renders, dict) else None
    render = check_render(collection_id, picked[0], picked[1], section, where)[0] if picked else StacRender()
    label = f"asset {asset!r}" if isinstance(asset, str) else "the data asset"
    bands: tuple[int, int, int] | None = None
    assets: tuple[str, ...] = ()
    if isinstance(asset, tuple):
        bands, assets = (1, 1, 1), asset
    elif section is not None and section.rgb_bidx:
        bands = section.rgb_bidx
    elif render.rgb_bidx is not None and maybe_truecolor(render, section):
        bands = render.rgb_bidx
    elif band_count is not None and band_count >= 2 and not resolved.style.band_chosen:
        if resolved.colormap_set or band_count < 3:
            raise StyleError(
                f"collection {collection_id!r}: {label} has {band_count} bands but the style maps one band "
                f"through a colormap: set style.bidx (1 to {band_count}) to pick the band"
                + (", or drop the colormap to render true colour (bands 1, 2, 3 as red, green, blue)"
                   if band_count >= 3 else "")
                + f" (under {where})"
            )
        bands = (1, 2, 3)
    elif section is not None and section.band_rescale:
        bands = (1, 2, 3)  # a rescale per channel asks for true colour
    if bands is None:
        return None
    if band_count is not None and not assets and max(bands) > band_count:
        raise StyleError(
            f"collection {collection_id!r}: true colour reads bands {list(bands)} but {label} has "
            f"{band_count} band(s): give three assets (`asset: [red, green, blue]`) or bands that exist (under {where})"
        )
    if section is not None and section.scale == "log":
        raise StyleError(f"collection {collection_id!r}: true colour is rescaled linearly: drop style.scale: log (under {where})")
    rescale: tuple[tuple[float, float], ...]
    if section is not None and section.band_rescale:
        rescale = section.band_rescale
    elif section is not None and section.rescale:
        rescale = (section.rescale,) * 3
    elif render.rgb_rescale is not None:
        rescale = tuple((float(low), float(high)) for low, high in render.rgb_rescale)
    elif render.rescale is not None:
        rescale = (render.rescale,) * 3
    else:
        rescale = (TRUECOLOR_RESCALE,) * 3
    render_gamma, render_saturation = rgb_formula(render.color_formula, f"collection {collection_id!r} renders.{picked[0]}" if picked else where)
    gamma = section.gamma if section is not None and section.gamma is not None else render_gamma
    saturation = section.saturation if section is not None and section.saturation is not None else render_saturation
    return TrueColor(
        bands=bands, rescale=(rescale[0], rescale[1], rescale[2]), gamma=gamma, saturation=saturation, assets=assets
    )
