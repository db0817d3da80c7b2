"""STAC access: collections' metadata and the time-ordered frames of a (collection, region) pair.

Owns every STAC read. A source is a static catalog (read with pystac, over the project's HTTP
session when remote) or a STAC API (``stac_api.StacApiSource``), both behind the ``StacSource``
protocol. Items are filtered by the configured datetime interval and the region with the same
rules for both kinds (``stac_common``), ordered by time, and items sharing a timestamp become one
frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pystac
import requests
from shapely.geometry.base import BaseGeometry

from generator.core.dates import Interval
from generator.core.errors import SourceError
from generator.core.model import CollectionInfo, FramePlan, ItemAsset
from generator.core.redaction import public_url, redact_urls_in_text
from generator.core.specs import SourceSpec
from generator.sources.http import describe_error, make_session, settings_for_source
from generator.sources.stac_api import StacApiSource
from generator.sources.stac_common import StacSource, collection_info, filter_items, item_datetime

log = logging.getLogger(__name__)

COG_MEDIA_TYPES = ("image/tiff; application=geotiff; profile=cloud-optimized", "image/vnd.stac.geotiff; cloud-optimized=true")
# Assets with these roles are pictures of the data (e.g. VEDA's `rendered_preview` PNG), never data.
PREVIEW_ROLES = frozenset({"overview", "thumbnail", "visual"})


@dataclass
class StaticCatalogSource:
    """A static STAC catalog (``catalog.json`` → collections → items), local or over HTTP."""

    name: str
    href: str
    session: requests.Session | None = None  # used for http(s) hrefs; a default session when None
    notes: list[str] = field(default_factory=list)  # a static catalog has nothing to warn about yet
    _catalog: pystac.STACObject | None = field(default=None, init=False, repr=False)
    _collections: dict[str, pystac.Collection] | None = field(default=None, init=False, repr=False)

    def _open(self) -> dict[str, pystac.Collection]:
        if self._collections is None:
            try:
                self._catalog = pystac.read_file(self.href, stac_io=SessionStacIO(self.session or make_session()))
            except FileNotFoundError:
                raise SourceError(f"source {self.name!r}: catalog not found: {public_url(self.href)}") from None
            except Exception as error:  # pystac raises many types for unreadable or invalid JSON
                raise SourceError(f"source {self.name!r}: cannot read STAC catalog {public_url(self.href)}: {redact_urls_in_text(str(error))}") from None
            if isinstance(self._catalog, pystac.Collection):
                self._collections = {self._catalog.id: self._catalog}
            elif isinstance(self._catalog, pystac.Catalog):
                self._collections = {c.id: c for c in self._catalog.get_all_collections()}
            else:
                raise SourceError(f"source {self.name!r}: {public_url(self.href)} is not a STAC catalog or collection")
        return self._collections

    def _get(self, collection_id: str) -> pystac.Collection:
        collections = self._open()
        if collection_id not in collections:
            available = ", ".join(sorted(collections)) or "none"
            raise SourceError(
                f"source {self.name!r}: no collection {collection_id!r} in {self.href} (collections there: {available})"
            )
        return collections[collection_id]

    def collection(self, collection_id: str) -> tuple[CollectionInfo, dict[str, Any]]:
        document = self._get(collection_id).to_dict(include_self_link=False, transform_hrefs=False)
        return collection_info(document), document

    def items(self, collection_id: str, interval: Interval | None, region: BaseGeometry) -> list[pystac.Item]:
        collection = self._get(collection_id)
        try:
            items = list(collection.get_items(recursive=True))
        except Exception as error:
            raise SourceError(f"source {self.name!r}: cannot read the items of {collection_id!r}: {error}") from None
        return filter_items(items, interval, region)


class SessionStacIO(pystac.stac_io.DefaultStacIO):
    """pystac I/O that reads http(s) hrefs through our session (retries, timeouts, User-Agent)."""

    def __init__(self, session: requests.Session) -> None:
        super().__init__()
        self.session = session

    def read_text_from_href(self, href: str) -> str:
        if not href.startswith(("http://", "https://")):
            return super().read_text_from_href(href)
        try:
            response = self.session.get(href)
            response.raise_for_status()
        except requests.RequestException as error:
            raise SourceError(f"cannot read {public_url(href)}: {describe_error(error)}") from None
        return response.text


def open_source(spec: SourceSpec) -> StacSource:
    """The ``StacSource`` for ``sources.<name>``; raises ``ConfigError`` for an unset header variable."""
    settings = settings_for_source(spec)
    session = make_session(settings)
    if spec.catalog is not None:
        return StaticCatalogSource(name=spec.name, href=spec.catalog, session=session)
    assert spec.api is not None
    return StacApiSource(
        name=spec.name, url=spec.api, settings=settings, page_size=spec.page_size,
        max_pages=spec.max_pages, session=session,
    )


def keep_last(frames: list[FramePlan], count: int | None) -> list[FramePlan]:
    """``collections[].last``: the newest ``count`` time steps (frames are in time order)."""
    if count is None or count >= len(frames):
        return list(frames)
    return list(frames[-count:])


def choose_asset_key(item: pystac.Item, configured: str | None, preferred: Iterable[str] = ()) -> str:
    """The data asset: the configured key, else the renders' asset, else role "data", else a COG."""
    assets = item.assets
    if configured is not None:
        if configured not in assets:
            raise SourceError(
                f"item {item.id!r} has no asset {configured!r} (its assets: {', '.join(sorted(assets)) or 'none'}); "
                "fix `asset:` for this collection"
            )
        return configured
    for key in preferred:
        if key in assets:
            return key
    data_assets = {key: asset for key, asset in assets.items() if not PREVIEW_ROLES & set(asset.roles or [])}
    for key, asset in data_assets.items():
        if "data" in (asset.roles or []):
            return key
    for key, asset in data_assets.items():
        if (asset.media_type or "").replace(" ", "") in {t.replace(" ", "") for t in COG_MEDIA_TYPES}:
            return key
    raise SourceError(
        f"item {item.id!r}: no asset with role 'data' or a COG media type (its assets: "
        f"{', '.join(sorted(assets)) or 'none'}); set `asset:` for this collection"
    )


def _updated(item: pystac.Item, asset_key: str) -> str | None:
    """The asset's or item's ``updated`` time: when it changes, cached frames are read again."""
    value = item.assets[asset_key].extra_fields.get("updated") or item.properties.get("updated")
    return str(value) if value else None


def plan_frames(items: Iterable[pystac.Item], asset_key: str | None, preferred_assets: Iterable[str] = ()) -> list[FramePlan]:
    """Order items by time and merge items with the same timestamp into one frame.

    Within a frame, items keep a stable order (by id) so "first valid pixel wins" is reproducible.
    Items repeated under the same id (e.g. listed twice) are kept once.
    """
    preferred = tuple(preferred_assets)
    unique: dict[str, pystac.Item] = {}
    for item in items:
        unique.setdefault(item.id, item)
    by_time: dict[datetime, list[ItemAsset]] = {}
    for item in sorted(unique.values(), key=lambda it: (item_datetime(it), it.id)):
        key = choose_asset_key(item, asset_key, preferred)
        href = item.assets[key].get_absolute_href() or item.assets[key].href
        moment = item_datetime(item)
        by_time.setdefault(moment, []).append(
            ItemAsset(
                item_id=item.id, datetime=moment, href=href, item_href=item.get_self_href(),
                updated=_updated(item, key),
            )
        )
    return [FramePlan(datetime=moment, items=tuple(assets)) for moment, assets in sorted(by_time.items())]
