"""An animation's schedule: from the config and its source to the time steps it will show.

Owns querying the source for an animation's items (through the search cache, which keeps them
as JSON records), the style they are drawn with, the cadence (merging items of one period,
adding "no data" gap frames) and the date label of each frame. Reads metadata only — never a
pixel — so `list` and `validate` can use it cheaply.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import shapely
from shapely.geometry.base import BaseGeometry

from generator.core.atomic import write_text_atomic
from generator.core.canonical import canonical_json
from generator.core.dates import Interval, parse_interval
from generator.core.errors import SourceError, SourceUnreachable
from generator.core.model import CollectionInfo, FramePlan, SourceItem, Style
from generator.core.records import decode, encode
from generator.core.specs import RenderSpec, SourceSpec
from generator.plan.animations import AnimationSpec
from generator.plan.cadence import detect_cadence, fill_gaps, merge_same_period
from generator.plan.frames import keep_last, plan_frames
from generator.plan.styles import asset_band_count, render_assets, resolve_style
from generator.sources.items import filter_items
from generator.sources.regions import Region
from generator.sources.registry import Source, open_source

T = TypeVar("T")

#: The layout of a search cache entry; bump when ``SourceItem`` changes incompatibly.
SEARCH_FORMAT = 2


def time_steps(frames: list[FramePlan], time_density: str | None, render: RenderSpec) -> list[FramePlan]:
    """Merge frames of one cadence period and, unless ``gaps: skip``, add "no data" gap frames."""
    cadence = detect_cadence([frame.datetime for frame in frames], time_density=time_density, override=render.cadence)
    merged = merge_same_period(frames, cadence)
    return fill_gaps(merged, cadence) if render.gaps == "frame" else merged


def frame_label(frame: FramePlan, date_format: str) -> str:
    label = frame.datetime.strftime(date_format)
    return f"{label} (no data)" if frame.kind == "gap" else label


@dataclass(frozen=True)
class AnimationPlan:
    """What an animation will show: its collection, style and time steps (no pixels read)."""

    collection: CollectionInfo
    style: Style
    frames: tuple[FramePlan, ...]
    notes: tuple[str, ...] = ()  # what the source warned about (page cap, looping next link)


@dataclass(frozen=True)
class SearchCache:
    """Search results kept for ``cache.search_ttl`` seconds (0: always search again).

    An entry holds the source's ``SourceItem`` records as canonical JSON (``core.records``).
    """

    root: Path | None
    ttl: int
    # Within one build (one SearchCache), a search is made once whatever the TTL: animations of
    # one collection and region (several styles, say) share it.
    done: dict[str, list[SourceItem]] = field(default_factory=dict, repr=False)

    def items(
        self, source: Source, source_config: str, collection_id: str, interval: Interval | None, region: Region
    ) -> list[SourceItem]:
        bounds = None if interval is None else [str(interval.start), str(interval.end)]
        key = hashlib.sha256(
            json.dumps([source_config, collection_id, bounds, shapely.to_wkb(region.geometry).hex()]).encode()
        ).hexdigest()
        if key not in self.done:
            self.done[key] = self._search(key, source, collection_id, interval, region)
        return list(self.done[key])

    def _search(
        self, key: str, source: Source, collection_id: str, interval: Interval | None, region: Region
    ) -> list[SourceItem]:
        if self.root is None or self.ttl <= 0:
            return source.items(collection_id, interval, region.geometry)
        path = self.root / "searches" / f"{key}.json"
        try:
            if time.time() - path.stat().st_mtime < self.ttl:
                entry = json.loads(path.read_text(encoding="utf-8"))
                if entry["format"] == SEARCH_FORMAT:
                    return [decode(SourceItem, item) for item in entry["items"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no usable entry: search
        items = source.items(collection_id, interval, region.geometry)
        entry = {"format": SEARCH_FORMAT, "items": [encode(item, SourceItem) for item in items]}
        write_text_atomic(path, json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        return items


def plan_animation(
    spec: AnimationSpec,
    region: Region,
    source: Source,
    source_spec: SourceSpec,
    searches: SearchCache | None = None,
) -> AnimationPlan:
    """Query the source for an animation's items and turn them into its time steps."""
    collection = source.collection(spec.collection.id)
    interval = parse_interval(spec.collection.datetime) if spec.collection.datetime else None
    source_notes = source.notes
    seen_notes = len(source_notes)
    searches = searches or SearchCache(None, 0)
    source_config = canonical_json(source_spec)
    items = filter_items(searches.items(source, source_config, spec.collection.id, interval, region), interval, region.geometry)
    planned = plan_frames(
        items, spec.collection.asset, render_assets(collection.renders), source_spec, collection.item_asset_bands
    )
    if not planned:
        window = f" within datetime {spec.collection.datetime}" if spec.collection.datetime else ""
        raise SourceError(
            f"collection {spec.collection.id!r} has no items over region {region.id!r}{window}; "
            "check `datetime` and the region"
        )
    # The data asset's bands, as the collection's item_assets (else the first item) describe them.
    band_count = asset_band_count(collection, spec.collection.asset) or len(planned[0].items[0].bands) or None
    resolved = resolve_style(
        collection.id, collection.renders, spec.collection.style, spec.collection.where,
        spec.collection.asset, band_count,
    )
    frames = tuple(keep_last(time_steps(planned, collection.time_density, spec.render), spec.collection.last))
    return AnimationPlan(
        collection=collection, style=resolved.style, frames=frames, notes=tuple(source_notes[seen_notes:])
    )


class BuildSource:
    """A source as one build uses it: once it did not answer, it is not asked again.

    The first ``SourceUnreachable`` (timeout, refused, unknown host, 5xx after retries) is kept;
    every later call fails at once with the same reason, so a source that never answers costs
    one animation's waiting, not every animation's.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.name = source.name
        self.notes = source.notes  # the same list: notes the source adds are seen here
        self.failure: str | None = None

    def collection(self, collection_id: str) -> CollectionInfo:
        return self._ask(lambda: self.source.collection(collection_id))

    def items(self, collection_id: str, interval: Interval | None, region: BaseGeometry) -> list[SourceItem]:
        return self._ask(lambda: self.source.items(collection_id, interval, region))

    def _ask(self, call: Callable[[], T]) -> T:
        if self.failure is not None:
            raise SourceUnreachable(self.failure + SourceUnreachable.REPEATED)
        try:
            return call()
        except SourceUnreachable as error:
            self.failure = str(error)
            raise


def source_opener(sources: Mapping[str, SourceSpec]) -> Callable[[str], Source]:
    """Opens each named source once per build, and remembers a source that did not answer."""
    opened: dict[str, Source] = {}

    def source(name: str) -> Source:
        if name not in opened:
            opened[name] = BuildSource(open_source(sources[name]))
        return opened[name]

    return source
