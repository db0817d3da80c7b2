"""Static STAC catalogs (``sources.<name>.catalog``): the ``catalog`` source kind.

Owns reading a ``catalog.json`` (or a single collection document) with pystac, over the
project's HTTP session when remote (made on the first remote read: a local catalog loads no
HTTP library), and handing its collections' info and items on as our own
records (``stac_common.source_item``), filtered by the configured datetime interval, the
region and ``collections[].query`` with the rules every source follows (``items``), in the
order the catalog links them (``composite: stac-order``). A CQL2 ``filter`` is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pystac
from shapely.geometry.base import BaseGeometry

from generator.core.dates import Interval
from generator.core.errors import SourceError
from generator.core.model import CollectionInfo, SourceItem
from generator.core.paths import is_remote_href
from generator.core.query import ItemSearch
from generator.core.redaction import public_url, redact_urls_in_text
from generator.core.specs import SourceSpec
from generator.core.threads import DaemonThreads
from generator.sources.http_settings import HttpSettings, settings_for_source
from generator.sources.items import filter_items
from generator.sources.registry import register_source
from generator.sources.stac_common import collection_info, source_items

if TYPE_CHECKING:  # requests loads with the first remote read (sources.http)
    import requests

log = logging.getLogger(__name__)

@dataclass
class StaticCatalogSource:
    """A static STAC catalog (``catalog.json`` → collections → items), local or over HTTP."""

    name: str
    href: str
    session: requests.Session | None = None  # used for http(s) hrefs; made from ``settings`` when None
    settings: HttpSettings | None = None  # the source's HTTP settings (defaults when None)
    notes: list[str] = field(default_factory=list)  # warnings for the page (links skipped)
    _catalog: pystac.STACObject | None = field(default=None, init=False, repr=False)
    _collections: dict[str, pystac.Collection] | None = field(default=None, init=False, repr=False)
    _walked: dict[str, tuple[str, ...] | None] = field(default_factory=dict, init=False, repr=False)
    _io: SessionStacIO | None = field(default=None, init=False, repr=False)

    def _open(self) -> dict[str, pystac.Collection]:
        if self._collections is None:
            self._io = SessionStacIO(self._session)
            try:
                self._catalog = pystac.read_file(self.href, stac_io=self._io)
            except FileNotFoundError:
                raise SourceError(f"source {self.name!r}: catalog not found: {public_url(self.href)}") from None
            except Exception as error:  # pystac raises many types for unreadable or invalid JSON
                from generator.sources.http import source_error

                raise source_error(
                    f"source {self.name!r}: cannot read STAC catalog {public_url(self.href)}: {redact_urls_in_text(str(error))}",
                    error,
                ) from None
            if isinstance(self._catalog, pystac.Collection):
                self._collections = {self._catalog.id: self._catalog}
            elif isinstance(self._catalog, pystac.Catalog):
                self._collections = {c.id: c for c in self._catalog.get_all_collections()}
            else:
                raise SourceError(f"source {self.name!r}: {public_url(self.href)} is not a STAC catalog or collection")
        return self._collections

    def _session(self) -> requests.Session:
        """The session for http(s) reads, made on the first one (two threads racing make two: harmless)."""
        if self.session is None:
            from generator.sources.http import make_session

            self.session = make_session(self.settings)
        return self.session

    def _get(self, collection_id: str) -> pystac.Collection:
        collections = self._open()
        if collection_id not in collections:
            available = ", ".join(sorted(collections)) or "none"
            raise SourceError(
                f"source {self.name!r}: no collection {collection_id!r} in {public_url(self.href)} (collections there: {available})"
            )
        return collections[collection_id]

    def collection(self, collection_id: str) -> CollectionInfo:
        document = self._get(collection_id).to_dict(include_self_link=False, transform_hrefs=False)
        return collection_info(document)

    def items(
        self, collection_id: str, interval: Interval | None, region: BaseGeometry, search: ItemSearch | None = None
    ) -> list[SourceItem]:
        if search is not None and search.filter is not None:
            raise SourceError(
                f"source {self.name!r}: collection {collection_id!r} sets `filter` (CQL2), which only a STAC API "
                "declaring the filter extension evaluates; a static catalog takes `query` instead"
            )
        collection = self._get(collection_id)
        catalogs: list[pystac.Catalog] = []
        try:
            items = list(self._walk_items(collection, collection_id, catalogs))
        except SourceError:
            raise
        except Exception as error:
            from generator.sources.http import source_error

            raise source_error(f"source {self.name!r}: cannot read the items of {collection_id!r}: {error}", error) from None
        self._walked[collection_id] = _local_files(collection, catalogs, items)
        query = search.query if search is not None else None
        return filter_items(source_items(items, remote=is_remote_href(self.href)), interval, region, query)

    def local_files(self, collection_id: str) -> tuple[str, ...] | None:
        """The files the last ``items`` of ``collection_id`` read, when all are local: the root,
        the catalogs down to the collection, its children and items. Its items depend on nothing
        else (a new item or child changes the file that links it), so the planner's search cache
        may keep them while these files keep their size and mtime. None for a remote catalog."""
        return self._walked.get(collection_id)

    def _walk_items(
        self, catalog: pystac.Catalog, collection_id: str, catalogs: list[pystac.Catalog]
    ) -> Iterator[pystac.Item]:
        """The items under ``catalog`` (children included), like pystac's ``get_items(recursive=True)``.

        Catalogs in the wild copy API habits: a ``rel: item`` link to an API's ``/items`` endpoint
        (a FeatureCollection), or to something else that is not an Item. Such a link is skipped
        with a warning instead of failing the whole collection. ``catalogs`` gets each catalog walked.
        """
        catalogs.append(catalog)
        links = catalog.get_links(pystac.RelType.ITEM)
        if self._io is not None:
            self._io.fetch_ahead(links, (self.settings or HttpSettings()).max_per_host)
        for link in links:
            target = link.target
            if isinstance(target, pystac.Item):
                yield target
                continue
            href = link.get_absolute_href() or link.href
            if isinstance(href, str) and is_items_endpoint(href):
                self._skip(collection_id, href, "an API `/items` endpoint, not an Item")
                continue
            try:
                resolved = link.resolve_stac_object(root=catalog.get_root()).target
            except pystac.STACError as error:
                # pystac wraps every failure alike: one to read the file stays an error, with the
                # read's own reason (an HTTP status, a timeout: still SourceUnreachable, so the
                # build stops asking), a document that is not a STAC object (a FeatureCollection…)
                # is skipped.
                cause = error.__cause__
                if isinstance(cause, SourceError):
                    raise type(cause)(f"source {self.name!r}: collection {collection_id!r}: {cause}") from None
                if isinstance(cause, OSError):
                    raise
                resolved = None
            if not isinstance(resolved, pystac.Item):
                what = "not a STAC object" if resolved is None else f"a {type(resolved).__name__}"
                self._skip(collection_id, href, f"{what}, not an Item")
                continue
            yield resolved
        for child in catalog.get_children():
            yield from self._walk_items(child, collection_id, catalogs)

    def _skip(self, collection_id: str, href: object, why: str) -> None:
        message = (
            f"source {self.name!r}: collection {collection_id!r} links (rel: item) to "
            f"{public_url(str(href))}, which is {why}; the link is skipped"
        )
        log.warning("%s", message)
        if message not in self.notes:
            self.notes.append(message)


def _local_files(
    collection: pystac.Catalog, catalogs: list[pystac.Catalog], items: list[pystac.Item]
) -> tuple[str, ...] | None:
    """The local files behind a walk (see ``StaticCatalogSource.local_files``); None if any is remote."""
    ancestors: list[pystac.Catalog] = []
    parent = collection.get_parent()
    while parent is not None and parent not in ancestors:
        ancestors.append(parent)
        parent = parent.get_parent()
    files: list[str] = []
    for stac_object in (*ancestors, *catalogs, *items):
        href = stac_object.get_self_href()
        if href is None or ("://" in href and not href.startswith("file://")):
            return None
        files.append(href.removeprefix("file://"))
    return tuple(dict.fromkeys(files))


class SessionStacIO(pystac.stac_io.DefaultStacIO):
    """pystac I/O that reads http(s) hrefs through our session (retries, timeouts, User-Agent),
    asked of ``session`` on the first such read.

    A remote catalog's items are documents of their own, one request each: :meth:`fetch_ahead`
    reads those a catalog links to a few at once before pystac resolves the links one by one,
    so a walk waits on the network about once per ``at_once`` items instead of once per item.
    """

    def __init__(self, session: Callable[[], requests.Session]) -> None:
        super().__init__()
        self.session = session
        # Documents read ahead, by href, until pystac asks for them: the text, or the error the
        # read raised (raised when pystac asks, so a failing read is not waited for twice).
        self.fetched: dict[str, str | SourceError] = {}

    def fetch_ahead(self, links: list[pystac.Link], at_once: int) -> None:
        """Read the remote documents ``links`` point at, up to ``at_once`` at a time (the source's
        per-host bound holds in the session too); not an API's ``/items`` endpoint, which the
        walk skips."""
        hrefs = [
            href for link in links
            if not link.is_resolved() and isinstance(href := link.get_absolute_href(), str)
            and href.startswith(("http://", "https://")) and not is_items_endpoint(href) and href not in self.fetched
        ]
        if len(hrefs) < 2 or at_once < 2:
            return
        with DaemonThreads(min(at_once, len(hrefs)), "catalog") as threads:  # Ctrl-C waits for no read
            self.fetched.update(zip(hrefs, threads.map(self._text_or_error, hrefs), strict=True))

    def read_text_from_href(self, href: str) -> str:
        if not href.startswith(("http://", "https://")):
            return super().read_text_from_href(href)
        fetched = self.fetched.pop(href, None)
        if fetched is None:
            fetched = self._text_or_error(href)
        if isinstance(fetched, SourceError):
            raise fetched
        return fetched

    def _text_or_error(self, href: str) -> str | SourceError:
        import requests

        from generator.sources.http import describe_error, source_error

        try:
            response = self.session().get(href)
            response.raise_for_status()
        except requests.RequestException as error:
            return source_error(f"cannot read {public_url(href)}: {describe_error(error)}", error)
        return response.text


def is_items_endpoint(href: str) -> bool:
    """Whether ``href`` is an API's ``/items`` endpoint (a FeatureCollection), which some static
    catalogs link to as if it were an Item."""
    return urlsplit(href).path.rstrip("/").endswith("/items")


def open_catalog(spec: SourceSpec) -> StaticCatalogSource:
    """The ``catalog`` kind; raises ``ConfigError`` for an unset header variable."""
    assert spec.catalog is not None
    return StaticCatalogSource(name=spec.name, href=spec.catalog, settings=settings_for_source(spec))


register_source("catalog", open_catalog)
