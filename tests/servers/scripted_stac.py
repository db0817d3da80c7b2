"""A small STAC API on 127.0.0.1, scripted: a landing page, one collection and ``POST /search``.

Built on :class:`tests.servers.faults.FaultServer`, so it records every request and how many
searches it was answering at once. Each search gets every item (the build filters them against
its region and interval, as it does for any API); a test can answer searches its own way
(``answer``) to make a page loop, refuse a search or take its time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tests.servers.faults import FaultServer, Reply, Request

CORE = "https://api.stacspec.org/v1.0.0/core"
ITEM_SEARCH = "https://api.stacspec.org/v1.0.0/item-search"
COLLECTIONS = "https://api.stacspec.org/v1.0.0/collections"


def stac_item(item_id: str, when: str, href: str, bbox: Sequence[float], collection_id: str) -> dict[str, Any]:
    """An item with one COG asset (``data``) over ``bbox``."""
    west, south, east, north = bbox
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection_id,
        "geometry": {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]]},
        "bbox": list(bbox), "properties": {"datetime": when},
        "assets": {"data": {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]}},
        "links": [],
    }


def scripted_api(
    collection_id: str,
    items: list[dict[str, Any]],
    bbox: Sequence[float],
    delay: float = 0.0,
    answer: Callable[[Request, dict[str, Any], str], Reply] | None = None,
) -> FaultServer:
    """Start the API; ``delay`` seconds before each search's answer. ``answer(request, page, url)``
    replaces the default answer (``page``: every item, no next link). Stop it with ``stop()``."""
    server = FaultServer().start()
    url = server.url
    landing = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "scripted", "description": "a scripted STAC API",
        "conformsTo": [CORE, ITEM_SEARCH, COLLECTIONS],
        "links": [
            {"rel": "self", "href": f"{url}/"}, {"rel": "root", "href": f"{url}/"},
            {"rel": "data", "href": f"{url}/collections"},
            {"rel": "search", "href": f"{url}/search", "method": "POST", "type": "application/geo+json"},
        ],
    }
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": collection_id, "description": "scripted", "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}},
        "links": [{"rel": "self", "href": f"{url}/collections/{collection_id}"}],
        "renders": {"data": {"assets": ["data"], "rescale": [[0, 100]], "colormap_name": "viridis"}},
    }

    def search(request: Request) -> Reply:
        page: dict[str, Any] = {"type": "FeatureCollection", "features": items, "links": []}
        return answer(request, page, url) if answer is not None else Reply.json(page, delay=delay)

    server.route("/", lambda _: Reply.json(landing))
    server.route(f"/collections/{collection_id}", lambda _: Reply.json(collection))
    server.route("/search", search)
    return server
