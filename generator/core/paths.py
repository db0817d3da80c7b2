"""Paths and URLs as the config writes them: which are URLs, and local ones made absolute."""

from __future__ import annotations

from pathlib import Path


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://", "s3://", "file://"))


def resolve_ref(ref: str, base_dir: Path) -> str:
    """A URL stays as it is; a local path is made absolute against the config's folder."""
    if is_url(ref):
        return ref
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())
