"""What the local pool's fork server imports once, so that its workers start ready for any task.

Owns the warm-up of worker processes. Importing this module loads what the tasks would
otherwise load on a worker's first task, in each worker again: the task functions and the
built-in encoders, rasterio (with GDAL's bindings and what it pulls in, ≈ 0.3 s of CPU), the
warp and VRT modules the local renderer reads with, PROJ's bindings (the regions' grids and
the overlays' layout are tasks too: the build's process then loads neither), and the Pillow
plugins the tasks use (loaded on the first PNG opened or WebP saved): the formats Pillow tries
first on opening a file, and WebP. Not every plugin: ``Image.init()`` took ≈ 30 ms more of the
fork server's imports, which every worker waits for; a worker meeting another format loads the
rest as Pillow does, on its own. PyAV, the MP4 encoder's, is ``preload_video``'s: it is
loaded ahead only for a build that may make an MP4. The fork server imports this module once
while the build plans; every worker forked from it inherits the loaded modules. Only the fork
server imports this module: the build's own process keeps its lazy imports (``python -m
generator --help`` stays quick).

rasterio is imported without boto3 (``render.rasterio_import``: ≈ 0.15 s of the fork server's
imports, and so of the time before the first task can start).
"""

# ruff: noqa: E402 - the environment is recorded before the imports that add to it

from __future__ import annotations

import os

#: The environment the fork server started with, before its imports added to it (rasterio sets
#: the CA bundle GDAL's and PROJ's HTTP clients use): a worker takes the build's changes since
#: (``engine.workers.start_worker``) and keeps what the imports set.
INHERITED_ENVIRONMENT = dict(os.environ)

import numpy.ma  # noqa: F401 - loaded by rasterio's reads
import pyproj  # noqa: F401 - the regions' grids and the borders are projected in workers

from generator.render.rasterio_import import rasterio_without_boto3

rasterio_without_boto3()
import rasterio  # noqa: F401
import rasterio.features  # noqa: F401 - the regions' masks and the borders are rasterized in workers
import rasterio.vrt  # noqa: F401
import rasterio.warp  # noqa: F401
from PIL import Image, WebPImagePlugin  # noqa: F401 - WebP animations and thumbnails

import generator.encode.gif  # noqa: F401
import generator.encode.mp4  # noqa: F401
import generator.encode.webp  # noqa: F401
import generator.engine.tasks  # noqa: F401
import generator.engine.workers  # noqa: F401
from generator.core.quirks import silence_spurious_warnings

Image.preinit()  # the formats Pillow tries first on opening a file: PNG (frames, the cache), GIF, JPEG…
silence_spurious_warnings()  # the workers are ours, as the command's process is
