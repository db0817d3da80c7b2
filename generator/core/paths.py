"""Paths and URLs as the config writes them: which are URLs, and local ones made absolute."""

from __future__ import annotations

import re
from pathlib import Path


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://", "s3://", "file://"))


#: Where a remote document may point its assets: the network, never the reader's own disk.
REMOTE_SCHEMES = ("http", "https", "s3")


def is_remote_href(href: str) -> bool:
    """True for an http(s) or s3 URL; False for ``file://``, a path, or any other scheme."""
    scheme, sep, _ = href.partition("://")
    return bool(sep) and scheme.lower() in REMOTE_SCHEMES


def resolve_ref(ref: str, base_dir: Path) -> str:
    """A URL stays as it is; a local path is made absolute against the config's folder."""
    if is_url(ref):
        return ref
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def storage_url(ref: str) -> str | None:
    """The fsspec URL ``ref`` names (``s3://bucket/prefix``, ``gs://…``); None for a local path.

    A ``file://`` URL is a local path (a mounted shared folder): None.
    """
    match = _SCHEME.match(ref)
    if match is None or match.group(1).lower() == "file":
        return None
    return ref.rstrip("/")


def local_folder(ref: str, base_dir: Path) -> Path:
    """A local folder the config names (a path or a ``file://`` URL), absolute against ``base_dir``."""
    path = Path(ref.removeprefix("file://")).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()
