"""The survey of an animation's data layers, taken before its first frame is painted.

Owns what is measured on every layer as it arrives, in whatever order the tasks finish: where
the data is (the overlays are laid out where they hide least), whether some is missing (the
legend's no-data swatch), each data frame's share of the region with data (empty animations
are flagged), each frame's statistics, and the pixels at either end of the colour scale (the
saturation warning). Everything is kept by frame number, so the result does not depend on the
order.

A layer is measured where it was read (:func:`survey_layer`, in the worker): what comes back to the
build's process is a :class:`LayerSurvey` — its data pixels as bits and a few numbers, an eighth
of the layer's bytes — not the layer, which the painting reads again from the frame cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from generator.core.bitmask import Bitmask
from generator.core.model import FrameStats
from generator.render.layers import data_coverage


@dataclass(frozen=True)
class LayerSurvey:
    """What the tally needs of one layer: which pixels hold data (sent as bits), whether a pixel
    inside the region is missing, the share of the region with data, and the pixels inside the
    region at the first level, at the last and at any."""

    data: Bitmask
    missing: bool
    share: float
    ends: tuple[int, int, int]


def survey_layer(layer: np.ndarray, inside: np.ndarray, n_levels: int, nodata: int) -> LayerSurvey:
    """:class:`LayerSurvey` of a palette-index ``layer`` (levels below ``n_levels`` are data)."""
    data = layer < n_levels
    return LayerSurvey(
        data=Bitmask(data),
        missing=bool((layer == nodata).any()),
        share=data_coverage(layer, inside, n_levels),
        ends=(
            int(np.count_nonzero((layer == 0) & inside)),
            int(np.count_nonzero((layer == n_levels - 1) & inside)),
            int(np.count_nonzero(data & inside)),
        ),
    )


@dataclass
class LayerTally:
    """Counts over the layers of one attempt's ``frame_count`` frames."""

    inside: np.ndarray  # the region's pixels
    n_levels: int
    nodata: int  # the palette index of missing values inside the region
    frame_count: int
    coverage_map: np.ndarray = field(init=False)  # per pixel, in how many frames it holds data (uint16)
    missing: bool = False  # some frame lacks values somewhere inside the region
    shares: dict[int, float] = field(default_factory=dict)  # data frame number → share of the region with data
    stats: list[FrameStats | None] = field(init=False)  # by frame number (None: gap frames, categorical styles)
    ends: list[int] = field(default_factory=lambda: [0, 0, 0])  # pixels at the first level, the last, any

    def __post_init__(self) -> None:
        self.coverage_map = np.zeros(self.inside.shape, dtype=np.uint16)
        self.stats = [None] * self.frame_count

    def add_gap(self) -> None:
        """A frame without data: every pixel inside the region is missing."""
        self.missing = self.missing or bool(self.inside.any())

    def add(self, number: int, survey: LayerSurvey, stats: FrameStats | None) -> None:
        """Frame ``number``'s layer, as :func:`survey_layer` measured it."""
        self.coverage_map += survey.data.array
        self.missing = self.missing or survey.missing
        self.shares[number] = survey.share
        self.stats[number] = stats
        for end, pixels in enumerate(survey.ends):
            self.ends[end] += pixels

    @property
    def coverage(self) -> list[float]:
        """The data frames' shares of the region with data, in frame order."""
        return [self.shares[number] for number in sorted(self.shares)]
