"""The one way this project writes a file that someone else may read while it is written.

Owns atomic replacement: the bytes go to a temporary file with a unique name in the target's own
folder (so ``os.replace`` is a rename on one file system), which replaces the target only once it
is complete. A reader sees the old file or the new one, never a torn one; two writers of the same
path (two builds sharing a cache folder, two threads) never write into each other's temporary
file; and on any error, ``KeyboardInterrupt`` included, the temporary file is removed.

Temporary names are ``.<target name>.<random>.tmp``: hidden, and easy to recognise as leftovers
of a process that was killed outright. The file gets the permissions an ordinary ``open(path,
"w")`` would give it (0666 less the umask), not ``mkstemp``'s private 0600.

Typical use::

    write_bytes_atomic(path, data)
    write_text_atomic(path, text)
    with atomic_path(path) as temporary:     # for writers that want a path (Pillow, encoders)
        image.save(temporary, format="PNG")
    with atomic_stream(path) as stream:      # for writers that want an open binary file
        stream.write(header)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # read once, at import, before any worker thread starts

@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; it replaces ``path`` when the block ends.

    The parent folder is created when missing. If the block raises, ``path`` is left as it was
    and the temporary file is removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        os.close(handle)
        os.chmod(temporary, _FILE_MODE)
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_stream(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary file open for writing; its bytes replace ``path`` when the block ends."""
    with atomic_path(path) as temporary, temporary.open("wb") as stream:
        yield stream


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically."""
    with atomic_stream(path) as stream:
        stream.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` by ``text`` atomically; line ends are written as given (no translation)."""
    write_bytes_atomic(path, text.encode(encoding))
