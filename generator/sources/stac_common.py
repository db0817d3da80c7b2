"""The STAC rules both STAC source kinds share.

Owns: a collection's display info from its JSON document, an item's time step and time range,
and turning a ``pystac.Item`` into our own ``SourceItem`` (absolute asset hrefs, roles, media
types, ``updated`` times). Static catalogs (``catalog``) and STAC APIs (``stac_api``) both use
these, so a source's kind never changes which items an animation gets. Nothing above the sources
stage sees a pystac object.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pystac

from generator.core.dates import as_utc, parse_datetime
from generator.core.errors import SourceError
from generator.core.model import AssetDescription, AssetRef, BandScaling, CollectionInfo, SourceItem
from generator.core.paths import is_remote_href


def collection_info(document: dict[str, Any]) -> CollectionInfo:
    keywords = [str(keyword).lower() for keyword in document.get("keywords") or []]
    providers = tuple(provider for provider in document.get("providers") or [] if isinstance(provider, dict))
    renders = document.get("renders")
    return CollectionInfo(
        id=str(document["id"]),
        title=str(document.get("title") or document["id"]),
        description=str(document.get("description") or ""),
        license=document.get("license"),
        providers=providers,
        renders=renders if isinstance(renders, dict) else {},
        synthetic="synthetic" in keywords,
        doi=_text(document.get("sci:doi")),
        citation=_text(document.get("sci:citation")),
        time_density=_time_density(document.get("dashboard:time_density")),
        item_asset_bands=_item_asset_bands(document.get("item_assets")),
        item_assets=_item_assets(document.get("item_assets")),
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _nodata(value: object) -> float | None:
    # The raster extension writes NaN and infinities as strings.
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "+inf", "-inf"):
        return float(value.strip().lower())
    return _number(value)


def raster_bands(value: object) -> tuple[BandScaling, ...]:
    """A ``raster:bands`` list as read scalings (scale 1, offset 0, no nodata where a band omits them).

    A scale of 0 or a value that is not a number is ignored (the band reads as its raw values).
    """
    if not isinstance(value, list):
        return ()
    bands: list[BandScaling] = []
    for band in value:
        band = band if isinstance(band, dict) else {}
        scale = _number(band.get("scale"))
        offset = _number(band.get("offset"))
        bands.append(
            BandScaling(
                scale=scale if scale else 1.0,
                offset=offset if offset is not None else 0.0,
                nodata=_nodata(band.get("nodata")),
            )
        )
    # Several bands are kept even when plain: how many there are decides true colour vs one band.
    return tuple(bands) if len(bands) > 1 or any(band != BandScaling() for band in bands) else ()


def _item_asset_bands(value: object) -> dict[str, tuple[BandScaling, ...]]:
    if not isinstance(value, dict):
        return {}
    found = {str(key): raster_bands(asset.get("raster:bands")) for key, asset in value.items() if isinstance(asset, dict)}
    return {key: bands for key, bands in found.items() if bands}


def _item_assets(value: object) -> dict[str, AssetDescription]:
    """A collection's ``item_assets`` as descriptions by key (entries that are not objects skipped)."""
    if not isinstance(value, dict):
        return {}
    return {
        str(key): AssetDescription(
            title=_text(asset.get("title")),
            roles=tuple(role for role in _list(asset.get("roles")) if isinstance(role, str)),
            media_type=_text(asset.get("type")),
        )
        for key, asset in value.items()
        if isinstance(asset, dict)
    }


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _time_density(value: object) -> str | None:
    return value if isinstance(value, str) else None


def item_datetime(item: pystac.Item) -> datetime:
    """The item's time step: ``datetime``, else ``start_datetime`` (naive timestamps are UTC)."""
    if item.datetime is not None:
        return as_utc(item.datetime)
    start = item.properties.get("start_datetime")
    if start:
        return parse_datetime(str(start))
    raise SourceError(f"item {item.id!r} has neither `datetime` nor `start_datetime`")


def _item_range(item: pystac.Item) -> tuple[datetime, datetime]:
    start = item.properties.get("start_datetime")
    end = item.properties.get("end_datetime")
    if item.datetime is None and start and end:
        return parse_datetime(str(start)), parse_datetime(str(end))
    moment = item_datetime(item)
    return moment, moment


def _stamp(value: object) -> str | None:
    return str(value) if value else None


def source_item(item: pystac.Item, remote: bool = False) -> SourceItem:
    """Our record of a STAC item; ``remote``: its document was read over the network.

    Asset hrefs are made absolute against the item's own href. An item whose own href is a URL
    counts as remote whatever the source is (a local catalog may link to remote items).
    """
    start, end = _item_range(item)
    self_href = item.get_self_href()
    return SourceItem(
        id=item.id,
        datetime=item_datetime(item),
        start=start,
        end=end,
        assets={
            key: AssetRef(
                href=asset.get_absolute_href() or asset.href,
                roles=tuple(str(role) for role in asset.roles or ()),
                media_type=asset.media_type,
                updated=_stamp(asset.extra_fields.get("updated")),
                bands=raster_bands(asset.extra_fields.get("raster:bands")),
                title=asset.title,
            )
            for key, asset in item.assets.items()
        },
        footprint=dict(item.geometry) if isinstance(item.geometry, dict) and item.geometry else None,
        bbox=tuple(float(value) for value in item.bbox) if item.bbox else None,
        href=self_href,
        updated=_stamp(item.properties.get("updated")),
        remote=remote or (self_href is not None and is_remote_href(self_href)),
        platform=_platform(item.properties),
        properties=dict(item.properties),
    )


def _platform(properties: dict[str, Any]) -> str | None:
    """The item's satellite: ``platform``, else ``constellation``, lower case (None when neither)."""
    for key in ("platform", "constellation"):
        value = properties.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


def source_items(items: Iterable[pystac.Item], remote: bool = False) -> list[SourceItem]:
    return [source_item(item, remote) for item in items]
