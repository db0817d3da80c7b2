"""The rules every source kind's items follow, whatever read them.

Owns which items match a datetime interval and a region: an item's time range overlaps the
interval, and its footprint (else its bbox; neither: any region) meets the region. Sources that
can narrow their reads with these rules (static catalogs, STAC APIs) apply them; the planner
applies them again to whatever a source hands back, so a source kind never changes which items
an animation gets.
"""

from __future__ import annotations

from collections.abc import Iterable

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from generator.core.dates import Interval
from generator.core.model import SourceItem


def filter_items(items: Iterable[SourceItem], interval: Interval | None, region: BaseGeometry) -> list[SourceItem]:
    """Items in the interval whose footprint meets the region (the rule every source applies)."""
    return [item for item in items if in_interval(item, interval) and intersects(item, region)]


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
