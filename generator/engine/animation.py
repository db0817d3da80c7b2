"""One animation, from its plan to its files: palette, grid, frames, overlays and encoders.

Owns building a single (collection, region) animation into the staging folder — or carrying it
over unchanged when nothing it is made from changed — with the renderer its source asks for,
the size budget, and every output format. Failures are caught here and recorded, so one
animation never stops the others.
"""

from __future__ import annotations

import logging
import posixpath
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from generator.core.canonical import canonical
from generator.core.model import (
    AnimationFiles,
    AnimationRecord,
    CategoricalScheme,
    CollectionInfo,
    FramePlan,
    FrameStats,
    Grid,
    Style,
)
from generator.core.redaction import public_url
from generator.core.specs import RenderSpec
from generator.encode.registry import Animation, Encoder, FrameSink, StreamingEncoder, encoders
from generator.encode.stills import write_poster, write_thumbnail
from generator.engine.failures import failure_detail, failure_reason
from generator.engine.output import RecordStore, carry_over, published_digests
from generator.engine.progress import Progress
from generator.overlays.painter import OverlayPainter, default_attribution, overlay_palette
from generator.plan.animations import AnimationSpec
from generator.plan.categorical import categorical_palette, legend_entries
from generator.plan.coverage import apply_min_coverage
from generator.plan.schedule import AnimationPlan, SearchCache, frame_label, plan_animation
from generator.plan.site import SitePlan
from generator.render.cache import FrameCache, animation_fingerprint
from generator.render.layers import (
    LayerSource,
    PreparedGrid,
    empty_frames_warning,
    prepare_grid,
    saturated_end,
    saturation_warning,
    survey,
    value_percentiles,
)
from generator.render.local import Renderer
from generator.render.palette import Palette, nodata_rgb, with_reserved
from generator.render.registry import make_renderer
from generator.render.truecolor import PaletteMapper, palette_colors, truecolor_palette
from generator.site.locator import outline_rings
from generator.sources.geodata import CREDIT as GEODATA_CREDIT
from generator.sources.regions import Region
from generator.sources.registry import Source

if TYPE_CHECKING:
    from generator.overlays.basemap import Basemap

log = logging.getLogger(__name__)


def animation_files(slug: str, frame_count: int = 0, formats: Sequence[str] = ("gif",)) -> AnimationFiles:
    folder = f"animations/{slug}"
    return AnimationFiles(
        page=f"{folder}/index.html",
        outputs={
            encoder.name: f"{folder}/{slug}{encoder.suffix}"
            for encoder in encoders() if encoder.name in formats or encoder.name == "gif"
        },
        poster=f"{folder}/poster.png",
        thumbnail=f"{folder}/thumbnail.png",
        legend=f"{folder}/legend.png",
        frames=tuple(f"{folder}/frames/{number:04d}.png" for number in range(1, frame_count + 1)),
    )


def frame_durations(frame_count: int, render: RenderSpec) -> list[int]:
    """Every frame shows for ``frame_ms``; the last one also holds the end pause."""
    durations = [render.frame_ms] * frame_count
    durations[-1] += render.end_pause_ms
    return durations


def _read_indices(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


class AnimationBuilder:
    """Builds one animation into the staging folder; knows nothing of the others."""

    def __init__(
        self,
        site: SitePlan,
        staging: Path,
        renderer: Renderer | None,
        sources: Callable[[str], Source],
        options: BuildOptions,
        cache: FrameCache,
        pool: Executor | None,
        progress: Progress,
        store: RecordStore,
        output: Path,
    ):
        self.site = site
        self.staging = staging
        self.renderer = renderer  # None: each animation gets the renderer its config names
        self._renderers: dict[tuple[str, str], tuple[Renderer, str, Executor | None]] = {}
        self.thread_pools: list[ThreadPoolExecutor] = []
        self.sources = sources
        self.options = options
        self.cache = cache
        self.pool = pool
        self.progress = progress
        self.store = store
        self.output = output
        self.reused: set[str] = set()  # animations carried over unchanged from the last build
        self.searches = SearchCache(cache.root, site.cache.search_ttl)  # --no-cache: no search cache either

    def build(self, spec: AnimationSpec, region: Region) -> AnimationRecord:
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
            planned = plan_animation(spec, region, self.sources(source), self.site.sources[source], self.searches)
            collection, style, frames = planned.collection, planned.style, planned.frames
            base["assets"] = planned.assets
            fingerprint = self._fingerprint(spec, region, planned)
            previous = self.store.load(spec.slug)
            if (
                self.options.use_cache and previous is not None and previous.status == "ok"
                and previous.fingerprint == fingerprint
                and carry_over(previous, self.output, self.staging)
            ):
                self.reused.add(spec.id)
                for warning in previous.warnings:
                    log.warning("%s: %s", spec.id, warning)
                return previous  # nothing it is made from changed: its verified files are linked as they are
            record = self._render(spec, region, files, collection, style, frames, base)
            record = replace(
                record, fingerprint=fingerprint, output_dir=str(self.output),
                published=published_digests(self.staging, record.files),
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
    ) -> AnimationRecord:
        started = time.perf_counter()
        categories = style.categories
        palette = categorical_palette(categories) if categories else overlay_palette(style.colormap, region.border_layers)
        nodata = nodata_rgb(style.nodata_color, palette)
        palette = with_reserved(palette, {"nodata": nodata}) if nodata else palette
        (self.staging / files.gif).parent.mkdir(parents=True, exist_ok=True)
        budget = SizeBudget(spec.render.max_bytes, spec.render.drop_frames)
        size, kept = spec.render.size, frames
        thin: tuple[str, ...] = ()  # notes of min_coverage
        with ExitStack() as scope:
            # Basemap tiles are kept in the cache folder between builds; with --no-cache, for this animation only.
            tiles = self.cache.root / "tiles" if self.cache.root is not None else None
            if tiles is None and spec.render.basemap:
                tiles = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="tiles-")))
            # Layers are read twice (a survey for the overlays, then the frames): with --no-cache,
            # a cache for this animation only keeps the second read from rendering them again.
            scratch = None if self.cache.root is not None else FrameCache(
                Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="layers-")))
            )
            while True:
                labels = tuple(frame_label(frame, spec.render.date_format) for frame in kept)
                files = animation_files(spec.slug, len(kept), spec.render.formats)
                grid, last, painter, coverage, saturation, stats = self._encode(
                    spec, region, collection, files, style, palette, kept, labels, size, tiles, scratch
                )
                # min_coverage: thin steps become gaps (or go), then encode again from the cached layers.
                checked = apply_min_coverage(kept, coverage, spec.collection.min_coverage, spec.render.gaps, spec.render.date_format)
                if checked.note is not None:
                    kept, thin = checked.frames, (*thin, checked.note)
                    continue
                size, kept, retry = budget.next_attempt((self.staging / files.gif).stat().st_size, size, kept)
                if not retry:
                    break
        palette = painter.palette  # with a basemap, the palette was made for the last encode's grid
        write_poster(self.staging / files.poster, last, palette.rgb_bytes(), palette.transparent)
        write_thumbnail(self.staging / files.thumbnail, last, palette.rgb_bytes(), palette.transparent)
        self._encode_from_frames(spec, files, palette, painter.frame_shape)
        empty = empty_frames_warning(coverage)
        warnings = tuple(warning for warning in (empty, saturation) if warning)
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
            legend_classes=_classes(categories, painter) if categories else (),
            notes=notes, warnings=warnings, crs=grid.crs, render=_published_render(spec.render),
            frame_stats=stats,
        )

    def renderer_for(self, spec: AnimationSpec) -> tuple[Renderer, str, Executor | None]:
        """(renderer, its name for cache keys, the pool to run it in) for this animation's source.

        Local reads are CPU-bound: the process pool. TiTiler calls are I/O-bound: a thread pool
        as wide as the source's per-host bound.
        """
        if self.renderer is not None:
            return self.renderer, "local", self.pool
        key = (spec.collection.source, spec.render.renderer)
        if key not in self._renderers:
            setup = make_renderer(spec.render.renderer, self.site.sources[spec.collection.source])
            pool = self.pool
            if setup.threads is not None:
                pool = ThreadPoolExecutor(max_workers=setup.threads, thread_name_prefix=spec.render.renderer)
                self.thread_pools.append(pool)
            self._renderers[key] = (setup.renderer, setup.cache_name, pool)
        return self._renderers[key]

    def _encode_from_frames(
        self, spec: AnimationSpec, files: AnimationFiles, palette: Palette, shape: tuple[int, int]
    ) -> None:
        """The formats not streamed while painting (WebP, MP4, …), from the exact frame PNGs
        already on disk (no second render).

        The encoders run side by side: libwebp and x264 release the GIL while they work.
        """
        animation = _animation(shape, palette, len(files.frames), spec.render)

        def frames() -> Iterator[np.ndarray]:
            return (_read_indices(self.staging / path) for path in files.frames)

        def encoding(encoder: Encoder, path: Path) -> Callable[[], None]:
            return lambda: encoder.encode(path, animation, frames(), _options(encoder, spec.render))

        jobs = [
            encoding(encoder, self.staging / files.outputs[encoder.name])
            for encoder in _encoders_of(files) if not isinstance(encoder, StreamingEncoder)
        ]
        if len(jobs) < 2:
            for job in jobs:
                job()
            return
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="encode") as threads:
            for future in [threads.submit(job) for job in jobs]:
                future.result()  # the first failure is raised; the other encoder still finishes

    def _encode(
        self,
        spec: AnimationSpec,
        region: Region,
        collection: CollectionInfo,
        files: AnimationFiles,
        style: Style,
        palette: Palette,
        frames: tuple[FramePlan, ...],
        labels: tuple[str, ...],
        size: int,
        tiles: Path | None,
        scratch: FrameCache | None,
    ) -> tuple[Grid, np.ndarray, OverlayPainter, list[float], str | None, tuple[FrameStats | None, ...]]:
        """Render every frame at ``size`` and stream it into the animation files; returns the last
        (with the layers' coverage, a saturation warning, and each frame's statistics: none for
        categorical styles).

        With a basemap the frames are in Web Mercator, ``palette`` only lends its reserved
        entries (the painter's palette is the one the files use) and ``tiles`` caches the tiles.
        The layers are surveyed first (where the data is, whether some is missing), so the
        overlays are laid out for the whole animation before its first frame is painted; the
        survey counts as the layers' read (cache hits and misses), the second read is silent,
        from the cache (``scratch`` without one).
        """
        settings = spec.render.basemap
        if settings:  # deferred: the basemap code (and scipy) is imported only when a basemap is drawn
            from generator.overlays.basemap import (
                BASEMAP_DATA_LEVELS,
                WEB_MERCATOR,
                TileFetcher,
                basemap_attribution,
                data_level_colors,
                load_basemap,
            )
        prepared = prepare_grid(region, WEB_MERCATOR if settings else spec.render.crs, size)
        grid = prepared.grid
        overlays = spec.render.overlays
        categories = style.categories
        if categories or style.truecolor:
            # The frame legend is a continuous colour bar; classes are listed on the page instead
            # (true colour has no scale: the page names the channels).
            overlays = replace(overlays, legend=replace(overlays.legend, show=False))
        basemap: Basemap | None = None
        data_credit = overlays.attribution.text if overlays.attribution.text is not None else default_attribution(collection)
        borders_credit = f"Borders: {region.border_credit}" if overlays.borders and region.border_credit else None
        attribution = " · ".join(part for part in (data_credit, borders_credit) if part) or None
        renderer, renderer_name, pool = self.renderer_for(spec)
        source = LayerSource(
            prepared, style, palette, renderer, renderer_name, self.cache, pool,
            look_ahead=max(2, 2 * self.options.jobs, renderer.concurrency), scratch=scratch,
        )
        colors = None
        if style.truecolor is not None:  # the palette pass: every frame's colours, read (and cached) once
            colors = palette_colors(
                source.layers([frame for frame in frames if frame.items]), BASEMAP_DATA_LEVELS if settings else palette.n_levels
            )
            palette = palette if settings else truecolor_palette(colors, palette, style.nodata_color)
            source = replace(source, cache=(scratch if scratch is not None else self.cache).again(), scratch=None)
        if settings:
            data_colors = colors if colors is not None else palette.data_colors() if categories else data_level_colors(style.colormap)
            assert tiles is not None  # _render gives a folder whenever there is a basemap
            fetcher = TileFetcher(settings.url, tiles)
            basemap = load_basemap(settings, grid, prepared.inside, data_colors, palette, fetcher)
            palette = basemap.palette
            # The basemap's attribution is mandatory: drawn even when the overlay is switched off.
            attribution = basemap_attribution(settings, attribution if overlays.attribution else None)
            overlays = replace(overlays, attribution=replace(overlays.attribution, show=True))
        mapping = PaletteMapper(palette, prepared.inside) if style.truecolor is not None else None
        source = replace(source, palette=palette, mapping=mapping)
        surveyed = survey(source.layers(frames), grid.shape, palette.n_levels, palette.index("nodata"))
        coverage = list(source.coverage)  # measured once, on the survey's read
        saturation = self._saturation(source, frames, style, prepared) if not (categories or style.truecolor) else None
        reread = (scratch if scratch is not None else self.cache).again()
        source = replace(source, cache=reread, scratch=None, coverage=[], ends=[0, 0, 0], stats=[])
        painter = OverlayPainter.create(
            overlays, grid, style, border_layers=region.border_layers, collection=collection,
            region_title=region.title, labels=labels, frame_count=len(frames), palette=palette,
            attribution=attribution, layout=spec.render.layout, coverage=surveyed.coverage, font=spec.render.font,
            nodata=surveyed.nodata and basemap is None,  # over a basemap, missing data shows the map
        )
        last: np.ndarray | None = None
        shutil.rmtree(self.staging / posixpath.dirname(files.frames[0]), ignore_errors=True)
        animation = _animation(painter.frame_shape, palette, len(frames), spec.render)
        with ExitStack() as scope:
            sinks: list[FrameSink] = [
                scope.enter_context(
                    encoder.open(self.staging / files.outputs[encoder.name], animation, _options(encoder, spec.render))
                )
                for encoder in _encoders_of(files) if isinstance(encoder, StreamingEncoder)
            ]
            for number, (layer, label) in enumerate(zip(source.layers(frames), labels, strict=True)):
                # The basemap goes under the cached data layer, like the overlays go over it.
                last = painter.compose(basemap.composite(layer) if basemap else layer, number, label)
                for sink in sinks:
                    sink.add_frame(last, animation.durations_ms[number])
                self.progress.frame_done()
                write_poster(self.staging / files.frames[number], last, palette.rgb_bytes(), palette.transparent)
        assert last is not None
        stats = tuple(source.stats) if style.categories is None and style.truecolor is None else ()
        return grid, last, painter, coverage, saturation, stats

    @staticmethod
    def _saturation(source: LayerSource, frames: Sequence[FramePlan], style: Style, prepared: PreparedGrid) -> str | None:
        """The warning for data mostly at one end of the rescale, naming the data's percentiles."""
        end = saturated_end(source.ends)
        if end is None:
            return None
        percentiles = value_percentiles(frames, prepared.grid, style, prepared.inside, source.renderer, prepared.region)
        return saturation_warning(style, *end, percentiles)


def _classes(categories: CategoricalScheme, painter: OverlayPainter) -> tuple[tuple[str, str], ...]:
    """The page's classes, with a "No data" entry when frames lack values inside the region."""
    entries = tuple(legend_entries(categories))
    if not painter.nodata_swatch:
        return entries
    red, green, blue = (int(value) for value in painter.palette.colors[painter.palette.index("nodata")])
    return (*entries, ("No data", f"#{red:02x}{green:02x}{blue:02x}"))


def _encoders_of(files: AnimationFiles) -> list[Encoder]:
    """The encoders of the animation's formats, in registry order."""
    return [encoder for encoder in encoders() if encoder.name in files.outputs]


def _animation(shape: tuple[int, int], palette: Palette, frame_count: int, render: RenderSpec) -> Animation:
    return Animation(
        width=shape[1], height=shape[0], palette_rgb=palette.rgb_bytes(), transparent=palette.transparent,
        durations_ms=tuple(frame_durations(frame_count, render)), loop=render.loop,
    )


def _options(encoder: Encoder, render: RenderSpec) -> Any:
    """A format's options: the ``render.<format name>`` section, when the config has one."""
    return render.format_options(encoder.name)


def map_credits(spec: AnimationSpec, region: Region) -> tuple[tuple[str, str], ...]:
    """Who to credit for what the frames draw besides the data: border lines, the geographic
    context (Natural Earth: public domain, credited all the same) and basemap tiles."""
    credits: list[tuple[str, str]] = []
    if spec.render.overlays.borders and region.border_credit:
        credits.append(("Borders", region.border_credit))
    if spec.render.overlays.context:
        credits.append(("Geography", GEODATA_CREDIT))
    if spec.render.basemap:
        credits.append(("Basemap", spec.render.basemap.attribution))
    return tuple(credits)


def _published_render(render: RenderSpec) -> dict[str, Any]:
    """The render settings as pages and provenance show them: a tile URL's API key stripped."""
    settings: dict[str, Any] = canonical(render)
    if settings.get("basemap"):
        settings["basemap"]["url"] = public_url(settings["basemap"]["url"])
    return settings


MIN_BUDGET_SIZE = 96  # px: below this a map is unreadable, so the size budget stops shrinking here
BUDGET_SHRINK = 0.8


@dataclass
class SizeBudget:
    """``render.max_bytes``: shrink the frames step by step, drop frames only when allowed."""

    max_bytes: int | None
    drop_frames: bool
    notes: list[str] = field(default_factory=list)

    def next_attempt(
        self, gif_bytes: int, size: int, frames: tuple[FramePlan, ...]
    ) -> tuple[int, tuple[FramePlan, ...], bool]:
        """(size, frames, retry) for the next encode, recording what was changed."""
        if self.max_bytes is None or gif_bytes <= self.max_bytes:
            return size, frames, False
        over = f"the GIF ({gif_bytes:,} bytes) is over max_bytes ({self.max_bytes:,})"
        if size > MIN_BUDGET_SIZE:
            smaller = max(MIN_BUDGET_SIZE, int(size * BUDGET_SHRINK))
            self.notes.append(f"{over} at {size} px: size reduced to {smaller} px")
            return smaller, frames, True
        if self.drop_frames and len(frames) > 2:
            kept = frames[::2] if (len(frames) - 1) % 2 == 0 else (*frames[::2], frames[-1])
            self.notes.append(f"{over} at {size} px: dropped {len(frames) - len(kept)} of {len(frames)} frames")
            return size, kept, True
        hint = "" if self.drop_frames else "; set render.drop_frames: true to allow dropping frames"
        self.notes.append(f"{over} even at {size} px{hint}")
        return size, frames, False


@dataclass(frozen=True)
class BuildOptions:
    """How to build (not what): parallelism, cache, strictness.

    ``jobs > 1`` renders local frames in worker processes (the ``forkserver`` start method): a
    script that calls ``build`` itself must do so under ``if __name__ == "__main__":``.
    """

    jobs: int = 1
    cache_dir: Path | str | None = None  # None: `.cache/` beside the config; a str may be a URL (s3://…)
    use_cache: bool = True
    strict: bool = False
    scheduler: str | None = None  # a Dask scheduler's address: the tasks run on its workers
