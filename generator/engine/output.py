"""The output folder's life cycle: staging, atomic swap, carry-over and untouched unchanged files.

Owns the rules that keep a published gallery whole: a build writes into a staging folder beside
``output/`` and swaps it in only at the end; a staging folder left by a killed build is removed
by the next one; files whose bytes did not change are hard-linked from the previous output so
their mtimes stay put; an animation can be carried over (``--only``, or a failed rebuild that
keeps the last good files as "stale") together with its record, which is kept as JSON in the cache
folder between builds.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import logging
import os
import posixpath
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from generator import __version__
from generator.core.atomic import write_text_atomic
from generator.core.errors import ConfigError
from generator.core.model import AnimationFiles, AnimationRecord, FileDigest, ItemAsset
from generator.core.records import RecordError, decode, encode
from generator.core.redaction import public_url, public_url_or_none
from generator.engine.ownership import require_ours, write_marker

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def check_output_dir(output: Path, protected: tuple[Path, ...]) -> None:
    """Refuse to replace a folder we did not make (the swap deletes the old output)."""
    if output.resolve() in {path.resolve() for path in protected} | {Path.home(), Path("/")}:
        raise ConfigError(f"--output {output}: refusing to replace this folder; choose a dedicated output folder")
    require_ours(output, "output", f"--output {output}")


def staging_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.staging-{os.getpid()}"


def new_staging(output: Path) -> Path:
    """Create the staging folder, with the marker that tells later builds and ``clean`` it is ours."""
    staging = staging_dir(output)
    staging.mkdir()
    write_marker(staging, "output")
    return staging


def remove_leftovers(output: Path) -> None:
    """Staging or old folders left by a build that was killed.

    A build killed between the two renames of :func:`swap_in` leaves no ``output`` but the
    previous gallery as ``.output.old-<pid>``: that copy is put back first, never deleted.
    Call with the output's lock held (no other build is using these folders).
    """
    olds = sorted(output.parent.glob(f".{output.name}.old-*"), key=lambda path: path.stat().st_mtime)
    if not output.exists() and olds:
        log.warning("%s was missing (a build was killed mid-swap): restoring it from %s", output, olds[-1].name)
        olds[-1].rename(output)
    for pattern in (f".{output.name}.staging-*", f".{output.name}.old-*"):
        for leftover in output.parent.glob(pattern):
            log.debug("removing leftover %s", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def swap_in(staging: Path, output: Path) -> None:
    """Replace ``output`` by ``staging`` with two renames (the window without output is tiny)."""
    if output.exists():
        old = output.parent / f".{output.name}.old-{os.getpid()}"
        output.rename(old)
        staging.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output)


def link_unchanged(staging: Path, output: Path) -> int:
    """Hard-link every staged file whose bytes equal the published one; returns how many."""
    if not output.is_dir():
        return 0
    linked = 0
    for staged in list(staging.rglob("*")):
        if not staged.is_file() or staged.is_symlink():
            continue
        published = output / staged.relative_to(staging)
        if not published.is_file() or published.is_symlink():
            continue
        if os.path.samefile(staged, published):
            linked += 1  # carried over as a link already
            continue
        if filecmp.cmp(staged, published, shallow=False):
            temporary = staged.with_name(staged.name + ".link")
            try:
                os.link(published, temporary)
            except OSError:
                continue  # another file system: keep the fresh copy
            os.replace(temporary, staged)
            linked += 1
    return linked


REWRITTEN_SUFFIXES = (".html", ".json")  # the site stage writes these again in every build


def _link_or_copy(source: str, target: str) -> None:
    # Pages are rewritten in place by the site stage: a hard link would let that write reach
    # the published file before the swap, so those are copied.
    if source.endswith(REWRITTEN_SUFFIXES):
        shutil.copy2(source, target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def new_bytes(staging: Path) -> int:
    """Bytes of the staged files that are not links to published ones (what this build wrote)."""
    return sum(path.stat().st_size for path in staging.rglob("*") if path.is_file() and path.stat().st_nlink == 1)


def media_files(files: AnimationFiles) -> list[str]:
    """Every file of an animation but its pages: the animation files, stills and frames."""
    paths = [*files.outputs.values(), files.poster, files.thumbnail, *files.frames]
    if files.legend is not None:
        paths.append(files.legend)
    return list(dict.fromkeys(paths))


HASH_CHUNK = 1 << 20


def file_digest(root: Path, relative: str) -> FileDigest:
    """Size and SHA-256 of ``root/relative`` (read in chunks: memory stays flat)."""
    digest = hashlib.sha256()
    size = 0
    with (root / relative).open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(path=relative, size=size, sha256=digest.hexdigest())


def published_digests(root: Path, files: AnimationFiles) -> tuple[FileDigest, ...]:
    """The digest of every media file of an animation built into ``root`` (what its record vouches for)."""
    return tuple(file_digest(root, relative) for relative in media_files(files))


def _inside_animation(record: AnimationRecord, relative: str) -> bool:
    folder = posixpath.dirname(record.files.page) + "/"
    normal = posixpath.normpath(relative)
    return normal == relative and relative.startswith(folder) and not relative.startswith("/")


def carry_over(record: AnimationRecord, output: Path, staging: Path) -> bool:
    """Link the files ``record`` vouches for from the published output into staging, verified.

    False, with nothing staged, unless the record was made for this output folder and every
    file it lists is there, a regular file, with the size and SHA-256 it lists; the caller then
    builds the animation again (from the frame cache: cheap). What is hashed is the staged link
    itself, so the bytes checked are the bytes published.
    """
    folder = posixpath.dirname(record.files.page)
    if record.output_dir != str(output):
        log.info("%s: its last record was made for another output folder, not kept", record.id)
        return False
    if not record.published:
        return False
    target_folder = staging / folder
    shutil.rmtree(target_folder, ignore_errors=True)
    try:
        problem = _stage_verified(record, output, staging)
    except OSError as error:  # a file removed or made unreadable while we looked at it
        problem = f"a file cannot be staged ({error.strerror or error})"
    if problem is None:
        return True
    shutil.rmtree(target_folder, ignore_errors=True)
    log.warning("%s: its published files cannot be kept: %s", record.id, problem)
    return False


def _stage_verified(record: AnimationRecord, output: Path, staging: Path) -> str | None:
    """Stage the record's files; the first problem found, or None when all are as listed."""
    for listed in record.published:
        if not _inside_animation(record, listed.path):
            return f"{listed.path} is not in the animation's folder"
        source = output / listed.path
        if source.is_symlink() or not source.is_file():
            return f"{listed.path} is missing"
        if source.stat().st_size != listed.size:
            return f"{listed.path} has changed (size)"
        target = staging / listed.path
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(source), str(target))
        try:
            staged = file_digest(staging, listed.path)
        except OSError as error:
            return f"{listed.path} cannot be read ({error.strerror})"
        if staged != listed:
            return f"{listed.path} has changed (content)"
    return None


RECORD_KIND = "eo-timelapse/animation-record"
RECORD_FORMAT = 2  # bump when the envelope or the meaning of a field changes
# The only classes a record may name for a field declared as one of their bases (none today:
# the resolved Style is one class).
RECORD_CLASSES: tuple[type, ...] = ()


def record_document(record: AnimationRecord) -> dict[str, Any]:
    """``record`` as the JSON document kept between builds (hrefs as ``public_url`` shows them)."""
    return {
        "kind": RECORD_KIND,
        "version": RECORD_FORMAT,
        "generator": __version__,
        "record": encode(public_record(record), AnimationRecord),
    }


def record_from_document(document: object) -> AnimationRecord:
    """The record in a document made by ``record_document``; ``RecordError`` for anything else."""
    if not isinstance(document, dict) or set(document) != {"kind", "version", "generator", "record"}:
        raise RecordError("not an animation record document")
    if document["kind"] != RECORD_KIND:
        raise RecordError(f"kind {document['kind']!r} is not {RECORD_KIND!r}")
    if (document["version"], document["generator"]) != (RECORD_FORMAT, __version__):
        # Written by another version: its fields may mean other things, so rebuild instead.
        raise RecordError(f"written by format {document['version']!r} of generator {document['generator']!r}")
    return decode(AnimationRecord, document["record"], RECORD_CLASSES)


def public_record(record: AnimationRecord) -> AnimationRecord:
    """``record`` with its asset and item hrefs as they may be written down (no signatures)."""

    def public_item(item: ItemAsset) -> ItemAsset:
        return replace(item, href=public_url(item.href), item_href=public_url_or_none(item.item_href))

    frames = tuple(replace(frame, items=tuple(public_item(item) for item in frame.items)) for frame in record.frames)
    return replace(record, frames=frames)


@dataclass(frozen=True)
class RecordStore:
    """The last good record of each animation, kept as JSON in the cache folder (not published)."""

    root: Path | None

    def _path(self, slug: str) -> Path:
        assert self.root is not None
        return self.root / "records" / f"{slug}.json"

    def load(self, slug: str) -> AnimationRecord | None:
        """The saved record, or None when there is none or it cannot be trusted as it is."""
        if self.root is None:
            return None
        path = self._path(slug)
        try:
            document = json.loads(path.read_bytes())
            record = record_from_document(document)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as error:  # RecordError, JSON and Unicode errors are ValueErrors
            log.debug("ignoring the saved record %s: %s", path, error)
            return None
        if record.slug != slug:
            log.debug("ignoring the saved record %s: it is the record of %r", path, record.slug)
            return None
        return record

    def save(self, record: AnimationRecord) -> None:
        if self.root is None:
            return
        text = json.dumps(record_document(record), ensure_ascii=False, indent=1)
        write_text_atomic(self._path(record.slug), text + "\n")
