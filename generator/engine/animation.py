"""One animation, from its plan to its files: palette, grid, frames, overlays and encoders.

Owns building a single (collection, region) animation into the staging folder — or carrying it
over unchanged when nothing it is made from changed — with the renderer its source asks for,
the size budget, and every output format. The build runs it as a pipeline (``engine.graph``):
the planning and every file write happen here, in the build's process; the region's grid, the
layers, the overlays' layout, the painted frames and the encoders are tasks (``engine.tasks``).
Failures are caught here and recorded, so one animation never stops the others.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from generator.core.errors import ConfigError
from generator.core.model import (
    AnimationFiles,
    AnimationRecord,
    CollectionInfo,
    FramePlan,
    Style,
)
from generator.core.threads import DaemonThreads
from generator.encode.registry import REQUIRED_FORMAT, Encoder, takes_rgb
from generator.encode.stills import write_poster, write_still
from generator.engine.attempt import Attempt, Target, Workspace, first_grid, grids_ahead, run_attempt
from generator.engine.budget import SizeBudget
from generator.engine.failures import failure_detail, failure_reason
from generator.engine.files import (
    animation_files,
    builtin,
    encoder_animation,
    encoders_of,
    format_options,
    legend_classes,
    map_credits,
    published_render,
)
from generator.engine.graph import Batch, Lane, Task
from generator.engine.options import BuildOptions as BuildOptions  # its home before engine.options
from generator.engine.output import RecordStore, carry_over, published_digests
from generator.engine.progress import AnimationStats, Progress
from generator.engine.tasks import encode_file, thumbnail_of
from generator.overlays.painter import OverlayPainter, overlay_palette
from generator.plan.animations import AnimationSpec
from generator.plan.categorical import categorical_palette
from generator.plan.coverage import CoverageCheck
from generator.plan.schedule import AnimationPlan, SearchCache, frame_label, plan_animation, search_ahead
from generator.plan.site import SitePlan
from generator.render.cache import FrameCache, animation_fingerprint
from generator.render.layers import (
    empty_frames_warning,
)
from generator.render.local import LocalRenderer, Renderer
from generator.render.palette import nodata_rgb, with_reserved
from generator.render.registry import make_renderer
from generator.site.locator import outline_rings
from generator.sources.regions import Region
from generator.sources.registry import Source

log = logging.getLogger(__name__)

_published_render = published_render  # the name the tests and older callers import

Steps = Generator[Batch, None, Any]


class AnimationBuilder:
    """Builds animations into the staging folder, each as a pipeline; knows nothing of the others."""

    def __init__(
        self,
        site: SitePlan,
        staging: Path,
        renderer: Renderer | None,
        sources: Callable[[str], Source],
        options: BuildOptions,
        cache: FrameCache,
        pool: Lane,
        progress: Progress,
        store: RecordStore,
        output: Path,
        processes: int = 1,
        maps: Path | None = None,
    ):
        self.site = site
        self.staging = staging
        self.renderer = renderer  # None: each animation gets the renderer its config names
        self._renderers: dict[tuple[str, str], tuple[Renderer, str, Lane]] = {}
        self.thread_pools: list[Executor] = []
        self.sources = sources
        self.options = options
        self.cache = cache
        self.pool = pool
        self.processes = processes  # the pool's: they share each source's bounds of the whole build
        self.maps = maps  # where the pool's processes share their read maps (render.nearest.shared_map)
        self.inline = Lane(None, 1)  # for work only the build's process can do
        self.progress = progress
        self.work = Workspace(staging, cache, progress, pool.limit)
        self.store = store
        self.output = output
        self.reused: set[str] = set()  # animations carried over unchanged from the last build
        # Animations whose plan found the config wrong (an asset to choose, an unknown asset): they
        # fail like the others, and the build's exit code says "fix the config".
        self.config_failures: set[str] = set()
        entries = options.memo.search_entries if options.memo is not None else None
        self.searches = SearchCache(cache.root, site.cache.search_ttl, entries=entries)  # --no-cache: no search cache either

    def search_ahead(self, animations: Sequence[tuple[AnimationSpec, Region]]) -> None:
        """Start the searches of ``animations`` whose source answers over the network (a STAC
        API), as many at once as the source's ``http.max_per_host``, on threads of this process:
        an animation's plan then finds its items there (``SearchCache.search_ahead``) instead of
        searching after the plans before it, one search at a time while the workers wait."""
        threads = search_ahead(self.searches, animations, self.sources, self.site.sources)
        if threads is not None:
            self.thread_pools.append(threads)

    def grids_ahead(self, animations: Sequence[tuple[AnimationSpec, Region]]) -> Generator[Batch, None, None]:
        """A pipeline that asks for the regions' grids of ``animations`` before any is planned
        (``engine.attempt.grids_ahead``): those with no earlier record, which cannot be carried
        over and will need their grid (the others are planned first, and most are kept)."""
        keys = [
            key for spec, region in animations
            if (key := first_grid(spec, region)) is not None
            and (not self.options.use_cache or self.store.load(spec.slug) is None)
        ]
        try:
            yield from grids_ahead(self.work, keys)
        except Exception as error:  # noqa: BLE001 - only a head start: each animation asks again and fails on its own
            log.debug("grids asked for ahead: %s", error)

    def pipeline(
        self, spec: AnimationSpec, region: Region, stats: AnimationStats
    ) -> Generator[Batch, None, AnimationRecord]:
        """Plan the animation, then build it (or carry it over): its record, failed or not."""
        files = animation_files(spec.slug)
        base: dict[str, Any] = dict(
            id=spec.id, slug=spec.slug, collection_id=spec.collection.id,
            region_id=region.id, region_title=region.title, files=files,
            region_outline=outline_rings(region.geometry),
            map_credits=map_credits(spec, region),
        )
        collection = style = None
        frames: tuple[FramePlan, ...] = ()
        try:
            source = spec.collection.source
            try:
                planned = plan_animation(spec, region, self.sources(source), self.site.sources[source], self.searches)
            except ConfigError:  # not StyleError: a collection's own renders may be what is wrong
                self.config_failures.add(spec.id)
                raise
            collection, style, frames = planned.collection, planned.style, planned.frames
            base["assets"] = planned.assets
            fingerprint = self._fingerprint(spec, region, planned)
            previous = self.store.load(spec.slug)
            if (
                self.options.use_cache and previous is not None and previous.status == "ok"
                and previous.fingerprint == fingerprint
                and carry_over(previous, self.output, self.staging, self.store.checked)
            ):
                self.reused.add(spec.id)
                for warning in previous.warnings:
                    log.warning("%s: %s", spec.id, warning)
                return previous  # nothing it is made from changed: its verified files are linked as they are
            record = yield from self._render(spec, region, files, collection, style, frames, base, stats)
            record = replace(
                record, fingerprint=fingerprint, output_dir=str(self.output),
                published=published_digests(self.staging, record.files, self.store.checked),
            )
            return replace(record, notes=(*planned.notes, *record.notes)) if planned.notes else record
        except Exception as error:  # one failing animation must never stop the others
            shutil.rmtree(self.staging / f"animations/{spec.slug}", ignore_errors=True)
            # The log gets the whole message; the page, the manifest and the summary a short reason.
            log.warning(
                "animation %s failed: %s", spec.id, failure_detail(error), exc_info=log.isEnabledFor(logging.DEBUG)
            )
            reason = failure_reason(error, self.site.base_dir)
            return AnimationRecord(
                status="failed", error=reason, collection=collection, style=style, frames=frames, **base
            )

    def _fingerprint(self, spec: AnimationSpec, region: Region, planned: AnimationPlan) -> str:
        return animation_fingerprint(
            spec.render, region, planned.style, planned.collection,
            planned.frames, self.renderer_for(spec)[1], spec.collection,
        )

    def _render(
        self,
        spec: AnimationSpec,
        region: Region,
        files: AnimationFiles,
        collection: CollectionInfo,
        style: Style,
        frames: tuple[FramePlan, ...],
        base: dict[str, Any],
        counts: AnimationStats,
    ) -> Generator[Batch, None, AnimationRecord]:
        started = time.perf_counter()
        categories = style.categories
        palette = categorical_palette(categories) if categories else overlay_palette(style.colormap, region.border_layers)
        nodata = nodata_rgb(style.nodata_color, palette)
        palette = with_reserved(palette, {"nodata": nodata}) if nodata else palette
        (self.staging / files.gif).parent.mkdir(parents=True, exist_ok=True)
        budget = SizeBudget(spec.render.max_bytes, spec.render.drop_frames)
        every_format = spec.render.max_bytes is None  # no budget: every file is encoded at once
        size, kept = spec.render.size, frames
        thin: tuple[str, ...] = ()  # notes of min_coverage
        with ExitStack() as scope:
            # Basemap tiles are kept in the cache folder between builds; with --no-cache, for this animation only.
            tiles = self.cache.root / "tiles" if self.cache.root is not None else None
            if tiles is None and spec.render.basemap:
                tiles = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="tiles-")))
            # Layers are read twice (a survey for the overlays, then the frames): with --no-cache,
            # a folder for this animation only keeps the second read from rendering them again.
            scratch = None if self.cache.root is not None else Path(
                scope.enter_context(tempfile.TemporaryDirectory(prefix="layers-"))
            )
            while True:
                labels = tuple(frame_label(frame, spec.render.date_format) for frame in kept)
                files = animation_files(spec.slug, len(kept), spec.render.formats)
                target = Target(spec, region, collection, style, palette, kept, labels, files, size)
                encode = partial(self._encode_files, spec)
                attempt = yield from run_attempt(
                    self.work, target, self.renderer_for(spec), tiles, scratch, counts, every_format, encode
                )
                if isinstance(attempt, CoverageCheck):  # min_coverage: again, with thin steps as gaps (or gone)
                    kept, thin = attempt.frames, (*thin, attempt.note or "")
                    continue
                size, kept, retry = budget.next_attempt((self.staging / files.gif).stat().st_size, size, kept)
                if not retry:
                    break
        assert isinstance(attempt, Attempt)  # the loop ends after an attempt that painted its frames
        painter = attempt.painter
        palette = painter.palette  # with a basemap, the palette was made for the last encode's grid
        if not every_format:  # the size budget is settled: the other formats, from the same frames
            others = [encoder for encoder in encoders_of(files) if encoder.name != REQUIRED_FORMAT]
            yield from self._encode_files(spec, files, painter, others, attempt.pictures, attempt.full)
        last_png = (attempt.full or attempt.pictures)[-1]  # true colour: the stills in full colour
        write_still(self.staging / files.poster, last_png)  # the poster is the last frame, as its PNG
        thumbnail = Task(thumbnail_of, (last_png, palette.rgb_bytes(), palette.transparent))
        yield Batch([thumbnail], lambda _, data: write_still(self.staging / files.thumbnail, data))
        empty = empty_frames_warning(attempt.coverage)
        warnings = tuple(warning for warning in (empty, attempt.saturation) if warning)
        notes = (*thin, *painter.notes, *budget.notes, *warnings)
        if painter.legend_patch is not None and files.legend:
            write_poster(self.staging / files.legend, painter.legend_patch, palette.rgb_bytes(), palette.transparent)
        else:
            files = replace(files, legend=None)
        for note in notes:
            log.warning("%s: %s", spec.id, note)
        height, width = painter.frame_shape
        log.info(
            "built %s: %d frames, %d×%d px in %.1f s", spec.id, len(kept), width, height, time.perf_counter() - started
        )
        return AnimationRecord(
            **{**base, "files": files},
            status="ok", collection=collection, style=style, frames=kept, frame_labels=labels,
            legend_colors=palette.legend_hex(16) if style.truecolor is None else (), width=width, height=height,
            legend_classes=legend_classes(categories, painter) if categories else (),
            notes=notes, warnings=warnings, crs=attempt.grid.crs, render=_published_render(spec.render),
            frame_stats=attempt.stats,
        )

    def renderer_for(self, spec: AnimationSpec) -> tuple[Renderer, str, Lane]:
        """(renderer, its name for cache keys, the lane its reads run in) for this animation's source.

        Local reads are CPU-bound: the build's pool. TiTiler calls are I/O-bound: a thread pool
        as wide as the source's per-host bound, in the build's process.
        """
        if self.renderer is not None:
            return self.renderer, "local", self.pool
        key = (spec.collection.source, spec.render.renderer)
        if key not in self._renderers:
            setup = make_renderer(spec.render.renderer, self.site.sources[spec.collection.source], self.processes)
            lane = self.pool
            if setup.threads is not None:
                threads = DaemonThreads(setup.threads, spec.render.renderer)  # Ctrl-C waits for no request
                self.thread_pools.append(threads)
                lane = Lane(threads, max(2, 2 * setup.threads, setup.renderer.concurrency))
            renderer = setup.renderer
            if self.maps is not None and isinstance(renderer, LocalRenderer):
                renderer = renderer.sharing_maps(str(self.maps))
            self._renderers[key] = (renderer, setup.cache_name, lane)
        return self._renderers[key]

    def _encode_files(
        self, spec: AnimationSpec, files: AnimationFiles, painter: OverlayPainter, chosen: Sequence[Encoder],
        pictures: list[bytes], full: list[bytes],
    ) -> Steps:
        """Encode ``chosen`` formats from the frame PNGs, side by side, each a task; with ``full``
        (true colour), the formats that take full-colour frames get those."""
        animation = encoder_animation(painter.frame_shape, painter.palette, len(pictures), spec.render)
        frames, coloured = tuple(pictures), tuple(full)

        def task(encoder: Encoder) -> Task:
            rgb = bool(coloured) and takes_rgb(encoder)
            given = (replace(animation, rgb=True), coloured) if rgb else (animation, frames)
            return Task(encode_file, (encoder, *given, format_options(encoder, spec.render)),
                        None if builtin(encoder) else self.inline)  # None: the build's pool, like every task

        def written(position: int, data: bytes) -> None:
            (self.staging / files.outputs[chosen[position].name]).write_bytes(data)

        yield Batch((task(encoder) for encoder in chosen), written)
