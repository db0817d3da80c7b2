"""An animation's schedule: from the config and its STAC source to the time steps it will show.

Owns querying the source for an animation's items, the style they are drawn with, the cadence
(merging items of one period, adding "no data" gap frames) and the date label of each frame.
Reads STAC metadata only — never a pixel — so `list` and `validate` can use it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .cadence import detect_cadence, fill_gaps, merge_same_period
from .catalog import StacSource, open_source, plan_frames
from .config import LoadedConfig, RenderSection
from .dates import parse_interval
from .errors import SourceError
from .model import CollectionInfo, FramePlan, Style
from .plan import AnimationSpec
from .regions import Region
from .styles import resolve_style


def time_steps(frames: list[FramePlan], time_density: object, render: RenderSection) -> list[FramePlan]:
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


def plan_animation(spec: AnimationSpec, region: Region, source: StacSource, config: LoadedConfig) -> AnimationPlan:
    """Query the STAC source for an animation's items and turn them into its time steps."""
    collection, document = source.collection(spec.collection.id)
    index = [c.id for c in config.model.collections].index(spec.collection.id)
    resolved = resolve_style(collection.id, collection.renders, spec.collection.style, f"collections[{index}]")
    interval = parse_interval(spec.collection.datetime) if spec.collection.datetime else None
    items = source.items(spec.collection.id, interval, region.geometry)
    planned = plan_frames(items, spec.collection.asset, resolved.render_assets)
    if not planned:
        window = f" within datetime {spec.collection.datetime}" if spec.collection.datetime else ""
        raise SourceError(
            f"collection {spec.collection.id!r} has no items over region {region.id!r}{window}; "
            "check `datetime` and the region"
        )
    frames = tuple(time_steps(planned, document.get("dashboard:time_density"), spec.render))
    return AnimationPlan(collection=collection, style=resolved.style, frames=frames)


def source_opener(config: LoadedConfig) -> Callable[[str], StacSource]:
    """Opens each named source once per build."""
    opened: dict[str, StacSource] = {}

    def source(name: str) -> StacSource:
        if name not in opened:
            opened[name] = open_source(name, config.model.sources[name], config)
        return opened[name]

    return source
