"""COGs kept open for the rest of a build: one open per asset (and overview level) per thread.

Owns the open-dataset cache of the local renderer. Opening a COG costs a header read (over HTTP
for a remote asset); the frames of several animations (regions, collections) that show one
asset would each pay it again. ``kept_open`` hands out a dataset opened before by the same
thread (rasterio datasets are not shared between threads) with the same open options, GDAL
settings and, for a local file, the same size and modification time; a few per thread, the
least recently used closed first. Every dataset is closed when the build ends
(``core.buildcache.clear``); worker processes close theirs when the build's pool stops.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from generator.core import buildcache

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

#: Open datasets kept per thread (each holds a file handle and GDAL's block cache for it).
PER_THREAD = 8

_lock = threading.Lock()
_open: dict[tuple[int, int], OrderedDict[Hashable, DatasetReader]] = {}  # by (process, thread)
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
    with _lock:
        mine = _open.setdefault((os.getpid(), threading.get_ident()), OrderedDict())  # not a forked parent's
        src = mine.get(key)
        if src is not None:
            mine.move_to_end(key)
    if src is None or src.closed:
        import rasterio  # deferred: a build with nothing to render reads no file

        src = rasterio.open(path, **options)
        with _lock:
            opened += 1
            mine[key] = src
            evicted = [mine.popitem(last=False)[1] for _ in range(max(0, len(mine) - PER_THREAD))]
        for old in evicted:
            _close(old)
    yield src


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
    """Close every kept dataset (the build has ended: no read is running)."""
    with _lock:
        datasets = [src for mine in _open.values() for src in mine.values()]
        _open.clear()
    for src in datasets:
        _close(src)


buildcache.on_clear(close_all)
