"""Provenance: the ``provenance.json`` written next to each animation's page.

Owns the document that says exactly what an animation was made from: every frame's date and
STAC item ids, each asset's href (query strings and credentials stripped: signed URLs expire
and must not be published), the render parameters, style, output CRS and the generator's name
and version. Pure and deterministic: same record, same bytes (sorted keys, no timestamps).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from .model import AnimationRecord, FramePlan, ItemAsset, Style
from .pages import iso_utc, label_at, public_href

GENERATOR_NAME = "eo-timelapse-generator"


def style_entry(style: Style | None) -> dict[str, Any] | None:
    if style is None:
        return None
    colormap = style.colormap if isinstance(style.colormap, str) else list(style.colormap)
    low, high = style.rescale
    return {"rescale": [float(low), float(high)], "colormap": colormap, "units": style.units}


def _item_entry(item: ItemAsset) -> dict[str, Any]:
    return {
        "id": item.item_id,
        "datetime": iso_utc(item.datetime),
        "asset_href": public_href(item.href),
        "item_href": public_href(item.item_href),
    }


def _frame_entry(number: int, frame: FramePlan, label: str | None) -> dict[str, Any]:
    return {
        "number": number,
        "datetime": iso_utc(frame.datetime),
        "label": label,
        "kind": frame.kind,
        "items": [_item_entry(item) for item in frame.items],
    }


def provenance_document(record: AnimationRecord, generator_version: str) -> dict[str, Any]:
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
            "region": record.region_id,
            "region_title": record.region_title,
        },
        "generator": {"name": GENERATOR_NAME, "version": generator_version},
        "crs": record.crs,
        "size": {"width": int(record.width), "height": int(record.height)},
        "style": style,
        "render": dict(record.render) if isinstance(record.render, Mapping) else {},
        "notes": list(record.notes),
        "frames": [
            _frame_entry(index + 1, frame, label_at(record.frame_labels, index))
            for index, frame in enumerate(record.frames)
        ],
    }


def provenance_json(record: AnimationRecord, generator_version: str) -> str:
    document = provenance_document(record, generator_version)
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
