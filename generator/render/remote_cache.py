"""The frame cache's entries on shared storage: an fsspec URL (``s3://bucket/prefix``, ``gs://…``).

Owns reading and writing one entry's bytes at ``<url>/frames/<key[:2]>/<key>.png`` so that a
reader never sees a partial entry: on an object store (S3, GCS, Azure) one PUT is atomic — the
object appears whole or not at all; on any other filesystem the bytes go to a hidden temporary
name beside the entry and are renamed over it. Entries are content-addressed and verified by
``render.cache`` on every read, so builds on several machines may share one store without a
lock: two writers of a key write the same bytes.

The store is small and picklable (its URL and fsspec options), so a worker process on another
machine opens the same storage; fsspec (and s3fs, gcsfs…) is imported on first use only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

#: Protocols whose single write is atomic (an object appears only once completely uploaded).
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"})


@dataclass(frozen=True)
class RemoteStore:
    """Entries under ``url`` (no trailing slash), opened with fsspec and ``options``."""

    url: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def filesystem(self) -> tuple[AbstractFileSystem, str]:
        """(the filesystem, the store's root path on it); fsspec reuses one instance per options."""
        from fsspec.core import url_to_fs  # deferred: only a build with a cache URL needs fsspec

        fs, root = url_to_fs(self.url, **dict(self.options))
        return fs, root.rstrip("/")

    def location(self, key: str) -> str:
        """Where an entry is, as a URL (for messages)."""
        return f"{self.url}/frames/{key[:2]}/{key}.png"

    def read(self, key: str) -> bytes | None:
        """The entry's bytes; None when there is none. Other failures raise ``OSError``."""
        fs, root = self.filesystem()
        try:
            data: bytes = fs.cat_file(f"{root}/frames/{key[:2]}/{key}.png")
        except FileNotFoundError:
            return None
        return data

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` as the entry, replacing it; never visible half-written."""
        fs, root = self.filesystem()
        folder = f"{root}/frames/{key[:2]}"
        path = f"{folder}/{key}.png"
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        if protocols & OBJECT_STORES:
            fs.pipe_file(path, data)
            return
        fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{key}.{uuid.uuid4().hex}.tmp"
        try:
            fs.pipe_file(temporary, data)
            fs.mv(temporary, path)
        except BaseException:
            try:
                fs.rm_file(temporary)
            except OSError:
                pass
            raise

    def check(self) -> None:
        """Raise ``OSError`` unless the store's root can be listed (or made): the build says so up front."""
        fs, root = self.filesystem()
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        if protocols & OBJECT_STORES and "memory" not in protocols:
            fs.ls(root.split("/")[0], detail=False)  # the bucket: a prefix with no entries yet is fine
        else:
            fs.makedirs(root, exist_ok=True)
