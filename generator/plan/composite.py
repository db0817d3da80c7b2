"""Which item of a time step shows where items overlap: ``collections[].composite``.

Owns the ranking of one step's items. Renderers keep, for each pixel, the first item valid
there, and the page and provenance list a frame's items in the same order, so the rank is the
composite: ``least-cloudy`` (lowest ``eo:cloud_cover`` first), ``newest``, ``oldest`` or
``stac-order`` (the order the catalog or API listed them). Without a setting a step is ranked
``least-cloudy`` when every item in it carries ``eo:cloud_cover``, else ``newest``. Equal cloud
covers go to the newer item, equal times to the item id, so a rank never depends on how items
were grouped into steps (``plan.cadence`` does that; this module only orders each step's items).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from generator.core.model import FramePlan, ItemAsset, SourceItem
from generator.core.query import CLOUD_COVER, Composite


def listings(items: Iterable[SourceItem]) -> dict[str, int]:
    """Where the source listed each item, by id (``items`` in the source's order; the first
    listing of an id counts): what ``stac-order`` ranks by."""
    found: dict[str, int] = {}
    for item in items:
        found.setdefault(item.id, len(found))
    return found


def cloud_cover(item: SourceItem) -> float | None:
    """The item's ``eo:cloud_cover`` when it is a number (None otherwise)."""
    value = item.properties.get(CLOUD_COVER)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return None
    return float(value)


def step_composite(items: Sequence[ItemAsset], composite: Composite | None) -> Composite:
    """The composite a step is ranked by: the configured one, else ``least-cloudy`` when every
    item carries a cloud cover, else ``newest``."""
    if composite is not None:
        return composite
    return "least-cloudy" if items and all(item.cloud_cover is not None for item in items) else "newest"


def rank_items(
    items: Sequence[ItemAsset], composite: Composite | None, listed: Mapping[str, int]
) -> tuple[ItemAsset, ...]:
    """One step's items, first-ranked first (the item whose valid pixels show where they overlap).

    ``least-cloudy`` puts items without a cloud cover after those with one; ``stac-order``
    follows ``listed`` (``listings``), where an item missing counts as listed last.
    """
    mode = step_composite(items, composite)

    def newest(item: ItemAsset) -> tuple[float, str]:
        return (-item.datetime.timestamp(), item.item_id)

    def key(item: ItemAsset) -> tuple[object, ...]:
        if mode == "stac-order":
            return (listed.get(item.item_id, len(listed)), item.item_id)
        if mode == "oldest":
            return (item.datetime.timestamp(), item.item_id)
        if mode == "least-cloudy":
            cover = item.cloud_cover
            return (cover is None, cover if cover is not None else 0.0, *newest(item))
        return newest(item)

    return tuple(sorted(items, key=key))


def rank_frames(
    frames: Iterable[FramePlan], composite: Composite | None, listed: Mapping[str, int]
) -> list[FramePlan]:
    """Every frame with its items ranked (``rank_items``); gap frames unchanged."""
    ranked = []
    for frame in frames:
        if len(frame.items) > 1:
            frame = replace(frame, items=rank_items(frame.items, composite, listed))
        ranked.append(frame)
    return ranked
