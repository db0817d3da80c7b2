"""A collection's STAC ``renders`` (VEDA style): the one an animation uses, checked before use.

Owns the rules: prefer the render named ``dashboard``, else the first one. The render's values
are checked by the rules of ``style:`` (``config.StacRender``): each bad value is named
(collection, ``renders.<name>.<key>``, the value) unless the config's style replaces it
(``STYLE_KEY_OF``). Also the asset keys the chosen render names, and how many bands the
configured asset has per the collection's ``item_assets``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from generator.core.errors import quote_value
from generator.core.model import CollectionInfo
from generator.core.specs import StyleSpec

if TYPE_CHECKING:  # the config models load with the first render checked
    from generator.config import StacRender

PREFERRED_RENDER = "dashboard"
#: The ``style:`` key that replaces each render key: a bad render value it replaces is no problem.
STYLE_KEY_OF = {
    "rescale": "rescale", "colormap_name": "colormap", "colormap": "colormap", "bidx": "bidx",
    "expression": "bidx", "resampling": "resampling", "nodata": "nodata", "unscale": "scale",
}


def asset_band_count(collection: CollectionInfo, asset: str | tuple[str, ...] | None) -> int | None:
    """How many bands the configured asset has per the collection's ``item_assets`` (None: unknown)."""
    bands = collection.item_asset_bands.get(asset) if isinstance(asset, str) else None
    return len(bands) if bands else None


def render_assets(renders: Any) -> tuple[str, ...]:
    """The asset keys the render an animation would use names (none without renders)."""
    picked = pick_render(renders) if isinstance(renders, dict) else None
    assets = picked[1].get("assets") if picked else None
    return tuple(str(key) for key in assets) if isinstance(assets, list) else ()


def pick_render(renders: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    usable = [(name, render) for name, render in renders.items() if isinstance(render, dict)]
    for name, render in usable:
        if name == PREFERRED_RENDER:
            return name, render
    return usable[0] if usable else None


def check_render(
    collection_id: str, render_name: str, render: dict[str, Any], section: StyleSpec | None, where: str
) -> tuple[StacRender, list[str]]:
    """A render's values checked by the rules of ``style:``, and one line per bad value.

    A bad value of a key the config's ``style:`` replaces is no problem (that is the way to
    work around a broken catalog); such keys are left out of the returned render.
    """
    configured = {name for name, value in asdict(section).items() if value is not None} if section is not None else set()
    replaced = {key for key, style_key in STYLE_KEY_OF.items() if style_key in configured}
    from pydantic import ValidationError

    from generator.config import StacRender

    try:
        return StacRender.model_validate(render), []
    except ValidationError as error:
        details = error.errors()
    problems: list[str] = []
    bad: set[str] = set()
    for detail in details:
        key = str(detail["loc"][0]) if detail["loc"] else ""
        bad.add(key)
        if key in replaced:
            continue
        message = str(detail["msg"]).removeprefix("Value error, ")
        style_key = STYLE_KEY_OF.get(key)
        fix = f" (fix the collection's renders, or set style.{style_key} under {where})" if style_key else ""
        line = f"collection {collection_id!r} renders.{render_name}.{key} {quote_value(render.get(key))}: {message}{fix}"
        if line not in problems:
            problems.append(line)
    usable = StacRender.model_validate({key: value for key, value in render.items() if key not in bad})
    return usable, problems


def render_problems(collection_id: str, renders: Any, section: StyleSpec | None, where: str) -> list[str]:
    """Every problem of the render an animation would use (``validate`` lists them all)."""
    picked = pick_render(renders) if isinstance(renders, dict) else None
    if picked is None:
        return []
    return check_render(collection_id, picked[0], picked[1], section, where)[1]
