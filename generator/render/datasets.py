"""COGs kept open for the rest of a build: one open per asset (and overview level) per thread.

Owns the open-dataset cache of the local renderer. Opening a COG costs a header read (over HTTP
for a remote asset); the frames of several animations (regions, collections) that show one
asset would each pay it again. ``kept_open`` hands out a dataset opened before by the same
thread (rasterio datasets are not shared between threads) with the same open options, GDAL
settings and, for a local file, the same size and modification time. A process keeps up to
``KEPT`` of them, its threads' together, and closes the least recently used first: enough for
the series of a few collections, each read again by every region's animation. Every dataset is
closed when the build ends (``core.buildcache.clear``); worker processes close theirs when the
build's pool stops. A dataset still being read then (another build's, in another thread of the
process or on a shared cluster worker) is closed by its reader when the read ends, never under it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from generator.core import buildcache

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

#: Open datasets kept per process, all its threads' together. Each holds GDAL's state for the
#: file (its header and tile offsets; a file handle for a local file) and what GDAL's VSI cache
#: keeps of the bytes read from it (up to its 25 MB, a frame's window: usually far less). 64 keep
#: two collections' 24-month series open while each region's animations read them in turn
#: (with 8, as before, the demo opened every asset three times).
KEPT = 64


@dataclass(eq=False)
class _Kept:
    """A kept dataset, with the reads of it in progress: it is closed only when none is."""

    src: DatasetReader
    readers: int = 0
    dropped: bool = False  # evicted or cleared: closed when its last reader is done


_lock = threading.Lock()
_open: dict[tuple[int, int], dict[Hashable, _Kept]] = {}  # by (process, thread); the order is _recency's
#: By process: (thread, key) of every kept dataset, the least recently used first.
_recency: dict[int, OrderedDict[tuple[int, Hashable], None]] = {}
opened = 0  # datasets opened through here (tests count them)


def _version(path: str) -> tuple[int, int] | None:
    """Size and modification time of a local file (a rewritten file is opened again)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None  # a remote (/vsi…) path
    return (stat.st_size, stat.st_mtime_ns)


@contextmanager
def kept_open(path: str, settings: Hashable = None, **options: Any) -> Iterator[DatasetReader]:
    """``rasterio.open(path, **options)``, reused within this thread until the build ends.

    ``settings`` names the GDAL settings the read runs under (they are part of the key).
    """
    global opened
    key = (path, _version(path), settings, tuple(sorted(options.items())))
    process, thread = os.getpid(), threading.get_ident()  # not a forked parent's
    with _lock:
        mine = _open.setdefault((process, thread), {})
        recency = _recency.setdefault(process, OrderedDict())
        kept = mine.get(key)
        if kept is not None and not kept.src.closed:
            recency.move_to_end((thread, key))
            kept.readers += 1
        else:
            kept = None
    if kept is None:
        import rasterio  # deferred: a build with nothing to render reads no file

        kept = _Kept(rasterio.open(path, **options), readers=1)
        with _lock:
            opened += 1
            mine[key] = kept
            recency[(thread, key)] = None
            recency.move_to_end((thread, key))
            evicted = []
            while len(recency) > KEPT:
                (owner, old), _ = recency.popitem(last=False)
                evicted.append(_open[(process, owner)].pop(old))
        _drop(evicted)
    try:
        yield kept.src
    finally:
        with _lock:
            kept.readers -= 1
            done = kept.dropped and kept.readers == 0
        if done:
            _close(kept.src)


def _drop(entries: list[_Kept]) -> None:
    """Close the entries no read is using; the others close when their last read ends."""
    with _lock:
        for kept in entries:
            kept.dropped = True
        idle = [kept.src for kept in entries if kept.readers == 0]
    for src in idle:
        _close(src)


def _close(src: DatasetReader) -> None:
    """Close inside a ``rasterio.Env``: GDAL's messages then go to Python logging, not to stderr
    (with ``CPL_DEBUG`` on, GDAL names the file it closes: a signed URL, token and all)."""
    import rasterio
    from rasterio.env import hasenv

    if hasenv():  # evicted during a read: its Env is the one in force (another costs ≈ 0.05–0.1 ms)
        src.close()
        return
    with rasterio.Env():
        src.close()


def close_all() -> None:
    """Close every kept dataset; one being read (by another build running in this process) is
    closed by its reader when the read ends."""
    with _lock:
        entries = [kept for mine in _open.values() for kept in mine.values()]
        _open.clear()
        _recency.clear()
    _drop(entries)


buildcache.on_clear(close_all)
