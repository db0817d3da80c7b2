"""A build without the cache keeps its layers in a scratch folder between the survey and the painting."""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generator.core.model import FrameStats, Grid, ItemAsset, Style
from generator.engine import executors
from generator.engine.build import BuildOptions, build
from generator.render.cache import SCRATCH_COMPRESS_ABOVE, ScratchLayers
from generator.render.frames import FrameData
from generator.render.local import LocalRenderer

from .test_engine import make_site, snapshot

KEY = "ab" * 32
STATS = FrameStats(valid_fraction=0.75, mean=1.0 / 3.0, median=0.1, p10=-2.5e-300, p90=1e16)


def layers() -> list[np.ndarray]:
    rows, cols = np.mgrid[0:37, 0:53]
    one_band = ((rows * 7 + cols * 3) % 251).astype(np.uint8)
    rgba = np.stack([one_band, one_band[::-1], 255 - one_band, np.full_like(one_band, 200)], axis=-1)
    return [one_band, rgba]


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("stats", [STATS, None])
def test_a_layer_and_its_statistics_come_back_as_they_went_in(tmp_path, compress, stats):
    store = ScratchLayers(tmp_path, compress=compress)
    for number, layer in enumerate(layers()):
        key = f"{number:02d}" + KEY[2:]
        store.put(key, layer, stats)
        entry = ScratchLayers(tmp_path).get_entry(key, (37, 53))  # another instance: what a worker holds
        assert entry is not None
        assert entry.layer.dtype == np.uint8 and np.array_equal(entry.layer, layer)
        assert entry.stats == stats
        entry.layer[0, 0] = 9  # the painter draws on the layer in place
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_missing_wrong_or_torn_entries_are_misses(tmp_path):
    store = ScratchLayers(tmp_path)
    layer = layers()[0]
    assert store.get_entry(KEY, (37, 53)) is None
    store.put(KEY, layer, STATS)
    assert store.get_entry(KEY, (53, 37)) is None  # another grid
    path = next(tmp_path.glob("*.layer"))
    data = path.read_bytes()
    path.write_bytes(data[:-10])  # cut short
    assert store.get_entry(KEY, (37, 53)) is None
    path.write_bytes(b"not a header" + data)
    assert store.get_entry(KEY, (37, 53)) is None
    path.write_bytes(data.replace(b'"zlib": false', b'"zlib": true'))  # raw bytes are no zlib stream
    assert store.get_entry(KEY, (37, 53)) is None


def test_a_store_whose_folder_is_not_there_keeps_nothing_and_creates_nothing(tmp_path):
    elsewhere = tmp_path / "layers-on-another-machine"
    store = ScratchLayers(elsewhere)
    store.put(KEY, layers()[0], STATS)
    assert not elsewhere.exists()
    assert store.get_entry(KEY, (37, 53)) is None


def test_layers_are_compressed_only_past_the_threshold(tmp_path):
    frames = 24
    side = int((SCRATCH_COMPRESS_ABOVE / frames) ** 0.5)
    assert not ScratchLayers.for_animation(tmp_path, frames, (side, side), 1).compress
    assert ScratchLayers.for_animation(tmp_path, frames, (side, side), 4).compress
    assert not ScratchLayers.for_animation(tmp_path, frames, (512, 512), 4).compress


class LoggedReads:
    """The local renderer, noting each read in a file (it is copied into every task)."""

    concurrency = 1

    def __init__(self, log: Path) -> None:
        self.log = log

    def read(self, item: ItemAsset, grid: Grid, style: Style, region: object = None) -> FrameData:
        with self.log.open("a") as stream:
            stream.write(f"{item.item_id}\n")
        return LocalRenderer().read(item, grid, style, region)


class ElsewhereExecutor(Executor):
    """Runs each task after a serialization round trip, as a worker on another machine would: the
    animations' scratch folders (``layers-*`` in ``temporary``) are out of its sight."""

    def __init__(self, temporary: Path) -> None:
        self.temporary = temporary
        self.sent: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        function, arguments, keywords = pickle.loads(pickle.dumps((fn, args, kwargs)))
        self.sent.append(function.__qualname__)
        folders = sorted(self.temporary.glob("layers-*"))
        # The regions' grids are asked for before any animation starts, the thumbnail and the
        # region's globe once its frames are painted: they use no layer.
        without_layers = {"region_grid", "thumbnail_of", "locator_svg"}
        assert folders or function.__qualname__ in without_layers, "the animation gives a scratch folder"
        for folder in folders:
            folder.rename(folder.with_name(f"hidden-{folder.name}"))
        future: Future[Any] = Future()
        try:
            future.set_result(pickle.loads(pickle.dumps(function(*arguments, **keywords))))
        except Exception as error:
            future.set_exception(error)
        finally:
            for folder in folders:
                folder.with_name(f"hidden-{folder.name}").rename(folder)
        return future


def test_a_worker_without_the_scratch_folder_renders_the_layer_again(tmp_path, monkeypatch):
    config = make_site(tmp_path, months=6)
    log = tmp_path / "reads.txt"
    here = build(config, tmp_path / "here", renderer=LoggedReads(log), options=BuildOptions(jobs=1, use_cache=False))
    assert sorted(log.read_text().split()) == [f"m{month:02d}" for month in range(6)]  # the painting found them all
    log.unlink()

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    executor = ElsewhereExecutor(temporary)
    monkeypatch.setitem(executors._FACTORIES, "local", lambda request: executors.TaskPool(executor, slots=2))
    away = build(config, tmp_path / "away", renderer=LoggedReads(log), options=BuildOptions(jobs=2, use_cache=False))
    assert {"survey_layers", "paint_frames"} <= set(executor.sent)
    assert sorted(log.read_text().split()) == sorted(2 * [f"m{month:02d}" for month in range(6)])  # survey, then paint
    assert {k: v[2] for k, v in snapshot(here.output_dir).items()} == {k: v[2] for k, v in snapshot(away.output_dir).items()}
