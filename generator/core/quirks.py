"""Third-party warnings that say nothing about the user's data: silenced in the processes we own.

Owns :func:`silence_spurious_warnings`, called by the command (``cli.main.run``) and by the
fork server its workers start from (``engine.preload``) — not on import, so a program that uses
the package as a library keeps its own warning filters.

- rasterio's ``NotGeoreferencedWarning`` ("Dataset has no geotransform, gcps, or rpcs") from
  ``rasterio.warp.reproject``, when several threads reproject at once from remote (``/vsicurl/``)
  files: it is about the in-memory destination rasterio makes for the array it is given, which
  the read georeferences itself (``dst_transform``), and the frames are the same as read one by
  one (tested). A source without a CRS is refused by the local renderer with its own message.
"""

from __future__ import annotations

import warnings


def silence_spurious_warnings() -> None:
    """Ignore the warnings listed in the module docstring (matched by message and module only:
    the category's module would import rasterio)."""
    warnings.filterwarnings(
        "ignore", message=r"Dataset has no geotransform, gcps, or rpcs", module=r"rasterio\.warp"
    )
