"""Provenance: the ``provenance.json`` written next to each animation's page.

Owns the document that says exactly what an animation was made from: every frame's date and
STAC item ids, each asset's href (query strings and credentials stripped: signed URLs expire
and must not be published), the render parameters, style, output CRS and the generator's name
and version. Pure and deterministic: same record, same bytes (sorted keys, no timestamps).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from generator.core.model import AnimationRecord, FramePlan, ItemAsset, Style
from generator.core.redaction import public_url_or_none
from generator.site.weblinks import iso_utc, label_at

GENERATOR_NAME = "eo-timelapse-generator"


def style_entry(style: Style | None) -> dict[str, Any] | None:
    if style is None:
        return None
    colormap = style.colormap if isinstance(style.colormap, str) else list(style.colormap)
    low, high = style.rescale
    entry: dict[str, Any] = {"rescale": [float(low), float(high)], "scale": style.scale, "colormap": colormap, "units": style.units}
    rgb = style.truecolor
    if rgb is not None:  # true colour: no colormap; the channels, their rescale, gamma and saturation
        entry.update(colormap=None, truecolor={
            "bands": list(rgb.bands), "assets": list(rgb.assets), "rescale": [list(pair) for pair in rgb.rescale],
            "gamma": rgb.gamma, "saturation": rgb.saturation,
        })
    return entry


def published_href(href: str | None, source_root: Path | None) -> str | None:
    """An href as it may be published: URLs without secrets; local files relative to the config.

    A build machine's absolute paths say nothing useful to a reader and leak its layout; a path
    outside the config's folder keeps only its file name.
    """
    if href is None or "://" in href and not href.startswith("file://"):
        return public_url_or_none(href)
    path = PurePath(href.removeprefix("file://"))
    if not path.is_absolute():
        return path.as_posix()
    if source_root is not None and path.is_relative_to(source_root):
        return path.relative_to(source_root).as_posix()
    return path.name


def _item_entry(item: ItemAsset, source_root: Path | None) -> dict[str, Any]:
    return {
        "id": item.item_id,
        "datetime": iso_utc(item.datetime),
        "asset_href": published_href(item.href, source_root),
        "item_href": published_href(item.item_href, source_root),
        **({"eo:cloud_cover": item.cloud_cover} if item.cloud_cover is not None else {}),
    }


def _frame_entry(number: int, frame: FramePlan, label: str | None, source_root: Path | None) -> dict[str, Any]:
    return {
        "number": number,
        "datetime": iso_utc(frame.datetime),
        "label": label,
        "kind": frame.kind,
        "items": [_item_entry(item, source_root) for item in frame.items],
    }


def provenance_document(
    record: AnimationRecord, generator_version: str, source_root: Path | None = None
) -> dict[str, Any]:
    style = style_entry(record.style)
    if style is not None and record.style is not None:
        style.update(nodata=record.style.nodata, bidx=record.style.bidx, resampling=record.style.resampling)
    return {
        "animation": {
            "id": record.id,
            "title": record.title,
            "status": record.status,
            "error": record.error if record.status != "ok" else None,
            "collection": record.collection_id,
            "stac_collection": record.collection.id if record.collection else None,
            "assets": list(record.assets),
            "region": record.region_id,
            "region_title": record.region_title,
            "credits": {what.lower(): credit for what, credit in record.map_credits},
        },
        "generator": {"name": GENERATOR_NAME, "version": generator_version},
        "crs": record.crs,
        "size": {"width": int(record.width), "height": int(record.height)},
        "style": style,
        "render": dict(record.render) if isinstance(record.render, Mapping) else {},
        "notes": list(record.notes),
        "frames": [
            _frame_entry(index + 1, frame, label_at(record.frame_labels, index), source_root)
            for index, frame in enumerate(record.frames)
        ],
    }


def provenance_json(record: AnimationRecord, generator_version: str, source_root: Path | None = None) -> str:
    document = provenance_document(record, generator_version, source_root)
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
