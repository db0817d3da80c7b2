"""Acquisitions: the items of one satellite overpass over a region, shown as one time step.

A satellite images a region in one pass as several items (Sentinel-2 tiles seconds apart,
Landsat scenes along one path). This module owns the rule that groups a series' items into
acquisitions before the cadence is detected: items of one **platform** (STAC ``platform``, else
``constellation``; items that name neither count as one platform) taken on one **local solar
day** at the region are one acquisition. The solar day is odc-stac's ``solar_day``: the UTC time
shifted by longitude / 15 hours (4 minutes per degree east), then cut at midnight — so a pass
over the far east of Australia at 23:59 and 00:01 UTC is one day, not two.

The longitude is the region's (a point inside its outline), not each item's: every item of an
animation is shifted alike, so items stamped with one timestamp (tiles of a daily product
dated midnight UTC) always fall on the same day, and the day is the one at the place shown.
Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from shapely.geometry.base import BaseGeometry

from generator.core.dates import as_utc
from generator.core.model import FramePlan, ItemAsset, SourceItem

AcquisitionKey = tuple[str | None, date]

_SECONDS_PER_DEGREE = 240  # the sun crosses 15° of longitude an hour


def solar_day(moment: datetime, longitude: float) -> date:
    """The local solar day of ``moment`` at ``longitude`` (degrees east; west is negative)."""
    return (as_utc(moment) + timedelta(seconds=longitude * _SECONDS_PER_DEGREE)).date()


def region_longitude(region: BaseGeometry) -> float:
    """The longitude the region's solar day is taken at: a point inside its outline.

    A point inside, not the centroid: the centroid of a region split at ±180° lies half a
    world away from it.
    """
    if region.is_empty:
        return 0.0
    return float(region.representative_point().x)


def acquisition_key(platform: str | None, moment: datetime, longitude: float) -> AcquisitionKey:
    """What the items of one acquisition share: (platform, local solar day)."""
    return (platform, solar_day(moment, longitude))


def group_acquisitions(
    frames: Sequence[FramePlan], items: Iterable[SourceItem], longitude: float
) -> list[FramePlan]:
    """``frames`` regrouped so that each acquisition is one frame, in time order.

    A frame's items are assigned by their id to the source items (``items``) for their platform;
    an item not among them counts as one without a platform. An acquisition's frame takes the
    datetime of its earliest item and keeps its items in the order of ``frames`` (time, then id),
    so where tiles overlap the earliest scene's valid pixel wins. Gap frames are kept as they are.
    """
    platforms = {item.id: item.platform for item in items}
    groups: dict[AcquisitionKey, list[ItemAsset]] = {}
    kept: list[FramePlan] = []
    for frame in sorted(frames, key=lambda frame: as_utc(frame.datetime)):
        if not frame.items:
            kept.append(frame)
            continue
        for asset in frame.items:
            key = acquisition_key(platforms.get(asset.item_id), asset.datetime, longitude)
            groups.setdefault(key, []).append(asset)
    kept.extend(
        FramePlan(datetime=min((asset.datetime for asset in assets), key=as_utc), items=tuple(assets))
        for assets in groups.values()
    )
    return sorted(kept, key=lambda frame: as_utc(frame.datetime))
