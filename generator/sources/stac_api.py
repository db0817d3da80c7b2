"""STAC API sources (``sources.<name>.api``): item search with every page followed, safely.

Owns: opening the API with pystac-client over the project's HTTP session, reading a collection
document, and searching a (collection, region, interval): ``intersects`` with the region (its
convex hull when the outline is large), ``bbox`` when the API rejects ``intersects``, and the
collection's ``/items`` endpoint when the API has no item search. Every ``next`` link is followed
up to ``max_pages``; a next link seen before, or a page that brings no new item, means the server
is looping: we warn, stop and keep what was found. ``collections[].query`` is sent when the
landing page's ``conformsTo`` declares the query extension (its conditions with the operators
every such server takes: ``core.query.PORTABLE_OPERATORS``), a CQL2 ``filter`` when it declares
the filter extension (else the filter is a ``SourceError``). Items are de-duplicated by id, kept
in the order the API listed them, and filtered locally with the same rules as static catalogs
(the query included), so both kinds of source give the same plan.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pystac
import requests
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from generator.core.dates import Interval, iso_z
from generator.core.errors import SourceError
from generator.core.model import CollectionInfo, SourceItem
from generator.core.query import PORTABLE_OPERATORS, ItemSearch
from generator.core.redaction import public_url
from generator.core.specs import SourceSpec
from generator.sources.http import HttpSettings, describe_error, make_session, settings_for_source, source_error
from generator.sources.items import filter_items
from generator.sources.registry import register_source
from generator.sources.stac_common import collection_info, source_item

if TYPE_CHECKING:  # pystac-client is imported when a STAC API is first opened, not with the module
    from pystac_client import Client
    from pystac_client.exceptions import APIError

log = logging.getLogger(__name__)

# Above this many vertices the search sends the region's convex hull instead (a superset: items are
# filtered against the exact outline afterwards), keeping request bodies small for API gateways.
MAX_SEARCH_VERTICES = 200
# Statuses with which an API says it does not understand a parameter (here: `intersects`).
_REJECTED_PARAMETER = {400, 405, 422, 501}
_MESSAGE_CHARS = 300


class SearchRejected(Exception):
    """The API refused the search parameters (so a simpler form may work)."""


@dataclass
class StacApiSource:
    """A STAC API root URL, read with pystac-client through ``make_session(settings)``."""

    name: str
    url: str
    settings: HttpSettings = field(default_factory=HttpSettings)
    page_size: int = 100
    max_pages: int = 100
    session: requests.Session | None = None
    notes: list[str] = field(default_factory=list)  # warnings worth showing next to the result
    _client: Client | None = field(default=None, init=False, repr=False)
    # Searches run side by side (``for_search_beside``): the API is opened once, by the first.
    _opening: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    # --- opening ---------------------------------------------------------------------------

    def client(self) -> Client:
        with self._opening:
            return self._open()

    def for_search_beside(self) -> StacApiSource:
        """This source for one search made while others run: the same client and session (the
        API is opened once, its per-host bound holds), but notes of its own, so that the search
        knows which warnings (a page cap, a looping link) are about its own result."""
        self.client()
        beside = copy.copy(self)
        beside.notes = []
        return beside

    def _open(self) -> Client:
        from pystac_client import Client
        from pystac_client.exceptions import APIError
        from pystac_client.stac_api_io import StacApiIO

        if self._client is None:
            io = StacApiIO(max_retries=None)  # retries, timeouts and limits come from our session
            io.session = self.session or make_session(self.settings)
            try:
                self._client = Client.open(self.url, stac_io=io)
            except APIError as error:
                raise source_error(
                    f"source {self.name!r}: cannot open the STAC API {self._where()}: {_api_message(error)}", error
                ) from None
            except Exception as error:  # invalid JSON or not a STAC catalog at all
                raise source_error(
                    f"source {self.name!r}: {self._where()} is not a readable STAC API ({type(error).__name__}: "
                    f"{_clean(str(error))})", error
                ) from None
        return self._client

    def _where(self) -> str:
        return public_url(self.url)

    # --- Source protocol -------------------------------------------------------------------

    def collection(self, collection_id: str) -> CollectionInfo:
        from pystac_client.exceptions import APIError

        client = self.client()
        try:
            found = client.get_collection(collection_id)
        except APIError as error:
            raise source_error(
                f"source {self.name!r}: cannot read collection {collection_id!r} from {self._where()}: "
                f"{_api_message(error)}", error
            ) from None
        if found is None:
            raise SourceError(
                f"source {self.name!r}: no collection {collection_id!r} at {self._where()}"
                f"{self._available_collections()}; check the collection id"
            )
        document = found.to_dict(include_self_link=False, transform_hrefs=False)
        return collection_info(document)

    def items(
        self, collection_id: str, interval: Interval | None, region: BaseGeometry, search: ItemSearch | None = None
    ) -> list[SourceItem]:
        client = self.client()
        search = search or ItemSearch()
        pages = self._search_pages(client, collection_id, interval, region, search)
        found: dict[str, SourceItem] = {}
        for page in pages:
            for feature in page.get("features") or []:
                item_id = str(feature.get("id"))
                if item_id in found:
                    continue
                try:
                    found[item_id] = source_item(pystac.Item.from_dict(feature, preserve_dict=False), remote=True)
                except SourceError:
                    raise
                except Exception as error:  # one malformed item must not hide the rest
                    log.warning("source %s: skipping unreadable item %s: %s", self.name, item_id, error)
        return filter_items(found.values(), interval, region, search.query)

    # --- searching -------------------------------------------------------------------------

    def _search_pages(
        self, client: Client, collection_id: str, interval: Interval | None, region: BaseGeometry, search: ItemSearch
    ) -> list[dict[str, Any]]:
        from pystac_client.conformance import ConformanceClasses

        datetime = _datetime_parameter(interval)
        item_search = client.conforms_to(ConformanceClasses.ITEM_SEARCH)
        extensions = self._extension_parameters(client, collection_id, search, item_search)
        if not item_search:
            # OGC API Features only: the collection's /items takes bbox and datetime, not intersects.
            return self._collect(self._items_endpoint_pages(client, collection_id, datetime, region), collection_id)
        method = _search_method(client)
        try:
            found = client.search(
                method=method, collections=[collection_id], intersects=_search_geometry(region),
                datetime=datetime, limit=self.page_size, **extensions,
            )
            return self._collect(self._raise_rejected(found.pages_as_dicts()), collection_id)
        except SearchRejected as rejected:
            log.info("source %s: the API rejected `intersects` (%s); searching by bbox", self.name, rejected)
        found = client.search(
            method=method, collections=[collection_id], bbox=_bbox(region), datetime=datetime, limit=self.page_size,
            **extensions,
        )
        return self._collect(found.pages_as_dicts(), collection_id)

    def _extension_parameters(
        self, client: Client, collection_id: str, search: ItemSearch, item_search: bool
    ) -> dict[str, Any]:
        """``query`` and ``filter`` search parameters, each sent only to an API that declares it.

        A query the API does not declare is applied to the items here (``filter_items``), so the
        frames are the same; a CQL2 filter it does not declare is a ``SourceError``.
        """
        from pystac_client.conformance import ConformanceClasses

        parameters: dict[str, Any] = {}
        if search.query:
            portable = search.query.portable()
            if portable and item_search and client.conforms_to(ConformanceClasses.QUERY):
                parameters["query"] = portable.as_json()
            else:
                log.info("source %s: collection %r's query is applied to the items here (the API does not "
                         "declare the query extension, or no condition uses %s)",
                         self.name, collection_id, "/".join(PORTABLE_OPERATORS))
        if search.filter is not None:
            if not (item_search and client.conforms_to(ConformanceClasses.FILTER)):
                raise SourceError(
                    f"source {self.name!r}: collection {collection_id!r} sets `filter` (CQL2), but the STAC API at "
                    f"{self._where()} does not declare item search with the filter extension (conformance class "
                    "https://api.stacspec.org/v1.0.0/item-search#filter); use `query`, which works with any source"
                )
            parameters["filter"] = search.filter_json()
            parameters["filter_lang"] = "cql2-json"
        return parameters

    def _items_endpoint_pages(
        self, client: Client, collection_id: str, datetime: str | None, region: BaseGeometry
    ) -> Iterator[dict[str, Any]]:
        from pystac_client.stac_api_io import StacApiIO

        io = client._stac_io
        assert isinstance(io, StacApiIO)
        url = client._collections_href(collection_id).rstrip("/") + "/items"
        parameters: dict[str, Any] = {"limit": self.page_size, "bbox": ",".join(str(v) for v in _bbox(region))}
        if datetime is not None:
            parameters["datetime"] = datetime
        return io.get_pages(url, "GET", parameters)

    @staticmethod
    def _raise_rejected(pages: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Turn a 4xx on the *first* page into ``SearchRejected`` (later pages fail normally)."""
        from pystac_client.exceptions import APIError

        try:
            first = next(pages, None)
        except APIError as error:
            if getattr(error, "status_code", None) in _REJECTED_PARAMETER:
                raise SearchRejected(f"HTTP {error.status_code}") from None
            raise
        if first is None:
            return
        yield first
        yield from pages

    def _collect(self, pages: Iterator[dict[str, Any]], collection_id: str) -> list[dict[str, Any]]:
        """Every page, up to ``max_pages``, stopping (with a warning) when the server loops."""
        from pystac_client.exceptions import APIError

        collected: list[dict[str, Any]] = []
        seen_links: set[str] = set()
        seen_ids: set[str] = set()
        what = f"source {self.name!r}, collection {collection_id!r}"
        try:
            for page in pages:
                ids = {str(feature.get("id")) for feature in page.get("features") or []}
                if collected and ids and ids <= seen_ids:
                    self._warn(f"{what}: the API sent page {len(collected) + 1} again (a looping `next` link); "
                               f"stopped, keeping the {len(seen_ids)} items found")
                    break
                collected.append(page)
                seen_ids |= ids
                link = _next_link_key(page)
                if link is None:
                    break
                if link in seen_links:
                    self._warn(f"{what}: page {len(collected)} links back to a page already read; "
                               f"stopped, keeping the {len(seen_ids)} items found")
                    break
                seen_links.add(link)
                if len(collected) >= self.max_pages:
                    self._warn(f"{what}: stopped after {self.max_pages} pages ({len(seen_ids)} items) with more "
                               "to come; raise `max_pages` (or narrow `datetime`) to get them all")
                    break
        except APIError as error:
            raise source_error(f"{what}: item search at {self._where()} failed: {_api_message(error)}", error) from None
        except (requests.RequestException, ValueError) as error:
            raise source_error(f"{what}: item search at {self._where()} failed: {_clean(str(error))}", error) from None
        return collected

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        self.notes.append(message)

    def _available_collections(self) -> str:
        """`` (collections there: a, b)`` from the first page of /collections, best effort."""
        try:
            ids = []
            for collection in self.client().get_collections():
                ids.append(collection.id)
                if len(ids) >= 20:
                    break
        except Exception:  # only a hint for the message: never fail because of it
            return ""
        return f" (collections there include: {', '.join(sorted(ids))})" if ids else ""


def open_api(spec: SourceSpec) -> StacApiSource:
    """The ``api`` kind; raises ``ConfigError`` for an unset header variable."""
    assert spec.api is not None
    settings = settings_for_source(spec)
    return StacApiSource(
        name=spec.name, url=spec.api, settings=settings, page_size=spec.page_size,
        max_pages=spec.max_pages, session=make_session(settings),
    )


register_source("api", open_api)


def _search_method(client: Client) -> str:
    """POST when the API offers it (a region's geometry is too big for a query string), else GET."""
    methods = {str(link.extra_fields.get("method") or "GET").upper() for link in client._get_search_links()}
    return "POST" if not methods or "POST" in methods else "GET"


def _search_geometry(region: BaseGeometry) -> dict[str, Any]:
    geometry = region
    if shapely.get_num_coordinates(region) > MAX_SEARCH_VERTICES:
        geometry = region.convex_hull
    return dict(mapping(geometry))


def _bbox(region: BaseGeometry) -> list[float]:
    return [float(value) for value in region.bounds]


def _datetime_parameter(interval: Interval | None) -> str | None:
    if interval is None or (interval.start is None and interval.end is None):
        return None
    start = iso_z(interval.start) if interval.start is not None else ".."
    end = iso_z(interval.end) if interval.end is not None else ".."
    return f"{start}/{end}"


def _next_link_key(page: dict[str, Any]) -> str | None:
    """The page's ``next`` link as a comparable key (href, method and body), or None."""
    for link in page.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return json.dumps([link["href"], link.get("method", "GET"), link.get("body")], sort_keys=True, default=str)
    return None


def _clean(text: str) -> str:
    """A server's message, shortened and without secrets in URLs."""
    text = describe_error(Exception(" ".join(text.split())))
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "…"


def _api_message(error: APIError) -> str:
    status = getattr(error, "status_code", None)
    detail = _clean(str(error)) or "no details"
    return f"HTTP {status}: {detail}" if status else detail
