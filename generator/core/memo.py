"""A bounded, thread-safe memo of values kept by key for the life of a process.

Owns the one rule the build's process memos follow (decoded records in ``engine.output``,
search-cache entries in ``plan.schedule``): values are kept in the order they came, the oldest
dropped once their sizes add up past a limit, and every access holds a lock, as builds of one
process may run in threads (``serve``). Keys must name the value's content (a digest, a file's
stat), so that a kept value is never stale.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

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
