"""An animation's frames from a source's items: which asset is the data, and one frame per time.

Owns the choice of each item's data asset (the configured key, else the asset the collection's
renders name, else role ``data``, else a COG — never a preview picture; three configured keys
give each item three assets for true colour, ``ItemAsset.channels``), merging items that
share a timestamp into one frame, and ``collections[].last``. Works on ``core.model.SourceItem``
records, so every source kind gets the same rules — including that an item read over the
network may only point at remote assets unless its source allows local ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from generator.core.errors import SourceError
from generator.core.model import BandScaling, ChannelAsset, FramePlan, ItemAsset, SourceItem
from generator.core.paths import is_remote_href
from generator.core.redaction import public_url
from generator.core.specs import SourceSpec
from generator.plan.composite import cloud_cover

COG_MEDIA_TYPES = ("image/tiff; application=geotiff; profile=cloud-optimized", "image/vnd.stac.geotiff; cloud-optimized=true")
_COG_TYPES = frozenset(media_type.replace(" ", "") for media_type in COG_MEDIA_TYPES)
# Assets with these roles are pictures of the data (e.g. VEDA's `rendered_preview` PNG), never data.
PREVIEW_ROLES = frozenset({"overview", "thumbnail", "visual"})


def keep_last(frames: list[FramePlan], count: int | None) -> list[FramePlan]:
    """``collections[].last``: the newest ``count`` time steps (frames are in time order)."""
    if count is None or count >= len(frames):
        return list(frames)
    return list(frames[-count:])


def choose_asset_key(item: SourceItem, configured: str | None, preferred: Iterable[str] = ()) -> str:
    """The data asset: the configured key, else the renders' asset, else role "data", else a COG."""
    assets = item.assets
    if configured is not None:
        if configured not in assets:
            raise SourceError(
                f"item {item.id!r} has no asset {configured!r} (its assets: {', '.join(sorted(assets)) or 'none'}); "
                "fix `asset:` for this collection"
            )
        return configured
    for key in preferred:
        if key in assets:
            return key
    data_assets = {key: asset for key, asset in assets.items() if not PREVIEW_ROLES & set(asset.roles)}
    for key, asset in data_assets.items():
        if "data" in asset.roles:
            return key
    for key, asset in data_assets.items():
        if (asset.media_type or "").replace(" ", "") in _COG_TYPES:
            return key
    raise SourceError(
        f"item {item.id!r}: no asset with role 'data' or a COG media type (its assets: "
        f"{', '.join(sorted(assets)) or 'none'}); set `asset:` for this collection"
    )


def check_asset_is_remote(item: SourceItem, key: str, source: SourceSpec) -> None:
    """Refuse a local asset of an item read over the network, unless the source allows them.

    A remote catalog or API pointing at ``file://…`` or a path would make us read — and publish —
    a file of the machine that builds; only http(s) and s3 hrefs are taken from such documents.
    """
    href = item.assets[key].href
    if item.remote and not source.allow_local_assets and not is_remote_href(href):
        raise SourceError(
            f"source {source.name!r}: item {item.id!r} was read over the network but its asset {key!r} "
            f"points at a local file ({public_url(href)}); remote catalogs and APIs may only point at "
            f"http(s) or s3 assets — set `allow_local_assets: true` in {source.where} if this is intended"
        )


def plan_frames(
    items: Iterable[SourceItem],
    asset_key: str | tuple[str, ...] | None,
    preferred_assets: Iterable[str] = (),
    source: SourceSpec | None = None,
    item_asset_bands: Mapping[str, tuple[BandScaling, ...]] | None = None,
) -> list[FramePlan]:
    """Order items by time and merge items with the same timestamp into one frame.

    Within a frame, items keep a stable order (by id) so "first valid pixel wins" is reproducible.
    Items repeated under the same id (e.g. listed twice) are kept once. With ``source``, a data
    asset that breaks its local-asset rule (``check_asset_is_remote``) is a ``SourceError``. An
    asset without ``raster:bands`` takes those of the collection's ``item_assets`` under the same
    key (``item_asset_bands``).
    """
    preferred = tuple(preferred_assets)
    unique: dict[str, SourceItem] = {}
    for item in items:
        unique.setdefault(item.id, item)
    by_time: dict[datetime, list[ItemAsset]] = {}
    for item in sorted(unique.values(), key=lambda it: (it.datetime, it.id)):
        keys = asset_key if isinstance(asset_key, tuple) else (choose_asset_key(item, asset_key, preferred),)
        channels = []
        for key in keys:
            key = choose_asset_key(item, key)
            if source is not None:
                check_asset_is_remote(item, key, source)
            asset = item.assets[key]
            channels.append(ChannelAsset(
                key=key, href=asset.href,
                updated=asset.updated or item.updated,  # when it changes, cached frames are read again
                bands=asset.bands or (item_asset_bands or {}).get(key, ()),
            ))
        first = channels[0]
        by_time.setdefault(item.datetime, []).append(
            ItemAsset(
                item_id=item.id, datetime=item.datetime, href=first.href, item_href=item.href,
                updated=first.updated, bands=first.bands, cloud_cover=cloud_cover(item),
                # three assets (`asset: [red, green, blue]`): a true-colour frame reads each
                channels=tuple(channels) if isinstance(asset_key, tuple) else (),
            )
        )
    return [FramePlan(datetime=moment, items=tuple(assets)) for moment, assets in sorted(by_time.items())]
