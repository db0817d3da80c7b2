"""An animation's schedule: from the config and its source to the time steps it will show.

Owns querying the source for an animation's items (through the search cache, which keeps them
as JSON records; ``collections[].query`` and ``filter`` go with the search), the asset read from
them (``plan.assets``, on the first item found), the style they are drawn with, the cadence (merging
items of one acquisition or period, adding "no data" gap frames), the rank of each step's items
(``plan.composite``) and the date label of each frame. Reads metadata only — never a
pixel — so `list` and `validate` can use it cheaply. A search result is planned once per spec
while it stays the same (within a build, and across the builds given one ``core.memo.BuildMemo``
while its cache entry is unchanged); a collection is asked for once per build.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import shapely
from shapely.geometry.base import BaseGeometry

from generator.core.atomic import write_text_atomic
from generator.core.canonical import canonical_json
from generator.core.dates import Interval, parse_interval
from generator.core.errors import ConfigError, SourceError, SourceUnreachable
from generator.core.memo import BoundedMemo
from generator.core.model import CollectionInfo, FramePlan, SourceItem, Style
from generator.core.query import ItemSearch
from generator.core.records import decode, encode
from generator.core.redaction import redact_text
from generator.core.specs import RenderSpec, SourceSpec
from generator.core.threads import DaemonThreads
from generator.plan.acquisitions import group_acquisitions, region_longitude
from generator.plan.animations import AnimationSpec
from generator.plan.assets import choose_assets
from generator.plan.cadence import detect_cadence, fill_gaps, merge_same_period, parse_cadence_setting
from generator.plan.composite import listings, rank_frames
from generator.plan.frames import keep_last, plan_frames
from generator.plan.renders import asset_band_count, render_assets
from generator.plan.styles import resolve_style
from generator.sources.items import filter_items
from generator.sources.regions import Region
from generator.sources.registry import Source, open_source

T = TypeVar("T")

#: The layout of a search cache entry; bump when ``SourceItem`` changes incompatibly.
SEARCH_FORMAT = 5


def time_steps(
    frames: list[FramePlan],
    time_density: str | None,
    render: RenderSpec,
    items: Sequence[SourceItem] = (),
    longitude: float = 0.0,
) -> list[FramePlan]:
    """Group each acquisition's items into one frame (``plan.acquisitions``; not with
    ``cadence: none``), merge frames of one cadence period and, unless ``gaps: skip``, add
    "no data" gap frames. ``items`` give the frames' platforms, ``longitude`` the solar day."""
    if parse_cadence_setting(render.cadence) != "none":
        frames = group_acquisitions(frames, items, longitude)
    cadence = detect_cadence([frame.datetime for frame in frames], time_density=time_density, override=render.cadence)
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
    assets: tuple[str, ...] = ()  # the asset key(s) the frames are read from


@dataclass(frozen=True)
class SearchCache:
    """Search results kept for ``cache.search_ttl`` seconds (0: always search again) — and, for a
    static catalog on disk, for as long as the files its walk read keep their size and mtime.

    An entry holds the source's ``SourceItem`` records as canonical JSON (``core.records``);
    results whose hrefs carry a query string or ``user:password@`` (pre-signed URLs) are not
    kept, so no secret is written to the cache folder (``core.redaction``).

    A build starts the searches of its animations whose source answers over the network ahead,
    a few at once (:meth:`search_ahead`): an animation's plan then takes its search's result, or
    waits for it, instead of searching after the animations before it, one search at a time.
    """

    root: Path | None
    ttl: int
    # Within one build (one SearchCache), a search is made once whatever the TTL: animations of
    # one collection and region (several styles, say, or several entries of one STAC collection
    # through `stac_collection`) share it.
    done: dict[str, _Found] = field(default_factory=dict, repr=False)
    # The files of static catalogs checked this build (size, mtime): one stat per file and build.
    checked: dict[str, tuple[int, int] | None] = field(default_factory=dict, repr=False)
    # Entries read or written by this build and the ones before it given the same memo
    # (``BuildMemo.search_entries``), by path: an entry whose file is as it was is not parsed and
    # decoded again, and keeps what the planner made of it. None: every entry is read from its file.
    entries: BoundedMemo[str, object] | None = field(default=None, repr=False)
    # Searches started ahead and not yet taken by a plan, by key; and those waiting for their turn
    # (at most :data:`AHEAD_RESULTS` results wait for their plans: a gallery of thousands of
    # animations does not hold thousands of search results at once).
    ahead: dict[str, Future[_Found]] = field(default_factory=dict, repr=False)
    queued: OrderedDict[str, Callable[[], Future[_Found]]] = field(default_factory=OrderedDict, repr=False)
    _ahead_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    #: Searches started ahead and not yet taken by their plans, at most.
    AHEAD_RESULTS = 16

    def items(
        self, source: Source, source_config: str, collection_id: str, interval: Interval | None, region: Region,
        search: ItemSearch | None = None,
    ) -> list[SourceItem]:
        return list(self.found(source, source_config, collection_id, interval, region, search).items)

    def found(
        self, source: Source, source_config: str, collection_id: str, interval: Interval | None, region: Region,
        search: ItemSearch | None,
    ) -> _Found:
        """The search's result: made once per build (whatever the TTL), else read from the cache.

        A search started ahead is waited for; if it failed, its error is raised here, as the
        search made now would have.
        """
        key = _search_key(source_config, collection_id, interval, region, search)
        if key not in self.done:
            with self._ahead_lock:
                started = self.ahead.pop(key, None)
                self.queued.pop(key, None)  # not started yet: searched now, here
                self._start_queued()
            if started is not None:
                self.done[key] = started.result()
            else:
                self.done[key] = self._search(key, source, collection_id, interval, region, search)
        return self.done[key]

    def search_ahead(
        self, threads: Executor, source: BuildSource, source_config: str, collection_id: str,
        interval: Interval | None, region: Region, search: ItemSearch | None,
    ) -> None:
        """Start the search :meth:`found` will be asked for on ``threads``, if ``source`` can search
        beside others (``for_search_beside``: a STAC API). The search has a copy of the source
        with notes of its own; they go with its result (``_Found.notes``)."""
        if not source.searches_beside():
            return
        key = _search_key(source_config, collection_id, interval, region, search)

        def start() -> Future[_Found]:
            return threads.submit(self._search_beside, key, source, collection_id, interval, region, search)

        def queue() -> None:
            with self._ahead_lock:
                if key not in self.done and key not in self.ahead and key not in self.queued:
                    self.queued[key] = start
                    self._start_queued()

        source.when_answered(queue)  # a source that does not answer is asked by one animation only

    def _start_queued(self) -> None:
        """Start queued searches while fewer than :data:`AHEAD_RESULTS` wait for their plans
        (``_ahead_lock`` held)."""
        while self.queued and len(self.ahead) < self.AHEAD_RESULTS:
            key, start = self.queued.popitem(last=False)
            if key not in self.done:
                self.ahead[key] = start()

    def _search_beside(
        self, key: str, source: BuildSource, collection_id: str, interval: Interval | None, region: Region,
        search: ItemSearch | None,
    ) -> _Found:
        """One search ahead, on a thread of its own: a failure of the source is the build's (the
        animations after it fail at once), as when the search is made by the plan."""
        def searched() -> _Found:
            beside = source.beside()
            found = self._search(key, beside, collection_id, interval, region, search)
            return replace(found, notes=tuple(beside.notes)) if beside.notes else found

        return source.ask(searched)

    def _search(
        self, key: str, source: Source, collection_id: str, interval: Interval | None, region: Region,
        search: ItemSearch | None,
    ) -> _Found:
        if self.root is None:
            return _Found(search_items(source, collection_id, interval, region.geometry, search))
        path = self.root / "searches" / f"{key}.json"
        try:
            found = path.stat()
            fresh = time.time() - found.st_mtime < self.ttl
            entry = _read_entry(path, found, self.entries)
            if entry.format == SEARCH_FORMAT and (fresh or self._unchanged(entry.files)):
                return entry.found  # with what the planner kept of them, if a build given this memo worked it out
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no usable entry: search
        started, notes = time.time_ns(), len(getattr(source, "notes", ()))
        items = search_items(source, collection_id, interval, region.geometry, search)
        # A result that warned about something is searched again, so that its notes are seen again.
        unwarned = len(getattr(source, "notes", ())) == notes
        files = _file_states(source, collection_id, started) if unwarned else None
        if self.ttl <= 0 and files is None:
            return _Found(items)
        document: dict[str, object] = {"format": SEARCH_FORMAT, "items": [encode(item, SourceItem) for item in items]}
        if files is not None:
            document["files"] = files
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        result = _Found(items)
        if redact_text(text) == text:  # hrefs with a signature or a password are never cached
            write_text_atomic(path, text)
            self._remember(path, files, result)  # the next build given this memo reads it as it is
        return result

    def _remember(self, path: Path, files: object, found: _Found) -> None:
        if self.entries is None:
            return
        try:
            state = _file_state(path.stat())
        except OSError:
            return
        self.entries.put(str(path), _Entry(SEARCH_FORMAT, files, found, state))

    def _unchanged(self, files: object) -> bool:
        """Whether every file of a kept walk still has its size and mtime (a static catalog's result
        depends on nothing else: a new item or child changes the file that links it)."""
        if not isinstance(files, list) or not files:
            return False
        for name, size, mtime_ns in files:
            if name not in self.checked:
                self.checked[name] = _state(name)
            if self.checked[name] != (size, mtime_ns):
                return False
        return True


@dataclass
class _Found:
    """A search's items and what the planner made of them (``plan_animation``), worked out once for
    as long as the result is the same: while a build runs, and — for a kept entry read again as it
    was — in the later builds given the same memo."""

    items: list[SourceItem]
    kept: list[SourceItem] | None = None  # ``filter_items`` of them: a function of the search's key
    # (spec, collection, plan) of the animations planned from these items. The items' search key
    # holds the source's config, the collection, the interval and the region's outline; the plan is
    # a function of those, the spec and what the source said of the collection.
    plans: list[tuple[AnimationSpec, CollectionInfo, AnimationPlan]] = field(default_factory=list)
    # What the source warned about while making this result, when it was searched ahead (beside
    # other searches: ``SearchCache.search_ahead``). A search made by the plan itself leaves its
    # notes on the source, where the plan finds them.
    notes: tuple[str, ...] = ()

    PLANS_KEPT = 8

    def matching(self, interval: Interval | None, region: Region, search: ItemSearch | None) -> list[SourceItem]:
        """The items the planner keeps: those in the interval, over the region, meeting the query."""
        if self.kept is None:
            self.kept = filter_items(self.items, interval, region.geometry, search.query if search else None)
        return list(self.kept)

    def plan(self, spec: AnimationSpec, collection: CollectionInfo) -> AnimationPlan | None:
        return next((plan for known, info, plan in self.plans if known == spec and info == collection), None)

    def keep(self, spec: AnimationSpec, collection: CollectionInfo, plan: AnimationPlan) -> None:
        if len(self.plans) >= self.PLANS_KEPT:
            del self.plans[0]
        self.plans.append((spec, collection, plan))


@dataclass(frozen=True)
class _Entry:
    """A search cache entry as read from its file, with the (size, mtime, inode) of that file.

    Each write of an entry replaces its file (``write_text_atomic``: a new inode), so a kept entry
    whose file no longer has its ``state`` was changed: it is read again.
    """

    format: object
    files: object
    found: _Found
    state: tuple[int, int, int]


def _file_state(found: os.stat_result) -> tuple[int, int, int]:
    return (found.st_size, found.st_mtime_ns, found.st_ino)


def _search_key(
    source_config: str, collection_id: str, interval: Interval | None, region: Region, search: ItemSearch | None
) -> str:
    bounds = None if interval is None else [str(interval.start), str(interval.end)]
    parts: list[object] = [source_config, collection_id, bounds, shapely.to_wkb(region.geometry).hex()]
    if search:
        parts.append(canonical_json(search))  # keys of searches without query or filter stay as they were
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _read_entry(path: Path, found: os.stat_result, entries: BoundedMemo[str, object] | None) -> _Entry:
    state = _file_state(found)
    known = entries.get(str(path)) if entries is not None else None
    if isinstance(known, _Entry) and known.state == state:
        return known
    document = json.loads(path.read_text(encoding="utf-8"))
    items = [decode(SourceItem, item) for item in document["items"]] if document["format"] == SEARCH_FORMAT else []
    entry = _Entry(document["format"], document.get("files"), _Found(items), state)
    if entries is not None:
        entries.put(str(path), entry)
    return entry


#: A file changed this recently (nanoseconds) may change again within its mtime's granularity
#: without the mtime moving, so a walk that read one is not kept.
RACY_NS = 2_000_000_000


def _state(name: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(name)
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)


def _file_states(source: Source, collection_id: str, started: int) -> list[list[object]] | None:
    """``[path, size, mtime_ns]`` of every local file the search read (``Source.local_files``), or
    None: a source that does not name them, or a file changed while (or just before) it was read."""
    local_files = getattr(source, "local_files", None)
    paths = local_files(collection_id) if local_files is not None else None
    if not paths:
        return None
    states: list[list[object]] = []
    for name in paths:
        try:
            stat = os.stat(name)
        except OSError:
            return None
        if stat.st_mtime_ns >= started - RACY_NS:
            return None
        states.append([name, stat.st_size, stat.st_mtime_ns])
    return states


def plan_animation(
    spec: AnimationSpec,
    region: Region,
    source: Source,
    source_spec: SourceSpec,
    searches: SearchCache | None = None,
) -> AnimationPlan:
    """Query the source for an animation's items and turn them into its time steps."""
    collection = source.collection(spec.collection.stac_id)
    interval = parse_interval(spec.collection.datetime) if spec.collection.datetime else None
    source_notes = source.notes
    seen_notes = len(source_notes)
    searches = searches or SearchCache(None, 0)
    source_config = canonical_json(source_spec)
    search = spec.collection.search
    found = searches.found(source, source_config, spec.collection.stac_id, interval, region, search)
    notes = (*source_notes[seen_notes:], *found.notes)
    if not notes:  # the source warned of nothing: what it found was planned like this before
        known = found.plan(spec, collection)
        if known is not None:
            return known
    items = found.matching(interval, region, search)
    if not items:
        window = f" within datetime {spec.collection.datetime}" if spec.collection.datetime else ""
        matching = " matching its `query`/`filter`" if search else ""
        raise SourceError(
            f"collection {spec.collection.stac_id!r} has no items over region {region.id!r}{window}{matching}; "
            f"check `datetime`{', `query`, `filter`' if search else ''} and the region"
        )
    assets = animation_assets(spec, collection, render_assets(collection.renders), items[0])
    # One key is read per frame; three keys (true colour) are read together, one per channel.
    chosen: str | tuple[str, ...] = assets if len(assets) > 1 else assets[0]
    planned = plan_frames(items, chosen, (), source_spec, collection.item_asset_bands)
    # The data asset's bands, as the collection's item_assets (else the first item) describe them.
    band_count = asset_band_count(collection, chosen) or len(planned[0].items[0].bands) or None
    resolved = resolve_style(
        collection.id, collection.renders, spec.collection.style, spec.collection.where, chosen, band_count
    )
    steps = time_steps(planned, collection.time_density, spec.render, items, region_longitude(region.geometry))
    steps = rank_frames(steps, spec.collection.composite, listings(items))
    frames = tuple(keep_last(steps, spec.collection.last))
    plan = AnimationPlan(collection=collection, style=resolved.style, frames=frames, notes=notes, assets=assets)
    if not plan.notes:
        found.keep(spec, collection, plan)
    return plan


def search_ahead(
    searches: SearchCache, animations: Sequence[tuple[AnimationSpec, Region]], opener: Callable[[str], Source],
    sources: Mapping[str, SourceSpec],
) -> Executor | None:
    """Start the searches of ``animations`` whose source searches beside others (a STAC API), up
    to the largest ``http.max_per_host`` at once (each source's own bound holds in its session),
    so that their plans take the results (``SearchCache.search_ahead``). Returns the threads they
    run on, for the caller to shut down once it is done planning; None when no search started.
    They are daemon threads (``core.threads``): a search stuck on a hung API never holds Ctrl-C."""
    threads: Executor | None = None
    for spec, region in animations:
        source = opener(spec.collection.source)
        if not isinstance(source, BuildSource) or not source.searches_beside():
            continue
        try:
            interval = parse_interval(spec.collection.datetime) if spec.collection.datetime else None
        except ConfigError:
            continue  # the plan says what is wrong with it
        if threads is None:
            threads = DaemonThreads(max(each.http.max_per_host for each in sources.values()), "search")
        searches.search_ahead(
            threads, source, canonical_json(sources[spec.collection.source]), spec.collection.stac_id, interval, region,
            spec.collection.search,
        )
    return threads


def animation_assets(
    spec: AnimationSpec, collection: CollectionInfo, render_assets: tuple[str, ...], first: SourceItem
) -> tuple[str, ...]:
    """The asset key(s) an animation reads, chosen on the first item found (``plan.assets``)."""
    return choose_assets(
        spec.collection.asset, render_assets, first.assets,
        collection=collection.id, where=spec.collection.where, found_in=f"its first item {first.id!r}",
    )


class BuildSource:
    """A source as one build uses it: once it did not answer, it is not asked again.

    The first ``SourceUnreachable`` (timeout, refused, unknown host, 5xx after retries) is kept;
    every later call fails at once with the same reason, so a source that never answers costs
    one animation's waiting, not every animation's. A collection is asked for once per build:
    its animations over several regions share what it said. Searches made ahead wait for the
    source's first answer (:meth:`when_answered`): until then it is asked by one animation only.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.name = source.name
        self.notes = source.notes  # the same list: notes the source adds are seen here
        self.failure: str | None = None
        self.collections: dict[str, CollectionInfo] = {}
        self.answered = False
        self._when_answered: list[Callable[[], None]] = []
        self._answer_lock = threading.Lock()

    def local_files(self, collection_id: str) -> tuple[str, ...] | None:
        """The source's ``local_files`` (a static catalog on disk), if it has any."""
        local_files = getattr(self.source, "local_files", None)
        return local_files(collection_id) if local_files is not None else None

    def collection(self, collection_id: str) -> CollectionInfo:
        if collection_id not in self.collections:
            self.collections[collection_id] = self.ask(lambda: self.source.collection(collection_id))
        return self.collections[collection_id]

    def items(
        self, collection_id: str, interval: Interval | None, region: BaseGeometry, search: ItemSearch | None = None
    ) -> list[SourceItem]:
        return self.ask(lambda: search_items(self.source, collection_id, interval, region, search))

    def searches_beside(self) -> bool:
        """Whether the source can search while other searches run (``for_search_beside``)."""
        return callable(getattr(self.source, "for_search_beside", None))

    def beside(self) -> Source:
        """The source for one search made beside others: notes of its own (see ``searches_beside``)."""
        beside: Source = self.source.for_search_beside()  # type: ignore[attr-defined]
        return beside

    def when_answered(self, then: Callable[[], None]) -> None:
        """``then()`` once the source has answered a call (now, if it has); never if it fails first."""
        with self._answer_lock:
            if not self.answered:
                self._when_answered.append(then)
                return
        then()

    def ask(self, call: Callable[[], T]) -> T:
        """``call()``; the first ``SourceUnreachable`` it raises makes every later call fail at once."""
        if self.failure is not None:
            raise SourceUnreachable(self.failure + SourceUnreachable.REPEATED)
        try:
            answer = call()
        except SourceUnreachable as error:
            self.failure = str(error)
            with self._answer_lock:
                self._when_answered.clear()
            raise
        if not self.answered:
            with self._answer_lock:
                self.answered, waiting, self._when_answered = True, self._when_answered, []
            for then in waiting:
                then()
        return answer


def search_items(
    source: Source, collection_id: str, interval: Interval | None, region: BaseGeometry, search: ItemSearch | None
) -> list[SourceItem]:
    """``source.items``, with ``search`` only when it holds a query or filter.

    A source kind of your own whose ``items`` takes no ``search`` still gets a query right (the
    planner evaluates it on the items); a CQL2 filter it cannot take is a ``SourceError``.
    """
    if not search:
        return source.items(collection_id, interval, region)
    if _takes_search(source):
        return source.items(collection_id, interval, region, search)
    if search.filter is not None:
        raise SourceError(
            f"source {source.name!r}: collection {collection_id!r} sets `filter` (CQL2), which this source's kind "
            "does not take; use `query`"
        )
    return source.items(collection_id, interval, region)


def _takes_search(source: Source) -> bool:
    try:
        parameters = inspect.signature(source.items).parameters
    except (TypeError, ValueError):
        return False
    return "search" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def source_opener(sources: Mapping[str, SourceSpec]) -> Callable[[str], Source]:
    """Opens each named source once per build, and remembers a source that did not answer."""
    opened: dict[str, Source] = {}

    def source(name: str) -> Source:
        if name not in opened:
            opened[name] = BuildSource(open_source(sources[name]))
        return opened[name]

    return source
