"""Which folders are ours, and one build at a time in each.

Owns the two guards that keep the generator from destroying what it did not make:

* a **marker file** (``.eo-timelapse``, JSON naming the tool, the folder's kind and the
  version that wrote it) in every output and cache folder we create. A build replaces, and
  ``clean`` deletes, only a folder that is absent, empty or marked as ours — never a folder
  that merely happens to hold a ``manifest.json`` (a web app's). Galleries made before the
  marker existed are recognised by their manifest naming this generator, and marked;
* an **exclusive lock** per output folder and per cache folder (``flock`` on a lock file
  beside the output and inside the cache), so a second build into the same place fails at
  once with a clear message instead of deleting the first one's staging folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from generator import __version__
from generator.core.errors import ConfigError, FolderInUse

MARKER = ".eo-timelapse"
TOOL = "eo-timelapse-generator"
FolderKind = Literal["output", "cache"]
#: What a cache folder written before the marker existed holds; nothing else may be in it.
_LEGACY_CACHE_ENTRIES = frozenset({"frames", "state", "tiles", "searches", ".lock"})


def marker_text(kind: FolderKind) -> str:
    return json.dumps({"tool": TOOL, "kind": kind, "version": __version__}, sort_keys=True) + "\n"


def write_marker(folder: Path, kind: FolderKind) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(marker_text(kind), encoding="utf-8")


def _marked(folder: Path, kind: FolderKind) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("tool") == TOOL and marker.get("kind") == kind


def _legacy(folder: Path, kind: FolderKind) -> bool:
    """A folder an earlier version made, before it wrote markers."""
    if kind == "cache":
        return all(entry.name in _LEGACY_CACHE_ENTRIES for entry in folder.iterdir())
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    generator = manifest.get("generator") if isinstance(manifest, dict) else None
    return isinstance(generator, dict) and generator.get("name") == TOOL


def is_ours(folder: Path, kind: FolderKind) -> bool:
    """True when ``folder`` is absent, empty, marked as our ``kind``, or an unmarked one of ours."""
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    if not any(folder.iterdir()):
        return True
    return _marked(folder, kind) or _legacy(folder, kind)


def require_ours(folder: Path, kind: FolderKind, what: str) -> None:
    """Raise a ``ConfigError`` naming ``what`` (e.g. ``--output output``) unless the folder is ours."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what}: exists and is not a folder")
    if not is_ours(folder, kind):
        raise ConfigError(
            f"{what}: {folder} is not empty and has no {MARKER} marker, so this tool did not make it; "
            f"it is left alone — choose an empty or new folder"
        )


@contextlib.contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` or raise ``FolderInUse`` at once.

    The file exists only while it is held (it is removed on release, so nothing is left beside
    the output); a process that opened it just before it was removed notices that its file is
    no longer the one at the path and tries again.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode("ascii", "replace").strip() or "another process"
            os.close(handle)
            raise FolderInUse(
                f"{what} is in use by another build (pid {holder}); wait for it to finish or choose another folder"
            ) from None
        try:
            current = os.stat(lock_file).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle).st_ino:
            break
        os.close(handle)  # removed by the holder we waited behind: take the new file
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_file)
        os.close(handle)


def output_lock_file(output: Path) -> Path:
    """The output's lock lives beside it: the output folder itself is replaced by each build."""
    return output.parent / f".{output.name}.lock"


def cache_lock_file(cache: Path) -> Path:
    return cache / ".lock"


@contextlib.contextmanager
def claim_build_folders(output: Path, cache: Path) -> Iterator[None]:
    """Hold the output's and the cache's locks for a build; the cache is checked and marked as ours.

    The output itself is checked by the caller before (it may not exist yet: it is swapped in).
    """
    with contextlib.ExitStack() as held:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(exclusive(output_lock_file(output), f"output folder {output}"))
        except OSError as error:
            raise ConfigError(f"--output {output}: cannot write in {output.parent}: {error.strerror}") from None
        require_ours(cache, "cache", f"cache folder {cache}")
        try:
            held.enter_context(exclusive(cache_lock_file(cache), f"cache folder {cache}"))
            if not _marked(cache, "cache"):
                write_marker(cache, "cache")
        except OSError as error:
            raise ConfigError(f"cache folder {cache}: cannot write there: {error.strerror} (set cache.dir or --cache-dir)") from None
        yield
