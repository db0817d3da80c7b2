"""Masks sent to workers as bits, and layers surveyed where they are read."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from generator.core.bitmask import Bitmask
from generator.engine.survey import LayerTally, survey_layer
from generator.render.layers import data_coverage

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("shape", [(64, 64), (37, 53), (1, 1), (0, 5)])
def test_a_bitmask_comes_back_from_pickling_with_the_same_pixels(shape):
    rng = np.random.default_rng(7)
    array = rng.random(shape) < 0.3
    back = pickle.loads(pickle.dumps(Bitmask(array)))
    assert back.array.dtype == bool and back.array.shape == shape
    assert np.array_equal(back.array, array)
    assert not back.array.flags.writeable


def test_a_bitmask_is_an_eighth_of_the_bytes_and_sent_once_however_often_it_is_shared():
    mask = Bitmask(np.ones((256, 256), dtype=bool))
    alone = len(pickle.dumps(mask))
    assert alone < 256 * 256 / 8 + 200  # the bits, the shape and a few bytes of framing
    assert len(pickle.dumps([mask] * 10)) < alone + 100
    first, second = pickle.loads(pickle.dumps([mask, mask]))
    assert first is second


def test_a_bitmask_never_changes_with_the_array_it_was_made_from():
    array = np.zeros((4, 4), dtype=bool)
    mask = Bitmask(array)
    array[0, 0] = True
    assert not mask.array.any()
    with pytest.raises(ValueError):
        mask.array[1, 1] = True


def test_the_tally_of_surveys_is_the_tally_of_the_layers():
    """What the workers send back (surveys) adds up to what the layers themselves give."""
    rng = np.random.default_rng(3)
    n_levels, nodata, transparent = 10, 11, 10
    inside = np.zeros((48, 40), dtype=bool)
    inside[5:40, 4:35] = True
    layers = []
    for _ in range(4):
        layer = rng.integers(0, n_levels, size=inside.shape).astype(np.uint8)
        layer[rng.random(inside.shape) < 0.2] = nodata
        layer[~inside] = transparent
        layers.append(layer)
    tally = LayerTally(inside, n_levels, nodata, len(layers))
    for number, layer in enumerate(layers):
        tally.add(number, pickle.loads(pickle.dumps(survey_layer(layer, inside, n_levels, nodata))), None)

    assert np.array_equal(tally.coverage_map, sum((layer < n_levels).astype(np.uint16) for layer in layers))
    assert tally.coverage == [data_coverage(layer, inside, n_levels) for layer in layers]
    assert tally.missing
    assert tally.ends == [
        sum(int(np.count_nonzero((layer == 0) & inside)) for layer in layers),
        sum(int(np.count_nonzero((layer == n_levels - 1) & inside)) for layer in layers),
        sum(int(np.count_nonzero((layer < n_levels) & inside)) for layer in layers),
    ]
