"""Commands that look before they build: ``validate``, ``list`` (alias ``build --dry-run``), ``clean``.

Owns checking a config without rendering — the schema, the files it references and, unless
offline, that every source answers — listing the plan with each animation's item and frame
counts, and removing the cache and output folders safely.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from generator.core.errors import ConfigError, GeneratorError, RegionError
from generator.core.paths import is_url
from generator.core.specs import GeoJsonRef
from generator.engine.ownership import cache_lock_file, exclusive, output_lock_file, require_ours
from generator.plan.schedule import plan_animation, source_opener
from generator.plan.site import SitePlan, load_site, site_folders
from generator.sources.regions import load_region, load_regions

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """Lines to print; ``problems`` make the command fail."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


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
    if offline:
        _offline_regions(site, report)
        _local_sources(site, report)
        return report
    load_regions(site.regions)
    report.lines.append(f"regions: {len(site.regions)} loaded")
    opener = source_opener(site.sources)
    for collection in site.collections:
        try:
            info = opener(collection.source).collection(collection.id)
            report.lines.append(f"collection {collection.id}: found in source {collection.source} ({info.title})")
        except GeneratorError as error:
            report.problems.append(f"collection {collection.id}: {error}")
    return report


def list_plan(config_path: Path, only: list[str] | None = None) -> CheckReport:
    """Every animation with its item and frame counts, from the STAC sources (no COG read)."""
    report = CheckReport()
    site = load_site(config_path)
    specs = site.select(only)
    regions = load_regions(site.regions)
    opener = source_opener(site.sources)
    for spec in specs:
        try:
            source = spec.collection.source
            plan = plan_animation(spec, regions[spec.region.id], opener(source), site.sources[source])
        except GeneratorError as error:
            report.problems.append(f"{spec.id}: {error}")
            continue
        items = sum(len(frame.items) for frame in plan.frames)
        gaps = sum(1 for frame in plan.frames if frame.kind == "gap")
        first = plan.frames[0].datetime.strftime(spec.render.date_format)
        last = plan.frames[-1].datetime.strftime(spec.render.date_format)
        report.lines.append(
            f"{spec.id}: {items} items → {len(plan.frames)} frames ({gaps} gaps), {first} – {last}, "
            f"{spec.render.size} px, {', '.join(spec.render.formats)}"
        )
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
    if not report.lines:
        report.lines.append("nothing to clean")
    return report
