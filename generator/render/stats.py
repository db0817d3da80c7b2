"""The numbers behind each frame: statistics of its values over the region.

Owns :func:`frame_stats`: the mean, median, 10th and 90th percentiles of the values read for a
frame — before the palette mapping and before any colour formula, so in the units of the style's
``rescale`` — over the valid pixels whose centre lies inside the region (the same exact mask the
picture is clipped with), and the share of the region those pixels cover. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from generator.core.model import FrameStats

PERCENTILES = (10.0, 50.0, 90.0)


def frame_stats(values: np.ndarray, valid: np.ndarray, inside: np.ndarray) -> FrameStats | None:
    """Statistics of ``values`` where ``valid`` and ``inside`` (and finite); None for an empty region.

    Computed in float64; percentiles interpolate linearly between pixels (numpy's default).
    """
    region = int(np.count_nonzero(inside))
    if region == 0:
        return None
    chosen = np.asarray(values)[np.asarray(valid, dtype=bool) & np.asarray(inside, dtype=bool)].astype(np.float64)
    chosen = chosen[np.isfinite(chosen)]
    if chosen.size == 0:
        return FrameStats(valid_fraction=0.0)
    p10, median, p90 = (float(value) for value in np.percentile(chosen, PERCENTILES))
    return FrameStats(
        valid_fraction=chosen.size / region,
        mean=float(chosen.mean()),
        median=median,
        p10=p10,
        p90=p90,
    )
