"""Which item of a time step shows where items overlap: ``collections[].composite``.

Owns the ranking of one step's items. Renderers keep, for each pixel, the first item valid
there, and the page and provenance list a frame's items in the same order, so the rank is the
composite: ``least-cloudy`` (lowest ``eo:cloud_cover`` first), ``newest``, ``oldest`` or
``stac-order`` (the order the catalog or API listed them). Without a setting a step is ranked
``least-cloudy`` when every item in it carries ``eo:cloud_cover``, else ``newest``. Ties go to
the newer item, then to the item id, so a rank never depends on how items were grouped into
steps (``plan.cadence`` does that, this module only orders each step's items).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from generator.core.model import FramePlan, ItemAsset, SourceItem
from generator.core.query import CLOUD_COVER, Composite


@dataclass(frozen=True)
class Listing:
    """What ranking needs to know of an item besides its asset: where the source listed it, and
    its cloud cover (None when the item does not give a number)."""

    position: int
    cloud_cover: float | None = None


def listings(items: Iterable[SourceItem]) -> dict[str, Listing]:
    """Each item's ``Listing`` by id, ``items`` in the order the source listed them (the first
    listing of an id counts)."""
    found: dict[str, Listing] = {}
    for item in items:
        if item.id not in found:
            found[item.id] = Listing(len(found), cloud_cover(item))
    return found


def cloud_cover(item: SourceItem) -> float | None:
    value = item.properties.get(CLOUD_COVER)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return None
    return float(value)


def step_composite(items: Sequence[ItemAsset], composite: Composite | None, known: Mapping[str, Listing]) -> Composite:
    """The composite a step is ranked by: the configured one, else ``least-cloudy`` when every
    item carries a cloud cover, else ``newest``."""
    if composite is not None:
        return composite
    covers = [known[item.item_id].cloud_cover if item.item_id in known else None for item in items]
    return "least-cloudy" if covers and all(cover is not None for cover in covers) else "newest"


def rank_items(
    items: Sequence[ItemAsset], composite: Composite | None, known: Mapping[str, Listing]
) -> tuple[ItemAsset, ...]:
    """One step's items, first-ranked first (the item whose valid pixels show where they overlap).

    ``least-cloudy`` puts items without a cloud cover after those with one. An item missing
    from ``known`` counts as listed last, without a cloud cover.
    """
    mode = step_composite(items, composite, known)
    last = Listing(len(known))

    def newest(item: ItemAsset) -> tuple[float, str]:
        return (-item.datetime.timestamp(), item.item_id)

    def key(item: ItemAsset) -> tuple[object, ...]:
        listing = known.get(item.item_id, last)
        if mode == "stac-order":
            return (listing.position, item.item_id)
        if mode == "oldest":
            return (item.datetime.timestamp(), item.item_id)
        if mode == "least-cloudy":
            cover = listing.cloud_cover
            return (cover is None, cover if cover is not None else 0.0, *newest(item))
        return newest(item)

    return tuple(sorted(items, key=key))


def rank_frames(
    frames: Iterable[FramePlan], composite: Composite | None, known: Mapping[str, Listing]
) -> list[FramePlan]:
    """Every frame with its items ranked (``rank_items``); gap frames unchanged."""
    ranked = []
    for frame in frames:
        if len(frame.items) > 1:
            frame = replace(frame, items=rank_items(frame.items, composite, known))
        ranked.append(frame)
    return ranked
