"""An animation's schedule: from the config and its STAC source to the time steps it will show.

Owns querying the source for an animation's items, the style they are drawn with, the cadence
(merging items of one period, adding "no data" gap frames) and the date label of each frame.
Reads STAC metadata only — never a pixel — so `list` and `validate` can use it cheaply.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac
import shapely

from generator.core.atomic import write_text_atomic
from generator.core.canonical import canonical_json
from generator.core.dates import Interval, parse_interval
from generator.core.errors import SourceError
from generator.core.model import CollectionInfo, FramePlan, Style
from generator.core.specs import RenderSpec, SourceSpec
from generator.plan.animations import AnimationSpec
from generator.plan.cadence import detect_cadence, fill_gaps, merge_same_period
from generator.plan.styles import resolve_style
from generator.sources.catalog import keep_last, open_source, plan_frames
from generator.sources.regions import Region
from generator.sources.stac_common import StacSource


def time_steps(frames: list[FramePlan], time_density: object, render: RenderSpec) -> list[FramePlan]:
    """Merge frames of one cadence period and, unless ``gaps: skip``, add "no data" gap frames."""
    cadence = detect_cadence(
        [frame.datetime for frame in frames],
        time_density=time_density if isinstance(time_density, str) else None,
        override=render.cadence,
    )
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
    """STAC search results kept for ``cache.search_ttl`` seconds (0: always search again)."""

    root: Path | None
    ttl: int

    def items(
        self, source: StacSource, source_config: str, collection_id: str, interval: Interval | None, region: Region
    ) -> list[pystac.Item]:
        if self.root is None or self.ttl <= 0:
            return source.items(collection_id, interval, region.geometry)
        bounds = None if interval is None else [str(interval.start), str(interval.end)]
        key = hashlib.sha256(
            json.dumps([source_config, collection_id, bounds, shapely.to_wkb(region.geometry).hex()]).encode()
        ).hexdigest()
        path = self.root / "searches" / f"{key}.json"
        try:
            if time.time() - path.stat().st_mtime < self.ttl:
                return [_item_from_cache(document) for document in json.loads(path.read_text(encoding="utf-8"))]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no usable entry: search
        items = source.items(collection_id, interval, region.geometry)
        write_text_atomic(path, json.dumps([_item_for_cache(item) for item in items]))
        return items


def _item_for_cache(item: pystac.Item) -> dict[str, Any]:
    document = item.to_dict(include_self_link=False, transform_hrefs=False)
    for key, asset in item.assets.items():
        document["assets"][key]["href"] = asset.get_absolute_href() or asset.href
    return {"item": document, "self": item.get_self_href()}


def _item_from_cache(entry: dict[str, Any]) -> pystac.Item:
    item = pystac.Item.from_dict(entry["item"], preserve_dict=False)
    if entry.get("self"):
        item.set_self_href(entry["self"])  # asset hrefs were stored absolute, so they stay as they are
    return item


def plan_animation(
    spec: AnimationSpec,
    region: Region,
    source: StacSource,
    source_spec: SourceSpec,
    searches: SearchCache | None = None,
) -> AnimationPlan:
    """Query the STAC source for an animation's items and turn them into its time steps."""
    collection, document = source.collection(spec.collection.id)
    resolved = resolve_style(collection.id, collection.renders, spec.collection.style, spec.collection.where)
    interval = parse_interval(spec.collection.datetime) if spec.collection.datetime else None
    source_notes = source.notes
    seen_notes = len(source_notes)
    searches = searches or SearchCache(None, 0)
    source_config = canonical_json(source_spec)
    items = searches.items(source, source_config, spec.collection.id, interval, region)
    planned = plan_frames(items, spec.collection.asset, resolved.render_assets)
    if not planned:
        window = f" within datetime {spec.collection.datetime}" if spec.collection.datetime else ""
        raise SourceError(
            f"collection {spec.collection.id!r} has no items over region {region.id!r}{window}; "
            "check `datetime` and the region"
        )
    frames = tuple(keep_last(time_steps(planned, document.get("dashboard:time_density"), spec.render), spec.collection.last))
    return AnimationPlan(
        collection=collection, style=resolved.style, frames=frames, notes=tuple(source_notes[seen_notes:])
    )


def source_opener(sources: Mapping[str, SourceSpec]) -> Callable[[str], StacSource]:
    """Opens each named source once per build."""
    opened: dict[str, StacSource] = {}

    def source(name: str) -> StacSource:
        if name not in opened:
            opened[name] = open_source(sources[name])
        return opened[name]

    return source
