"""Work shared by the animations of one build, kept until the build ends.

Owns the per-build memo: ``per_build`` caches a function on its (hashable, immutable) arguments
— the region's inside mask on a grid, border and context line masks — so the animations of one
build that share a region and grid compute them once; ``clear`` empties every such cache when a
build ends, so nothing is carried from one build into the next. Cached arrays are read-only.
Builds running at once in one process (threads of a service) share the caches: each runs
within :func:`building`, and the caches are emptied when the last of them ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: A few regions × grids per build; each entry is a handful of boolean masks of one frame's size.
MAXSIZE = 32

_caches: list[Any] = []
_cleanups: list[Callable[[], None]] = []
_running = [0]  # builds inside :func:`building` in this process
_running_lock = threading.Lock()


def per_build(function: F) -> F:
    """``function`` memoised on its arguments until :func:`clear` (at the end of every build)."""
    cached = lru_cache(maxsize=MAXSIZE)(function)
    _caches.append(cached)
    return cached  # type: ignore[return-value]


def on_clear(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` whenever a build ends (closing what a cache holds open, say)."""
    _cleanups.append(cleanup)


@contextmanager
def building() -> Iterator[None]:
    """A build's span: when the last build running in this process ends, :func:`clear`."""
    with _running_lock:
        _running[0] += 1
    try:
        yield
    finally:
        with _running_lock:
            _running[0] -= 1
            last = _running[0] == 0
        if last:
            clear()


def clear() -> None:
    for cached in _caches:
        cached.cache_clear()
    for cleanup in _cleanups:
        cleanup()


def sizes() -> int:
    """How many entries the per-build caches hold (0 after a build)."""
    return sum(cached.cache_info().currsize for cached in _caches)
