"""Orchestration: config → plan → catalog → frames → overlays → animation files → site.

Owns the order of the stages over all animations (each one is built by ``animation``), what
happens to the ones not built this time (``--only``, stale after a failure), the worker pool
(``executors``: local processes, or a Dask cluster — reached, like a cache URL, before anything
is touched), where the cache is (a local folder; with a URL, the frames there and the rest local),
the summary and the output folder's integrity: everything is written to a staging folder
beside the output and swapped in only when the build completes.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from generator import __version__
from generator.core import buildcache
from generator.core.atomic import write_text_atomic
from generator.core.collector import long_lived
from generator.core.errors import ConfigError, GeneratorError
from generator.core.memo import BuildMemo
from generator.core.model import AnimationRecord
from generator.core.paths import storage_url
from generator.engine import cluster  # noqa: F401 - registers the "dask" executor (distributed imported on use)
from generator.engine.executors import ExecutorRequest, TaskPool, open_executor
from generator.engine.graph import Batch, Lane, Pipeline, Scheduler, Task
from generator.engine.options import (
    BuildOptions as BuildOptions,  # part of this module's API: build(…, options=BuildOptions(…))
)
from generator.engine.output import (
    CheckedFiles,
    RecordStore,
    carry_over,
    check_output_dir,
    link_unchanged,
    new_bytes,
    new_staging,
    remove_leftovers,
    swap_in,
)
from generator.engine.ownership import claim_build_folders
from generator.engine.progress import AnimationStats, BuildSummary, Progress
from generator.plan.animations import AnimationSpec
from generator.plan.site import SitePlan, load_site
from generator.render.remote_cache import RemoteStore

if TYPE_CHECKING:
    from generator.render.local import Renderer

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What a build produced; ``records`` in config order."""

    output_dir: Path
    records: list[AnimationRecord] = field(default_factory=list)
    seconds: float = 0.0
    summary: BuildSummary = field(default_factory=BuildSummary)
    # Failed because the config is wrong for what the source serves (found while planning).
    config_failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[AnimationRecord]:
        return [record for record in self.records if record.status != "ok"]


REPORT = "build-report.json"

#: Tasks kept in flight per slot of the pool (a 1000-px layer is 1 MB): while the build's process
#: is busy with an animation's own step (planning, laying out its overlays, writing its frames),
#: the workers go on with what is queued, and a few frames' layers are all the memory it costs.
IN_FLIGHT_PER_SLOT = 4
#: Animations in flight per slot, and one more: while one waits at a barrier (its survey before
#: painting, its encoders), the others have work for every slot, and the last animation of the
#: build starts early enough not to leave its frames and encoders alone at the end.
ANIMATIONS_PER_SLOT = 2


class BuildFailed(GeneratorError):
    """``--strict``: an animation failed, so the build stops and the published output stays."""


def cache_folder(site: SitePlan, override: Path | str | None) -> Path:
    """The build's local cache folder: ``--cache-dir`` (a path), else ``cache.dir`` of the config
    (relative to the config file). With a ``--cache-dir`` URL, the config's folder; with a
    ``cache.dir`` URL, ``.cache/`` beside the config (``plan.site.cache_spec``)."""
    local = override if isinstance(override, Path) else None
    if isinstance(override, str) and storage_url(override) is None:
        local = Path(override.removeprefix("file://")).expanduser()
    return (local or site.cache.dir).resolve()


def frame_store(site: SitePlan, override: Path | str | None) -> RemoteStore | None:
    """Where the frames live when that is a URL (``--cache-dir`` first, then ``cache.dir``)."""
    url = storage_url(override) if isinstance(override, str) else None
    if override is None:
        url = site.cache.url
    return RemoteStore(url, site.cache.storage_options) if url else None


def check_store(store: RemoteStore) -> None:
    """A cache URL that cannot be reached is a config problem, said before anything is touched."""
    try:
        store.check()
    except ImportError as error:
        raise ConfigError(
            f"cache.dir {store.url}: no filesystem for it is installed ({error}); "
            "install it with pip install 'eo-timelapse-generator[dask]' (s3fs) or the fsspec package for that scheme"
        ) from None
    except Exception as error:  # noqa: BLE001 - whatever the storage says, it is unusable
        raise ConfigError(
            f"cache.dir {store.url}: cannot be used ({type(error).__name__}: {error}); "
            "check the URL, cache.storage_options and the credentials, or use a local --cache-dir"
        ) from None


def executor_request(site: SitePlan, options: BuildOptions) -> ExecutorRequest:
    """``--scheduler`` (a Dask cluster), else the config's ``executor``, with ``--jobs``."""
    if options.scheduler:
        return ExecutorRequest(kind="dask", jobs=options.jobs, scheduler=options.scheduler)
    return ExecutorRequest(kind=site.executor.kind, jobs=options.jobs, scheduler=site.executor.scheduler)


def build(
    config_path: Path,
    output_dir: Path | None = None,
    only: list[str] | None = None,
    renderer: Renderer | None = None,
    options: BuildOptions | None = None,
) -> BuildResult:
    """Build the gallery described by ``config_path``; raises ``ConfigError`` for bad config.

    With ``only``, the other animations keep their published files and records unchanged.
    Without ``options.memo``, the build decodes into a memo of its own, dropped when it ends.
    """
    started = time.perf_counter()
    options = options or BuildOptions()
    site = load_site(config_path)
    output = (output_dir or site.output).resolve()
    cache_dir = cache_folder(site, options.cache_dir)
    store = frame_store(site, options.cache_dir) if options.use_cache else None
    check_output_dir(output, (site.base_dir,))
    if store is not None:
        check_store(store)
    # A cluster that cannot be reached stops the build before the output or the cache is touched;
    # a local pool's workers start while the build plans.
    tasks = open_executor(executor_request(site, options))
    interrupted = False
    try:
        # The modules and the plan outlive the build: the collector need not walk them again and again.
        # Masks and open COGs shared by this build's animations are not the next build's.
        with claim_build_folders(output, cache_dir), long_lived(), buildcache.building():
            return _build_claimed(site, output, cache_dir, only, renderer, options, started, tasks, store)
    except (KeyboardInterrupt, SystemExit):
        interrupted = True
        raise
    finally:
        tasks.close(interrupted)


def _build_claimed(
    site: SitePlan,
    output: Path,
    cache_dir: Path,
    only: list[str] | None,
    renderer: Renderer | None,
    options: BuildOptions,
    started: float,
    tasks: TaskPool,
    frames_at: RemoteStore | None = None,
) -> BuildResult:
    """:func:`build` once it holds the output and cache folders: no other build can touch them."""
    # Imported here, not with this module: they bring numpy, Pillow, shapely and the page templates,
    # which a process that only imports the engine (or fails on its config) never needs.
    from generator.engine.animation import AnimationBuilder
    from generator.plan.schedule import source_opener
    from generator.render.cache import FrameCache
    from generator.site.gallery import Published, prepare_pages, write_site
    from generator.site.locator import locator_svg
    from generator.site.pages import Globe, globe_of, has_globe, keep_globe
    from generator.sources.regions import load_regions

    specs = site.animations
    selected = {spec.id for spec in site.select(only)}
    regions = load_regions(site.regions)
    remove_leftovers(output)
    staging = new_staging(output)
    source = source_opener(site.sources)
    cache = FrameCache(cache_dir if options.use_cache else None, frames_at)
    state = cache_dir / "state"
    memo = options.memo if options.memo is not None else BuildMemo()  # None: one of this build's own
    checked = CheckedFiles.load(state / "checked-files.json", output, trust=options.use_cache)
    store = RecordStore(state, checked, decoded=memo.records)
    # The work kept in flight follows the executor's width; the animations search with the build's memo.
    options = replace(options, jobs=tasks.slots, memo=memo)
    pool = Lane(tasks.executor, IN_FLIGHT_PER_SLOT * tasks.slots if tasks.executor is not None else 1)
    scheduler: Scheduler[tuple[AnimationSpec, AnimationStats] | None, AnimationRecord | None] = Scheduler(
        pool, animations=ANIMATIONS_PER_SLOT * tasks.slots + 1 if tasks.executor is not None else 1
    )
    summary = BuildSummary(generator_version=__version__)
    progress = Progress(
        len(selected), cache_hits=lambda: sum(stats.cached for stats in summary.per_animation.values())
    )
    # The pool's processes share the maps of their reads (render.nearest.shared_map) in a folder
    # of this build's, on this machine (a cluster's workers elsewhere make their own).
    maps = Path(tempfile.mkdtemp(prefix="read-maps-")) if tasks.executor is not None else None
    builder = AnimationBuilder(
        site, staging, renderer, source, options, cache, pool, progress, store, output,
        processes=tasks.slots if tasks.executor is not None else 1, maps=maps,
    )
    built: dict[str, AnimationRecord] = {}
    kept: set[str] = set()  # carried over as loaded from the record store: nothing to save again

    def starts() -> Iterator[
        tuple[tuple[AnimationSpec, AnimationStats] | None, Callable[[], Pipeline[AnimationRecord | None]]]
    ]:
        """The animations to build, each region's together (the others are carried over on the
        way); with worker processes, first the new animations' grids, made while the first are
        planned. The searches of animations whose source is a STAC API start at once, a few side
        by side."""
        ahead = [(spec, regions[spec.region.id]) for spec in specs if spec.id in selected]
        builder.search_ahead(ahead)
        if tasks.executor is not None:
            yield None, partial(builder.grids_ahead, ahead)
        for spec in region_by_region(specs):
            if spec.id not in selected:
                previous = store.load(spec.slug)
                if previous is not None and carry_over(previous, output, staging, store.checked):
                    built[spec.id] = previous
                    kept.add(spec.id)
                    summary.carried += 1
                    continue
                if previous is None:
                    log.warning("%s: not built (--only) and no earlier build to keep", spec.id)
                    continue
                # Its published files are gone or changed: build it again rather than drop it.
                log.warning("%s: not selected (--only), but its published files cannot be kept: building it", spec.id)
                progress.add_animation()
            stats = summary.per_animation[spec.id] = AnimationStats()
            yield (spec, stats), partial(_started, spec, stats)

    def _started(spec: AnimationSpec, stats: AnimationStats) -> Pipeline[AnimationRecord]:
        progress.start_animation(spec.id)
        pipeline = builder.pipeline(spec, regions[spec.region.id], stats)
        # Inline, nothing runs beside a step: the pages' makings would only move, one by one.
        return _pages_prepared(pipeline, spec.id) if tasks.executor is not None else pipeline

    def _pages_prepared(pipeline: Pipeline[AnimationRecord], animation: str) -> Pipeline[AnimationRecord]:
        """The pipeline, then what its pages will need made (its region's globe, by a worker;
        ``site.gallery.prepare_pages``): while the other animations' tasks keep the workers
        busy, rather than in ``write_site`` once the last animation is done and every worker is idle."""
        record = yield from pipeline
        if animation not in builder.reused:  # a carried-over animation's pages are linked, not rendered
            yield from _globe_drawn(record)
            try:
                prepare_pages(site.info)
            except Exception as error:  # noqa: BLE001 - only a head start: write_site says what is wrong
                log.debug("%s: pages not prepared ahead: %s", animation, error)
        return record

    drawing: set[Globe] = set()  # the globes asked of a worker

    def _globe_drawn(record: AnimationRecord) -> Pipeline[None]:
        """The globe of ``record``'s region drawn by a worker (≈ 50 ms of GEOS a region, which the
        build's process would spend beside its own work), once per region, kept for its pages."""
        globe = globe_of(record)
        if globe is None or has_globe(globe) or globe in drawing:
            return
        drawing.add(globe)
        try:
            yield Batch([Task(locator_svg, globe)], lambda _, svg: keep_globe(globe, svg))
        except Exception as error:  # noqa: BLE001 - only a head start: the page draws it
            log.debug("%s: globe not drawn ahead: %s", record.id, error)

    def done(key: tuple[AnimationSpec, AnimationStats] | None, record: AnimationRecord | None) -> None:
        if key is None or record is None:  # the grids asked for ahead
            return
        spec, stats = key
        if cache.root is None and record.status == "ok":
            stats.rendered = sum(1 for frame in record.frames if frame.items)
        if record.status == "failed":
            previous = store.load(spec.slug)
            if previous is not None and carry_over(previous, output, staging, store.checked):
                log.warning("%s: keeping its last good files, marked stale", spec.id)
                record = replace(previous, status="stale", error=record.error)
        reused = spec.id in builder.reused
        if reused:
            stats.cached = len(record.frames)
        _count(summary, record, stats, reused)
        built[spec.id] = record
        progress.end_animation()

    try:
        scheduler.run(starts(), done)
        records: list[AnimationRecord] = [built[spec.id] for spec in specs if spec.id in built]
        progress.close()
        if options.strict and any(record.status != "ok" for record in records):
            failed = ", ".join(record.id for record in records if record.status != "ok")
            raise BuildFailed(f"--strict: animation(s) failed: {failed}; the published output was left as it was")
        if options.strict and any(record.warnings for record in records):
            warned = "; ".join(f"{record.id}: {record.warnings[0]}" for record in records if record.warnings)
            raise BuildFailed(f"--strict: animation(s) with warnings: {warned}; the published output was left as it was")
        # Pages made from the same records, code and templates as the published ones are linked from there.
        published = Published(output, state / "site-files.json", [store.digest(r) for r in records])
        write_site(staging, site.info, records, generator_version=__version__,
                   published=published if options.use_cache else None)
        summary.files_unchanged = link_unchanged(staging, output)
        if store.checked is not None:
            store.checked.save()
        summary.bytes_written = new_bytes(staging)
        summary.seconds = time.perf_counter() - started
        write_text_atomic(staging / REPORT, summary.to_json())
        swap_in(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        progress.close()
        for threads in builder.thread_pools:
            threads.shutdown(cancel_futures=True)
        if maps is not None:
            shutil.rmtree(maps, ignore_errors=True)
    try:
        for record in records:
            if record.status == "ok" and record.id not in kept and record.id not in builder.reused:
                store.save(record)
    except OSError as error:
        # The gallery is published; only the next build's shortcuts are lost (it re-renders).
        log.warning("could not save the animation records in %s: %s", cache_dir, error)
    return BuildResult(
        output_dir=output, records=records, seconds=summary.seconds, summary=summary,
        config_failures=sorted(builder.config_failures),
    )


def region_by_region(specs: Sequence[AnimationSpec]) -> list[AnimationSpec]:
    """``specs`` with each region's animations together, regions and animations in config order.

    What a build keeps of a region's grid (its masks, borders, context lines: per-build caches
    of a few dozen grids, ``core.buildcache``) is then used by all its animations while it is
    kept: in config order (collection by collection) a gallery of more regions than that
    made it all again for every collection. The gallery lists them in config order still.
    """
    by_region: dict[str, list[AnimationSpec]] = {}
    for spec in specs:
        by_region.setdefault(spec.region.id, []).append(spec)
    return [spec for group in by_region.values() for spec in group]


def _count(summary: BuildSummary, record: AnimationRecord, stats: AnimationStats, reused: bool) -> None:
    summary.frames_rendered += stats.rendered
    summary.frames_cached += stats.cached
    if record.status == "failed":
        summary.failed += 1
    elif record.status == "stale":
        summary.stale += 1
    elif reused:
        summary.cached += 1
    else:
        summary.built += 1
