"""The frame cache: data layers (palette indices before overlays; RGBA for true colour) stored by content address.

Owns the cache key — everything that changes a data layer's pixels: each item's asset href
(as ``core.redaction.public_url`` shows it: no signature), its ``updated`` time when the catalog gives one, size
and mtime for local files, the output grid, the region, every field of the resolved style but those marked
layer-neutral (``plan.styles.style_fingerprint``), the number of data levels, the renderer and
the generator's version — and the storage: one lossless PNG per
layer under ``<cache>/frames/``, written atomically so a killed build never leaves a torn entry;
or, when ``cache.dir`` is a URL, the same PNGs in shared storage (``render.remote_cache``),
read and checked the same way.
The frame's statistics (``render.stats``) travel in the same PNG, as JSON in a text chunk, so a
frame taken from the cache has the numbers of the values it was mapped from without a read.
Overlays are drawn after the cache, so changing the time range (timeline, gap frames) or a
label never forces COGs to be read again.

An entry is never trusted as it is: each PNG carries, in a text chunk, the SHA-256 of its key,
shape, statistics and pixels (:func:`layer_digest`). An entry whose digest does not match — other pixels
(a bad disk, a hand edit, another entry copied over it), no digest, an unreadable file, a folder
or a link in place of the file — is a miss: logged at debug level, rendered again and replaced.

A build without the cache (``--no-cache``) still reads each layer twice (the survey, then the
painting): :class:`ScratchLayers` keeps them in between, in a temporary folder of the animation,
as raw arrays (no PNG to encode and decode, no digest: nothing outside the build ever reads them).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import shapely
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from generator import __version__
from generator.core.atomic import atomic_stream
from generator.core.canonical import canonical
from generator.core.model import ChannelAsset, CollectionInfo, FramePlan, FrameStats, Grid, ItemAsset, Style
from generator.core.records import RecordError, decode, encode
from generator.core.redaction import public_url
from generator.core.specs import CollectionSpec
from generator.plan.styles import style_fingerprint
from generator.render.remote_cache import RemoteStore
from generator.sources.regions import Region

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # bump when the layout of cached layers changes
# Bump when the same frames make other files (an encoder's settings, full-colour true-colour
# outputs): an animation built before is then made again rather than carried over.
OUTPUTS_VERSION = 5  # 5: thumbnails are WebP (encode.stills.THUMBNAIL_QUALITY); 4: the MP4's x264 settings
DIGEST_CHUNK = "eo-timelapse-layer-sha256"  # the PNG text chunk holding an entry's digest
STATS_CHUNK = "eo-timelapse-layer-stats"  # the PNG text chunk holding the frame's statistics (JSON)


def _local_stamp(href: str) -> list[int] | None:
    path = href.removeprefix("file://")
    if "://" in path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None  # unreadable: the render will say so; never cache on a guess
    return [stat.st_size, stat.st_mtime_ns]


def item_fingerprint(item: ItemAsset) -> dict[str, object]:
    return {
        "href": public_url(item.href),  # the same asset behind a fresh signature
        "updated": item.updated,
        "file": _local_stamp(item.href),
        # STAC raster:bands (scale, offset, nodata) change the values read; absent: keys stay as before
        **({"bands": canonical(item.bands)} if item.bands else {}),
        # true colour from three assets: each one's file, as above
        **({"channels": [_channel_fingerprint(channel) for channel in item.channels]} if item.channels else {}),
    }


def _channel_fingerprint(channel: ChannelAsset) -> dict[str, object]:
    return {
        "key": channel.key,
        "href": public_url(channel.href),
        "updated": channel.updated,
        "file": _local_stamp(channel.href),
        "bands": canonical(channel.bands),
    }


def layer_key(frame: FramePlan, grid: Grid, style: Style, region_digest: str, n_levels: int, renderer: str) -> str:
    """The content address of one frame's data layer."""
    document = {
        "format": FORMAT_VERSION,
        "outputs": OUTPUTS_VERSION,
        "generator": __version__,
        "renderer": renderer,
        "items": [item_fingerprint(item) for item in frame.items],
        "grid": [grid.crs, list(grid.transform)[:6], grid.width, grid.height],
        "region": region_digest,
        "style": style_fingerprint(style),
        "levels": n_levels,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def animation_fingerprint(
    render: object,
    region: Region,
    style: Style,
    collection: CollectionInfo,
    frames: Sequence[FramePlan],
    renderer: str,
    collection_spec: CollectionSpec | None = None,
) -> str:
    """Everything an animation's files are made from; equal fingerprints mean equal files.

    The render settings, region (geometries by digest), style and collection go in whole, every
    field of their dataclasses (``core.canonical``), so a field added to any of them is never
    left out; frames by their time, kind and items' fingerprints. ``collection_spec`` (the
    config's ``collections[]`` entry) goes in whole too but for its place in the list: settings
    applied after the plan, such as ``min_coverage``, change the files.
    """
    document = {
        "format": FORMAT_VERSION,
        "outputs": OUTPUTS_VERSION,
        "generator": __version__,
        "renderer": renderer,
        "render": canonical(render, default=_geometry_digest),
        "region": canonical(region, default=_geometry_digest),
        "style": canonical(style),
        "collection": canonical(collection),
        "frames": [
            [frame.datetime.isoformat(), frame.kind, [item_fingerprint(item) for item in frame.items]]
            for frame in frames
        ],
    }
    if collection_spec is not None:
        document["collection_spec"] = canonical(replace(collection_spec, where=""))
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _geometry_digest(value: object) -> str:
    if isinstance(value, shapely.Geometry):
        return geometry_digest(shapely.to_wkb(value))
    raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def geometry_digest(wkb: bytes) -> str:
    return hashlib.sha256(wkb).hexdigest()[:32]


def layer_digest(key: str, layer: np.ndarray, stats: str = "") -> str:
    """What a cache entry must hash to: its key (an entry copied under another key fails), its
    shape, its statistics (the text of :data:`STATS_CHUNK`) and its pixels."""
    digest = hashlib.sha256(f"{key}:{layer.shape[0]}x{layer.shape[1]}:{len(stats)}:{stats}:".encode())
    digest.update(np.ascontiguousarray(layer, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def stats_text(stats: FrameStats | None) -> str:
    """The statistics as the cache stores them: JSON (floats round-trip exactly), ``null`` for none."""
    return json.dumps(None if stats is None else encode(stats, FrameStats), sort_keys=True)


def parse_stats(text: str) -> FrameStats | None:
    """The statistics stored by :func:`stats_text`; raises ``ValueError`` for anything else."""
    document = json.loads(text)
    return None if document is None else decode(FrameStats, document)


@dataclass(frozen=True)
class CachedLayer:
    """A verified cache entry: the data layer and the statistics of the values it was mapped from."""

    layer: np.ndarray
    stats: FrameStats | None


class LayerStore(Protocol):
    """Where a build's tasks keep the data layers between reads: :class:`FrameCache`, or
    :class:`ScratchLayers` when the build has no cache."""

    def get_entry(self, key: str, shape: tuple[int, int]) -> CachedLayer | None:
        """The layer and statistics stored under ``key``; None when there are none (render it)."""
        ...

    def put(self, key: str, layer: np.ndarray, stats: FrameStats | None = None) -> None:
        """Keep ``layer`` and ``stats`` under ``key``; a write that fails only costs a render."""
        ...


@dataclass
class FrameCache:
    """Data layers on disk; ``root=None`` disables caching. Counts hits and misses.

    With a ``store`` (``cache.dir`` given as a URL) the layers live there, shared by every
    machine of a cluster, and ``root`` is the build's local folder for the rest (records,
    searches, tiles); without one they are files under ``root/frames``.
    """

    root: Path | None
    store: RemoteStore | None = None
    hits: int = field(default=0, init=False)
    misses: int = field(default=0, init=False)

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / "frames" / key[:2] / f"{key}.png"

    def get(self, key: str, shape: tuple[int, int]) -> np.ndarray | None:
        """The layer stored under ``key``, verified; None (a miss) for anything else."""
        entry = self.get_entry(key, shape)
        return None if entry is None else entry.layer

    def get_entry(self, key: str, shape: tuple[int, int]) -> CachedLayer | None:
        """The layer and statistics stored under ``key``, verified; None (a miss) for anything else."""
        if self.root is None:
            return None
        where: object = self.store.location(key) if self.store is not None else self._path(key)
        problem = self._check_stored(key, shape) if self.store is not None else self._check(self._path(key), key, shape)
        if isinstance(problem, str):
            self.misses += 1
            if problem:
                log.debug("frame cache: ignoring %s: %s", where, problem)
            return None
        self.hits += 1
        return problem

    def _check_stored(self, key: str, shape: tuple[int, int]) -> CachedLayer | str:
        """:meth:`_check` for an entry in the shared store; a store that cannot be read is a miss."""
        assert self.store is not None
        try:
            data = self.store.read(key)
        except Exception as error:  # the cache only saves time: whatever the storage raises, render again
            return f"unreadable ({type(error).__name__}: {error})"
        if data is None:
            return ""
        return self._verify(io.BytesIO(data), key, shape)

    def _check(self, path: Path, key: str, shape: tuple[int, int]) -> CachedLayer | str:
        """The verified layer, or why the entry is not one ("" when there is no entry)."""
        if path.is_symlink():
            return "a link, not a file"
        if not path.exists():
            return ""
        if not path.is_file():
            return "not a regular file"
        return self._verify(path, key, shape)

    @staticmethod
    def _verify(entry: Path | io.BytesIO, key: str, shape: tuple[int, int]) -> CachedLayer | str:
        """The layer and statistics of an entry's PNG, checked against its digest."""
        try:
            with Image.open(entry) as image:
                if image.format != "PNG" or image.mode not in ("L", "RGBA"):
                    return f"a {image.format} image in mode {image.mode}, not a one-band or RGBA PNG"
                layer = np.asarray(image, dtype=np.uint8).copy()
                text = getattr(image, "text", {})
                stored = text.get(DIGEST_CHUNK)
                stats = text.get(STATS_CHUNK)
        except Exception as error:  # an entry is untrusted input: whatever Pillow raises, it is a miss
            return f"unreadable ({type(error).__name__}: {error})"
        if layer.shape[:2] != shape:
            return f"shape {layer.shape}, expected {shape}"
        if stored is None:
            return "no digest"
        if stats is None:
            return "no statistics"
        if stored != layer_digest(key, layer, stats):
            return "its pixels or statistics do not match its digest"
        try:
            return CachedLayer(layer, parse_stats(stats))
        except (ValueError, RecordError) as error:
            return f"unreadable statistics ({error})"

    def put(self, key: str, layer: np.ndarray, stats: FrameStats | None = None) -> None:
        """Store ``layer`` and its ``stats`` under ``key`` with their digest, replacing whatever is there.

        The cache only saves time: a write that fails is logged and the build goes on.
        """
        if self.root is None:
            return
        info = PngInfo()
        stored_stats = stats_text(stats)
        info.add_text(STATS_CHUNK, stored_stats)
        info.add_text(DIGEST_CHUNK, layer_digest(key, layer, stored_stats))
        if self.store is not None:
            buffer = io.BytesIO()
            Image.fromarray(layer, mode="RGBA" if layer.ndim == 3 else "L").save(
                buffer, format="PNG", compress_level=1, pnginfo=info
            )
            try:
                self.store.write(key, buffer.getvalue())
            except Exception as error:  # noqa: BLE001 - any storage failure only costs a render next time
                log.warning("frame cache: could not store %s: %s", self.store.location(key), error)
            return
        path = self._path(key)
        try:
            # Something else where the entry's folder or the entry goes (the cache folder is ours).
            if path.parent.is_symlink() or (path.parent.exists() and not path.parent.is_dir()):
                path.parent.unlink()
            if path.is_symlink():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
            with atomic_stream(path) as stream:
                Image.fromarray(layer, mode="RGBA" if layer.ndim == 3 else "L").save(stream, format="PNG", compress_level=1, pnginfo=info)
        except OSError as error:
            log.warning("frame cache: could not store %s: %s", path, error)


#: Above this many bytes of layers per animation, :class:`ScratchLayers` compresses them (zlib
#: level 1: a 512 px layer of palette indices shrinks about tenfold for ~1 ms); below it, raw
#: bytes cost nothing to write and read, and a temporary folder holds them easily.
SCRATCH_COMPRESS_ABOVE = 64 << 20


@dataclass(frozen=True)
class ScratchLayers:
    """One animation's layers for one build without the cache: a file per layer in ``folder``.

    Each file is a line of JSON (the layer's shape, its statistics, whether it is compressed)
    followed by the layer's bytes, raw or, with ``compress``, zlib level 1 (see
    :data:`SCRATCH_COMPRESS_ABOVE`). Files are written whole (a unique temporary name, then a
    rename), so a task killed mid-write leaves no torn entry. The folder is the build's, on the
    machine that runs it: a worker that does not have it (another machine of a Dask cluster)
    stores nothing and finds nothing, and its tasks render the layer again, as for a miss.
    """

    folder: Path
    compress: bool = False

    @staticmethod
    def for_animation(folder: Path, frames: int, shape: tuple[int, int], channels: int) -> ScratchLayers:
        """The store of an animation's ``frames`` layers (``channels`` bytes per pixel: 4 for RGBA)."""
        size = frames * shape[0] * shape[1] * channels
        return ScratchLayers(folder, compress=size > SCRATCH_COMPRESS_ABOVE)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.layer"

    def get_entry(self, key: str, shape: tuple[int, int]) -> CachedLayer | None:
        path = self._path(key)
        try:
            with open(path, "rb") as stream:
                # Read into a buffer of our own: the layer is an array over it, writable (the
                # painter draws on it in place) without a copy.
                data = bytearray(os.fstat(stream.fileno()).st_size)
                if stream.readinto(data) != len(data):
                    return None
        except OSError:  # not stored (or not on this machine): the caller renders it
            return None
        end = data.find(b"\n")
        try:
            header = json.loads(data[:end])
            stored = tuple(int(side) for side in header["shape"])
            if stored[:2] != shape:
                return None
            raw: bytes | bytearray = bytearray(zlib.decompress(data[end + 1:])) if header["zlib"] else data
            offset = 0 if header["zlib"] else end + 1
            if len(raw) - offset != int(np.prod(stored)):
                return None
            layer = np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(stored)
            return CachedLayer(layer, parse_stats(header["stats"]))
        except (ValueError, KeyError, TypeError, zlib.error, RecordError) as error:
            log.debug("scratch layers: ignoring %s: %s", path, error)
            return None

    def put(self, key: str, layer: np.ndarray, stats: FrameStats | None = None) -> None:
        layer = np.ascontiguousarray(layer, dtype=np.uint8)
        header = {"shape": list(layer.shape), "stats": stats_text(stats), "zlib": self.compress}
        body = zlib.compress(layer.tobytes(), 1) if self.compress else layer.data
        try:
            # mkstemp fails when the folder is not there (a worker on another machine): nothing kept.
            handle, name = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(json.dumps(header).encode() + b"\n")
                stream.write(body)
            os.replace(name, self._path(key))
        except OSError as error:
            Path(name).unlink(missing_ok=True)
            log.debug("scratch layers: could not keep %s: %s", key, error)
