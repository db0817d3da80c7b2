"""What one read of an asset may cost, worked out before GDAL reads anything.

Owns the cap on a read (``ReadLimits``: source pixels at the level read and their decoded bytes,
per source) and what a read would touch, from the file's metadata only (``read_cost``), so a huge
file without overviews fails its animation (``check_read_cost``, naming the key to raise) instead
of the machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from generator.core.errors import RenderError
from generator.core.specs import DEFAULT_MAX_READ_BYTES, DEFAULT_MAX_READ_PIXELS

if TYPE_CHECKING:  # rasterio is imported on the first read
    import rasterio

@dataclass(frozen=True)
class ReadLimits:
    """What one read of an asset may touch: source pixels at the level read, and their decoded bytes.

    ``key`` names the config block the limits come from (``sources.<name>``) in messages.
    """

    max_pixels: int = DEFAULT_MAX_READ_PIXELS
    max_bytes: int = DEFAULT_MAX_READ_BYTES
    key: str = "sources.<name>"


@dataclass(frozen=True)
class ReadCost:
    """What a read would touch: ``width`` × ``height`` pixels of ``bands`` bands at one level."""

    width: int
    height: int
    bands: int
    itemsize: int
    factor: int  # the level's decimation: 1 is full resolution

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def bytes(self) -> int:
        return self.pixels * self.bands * self.itemsize


def read_cost(
    src: rasterio.io.DatasetReader, footprint: tuple[float, float, float, float], bands: tuple[int, ...], level: int | None
) -> ReadCost:
    """What reading ``footprint`` (west, south, east, north in the file's CRS) at ``level`` touches.

    Only the file's metadata is used. The window is the footprint clipped to the file, counted at
    the overview's resolution; pixel-interleaved files decode every band of a block.
    """
    west, east = sorted(footprint[0::2])
    south, north = sorted(footprint[1::2])
    left, right = sorted((src.bounds.left, src.bounds.right))
    bottom, top = sorted((src.bounds.bottom, src.bounds.top))
    width_frac = max(0.0, min(east, right) - max(west, left)) / (right - left) if right > left else 1.0
    height_frac = max(0.0, min(north, top) - max(south, bottom)) / (top - bottom) if top > bottom else 1.0
    factor = src.overviews(bands[0])[level] if level is not None else 1
    width = math.ceil(src.width * width_frac / factor)
    height = math.ceil(src.height * height_frac / factor)
    interleaved = src.interleaving is not None and src.interleaving.name == "pixel"
    touched = src.count if interleaved else len(set(bands))
    itemsize = max(np.dtype(src.dtypes[band - 1]).itemsize for band in bands)
    return ReadCost(width=width, height=height, bands=touched, itemsize=itemsize, factor=factor)


def check_read_cost(label: str, cost: ReadCost, limits: ReadLimits) -> None:
    """Refuse a read over the limits, naming the asset, what it would touch and the key to raise."""
    if cost.pixels <= limits.max_pixels and cost.bytes <= limits.max_bytes:
        return
    level = "full resolution" if cost.factor == 1 else f"its 1/{cost.factor} overview"
    what = (
        f"{cost.pixels:,} source pixels ({cost.width:,} × {cost.height:,} at {level}, {cost.bands} band(s)) "
        f"≈ {_size(cost.bytes)} decoded"
    )
    if cost.pixels > limits.max_pixels:
        over, key = f"{limits.max_pixels:,} pixels", "max_read_pixels"
    else:
        over, key = _size(limits.max_bytes), "max_read_bytes"
    hint = "add overviews to the file (make it a COG) or " if cost.factor == 1 else ""
    raise RenderError(
        f"asset {label}: one read would touch {what}, over the limit of {over}; "
        f"{hint}raise {limits.key}.{key} in the config"
    )


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
