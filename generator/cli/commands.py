"""Commands that look before they build: ``validate``, ``list`` (alias ``build --dry-run``), ``clean``.

Owns checking a config without rendering — the schema, the files it references, the styles of
collections in static catalogs on disk (their STAC ``renders`` checked like ``style:``), each
animation's ``render.crs``, the asset each collection reads (``plan.assets``: against its
``item_assets`` offline, against the first item found online) and, unless offline, that every
source answers and its collections' styles — listing the plan with each animation's item and
frame counts and asset, and removing the cache and output folders safely.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests

from generator.core.canonical import canonical_json
from generator.core.dates import parse_interval
from generator.core.errors import ConfigError, GeneratorError, RegionError, StyleError
from generator.core.model import CollectionInfo, SourceItem
from generator.core.paths import is_url
from generator.core.specs import CollectionSpec, GeoJsonRef
from generator.engine.ownership import cache_lock_file, exclusive, output_lock_file, require_ours
from generator.plan.assets import DescribedAsset, asset_problem
from generator.plan.renders import asset_band_count, pick_render, render_problems
from generator.plan.schedule import SearchCache, plan_animation, search_ahead, source_opener
from generator.plan.site import SitePlan, load_site, site_folders
from generator.plan.styles import resolve_style
from generator.sources.catalog import StaticCatalogSource
from generator.sources.items import filter_items
from generator.sources.regions import Region, load_region, load_regions
from generator.sources.registry import Source

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """Lines to print; ``problems`` make the command fail."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    config_problems: list[str] = field(default_factory=list)  # the config must change: exit 2


def _is_remote(ref: object) -> bool:
    """A single GeoJSON given as a URL (layer lists and inline GeoJSON are not)."""
    return isinstance(ref, GeoJsonRef) and ref.written is not None and is_url(ref.written)


def _offline_regions(site: SitePlan, report: CheckReport) -> None:
    problems: list[str] = []
    for spec in site.regions:
        remote = [key for key, ref in (("geometry", spec.geometry), ("borders", spec.borders)) if _is_remote(ref)]
        local = replace(spec, borders=None) if "borders" in remote else spec
        if "geometry" in remote:
            report.lines.append(f"region {spec.id}: geometry is a URL, not fetched (--offline)")
            continue
        try:
            load_region(local)
        except RegionError as error:
            problems += error.problems
        for key in remote:
            report.lines.append(f"region {spec.id}: {key} is a URL, not fetched (--offline)")
    if problems:
        raise RegionError(problems)


def _local_sources(site: SitePlan, report: CheckReport) -> None:
    for name, section in site.sources.items():
        if section.catalog is not None and not is_url(section.catalog):
            path = Path(section.catalog)
            if not path.is_file():
                raise ConfigError(f"{section.where}.catalog: file not found: {path}")
            report.lines.append(f"source {name}: local catalog {path.name} found")
        elif section.kind not in ("catalog", "api"):
            report.lines.append(f"source {name}: kind {section.kind}, not opened (--offline)")
        else:
            report.lines.append(f"source {name}: remote, not contacted (--offline)")


def style_problems(collection: CollectionSpec, renders: dict[str, Any], band_count: int | None = None) -> list[str]:
    """Every problem of the style a collection's animations would use: each bad ``renders`` value
    (checked like ``style:``), else what resolving the style refuses (classes, expression, no rescale,
    a colormap on a multi-band asset when ``band_count`` — from the collection's item_assets — says so)."""
    problems = render_problems(collection.id, renders, collection.style, collection.where)
    if problems:
        return problems
    try:
        resolve_style(collection.id, renders, collection.style, collection.where, collection.asset, band_count)
    except StyleError as error:
        return [str(error)]
    return []


class _NoNetwork(requests.adapters.BaseAdapter):
    """Fetches nothing (``--offline``): what a local catalog links to over HTTP is left unread."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.refused.append(str(request.url))
        raise requests.ConnectionError("not fetched (--offline)")

    def close(self) -> None:
        pass


def _offline_collections(site: SitePlan, report: CheckReport) -> list[str]:
    """The styles of collections in static catalogs on disk; one line per problem naming the file."""
    problems: list[str] = []
    catalogs: dict[str, tuple[StaticCatalogSource, _NoNetwork]] = {}
    for collection in site.collections:
        source = site.sources[collection.source]
        if source.catalog is None or is_url(source.catalog) or not Path(source.catalog).is_file():
            continue  # remote (not contacted) or missing (reported by _local_sources)
        if source.name not in catalogs:
            adapter, session = _NoNetwork(), requests.Session()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            catalogs[source.name] = (StaticCatalogSource(name=source.name, href=source.catalog, session=session), adapter)
        catalog, adapter = catalogs[source.name]
        try:
            info = catalog.collection(collection.stac_id)
            document = catalog._get(collection.stac_id).get_self_href() or source.catalog
        except Exception as error:  # pystac raises many types for unreadable or invalid JSON
            if adapter.refused:
                report.lines.append(f"collection {collection.id}: not checked, its catalog links to remote documents (--offline)")
            elif isinstance(error, GeneratorError):
                problems.append(f"{site.path}: {collection.where}.id: {error}")
            else:
                problems.append(f"{source.catalog}: collection {collection.id!r} cannot be read: {error}")
            continue
        found = style_problems(collection, info.renders, asset_band_count(info, collection.asset))
        problems += [f"{document}: {problem}" for problem in found]
        for animation, spec in _restyled(site, collection):
            problems += [f"{document}: animation {animation}: {problem}" for problem in style_problems(spec, info.renders)]
        if not found:
            report.lines.append(f"collection {collection.id}: style checked")
        line, problem = asset_check(collection, info, None)
        if problem:
            problems.append(f"{site.path}: {problem}")
        else:
            report.lines.append(line)
    return problems


def _restyled(site: SitePlan, collection: CollectionSpec) -> list[tuple[str, CollectionSpec]]:
    """(animation id, its collection) for the animations whose ``style:`` changes ``collection``'s."""
    return [
        (spec.id, spec.collection) for spec in site.animations
        if spec.collection.id == collection.id and spec.collection != collection
    ]


def asset_check(collection: CollectionSpec, info: CollectionInfo, first: SourceItem | None) -> tuple[str, str | None]:
    """(a line saying which asset is read, or the problem) for a collection: checked on the first
    item found when there is one (it wins: the build reads the items), else on ``item_assets``."""
    if first is not None:
        assets: Mapping[str, DescribedAsset] = first.assets
        found_in = f"its first item {first.id!r}"
    elif info.item_assets:
        assets, found_in = info.item_assets, "its item_assets"
    else:
        return f"collection {collection.id}: asset not checked (its STAC collection has no item_assets)", None
    picked = pick_render(info.renders) if isinstance(info.renders, dict) else None
    render_assets = picked[1].get("assets") if picked else None
    keys, problem = asset_problem(
        collection.asset, [str(key) for key in render_assets] if isinstance(render_assets, list) else [],
        assets, collection=info.id, where=collection.where, found_in=found_in,
    )
    return f"collection {collection.id}: asset {', '.join(keys)} (checked against {found_in})", problem


def _crs_problems(site: SitePlan) -> list[str]:
    """``render.crs`` of every animation, checked as the build reads it (a region is not needed)."""
    import shapely

    from generator.render.grid import output_crs

    users: dict[str, list[str]] = {}
    for spec in site.animations:
        users.setdefault(spec.render.crs, []).append(spec.id)
    problems = []
    for crs, ids in users.items():
        try:
            output_crs(crs, shapely.box(0, 0, 1, 1))
        except ConfigError as error:
            problems += [f"{site.path}: {problem} (animations {', '.join(ids)})" for problem in error.problems]
    return problems


def validate(config_path: Path, offline: bool) -> CheckReport:
    """Check the config, its local files and (unless ``offline``) that every source answers.

    Config problems raise ``ConfigError``; unreachable sources are listed in ``problems``.
    """
    report = CheckReport()
    site = load_site(config_path)
    report.lines.append(f"config: {site.path} is valid ({len(site.animations)} animations)")
    folder = site.info.templates
    if folder is not None and not folder.is_dir():
        raise ConfigError(f"{site.path}: site.templates: folder not found: {folder}")
    crs_problems = _crs_problems(site)
    if offline:
        _offline_regions(site, report)
        _local_sources(site, report)
        problems = crs_problems + _offline_collections(site, report)
        if problems:
            raise ConfigError(problems)
        return report
    if crs_problems:
        raise ConfigError(crs_problems)
    regions = load_regions(site.regions)
    report.lines.append(f"regions: {len(site.regions)} loaded")
    opener = source_opener(site.sources)
    searches = SearchCache(None, 0)
    for collection in site.collections:
        try:
            info = opener(collection.source).collection(collection.stac_id)
            report.lines.append(f"collection {collection.id}: found in source {collection.source} ({info.title})")
        except GeneratorError as error:
            report.problems.append(f"collection {collection.id}: {error}")
            continue
        band_count = asset_band_count(info, collection.asset)
        found = style_problems(collection, info.renders, band_count)
        report.problems += found
        for animation, spec in _restyled(site, collection):
            report.problems += [f"animation {animation}: {problem}" for problem in style_problems(spec, info.renders, band_count)]
        try:
            first = _first_item(site, collection, regions, opener, searches)
        except GeneratorError as error:
            report.problems.append(f"collection {collection.id}: {error}")
            continue
        line, problem = asset_check(collection, info, first)
        if problem:
            report.config_problems.append(f"{site.path}: {problem}")
        else:
            report.lines.append(line)
            if not found and band_count is None:
                report.problems += first_item_problems(site, regions, opener, collection, searches)
    return report


def _first_item(
    site: SitePlan, collection: CollectionSpec, regions: Mapping[str, Region], opener: Callable[[str], Source],
    searches: SearchCache,
) -> SourceItem | None:
    """The first item the first animation of ``collection`` finds (None: no animation, or no item)."""
    spec = next((spec for spec in site.animations if spec.collection.id == collection.id), None)
    if spec is None:
        return None
    region = regions[spec.region.id]
    interval = parse_interval(collection.datetime) if collection.datetime else None
    source = site.sources[collection.source]
    found = searches.items(opener(collection.source), canonical_json(source), collection.stac_id, interval, region)
    items = filter_items(found, interval, region.geometry)
    return items[0] if items else None


def first_item_problems(
    site: SitePlan, regions: Mapping[str, Region], opener: Callable[[str], Source], collection: CollectionSpec,
    searches: SearchCache,
) -> list[str]:
    """What the style refuses once the first item says how many bands the asset has (a colormap on
    a multi-band asset without ``bidx``), when the collection's ``item_assets`` do not say: the
    collection's first animation is planned (item metadata only, as ``list`` does)."""
    if isinstance(collection.asset, tuple) or (collection.style is not None and (collection.style.bidx or collection.style.rgb_bidx)):
        return []  # the band choice is explicit: nothing an item could change
    spec = next((spec for spec in site.animations if spec.collection.where == collection.where), None)
    if spec is None:
        return []
    try:
        plan_animation(spec, regions[spec.region.id], opener(collection.source), site.sources[collection.source], searches)
    except StyleError as error:
        return [f"collection {collection.id}: {error}"]
    except GeneratorError:
        return []  # no items, or a source that stopped answering: `list` and the build say so
    return []


def list_plan(config_path: Path, only: list[str] | None = None) -> CheckReport:
    """Every animation with its item and frame counts, from the STAC sources (no COG read)."""
    report = CheckReport()
    site = load_site(config_path)
    specs = site.select(only)
    regions = load_regions(site.regions)
    opener = source_opener(site.sources)
    searches = SearchCache(None, 0)  # animations of one search (one STAC collection and region) share it
    config_problems: list[str] = []  # e.g. which asset to read: the config must say (exit 2)
    threads = search_ahead(searches, [(spec, regions[spec.region.id]) for spec in specs], opener, site.sources)
    try:
        for spec in specs:
            try:
                source = spec.collection.source
                plan = plan_animation(spec, regions[spec.region.id], opener(source), site.sources[source], searches)
            except ConfigError as error:
                config_problems += [f"{site.path}: {spec.id}: {problem}" for problem in error.problems]
                continue
            except GeneratorError as error:
                report.problems.append(f"{spec.id}: {error}")
                continue
            items = sum(len(frame.items) for frame in plan.frames)
            gaps = sum(1 for frame in plan.frames if frame.kind == "gap")
            first = plan.frames[0].datetime.strftime(spec.render.date_format)
            last = plan.frames[-1].datetime.strftime(spec.render.date_format)
            report.lines.append(
                f"{spec.id}: {items} items → {len(plan.frames)} frames ({gaps} gaps), {first} – {last}, "
                f"asset {', '.join(plan.assets)}, {spec.render.size} px, {', '.join(spec.render.formats)}"
            )
    finally:
        if threads is not None:
            threads.shutdown(cancel_futures=True)  # searches no plan took (a config problem)
    report.config_problems += config_problems
    return report


def clean(config_path: Path, output_dir: Path | None, cache_dir: Path | None) -> CheckReport:
    """Remove the frame cache and the output folder (only if this tool made it)."""
    report = CheckReport()
    folders = site_folders(config_path)
    output = (output_dir or folders.output).resolve()
    cache = (cache_dir or folders.cache).resolve()
    config_dir = folders.output.parent.resolve()
    never = {config_dir, Path.home().resolve(), Path(cache.anchor)}
    for folder, flag in ((cache, "--cache-dir"), (output, "--output")):
        if folder in never or folder in config_dir.parents:
            raise ConfigError(f"{flag} {folder}: not removed — it holds the config (or is a home or root folder)")
    # Check both before deleting either: a refusal must leave everything in place.
    require_ours(cache, "cache", f"{'--cache-dir' if cache_dir else 'cache.dir'} {cache}")
    require_ours(output, "output", f"--output {output}")
    with exclusive(output_lock_file(output), f"output folder {output}"):
        if cache.is_dir():
            with exclusive(cache_lock_file(cache), f"cache folder {cache}"):
                shutil.rmtree(cache)
            report.lines.append(f"removed cache {cache}")
        if output.is_dir():
            shutil.rmtree(output)
            report.lines.append(f"removed output {output}")
    if folders.cache_url and cache_dir is None:
        report.lines.append(f"frames in {folders.cache_url} left in place (shared storage: expire them with its own tools)")
    if not report.lines:
        report.lines.append("nothing to clean")
    return report
