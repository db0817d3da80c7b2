"""What one build may leave for the next builds of the same process, and the bounded memo it is made of.

Owns :class:`BoundedMemo`, the one rule these memos follow: values are kept in the order they
came, the oldest dropped once their sizes add up past a limit, and every access holds a lock, as
the animations of a build run in threads (and a caller may run builds in threads). Keys must name
the value's content (a digest, a file's stat), so that a kept value is never stale.

And :class:`BuildMemo`, the memos a build is handed (``BuildOptions.memo``): the animation
records it decoded (``engine.output``) and the search-cache entries it read (``plan.schedule``).
It is an object, not module state: ``build`` makes a fresh one for each build unless given one,
so only a caller that passes the same memo to several builds (a benchmark, a notebook, a
watcher) has them find again what an earlier build decoded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from generator.core.model import AnimationRecord

Key = TypeVar("Key")
Value = TypeVar("Value")


class BoundedMemo(Generic[Key, Value]):
    """Values by key, the oldest dropped once the kept ``size``s pass ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._size = 0
        self._values: dict[Key, tuple[int, Value]] = {}
        self._lock = threading.Lock()

    def get(self, key: Key) -> Value | None:
        with self._lock:
            found = self._values.get(key)
        return found[1] if found is not None else None

    def put(self, key: Key, value: Value, size: int = 1) -> Value:
        """Keep ``value`` (replacing what ``key`` held) unless it alone is over the limit; returns it."""
        with self._lock:
            replaced = self._values.pop(key, None)
            if replaced is not None:
                self._size -= replaced[0]
            if size <= self.limit:
                while self._values and self._size + size > self.limit:
                    self._size -= self._values.pop(next(iter(self._values)))[0]
                self._values[key] = (size, value)
                self._size += size
        return value

    def keys(self) -> list[Key]:
        """The keys kept, oldest first."""
        with self._lock:
            return list(self._values)


#: Decoded records are kept until their documents' bytes pass this (a record's JSON is a few KB
#: to a few hundred KB: a big gallery's records fit).
RECORD_BYTES = 16 << 20
#: Search-cache entries kept (a few per collection and region).
SEARCH_ENTRIES = 256


def _records() -> BoundedMemo[str, AnimationRecord]:
    return BoundedMemo(RECORD_BYTES)


def _search_entries() -> BoundedMemo[str, object]:
    return BoundedMemo(SEARCH_ENTRIES)


@dataclass(frozen=True, eq=False)
class BuildMemo:
    """What the builds given this memo find again instead of parsing and decoding it again.

    ``records``: animation records by the SHA-256 of their document's bytes (``engine.output``;
    records are frozen, so one can be shared, and by their documents' sizes in bytes).
    ``search_entries``: search-cache entries by path, each with the stat of the file it was read
    from (``plan.schedule``, which alone knows their type).
    """

    records: BoundedMemo[str, AnimationRecord] = field(default_factory=_records)
    search_entries: BoundedMemo[str, object] = field(default_factory=_search_entries)
