"""One attempt at an animation's frames and files at one size (the size budget may ask for more).

Owns the steps of an attempt as a pipeline (``engine.graph``): the region's grid and mask
(a task, once per build for each region, CRS and size); for true colour, a palette pass
first (each layer read or rendered and its colours sampled, tasks; then the animation's one
palette); the data layers are read or rendered (tasks) and surveyed as they come; the time
steps below ``collections[].min_coverage`` are found (the attempt ends there, to be made again
with them as gaps); the overlays are laid out for the whole animation (a task: the borders
are projected and rasterized there); the frames are painted in chunks (tasks) and their PNGs
written; then the encoders run (tasks), the GIF alone while the size budget may still shrink the frames. A true-colour
animation's frames are painted in full colour too: those are its frame PNGs, and what the
formats that take them (``encode.registry.takes_rgb``: WebP, MP4) encode; the GIF keeps the
palette frames.
"""

from __future__ import annotations

import math
import posixpath
import shutil
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.core.model import AnimationFiles, CollectionInfo, FramePlan, FrameStats, Grid, Style
from generator.encode.registry import REQUIRED_FORMAT, Encoder
from generator.engine.files import encoders_of
from generator.engine.graph import Awaiting, Batch, Lane, Task, awaited
from generator.engine.progress import AnimationStats, Progress
from generator.engine.survey import LayerTally
from generator.engine.tasks import (
    LayerJob,
    LayerRead,
    Painted,
    PaintJob,
    SurveyRead,
    lay_out_overlays,
    layer_colors,
    paint_frames,
    region_grid,
    survey_layers,
)
from generator.overlays.painter import OverlayPainter, default_attribution
from generator.plan.animations import AnimationSpec
from generator.plan.coverage import CoverageCheck, apply_min_coverage
from generator.render.cache import FrameCache, LayerStore, ScratchLayers, layer_key
from generator.render.frames import for_series, reads_at_once
from generator.render.layers import Levels, PreparedGrid, saturated_end, saturation_warning, value_percentiles
from generator.render.local import Renderer
from generator.render.palette import Palette
from generator.render.truecolor import PaletteMapper, sampled_palette_colors, truecolor_palette
from generator.sources.regions import Region

if TYPE_CHECKING:
    from generator.overlays.basemap import Basemap

#: At most this many frames are painted by one task (fewer when that keeps every slot busy).
PAINT_CHUNK = 8
#: At most this many frames' layers are read by one task of the survey (fewer when that keeps
#: every task in flight busy; remote files: as many as a task reads at once).
READ_CHUNK = 4

Steps = Generator[Batch, None, Any]
#: A region's grid: its outline (lon/lat), the ``render.crs`` option and the size.
GridKey = tuple[Any, str, int]
#: Encodes the given formats of an attempt from its frame PNGs: (files, painter, encoders, palette
#: PNGs, full-colour PNGs — none unless true colour).
EncodeFiles = Callable[[AnimationFiles, OverlayPainter, Sequence[Encoder], list[bytes], list[bytes]], Steps]


@dataclass
class Attempt:
    """One encode of an animation at one size: what the record and the stills are made from."""

    grid: Grid
    painter: OverlayPainter
    coverage: list[float]
    saturation: str | None
    stats: tuple[FrameStats | None, ...]
    pictures: list[bytes]  # the frame PNGs, in order
    full: list[bytes] = field(default_factory=list)  # true colour: the full-colour frame PNGs, in order


@dataclass(frozen=True)
class Workspace:
    """What every attempt of the build shares: where files go, the frame cache, the progress."""

    staging: Path
    cache: FrameCache
    progress: Progress
    in_flight: int  # tasks kept in flight in the build's pool
    #: Regions' grids made so far, by (outline, CRS option, size): one task each per build.
    grids: dict[GridKey, PreparedGrid] = field(default_factory=dict)
    #: The grids asked of a task: each future ends with the grid, or with None if it could not be
    #: made there (the asker then asks again itself). An attempt that needs a grid still on its
    #: way waits for it (lane ``awaiting``) instead of sending a second task for it.
    asked: dict[GridKey, Future[PreparedGrid | None]] = field(default_factory=dict)
    awaiting: Lane = field(default_factory=lambda: Lane(Awaiting(), limit=1 << 30))


@dataclass(frozen=True)
class Target:
    """What one attempt makes: an animation's frames at ``size`` into ``files``."""

    spec: AnimationSpec
    region: Region
    collection: CollectionInfo
    style: Style
    palette: Palette
    frames: tuple[FramePlan, ...]
    labels: tuple[str, ...]
    files: AnimationFiles
    size: int


def run_attempt(
    work: Workspace,
    target: Target,
    reader: tuple[Renderer, str, Lane],
    tiles: Path | None,
    scratch: Path | None,
    counts: AnimationStats,
    every_format: bool,
    encode: EncodeFiles,
) -> Generator[Batch, None, Attempt | CoverageCheck]:
    """Render every frame at ``target.size`` into the staging folder with its files (all of them
    with ``every_format``, else the GIF alone); returns what the record is made from — or, when
    some time steps cover less of the region than ``collections[].min_coverage``, the frames
    to make again instead (nothing painted yet; their layers are in the cache).

    With a basemap the frames are in Web Mercator, ``target.palette`` only lends its reserved
    entries (the painter's palette is the one the files use) and ``tiles`` caches the tiles.
    The layers are surveyed first (where the data is, whether some is missing), so the overlays
    are laid out for the whole animation before its first frame is painted; the first read of
    the layers (the survey, or a true-colour animation's palette pass) counts as their read
    (cache hits and misses), the later ones read them again from the cache (without one, from
    the animation's ``scratch`` folder: ``render.cache.ScratchLayers``).
    """
    spec, region, style, frames, files = target.spec, target.region, target.style, target.frames, target.files
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
    prepared = yield from _region_grid(work, region, WEB_MERCATOR if settings else spec.render.crs, target.size)
    grid = prepared.grid
    overlays = spec.render.overlays
    categories, truecolor = style.categories, style.truecolor is not None
    if categories or truecolor:
        # The frame legend is a continuous colour bar; classes are listed on the page instead
        # (true colour has no scale: the page names the channels).
        overlays = replace(overlays, legend=replace(overlays.legend, show=False))
    palette = target.palette
    basemap: Basemap | None = None
    collection = target.collection
    data_credit = overlays.attribution.text if overlays.attribution.text is not None else default_attribution(collection)
    borders_credit = f"Borders: {region.border_credit}" if overlays.borders and region.border_credit else None
    attribution = " · ".join(part for part in (data_credit, borders_credit) if part) or None
    renderer, renderer_name, lane = reader
    renderer = for_series(renderer, sum(1 for frame in frames if frame.items))  # whether a read map pays
    look_up = work.cache.root is not None
    store: LayerStore
    if look_up:
        store = work.cache
    else:
        assert scratch is not None  # without a cache, the animation gives a scratch folder
        store = ScratchLayers.for_animation(scratch, len(frames), grid.shape, 4 if truecolor else 1)

    # The outline goes with every task of a renderer that clips with it (tens of kB for a region
    # of many départements); the local reads clip with the mask.
    outline = prepared.region if getattr(renderer, "needs_region", True) else None
    region_mask = prepared.region_mask

    def layer_jobs(levels: Levels, mapping: PaletteMapper | None = None) -> list[LayerJob]:
        key_levels = 0 if truecolor else levels.n_levels  # RGBA layers are cached before any palette
        return [
            LayerJob(
                layer_key(frame, grid, style, prepared.region_digest, key_levels, renderer_name) if frame.items else None,
                frame, grid, style, region_mask, levels, renderer, outline, mapping,
            )
            for frame in frames
        ]

    def count(read: LayerRead | SurveyRead) -> None:
        if look_up:
            if read.cached:
                counts.cached += 1
            else:
                counts.rendered += 1

    def chunks(data: list[int]) -> list[list[int]]:
        """The data frames a task reads: a few per task when that still gives every task in flight
        in the lane one, so that fewer round trips to the workers are paid (a thread lane, as
        wide as its frames, keeps one); when the reads wait on the network (remote COGs), as many
        as a task reads at once (its process's part of the source's ``http.max_cog_reads``)."""
        at_once = reads_at_once(renderer, [frames[number] for number in data])
        size = at_once if at_once > 1 else max(1, min(READ_CHUNK, len(data) // max(1, lane.limit)))
        return [data[start:start + size] for start in range(0, len(data), size)]

    colors = None
    if truecolor:  # the palette pass: every data frame's colours, its layer read (and cached) once
        jobs = layer_jobs(Levels(palette.n_levels, palette.transparent, palette.index("nodata")))
        data = [number for number, job in enumerate(jobs) if job.key is not None]
        samples: dict[int, Any] = {}
        sampling = chunks(data)

        def sampled(position: int, found: list[LayerRead]) -> None:
            for number, read in zip(sampling[position], found, strict=True):
                samples[number] = read.layer
                count(read)

        yield Batch(
            (Task(layer_colors, ([jobs[number] for number in chunk], store, True), lane) for chunk in sampling), sampled
        )
        colors = sampled_palette_colors(
            [samples[number] for number in sorted(samples)], BASEMAP_DATA_LEVELS if settings else palette.n_levels
        )
        palette = palette if settings else truecolor_palette(colors, palette, style.nodata_color)
    if settings:
        data_colors = colors if colors is not None else palette.data_colors() if categories else data_level_colors(style.colormap)
        assert tiles is not None  # the animation gives a folder whenever there is a basemap
        fetcher = TileFetcher(settings.url, tiles)
        basemap = load_basemap(settings, grid, prepared.inside, data_colors, palette, fetcher)
        palette = basemap.palette
        # The basemap's attribution is mandatory: drawn even when the overlay is switched off.
        attribution = basemap_attribution(settings, attribution if overlays.attribution else None)
        overlays = replace(overlays, attribution=replace(overlays.attribution, show=True))
    levels = Levels(palette.n_levels, palette.transparent, palette.index("nodata"))
    jobs = layer_jobs(levels, PaletteMapper(palette, prepared.inside) if truecolor else None)
    tally = LayerTally(prepared.inside, palette.n_levels, levels.nodata, len(frames))
    data = [number for number, job in enumerate(jobs) if job.key is not None]
    for _ in range(len(frames) - len(data)):
        tally.add_gap()

    reads = chunks(data)

    def surveyed(position: int, found: list[SurveyRead]) -> None:
        for number, read in zip(reads[position], found, strict=True):
            tally.add(number, read.survey, read.stats)
            if not truecolor:  # a true-colour layer was counted by the palette pass
                count(read)

    # The store is looked up even without a cache: the scratch one holds this animation's layers
    # from the palette pass or an earlier attempt.
    yield Batch((Task(survey_layers, ([jobs[number] for number in chunk], store, True), lane) for chunk in reads), surveyed)
    # min_coverage: thin steps become gaps (or go); the animation makes the attempt again with them.
    checked = apply_min_coverage(
        frames, tally.coverage, spec.collection.min_coverage, spec.render.gaps, spec.render.date_format
    )
    if checked.note is not None:
        return checked
    saturation = None
    end = saturated_end(tally.ends) if not (categories or truecolor) else None
    if end is not None:  # the data mostly at one end of the rescale: measure their percentiles
        found: list[tuple[float, float] | None] = []
        yield Batch(
            [Task(value_percentiles, (frames, grid, style, prepared.inside, renderer, prepared.region), lane)],
            lambda _, percentiles: found.append(percentiles),
        )
        saturation = saturation_warning(style, *end, found[0])
    laid_out: list[OverlayPainter] = []
    layout = dict(
        border_layers=region.border_layers, collection=collection, region_title=region.title,
        labels=target.labels, frame_count=len(frames), palette=palette, attribution=attribution,
        layout=spec.render.layout, coverage=tally.coverage_map, font=spec.render.font,
        nodata=tally.missing and basemap is None,  # over a basemap, missing data shows the map
    )
    yield Batch([Task(lay_out_overlays, (overlays, grid, style, layout))], lambda _, painter: laid_out.append(painter))
    painter = laid_out[0]
    paint = PaintJob(painter, basemap, store, truecolor, settings.opacity if settings else 1.0)
    pictures, full = yield from _paint(work, files, paint, jobs, target.labels)
    chosen = encoders_of(files) if every_format else [e for e in encoders_of(files) if e.name == REQUIRED_FORMAT]
    yield from encode(files, painter, chosen, pictures, full)
    stats = tuple(tally.stats) if categories is None and not truecolor else ()
    return Attempt(grid, painter, tally.coverage, saturation, stats, pictures, full)


def _region_grid(
    work: Workspace, region: Region, crs_option: str, size: int
) -> Generator[Batch, None, PreparedGrid]:
    """The region's grid (``render.layers.prepare_grid``), made by a task the first time the
    build asks for it (see ``engine.tasks.region_grid``; or ahead, :func:`grids_ahead`), then
    kept for the build's other animations over the region. One asked for and still on its way
    is waited for, not asked for again."""
    key = (region.geometry, crs_option, size)
    waited: set[Future[PreparedGrid | None]] = set()
    while key not in work.grids:
        pending = work.asked.get(key)
        if pending is None or pending in waited:
            # Not asked for yet, or it could not be made where it was: this attempt asks (a
            # failure then fails it, with the reason).
            work.asked.pop(key, None)
            yield from grids_ahead(work, [key])
        else:
            waited.add(pending)
            yield Batch([Task(awaited, (pending,), work.awaiting)])
    return work.grids[key]


def first_grid(spec: AnimationSpec, region: Region) -> GridKey | None:
    """What the first attempt at ``spec`` asks :func:`_region_grid` for; None with a basemap
    (its grid is in Web Mercator, and its tiles are fetched in this process anyway)."""
    return None if spec.render.basemap else (region.geometry, spec.render.crs, spec.render.size)


def grids_ahead(work: Workspace, keys: Sequence[GridKey]) -> Generator[Batch, None, None]:
    """The regions' grids of ``keys`` neither made nor asked for yet, one task each, kept in
    ``work.grids``.

    The build asks for its new animations' grids this way before they are planned: with worker
    processes, the grids are made while the build's process plans, instead of one after the
    other with it at the start of each attempt. Whatever becomes of the tasks (made, failed, the
    build stopped), every grid asked for here is settled, so no attempt waits for it forever.
    """
    wanted = [key for key in dict.fromkeys(keys) if key not in work.grids and key not in work.asked]
    if not wanted:
        return
    settled: list[Future[PreparedGrid | None]] = [Future() for _ in wanted]
    work.asked.update(zip(wanted, settled, strict=True))

    def made(position: int, prepared: PreparedGrid) -> None:
        work.grids.setdefault(wanted[position], prepared)
        settled[position].set_result(prepared)

    try:
        yield Batch([Task(region_grid, key) for key in wanted], made)
    finally:
        for future in settled:
            if not future.done():
                future.set_result(None)


def _paint(
    work: Workspace, files: AnimationFiles, job: PaintJob, layers: list[LayerJob], labels: tuple[str, ...]
) -> Generator[Batch, None, tuple[list[bytes], list[bytes]]]:
    """Paint the frames in chunks, one task each, writing their PNGs as they come (the full-colour
    ones for true colour); returns the palette PNGs and the full-colour ones (none without)."""
    shutil.rmtree(work.staging / posixpath.dirname(files.frames[0]), ignore_errors=True)
    (work.staging / posixpath.dirname(files.frames[0])).mkdir(parents=True)
    count = len(layers)
    # Two chunks per slot at least: enough to share them out, few enough that the painter (its
    # masks and fonts, sent with every chunk) is not sent more often than it needs to be.
    size = max(1, min(PAINT_CHUNK, math.ceil(count / max(1, work.in_flight // 2))))
    chunks = [range(start, min(start + size, count)) for start in range(0, count, size)]
    pictures = [b""] * count
    full = [b""] * count if job.truecolor else []

    def painted(position: int, result: list[Painted]) -> None:
        for number, (picture, coloured) in zip(chunks[position], result, strict=True):
            (work.staging / files.frames[number]).write_bytes(coloured or picture)
            pictures[number] = picture
            if coloured is not None:
                full[number] = coloured
            work.progress.frame_done()

    yield Batch(
        (Task(paint_frames, (job, [(number, layers[number], labels[number]) for number in chunk])) for chunk in chunks),
        painted,
    )
    return pictures, full
