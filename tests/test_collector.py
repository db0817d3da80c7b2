"""A build sets the objects it starts with aside from the garbage collector, and gives them back."""

from __future__ import annotations

import gc
import weakref

from generator.core.collector import long_lived
from generator.core.model import Grid, ItemAsset, Style
from generator.engine.build import BuildOptions, build
from generator.render.frames import FrameData
from generator.render.local import LocalRenderer

from .test_engine import make_site


class Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_what_exists_is_set_aside_within_the_block_and_given_back_after() -> None:
    assert gc.get_freeze_count() == 0
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    with long_lived():
        assert gc.get_freeze_count() > 0
        gc.collect()
        assert gone() is not None  # set aside: not collected during the block
        during = Cycle()
        made = weakref.ref(during)
        del during
        gc.collect()
        assert made() is None  # what the block makes is collected as usual
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None  # given back: collected after the block


def test_objects_the_process_froze_itself_stay_frozen() -> None:
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    gc.freeze()
    try:
        with long_lived():
            pass
        assert gc.get_freeze_count() > 0
        gc.collect()
        assert gone() is not None  # still frozen: the process thaws its own objects
    finally:
        gc.unfreeze()
    gc.collect()
    assert gone() is None


class FreezeWatcher:
    """The local renderer, noting whether the collector had objects set aside at each read."""

    concurrency = 1

    def __init__(self) -> None:
        self.frozen: list[bool] = []

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: object = None) -> FrameData:
        self.frozen.append(gc.get_freeze_count() > 0)
        return LocalRenderer().read(item, grid, style, region)


def test_a_build_runs_with_its_starting_objects_set_aside_and_gives_them_back(tmp_path) -> None:
    watcher = FreezeWatcher()
    result = build(make_site(tmp_path, months=2), renderer=watcher, options=BuildOptions(use_cache=False))
    assert not result.failed
    assert watcher.frozen == [True, True]
    assert gc.get_freeze_count() == 0
