"""Which asset of a collection's items an animation reads: chosen by rule, never guessed.

Owns the one function that picks an animation's asset key(s), ``choose_assets``: the configured
``collections[].asset``; else the first asset the collection's STAC ``renders`` names that the
items have; else the single asset with role ``data``; else the single cloud-optimized GeoTIFF.
Preview pictures (roles ``overview``, ``thumbnail``, ``visual``) are never data. Several
candidates are a ``ConfigError`` listing them with their titles, so the user sets ``asset:``
instead of getting whichever came first. The same rules check a collection's ``item_assets``
(``validate --offline``) and an item's assets (``validate``, ``list`` and builds: the first item
found wins over ``item_assets`` when they disagree). No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from generator.core.errors import ConfigError, SourceError

COG_MEDIA_TYPES = (
    "image/tiff; application=geotiff; profile=cloud-optimized",
    "image/vnd.stac.geotiff; cloud-optimized=true",
)
_COG_TYPES = frozenset(media_type.replace(" ", "") for media_type in COG_MEDIA_TYPES)
#: Assets with these roles are pictures of the data (e.g. a ``rendered_preview`` PNG), never data.
PREVIEW_ROLES = frozenset({"overview", "thumbnail", "visual"})


class DescribedAsset(Protocol):
    """What the choice needs of an asset: an item's (``AssetRef``) or ``item_assets``' entry."""

    @property
    def title(self) -> str | None: ...

    @property
    def roles(self) -> tuple[str, ...]: ...

    @property
    def media_type(self) -> str | None: ...


def asset_list(assets: Mapping[str, DescribedAsset], keys: Sequence[str] | None = None) -> str:
    """``key (title), key, …`` for messages: the keys given (default: every asset)."""
    chosen = sorted(assets) if keys is None else list(keys)
    named = [f"{key} ({assets[key].title})" if assets[key].title else key for key in chosen]
    return ", ".join(named) or "none"


def _is_cog(asset: DescribedAsset) -> bool:
    return (asset.media_type or "").replace(" ", "") in _COG_TYPES


def choose_assets(
    configured: str | Sequence[str] | None,
    render_assets: Sequence[str],
    assets: Mapping[str, DescribedAsset],
    *,
    collection: str,
    where: str,
    found_in: str,
) -> tuple[str, ...]:
    """The asset key(s) an animation reads, from ``assets`` (described as ``found_in``, e.g.
    ``item 'X'`` or ``its item_assets``); ``where`` names the config entry (``collections[0]``).

    One key normally; a configured list of keys (true colour) is returned as given once each key
    is known. Raises ``ConfigError`` for an unknown configured key or several candidates, and
    ``SourceError`` when nothing in ``assets`` can be data.
    """
    if configured is not None:
        keys = (configured,) if isinstance(configured, str) else tuple(configured)
        missing = [key for key in keys if key not in assets]
        if missing:
            raise ConfigError(
                f"{where}.asset: collection {collection!r} has no asset "
                f"{', '.join(map(repr, missing))} in {found_in} (its data assets: "
                f"{asset_list(assets, data_candidates(assets) or None)}); set `asset:` to one of them"
            )
        return keys
    for key in render_assets:
        if key in assets:
            return (key,)
    candidates = data_candidates(assets)
    if len(candidates) == 1:
        return (candidates[0],)
    if not candidates:
        raise SourceError(
            f"collection {collection!r}: no asset with role 'data' or a COG media type in {found_in} "
            f"(its assets: {asset_list(assets)}); set `asset:` under {where}"
        )
    raise ConfigError(
        f"{where}: collection {collection!r} has {len(candidates)} data assets in {found_in} and no "
        f"`asset:` says which to show: {asset_list(assets, candidates)}; set `asset:` under {where} "
        "to one of these keys"
    )


def data_candidates(assets: Mapping[str, DescribedAsset]) -> list[str]:
    """The keys that can be an animation's data, in the order given: role ``data`` (never a preview
    picture), else — when no asset has that role — a cloud-optimized GeoTIFF."""
    usable = {key: asset for key, asset in assets.items() if not PREVIEW_ROLES & set(asset.roles)}
    with_role = [key for key, asset in usable.items() if "data" in asset.roles]
    return with_role or [key for key, asset in usable.items() if _is_cog(asset)]


def asset_problem(
    configured: str | Sequence[str] | None,
    render_assets: Sequence[str],
    assets: Mapping[str, DescribedAsset],
    *,
    collection: str,
    where: str,
    found_in: str,
) -> tuple[tuple[str, ...], str | None]:
    """``choose_assets`` for ``validate``: (the chosen keys, or () and the problem's one line)."""
    try:
        return choose_assets(configured, render_assets, assets, collection=collection, where=where, found_in=found_in), None
    except (ConfigError, SourceError) as error:
        return (), str(error)
