"""How a build runs (not what it builds): :class:`BuildOptions`.

Its own module so that ``engine.build`` can name it without loading the animation machinery
(and with it numpy, Pillow, shapely) before a build starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator.core.memo import BuildMemo


@dataclass(frozen=True)
class BuildOptions:
    """How to build (not what): parallelism, cache, strictness, and what earlier builds left in memory.

    ``jobs > 1`` runs the build's tasks in worker processes (the ``forkserver`` start method): a
    script that calls ``build`` itself must do so under ``if __name__ == "__main__":``.

    ``memo``: the records and search entries decoded by the builds given the same memo
    (``core.memo``). None: a fresh one for this build alone, so nothing decoded by one build is
    seen by another unless its caller passes them one memo.
    """

    jobs: int = 1
    cache_dir: Path | str | None = None  # None: `.cache/` beside the config; a str may be a URL (s3://…)
    use_cache: bool = True
    strict: bool = False
    scheduler: str | None = None  # a Dask scheduler's address: the tasks run on its workers
    memo: BuildMemo | None = field(default=None, compare=False, repr=False)
