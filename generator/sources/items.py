"""The rules every source kind's items follow, whatever read them.

Owns which items match a datetime interval, a region and a query: an item's time range overlaps
the interval, its footprint (else its bbox; neither: any region) meets the region, and its
properties meet every condition of ``collections[].query`` (``core.query``). Sources that can
narrow their reads with these rules (static catalogs, STAC APIs) apply them; the planner
applies them again to whatever a source hands back, so a source kind never changes which items
an animation gets (an API that applied the query already gives the same items).
"""

from __future__ import annotations

from collections.abc import Iterable

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from generator.core.dates import Interval
from generator.core.model import SourceItem
from generator.core.query import ItemQuery


def filter_items(
    items: Iterable[SourceItem], interval: Interval | None, region: BaseGeometry, query: ItemQuery | None = None
) -> list[SourceItem]:
    """Items in the interval whose footprint meets the region and whose properties meet ``query``
    (the rule every source applies), in the order given."""
    return [
        item for item in items
        if in_interval(item, interval) and intersects(item, region) and (not query or query.matches(item.properties))
    ]


def in_interval(item: SourceItem, interval: Interval | None) -> bool:
    return interval is None or interval.overlaps(item.start, item.end)


def intersects(item: SourceItem, region: BaseGeometry) -> bool:
    if item.footprint:
        try:
            footprint = shape(item.footprint)
        except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException):
            footprint = None
        if footprint is not None and footprint.is_valid:
            return bool(footprint.intersects(region))
    if item.bbox and len(item.bbox) >= 4:
        west, south, east, north = item.bbox[0], item.bbox[1], item.bbox[-2], item.bbox[-1]
        return bool(box(west, south, east, north).intersects(region))
    return True  # no footprint to judge by: let the reader decide
