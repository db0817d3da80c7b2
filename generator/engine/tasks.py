"""The build's tasks: top-level functions of picklable arguments, run wherever the executor runs them.

Owns the work an animation hands to the executor (see ``engine.graph``): the region's grid and
mask (:func:`region_grid`) and the overlays' layout (:func:`lay_out_overlays`), a frame's data layer
(:func:`read_layer`, a few frames' at a time surveyed: :func:`survey_layers`; for true colour first their colours, :func:`layer_colors`), its finished frames with the overlays as PNG bytes (:func:`paint_frames`)
and each output file (:func:`encode_file`); a true-colour frame also in full colour
(``render.rgbframe``: the data in its own colours, for WebP, MP4 and the frame PNGs).
A task uses nothing but its arguments (and per-process memo caches); it returns its result small — a layer, PNG or file bytes — or writes
it to the frame cache, and never writes into the staging or output folder: the build's own
process does, so workers need no disk shared with it.
"""

from __future__ import annotations

import copy
import io
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image
from shapely.geometry.base import BaseGeometry

from generator.core.bitmask import Bitmask
from generator.core.model import FramePlan, FrameStats, Grid, Style
from generator.encode.indexed import png_indices
from generator.encode.registry import Animation, Encoder
from generator.encode.stills import poster_png, thumbnail_webp
from generator.engine.survey import LayerSurvey, survey_layer
from generator.overlays.painter import OverlayPainter
from generator.render.cache import LayerStore
from generator.render.frames import read_overlapped, reads_at_once
from generator.render.layers import Levels, PreparedGrid, grid_of_outline, layer_and_stats
from generator.render.local import Renderer
from generator.render.rgbframe import palette_rgba, rgb_frame
from generator.render.truecolor import PaletteMapper, sample_colors

if TYPE_CHECKING:
    from generator.core.specs import OverlaysSpec
    from generator.overlays.basemap import Basemap


Read = TypeVar("Read")

@dataclass(frozen=True)
class LayerJob:
    """One frame's data layer: its frame-cache key (None: a gap frame, no data) and how to make it.

    A true-colour layer is an RGBA image (as the cache keeps it) until ``mapping`` turns it into
    the animation's palette indices; ``mapping`` is None until that palette is known.
    """

    key: str | None
    frame: FramePlan
    grid: Grid
    style: Style
    region_mask: Bitmask  # one object for the frames of an attempt: a task carries it once
    levels: Levels
    renderer: Renderer
    region: BaseGeometry | None = None
    mapping: PaletteMapper | None = None

    @property
    def inside(self) -> np.ndarray:
        """The region's pixels on ``grid``."""
        return self.region_mask.array

    def gap(self) -> np.ndarray:
        """A frame without data: no-data inside the region, transparent outside it."""
        return np.where(self.inside, self.levels.nodata, self.levels.transparent).astype(np.uint8)

    def render(self) -> tuple[np.ndarray, FrameStats | None]:
        return layer_and_stats(self.frame, self.grid, self.style, self.inside, self.levels, self.renderer, self.region)

    def mapped(self, layer: np.ndarray) -> np.ndarray:
        """The layer as palette indices (a true-colour layer through ``mapping``)."""
        return self.mapping(layer) if self.mapping is not None else layer


def region_grid(outline: BaseGeometry, crs_option: str, size: int) -> PreparedGrid:
    """The grid of a region's ``outline`` (lon/lat), its inside mask and the outline projected
    (``render.layers.prepare_grid``), kept by the process for the rest of the build.

    A task because it is what needs PROJ and GDAL (≈ 0.3 s of imports) in the build's process
    when workers do the reading: a worker has both loaded already.
    """
    return grid_of_outline(outline, crs_option, size)


def lay_out_overlays(settings: OverlaysSpec, grid: Grid, style: Style, options: dict[str, Any]) -> OverlayPainter:
    """``OverlayPainter.create(settings, grid, style, **options)``: the overlays of an animation
    laid out, their borders projected and rasterized (PROJ and GDAL again, see :func:`region_grid`)."""
    return OverlayPainter.create(settings, grid, style, **options)


@dataclass(frozen=True)
class LayerRead:
    """What :func:`read_layer` found: the layer, its statistics, and whether the cache had it."""

    layer: np.ndarray
    stats: FrameStats | None
    cached: bool


def read_layer(job: LayerJob, cache: LayerStore, look_up: bool) -> LayerRead:
    """The frame's layer from ``cache`` (when ``look_up``), else rendered and stored in it;
    returned as palette indices (the cache keeps a true-colour layer as RGBA)."""
    assert job.key is not None, "gap frames are no task"
    store = copy.copy(cache)  # inline, the build's own cache object keeps its counts
    entry = store.get_entry(job.key, job.grid.shape) if look_up else None
    if entry is not None:
        return LayerRead(job.mapped(entry.layer), entry.stats, cached=True)
    layer, stats = job.render()
    store.put(job.key, layer, stats)
    return LayerRead(job.mapped(layer), stats, cached=False)


@dataclass(frozen=True)
class SurveyRead:
    """What :func:`survey_layers` sends back of one layer: its survey, statistics, and whether the
    cache had it."""

    survey: LayerSurvey
    stats: FrameStats | None
    cached: bool


def survey_layers(jobs: Sequence[LayerJob], cache: LayerStore, look_up: bool) -> list[SurveyRead]:
    """:func:`read_layer` of several frames, in order, as one task, each layer surveyed where it was
    read (``engine.survey.survey_layer``): the layers stay in ``cache`` for the painting.

    A task costs its worker a round trip to the build's process (the result sent, the next task
    received: 1-2 ms); a frame's read is 10-20 ms. The frames of one animation share their
    region mask, grid and renderer, which a list of them carries once. Reads that wait on the
    network (remote COGs) are made several at once (``render.frames.read_overlapped``).
    """
    reads = _read_jobs(lambda job: read_layer(job, cache, look_up), jobs)
    surveys = []
    for job, read in zip(jobs, reads, strict=True):
        survey = survey_layer(read.layer, job.inside, job.levels.n_levels, job.levels.nodata)
        surveys.append(SurveyRead(survey, read.stats, read.cached))
    return surveys


def layer_colors(jobs: Sequence[LayerJob], cache: LayerStore, look_up: bool) -> list[LayerRead]:
    """True-colour frames' colours for the animation's palette (``render.truecolor.sample_colors``
    of each RGBA layer, read or rendered as by :func:`read_layer`, which stores it in ``cache``),
    in order; their reads overlap when they wait on the network, as in :func:`survey_layers`."""

    def colors(job: LayerJob) -> LayerRead:
        read = read_layer(replace(job, mapping=None), cache, look_up)
        return LayerRead(sample_colors(read.layer), None, read.cached)

    return _read_jobs(colors, jobs)


def _read_jobs(read: Callable[[LayerJob], Read], jobs: Sequence[LayerJob]) -> list[Read]:
    """``read`` of each job, in order; several at once when the frames' reads wait on the network
    (the jobs of one task share their renderer)."""
    at_once = reads_at_once(jobs[0].renderer, [job.frame for job in jobs]) if jobs else 1
    return read_overlapped(read, jobs, at_once)


@dataclass(frozen=True)
class PaintJob:
    """What every frame of one attempt shares: the overlays, the basemap and the layers' cache."""

    painter: OverlayPainter
    basemap: Basemap | None
    cache: LayerStore  # the layers were stored here by :func:`read_layer`
    truecolor: bool = False  # also paint each frame in full colour (its RGBA layer's own colours)
    opacity: float = 1.0  # the basemap's ``opacity``: full-colour data is blended with it


#: A painted frame: its palette PNG, and for true colour its full-colour (RGBA) PNG.
Painted = tuple[bytes, bytes | None]


def paint_frames(job: PaintJob, frames: Sequence[tuple[int, LayerJob, str]]) -> list[Painted]:
    """Finished frames (number, layer, date label) as palette PNG files' bytes, each with its
    full-colour twin for a true-colour animation (``render.rgbframe.rgb_frame``).

    The layers come from the cache; one missing there (a cache write that failed) is rendered.
    """
    store = copy.copy(job.cache)
    palette = job.painter.palette
    under = None
    if job.truecolor and job.basemap is not None and job.opacity < 1.0:
        under = palette_rgba(job.basemap.base, palette)
    pictures: list[Painted] = []
    for number, layer_job, label in frames:
        raw = _layer(layer_job, store)  # RGBA for true colour: mapped below, kept for the full colour
        layer = layer_job.mapped(raw) if layer_job.key is not None else raw
        frame = job.painter.compose(job.basemap.composite(layer) if job.basemap else layer, number, label)
        full = None
        if job.truecolor:
            rgba = raw if layer_job.key is not None else np.zeros((*layer_job.grid.shape, 4), dtype=np.uint8)
            coloured = rgb_frame(frame, palette, rgba, job.painter.map_origin, layer_job.inside, under, job.opacity)
            full = poster_png(coloured, palette.rgb_bytes(), palette.transparent)
        pictures.append((poster_png(frame, palette.rgb_bytes(), palette.transparent), full))
    return pictures


def _layer(job: LayerJob, store: LayerStore) -> np.ndarray:
    """The frame's layer as the cache keeps it (RGBA for true colour); a gap's palette frame."""
    if job.key is None:
        return job.gap()
    entry = store.get_entry(job.key, job.grid.shape)
    return entry.layer if entry is not None else job.render()[0]


def frame_indices(picture: bytes) -> np.ndarray:
    """The palette indices of a frame PNG made by :func:`paint_frames` (RGBA for a full-colour one)."""
    indices = png_indices(picture)  # a palette PNG without Pillow: every encoder reads every frame
    if indices is not None:
        return indices
    with Image.open(io.BytesIO(picture)) as image:
        return np.asarray(image.convert("RGBA") if image.mode == "RGB" else image)


def thumbnail_of(picture: bytes, palette_rgb: bytes, transparent_index: int | None) -> bytes:
    """The animation's thumbnail (WebP bytes) from its last frame's PNG."""
    return thumbnail_webp(frame_indices(picture), palette_rgb, transparent_index)


class DecodedFrames:
    """A per-process memo of one animation's decoded frame PNGs, so that its formats (each a task
    of its own, see :func:`encode_file`) decode every frame once between them when they run in the
    same process — always with ``--jobs 1``, where decoding was a tenth of what WebP and MP4 add.

    It keeps the frames of the last sequence of PNGs asked for, read-only (every encoder of the
    animation gets the same arrays), up to ``budget`` bytes of them: the first frames of a longer
    animation are kept, the rest decoded each time. A new sequence replaces it.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._lock = threading.Lock()  # a Dask worker may run tasks in threads
        self._pictures: tuple[bytes, ...] = ()
        self._frames: list[np.ndarray] = []
        self._size = 0

    def frames(self, pictures: Sequence[bytes]) -> Iterator[np.ndarray]:
        """The frames of ``pictures``, in order, decoded as they are needed (or kept from before)."""
        key = tuple(pictures)
        with self._lock:
            if key != self._pictures:  # the same bytes objects inline: compared by identity
                self._pictures, self._frames, self._size = key, [], 0
            kept = self._frames
        for number, picture in enumerate(key):
            if number < len(kept):
                yield kept[number]
                continue
            frame = frame_indices(picture)
            frame.flags.writeable = False
            with self._lock:
                if kept is self._frames and number == len(kept) and self._size + frame.nbytes <= self.budget:
                    kept.append(frame)
                    self._size += frame.nbytes
            yield frame


#: What one process keeps of decoded frames: a 512 px animation of 24 frames needs about 8 MB.
#: Per process, not handed down by ``build`` like ``core.memo.BuildMemo``: a task is a picklable
#: function of picklable arguments, run in whatever worker process the executor picks, so a memo
#: of the build could only reach it serialised with each task — a copy per task, sharing nothing.
#: It memoises a pure function of its key (PNG bytes → their palette indices) and holds one
#: sequence at a time, so what a later build of the process finds in it is never stale.
_decoded = DecodedFrames(budget=64 << 20)


def encode_file(encoder: Encoder, animation: Animation, pictures: Sequence[bytes], options: Any) -> bytes:
    """The bytes of one output file, encoded from the animation's frame PNGs (read-only arrays,
    shared with the animation's other formats encoded in this process)."""
    with tempfile.TemporaryDirectory(prefix="encode-") as folder:
        path = Path(folder) / f"animation{encoder.suffix}"
        encoder.encode(path, animation, _decoded.frames(pictures), options)
        return path.read_bytes()
