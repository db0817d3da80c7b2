"""The STAC rules both STAC source kinds share.

Owns: a collection's display info from its JSON document, an item's time step and time range,
and turning a ``pystac.Item`` into our own ``SourceItem`` (absolute asset hrefs, roles, media
types, ``updated`` times). Static catalogs (``catalog``) and STAC APIs (``stac_api``) both use
these, so a source's kind never changes which items an animation gets. Nothing above the sources
stage sees a pystac object.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pystac

from generator.core.dates import as_utc, parse_datetime
from generator.core.errors import SourceError
from generator.core.model import AssetRef, CollectionInfo, SourceItem
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
    )


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
            )
            for key, asset in item.assets.items()
        },
        footprint=dict(item.geometry) if isinstance(item.geometry, dict) and item.geometry else None,
        bbox=tuple(float(value) for value in item.bbox) if item.bbox else None,
        href=self_href,
        updated=_stamp(item.properties.get("updated")),
        remote=remote or (self_href is not None and is_remote_href(self_href)),
    )


def source_items(items: Iterable[pystac.Item], remote: bool = False) -> list[SourceItem]:
    return [source_item(item, remote) for item in items]
