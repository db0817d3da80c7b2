"""Test STAC collections and items shaped like NASA VEDA's (see the issue on remote sources).

``veda_like_items`` makes one item per month, alternating the two ways VEDA dates items (only
``start_datetime``/``end_datetime``, or a ``datetime`` too), with a ``cog_default`` data asset and
a ``rendered_preview`` PNG (role ``overview``) that must never be taken as data. Some months get a
second tile beside the first (two items, one frame) and some items lie far from the test region.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

COLLECTION_ID = "no2-monthly-test"
# The test region is the box (0, 40) – (10, 50); the "far" tiles lie in the southern hemisphere.
REGION_BBOX = (0.0, 40.0, 10.0, 50.0)
NEAR_TILE = (-5.0, 35.0, 5.0, 45.0)
EAST_TILE = (5.0, 42.0, 15.0, 52.0)
FAR_TILE = (100.0, -40.0, 110.0, -30.0)


def _polygon(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    west, south, east, north = bbox
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


def month_start(index: int, first_year: int = 2000) -> datetime:
    year, month = divmod(index, 12)
    return datetime(first_year + year, month + 1, 1, tzinfo=UTC)


def _month_end(start: datetime) -> datetime:
    following = month_start((start.year - 2000) * 12 + start.month)  # the next month's first instant
    return following - timedelta(seconds=1)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def veda_like_collection(collection_id: str = COLLECTION_ID) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/render/v1.0.0/schema.json"],
        "id": collection_id,
        "title": "NO₂ (monthly), test copy",
        "description": "Monthly tropospheric NO₂ columns, shaped like VEDA's no2-monthly.",
        "license": "CC0-1.0",
        "providers": [{"name": "Test Agency", "roles": ["producer", "host"], "url": "https://example.org"}],
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [["2000-01-01T00:00:00Z", None]]},
        },
        "links": [],
        "dashboard:time_density": "month",
        "renders": {
            "dashboard": {
                "bidx": [1], "rescale": [[0, 1.5e16]], "colormap_name": "rdbu_r", "resampling": "bilinear",
                "assets": ["cog_default"], "title": "VEDA Dashboard Render Parameters",
            }
        },
        "item_assets": {"cog_default": {"type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data", "layer"]}},
    }


def _item(item_id: str, start: datetime, bbox: tuple[float, float, float, float], with_datetime: bool, collection_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "start_datetime": stamp(start),
        "end_datetime": stamp(_month_end(start)),
        "datetime": stamp(start) if with_datetime else None,
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": collection_id,
        "geometry": _polygon(bbox),
        "bbox": list(bbox),
        "properties": properties,
        "links": [],
        "assets": {
            # The preview comes first, as in VEDA's responses, so key order cannot pick it.
            "rendered_preview": {
                "href": f"https://example.org/preview/{item_id}.png", "type": "image/png",
                "roles": ["overview"], "rel": "preview",
            },
            "cog_default": {
                "href": f"s3://test-bucket/{collection_id}/{item_id}.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data", "layer"],
            },
        },
    }


def veda_like_items(months: int = 240, collection_id: str = COLLECTION_ID) -> list[dict[str, Any]]:
    """``months`` monthly items near the region, plus extra tiles: ≥ ``months`` + months/4 items.

    Every 4th month has a second tile (EAST_TILE) at the same time; every 10th month also has a
    tile far away (FAR_TILE) that a search over the region must not return.
    """
    items = []
    for index in range(months):
        start = month_start(index)
        tag = start.strftime("%Y%m")
        items.append(_item(f"no2-{tag}", start, NEAR_TILE, with_datetime=index % 2 == 0, collection_id=collection_id))
        if index % 4 == 0:
            items.append(_item(f"no2-{tag}-east", start, EAST_TILE, with_datetime=False, collection_id=collection_id))
        if index % 10 == 0:
            items.append(_item(f"no2-{tag}-far", start, FAR_TILE, with_datetime=True, collection_id=collection_id))
    return items


def write_static_catalog(folder: Path, collection: dict[str, Any], items: list[dict[str, Any]]) -> Path:
    """The same collection and items as a static catalog (catalog.json → collection → items)."""
    folder.mkdir(parents=True, exist_ok=True)
    cid = collection["id"]
    catalog = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "test-catalog", "description": "static copy",
        "links": [{"rel": "root", "href": "./catalog.json"}, {"rel": "child", "href": f"./{cid}/collection.json"}],
    }
    (folder / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    links = [{"rel": "root", "href": "../catalog.json"}, {"rel": "parent", "href": "../catalog.json"}]
    links += [{"rel": "item", "href": f"./{item['id']}.json"} for item in items]
    (folder / cid).mkdir(exist_ok=True)
    (folder / cid / "collection.json").write_text(json.dumps({**collection, "links": links}), encoding="utf-8")
    for item in items:
        item_links = [{"rel": "root", "href": "../catalog.json"}, {"rel": "parent", "href": "./collection.json"},
                      {"rel": "collection", "href": "./collection.json"}]
        (folder / cid / f"{item['id']}.json").write_text(json.dumps({**item, "links": item_links}), encoding="utf-8")
    return folder / "catalog.json"
