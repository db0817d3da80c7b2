"""The cyclic garbage collector during a build: the objects the build starts with set aside.

Owns :func:`long_lived`. What exists when a build starts — the imported modules with their
classes and functions, the config and its plan — lives at least as long as the build; yet
CPython's collector walks every one of them again each time it collects its older generations,
which a build's many short-lived arrays, records and pages trigger: about 0.1 s of CPU in a
one-animation build (a score of middle and two full collections over the modules' objects).
``gc.freeze`` sets those objects aside for the build; ``gc.unfreeze`` gives them back when it
ends, so a process that builds many times (the tests, a service) keeps nothing it would have
collected: cyclic garbage from before the build is collected after it instead of during it.
A process that froze objects itself (before forking workers, say) is left as it is.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Within the block, the collector skips the objects that exist when it starts."""
    if gc.get_freeze_count():  # the process manages frozen objects of its own: not ours to thaw
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
