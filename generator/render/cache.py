"""The frame cache: data layers (palette indices before overlays) stored by content address.

Owns the cache key — everything that changes a data layer's pixels: each item's asset href
(as ``core.redaction.public_url`` shows it: no signature), its ``updated`` time when the catalog gives one, size
and mtime for local files, the output grid, the region, every field of the resolved style but those marked
layer-neutral (``plan.styles.style_fingerprint``), the number of data levels, the renderer and
the generator's version — and the storage: one lossless PNG per
layer under ``<cache>/frames/``, written atomically so a killed build never leaves a torn entry.
Overlays are drawn after the cache, so changing the time range (timeline, gap frames) or a
label never forces COGs to be read again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from PIL import Image

from generator import __version__
from generator.core.atomic import atomic_stream
from generator.core.canonical import canonical
from generator.core.model import CollectionInfo, FramePlan, Grid, ItemAsset, Style
from generator.core.redaction import public_url
from generator.plan.styles import style_fingerprint
from generator.sources.regions import Region

FORMAT_VERSION = 2  # bump when the layout of cached layers changes


def _local_stamp(href: str) -> list[int] | None:
    path = href.removeprefix("file://")
    if "://" in path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None  # unreadable: the render will say so; never cache on a guess
    return [stat.st_size, stat.st_mtime_ns]


def item_fingerprint(item: ItemAsset) -> dict[str, object]:
    return {
        "href": public_url(item.href),  # the same asset behind a fresh signature
        "updated": item.updated,
        "file": _local_stamp(item.href),
    }


def layer_key(frame: FramePlan, grid: Grid, style: Style, region_digest: str, n_levels: int, renderer: str) -> str:
    """The content address of one frame's data layer."""
    document = {
        "format": FORMAT_VERSION,
        "generator": __version__,
        "renderer": renderer,
        "items": [item_fingerprint(item) for item in frame.items],
        "grid": [grid.crs, list(grid.transform)[:6], grid.width, grid.height],
        "region": region_digest,
        "style": style_fingerprint(style),
        "levels": n_levels,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def animation_fingerprint(
    render: object,
    region: Region,
    style: Style,
    collection: CollectionInfo,
    frames: Sequence[FramePlan],
    renderer: str,
) -> str:
    """Everything an animation's files are made from; equal fingerprints mean equal files.

    The render settings, region (geometries by digest), style and collection go in whole, every
    field of their dataclasses (``core.canonical``), so a field added to any of them is never
    left out; frames by their time, kind and items' fingerprints.
    """
    document = {
        "format": FORMAT_VERSION,
        "generator": __version__,
        "renderer": renderer,
        "render": canonical(render, default=_geometry_digest),
        "region": canonical(region, default=_geometry_digest),
        "style": canonical(style),
        "collection": canonical(collection),
        "frames": [
            [frame.datetime.isoformat(), frame.kind, [item_fingerprint(item) for item in frame.items]]
            for frame in frames
        ],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _geometry_digest(value: object) -> str:
    if isinstance(value, shapely.Geometry):
        return geometry_digest(shapely.to_wkb(value))
    raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def geometry_digest(wkb: bytes) -> str:
    return hashlib.sha256(wkb).hexdigest()[:32]


@dataclass
class FrameCache:
    """Data layers on disk; ``root=None`` disables caching. Counts hits and misses."""

    root: Path | None
    hits: int = field(default=0, init=False)
    misses: int = field(default=0, init=False)

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / "frames" / key[:2] / f"{key}.png"

    def get(self, key: str, shape: tuple[int, int]) -> np.ndarray | None:
        if self.root is None:
            return None
        path = self._path(key)
        try:
            with Image.open(path) as image:
                layer = np.asarray(image, dtype=np.uint8)
        except (OSError, ValueError):
            self.misses += 1
            return None
        if layer.shape != shape:
            self.misses += 1
            return None
        self.hits += 1
        return layer.copy()

    def put(self, key: str, layer: np.ndarray) -> None:
        if self.root is None:
            return
        with atomic_stream(self._path(key)) as stream:
            Image.fromarray(layer, mode="L").save(stream, format="PNG", compress_level=1)
