"""rasterio loaded without boto3 in the processes that build.

Owns how a build's processes import GDAL's bindings. When boto3 is installed (many data-science
environments have it), rasterio imports it (≈ 0.15–0.2 s of CPU: botocore and its data) only to
make sessions for the ``s3://`` and ``https://…amazonaws.com`` paths it opens itself. The local
renderer hands GDAL ``/vsis3/`` and ``/vsicurl/`` paths, which rasterio opens without a session
and GDAL authenticates itself (environment, shared credentials files, instance roles), so a
build never needs rasterio's boto3. The command line's process (``cli.main.run``) and the local
pool's fork server (``engine.preload``) therefore call :func:`rasterio_without_boto3` before
anything loads rasterio; boto3 stays importable for everything else.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.abc would load importlib.resources (≈ 20 ms) for a protocol
    from importlib.machinery import ModuleSpec
    from types import FrameType, ModuleType

#: The rasterio module whose ``import boto3`` is refused.
_IMPORTER = "rasterio.session"


class _NoBoto3ForRasterio:
    """A meta path finder: refuses ``import boto3`` while rasterio's session module runs its own
    body (rasterio then goes on without it, as when boto3 is not installed), and only then; it
    steps aside afterwards."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "boto3" or not _importing_from(_IMPORTER):
            return None
        _remove()
        raise ModuleNotFoundError(f"boto3 is not loaded for {_IMPORTER} in a build", name="boto3")


def _importing_from(module: str) -> bool:
    """Whether ``module``'s body is on the stack (its top-level code runs the import)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == module:
            return True
        frame = frame.f_back
    return False


def rasterio_without_boto3() -> None:
    """Make the first import of rasterio in this process go on without boto3. Does nothing once
    rasterio is loaded (it then keeps what it found) or when boto3 already is (it costs nothing
    more)."""
    if _IMPORTER in sys.modules or "boto3" in sys.modules:
        return
    if not any(isinstance(finder, _NoBoto3ForRasterio) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NoBoto3ForRasterio())


def _remove() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _NoBoto3ForRasterio)]
