"""The STAC rules every source applies, whatever kind it is.

Owns: the ``StacSource`` protocol the build reads through, a collection's display info from its
JSON document, an item's time step and time range, and which items match a datetime interval
and a region. Static catalogs (``catalog``) and STAC APIs (``stac_api``) both use these, so a
source's kind never changes which items an animation gets.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import pystac
import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from generator.core.dates import Interval, as_utc, parse_datetime
from generator.core.errors import SourceError
from generator.core.model import CollectionInfo


class StacSource(Protocol):
    """What the build needs from a STAC source."""

    name: str
    notes: list[str]  # warnings worth showing next to the result (page cap, looping next link)

    def collection(self, collection_id: str) -> tuple[CollectionInfo, dict[str, Any]]:
        """The collection's display info and its raw JSON document."""
        ...

    def items(self, collection_id: str, interval: Interval | None, region: BaseGeometry) -> list[pystac.Item]:
        """Items of the collection in the interval that intersect the region (any order)."""
        ...


def filter_items(items: Iterable[pystac.Item], interval: Interval | None, region: BaseGeometry) -> list[pystac.Item]:
    """Items in the interval whose footprint meets the region (the rule every source applies)."""
    return [item for item in items if _in_interval(item, interval) and _intersects(item, region)]


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
    )


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


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


def _in_interval(item: pystac.Item, interval: Interval | None) -> bool:
    if interval is None:
        return True
    return interval.overlaps(*_item_range(item))


def _intersects(item: pystac.Item, region: BaseGeometry) -> bool:
    if item.geometry:
        try:
            footprint = shape(item.geometry)
        except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
            footprint = None
        if footprint is not None and footprint.is_valid:
            return footprint.intersects(region)
    if item.bbox and len(item.bbox) >= 4:
        west, south, east, north = item.bbox[0], item.bbox[1], item.bbox[-2], item.bbox[-1]
        return box(west, south, east, north).intersects(region)
    return True  # no footprint to judge by: let the reader decide
