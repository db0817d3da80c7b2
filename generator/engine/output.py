"""The output folder's life cycle: staging, atomic swap, carry-over and untouched unchanged files.

Owns the rules that keep a published gallery whole: a build writes into a staging folder beside
``output/`` and swaps it in only at the end; a staging folder left by a killed build is removed
by the next one; files whose bytes did not change are hard-linked from the previous output so
their mtimes stay put; an animation can be carried over (``--only``, or a failed rebuild that
keeps the last good files as "stale") together with its record, which is kept as JSON in the cache
folder between builds. The bytes a record vouches for are checked before they are carried over:
by their SHA-256, or — for a file whose size, mtime and inode are those it had when it was last
hashed — by that stat alone (``CheckedFiles``, like git's index).
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import logging
import os
import posixpath
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from generator import __version__
from generator.core.atomic import write_text_atomic
from generator.core.errors import ConfigError
from generator.core.memo import BoundedMemo
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


def _staged_files(root: str, relative: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(path relative to ``root``, entry) of every regular file under ``root`` (symlinks skipped)."""
    with os.scandir(os.path.join(root, relative) if relative else root) as entries:
        for entry in entries:
            name = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from _staged_files(root, name)
            elif entry.is_file(follow_symlinks=False):
                yield name, entry


def link_unchanged(staging: Path, output: Path) -> int:
    """Hard-link every staged file whose bytes equal the published one; returns how many."""
    if not output.is_dir():
        return 0
    linked = 0
    for relative, entry in _staged_files(str(staging)):
        published = os.path.join(output, relative)
        try:
            found = os.lstat(published)
        except OSError:
            continue
        if not stat.S_ISREG(found.st_mode):
            continue
        staged = entry.stat(follow_symlinks=False)
        if (staged.st_dev, staged.st_ino) == (found.st_dev, found.st_ino):
            linked += 1  # carried over as a link already
            continue
        if staged.st_size == found.st_size and filecmp.cmp(entry.path, published, shallow=False):
            temporary = entry.path + ".link"
            try:
                os.link(published, temporary)
            except OSError:
                continue  # another file system: keep the fresh copy
            os.replace(temporary, entry.path)
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
    total = 0
    for _, entry in _staged_files(str(staging)):
        found = entry.stat(follow_symlinks=False)
        if found.st_nlink == 1:
            total += found.st_size
    return total


def media_files(files: AnimationFiles) -> list[str]:
    """Every file of an animation but its pages: the animation files, stills and frames."""
    paths = [*files.outputs.values(), files.poster, files.thumbnail, *files.frames]
    if files.legend is not None:
        paths.append(files.legend)
    return list(dict.fromkeys(paths))


HASH_CHUNK = 1 << 20


def _hashed(path: str, relative: str) -> tuple[FileDigest, os.stat_result]:
    """The digest of the file at ``path`` and its stat taken before its bytes were read."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        before = os.fstat(stream.fileno())
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(path=relative, size=size, sha256=digest.hexdigest()), before


def file_digest(root: Path, relative: str) -> FileDigest:
    """Size and SHA-256 of ``root/relative`` (read in chunks: memory stays flat)."""
    return _hashed(os.path.join(root, relative), relative)[0]


#: A file whose mtime is this close to the moment its bytes were known may be written again
#: within its mtime's granularity (2 s on FAT; a server's clock on NFS) without the mtime moving:
#: it is not remembered by its stat, and is hashed again the next time (git's "racy" entries).
RACY_NS = 2_000_000_000

Fingerprint = tuple[int, int, int]  # size, mtime in ns, inode


def fingerprint(found: os.stat_result) -> Fingerprint:
    return (found.st_size, found.st_mtime_ns, found.st_ino)


@dataclass
class CheckedFiles:
    """Published media files whose SHA-256 is known, remembered by their stat between builds.

    What git's index does for a work tree: a file whose size, mtime (in nanoseconds) and inode are
    the ones it had when its bytes were hashed is taken to still have those bytes, and is not read
    again. Every write moves a file's mtime — another program writing in place, a copy or a restore
    that does not keep mtimes, a file replaced by another — so such a change is noticed and the
    file is hashed. Not noticed: bytes changed without a write through the file system (a disk's
    bit rot) or a write followed by putting the exact mtime back on purpose; ``--no-cache`` trusts
    no stat and hashes every file. A file is remembered only when its mtime is older than
    ``RACY_NS`` before its bytes were known, so a write in the same tick of the clock cannot hide.
    """

    path: Path | None  # the JSON file in the cache folder; None: nothing is kept
    output: str  # the published output folder the stats are of
    known: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)  # relative path → (*stat, sha256)
    # This build's: relative path in staging → (stat when the bytes were known, their SHA-256, since
    # when in ns they are known; None: written by this build into its own staging folder, which no
    # one else writes: known until it is published).
    seen: dict[str, tuple[Fingerprint, str, int | None]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None, output: Path, trust: bool = True) -> CheckedFiles:
        """The stats kept for ``output`` (none when ``trust`` is off: every file is hashed)."""
        checked = cls(path, str(output))
        if path is None or not trust:
            return checked
        try:
            document = json.loads(path.read_bytes())
            if document.get("output") == checked.output and document.get("version") == CHECKED_FORMAT:
                checked.known = {
                    name: (int(size), int(mtime), int(inode), str(sha256))
                    for name, (size, mtime, inode, sha256) in document["files"].items()
                }
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:  # not ours: nothing trusted
            log.debug("ignoring %s: %s", path, error)
            checked.known = {}
        return checked

    def trusts(self, relative: str, found: os.stat_result, sha256: str) -> bool:
        """Whether the file at ``relative`` has the stat it had when its bytes had ``sha256``."""
        kept = self.known.get(relative)
        return kept is not None and kept[3] == sha256 and kept[:3] == fingerprint(found)

    def note(self, relative: str, found: os.stat_result, sha256: str, since: int | None) -> None:
        self.seen[relative] = (fingerprint(found), sha256, since)

    def forget(self, folder: str) -> None:
        """Forget what was noted of the files under ``folder`` (they were not staged after all)."""
        for relative in [relative for relative in self.seen if relative.startswith(folder)]:
            del self.seen[relative]

    def save(self) -> None:
        """Keep the stats noted this build whose mtime is older than ``RACY_NS`` before their bytes
        were known; written only when they changed.

        A file changed after it was noted has another stat than the one kept, so it is hashed
        next time: what is kept needs no second look.
        """
        if self.path is None:
            return
        now = time.time_ns()
        files = {
            relative: (*known, sha256)
            for relative, (known, sha256, since) in self.seen.items()
            if known[1] < (now if since is None else since) - RACY_NS
        }
        if files == self.known:
            return
        text = json.dumps({"version": CHECKED_FORMAT, "output": self.output, "files": files}, separators=(",", ":"))
        try:
            write_text_atomic(self.path, text)
        except OSError as error:  # only the next build's shortcut is lost: it hashes the files
            log.warning("could not save %s: %s", self.path, error)


CHECKED_FORMAT = 1


def published_digests(root: Path, files: AnimationFiles, checked: CheckedFiles | None = None) -> tuple[FileDigest, ...]:
    """The digest of every media file of an animation built into ``root`` (what its record vouches for).

    With ``checked``, each file's stat is noted with its digest (``root`` is the build's own staging folder).
    """
    digests = []
    for relative in media_files(files):
        digest, before = _hashed(os.path.join(root, relative), relative)
        if checked is not None:
            checked.note(relative, before, digest.sha256, None)
        digests.append(digest)
    return tuple(digests)


def _inside_animation(record: AnimationRecord, relative: str) -> bool:
    folder = posixpath.dirname(record.files.page) + "/"
    normal = posixpath.normpath(relative)
    return normal == relative and relative.startswith(folder) and not relative.startswith("/")


def carry_over(record: AnimationRecord, output: Path, staging: Path, checked: CheckedFiles | None = None) -> bool:
    """Link the files ``record`` vouches for from the published output into staging, verified.

    False, with nothing staged, unless the record was made for this output folder and every
    file it lists is there, a regular file, with the size and SHA-256 it lists; the caller then
    builds the animation again (from the frame cache: cheap). What is checked is the staged link
    itself, so the bytes checked are the bytes published: hashed, or — with ``checked`` — known
    by a stat that did not change since they were hashed.
    """
    folder = posixpath.dirname(record.files.page)
    if record.output_dir != str(output):
        log.info("%s: its last record was made for another output folder, not kept", record.id)
        return False
    if not record.published:
        return False
    target_folder = staging / folder
    shutil.rmtree(target_folder, ignore_errors=True)
    checked = checked if checked is not None else CheckedFiles(None, str(output))
    try:
        problem = _stage_verified(record, output, staging, checked)
    except OSError as error:  # a file removed or made unreadable while we looked at it
        problem = f"a file cannot be staged ({error.strerror or error})"
    if problem is None:
        return True
    shutil.rmtree(target_folder, ignore_errors=True)
    checked.forget(folder + "/")
    log.warning("%s: its published files cannot be kept: %s", record.id, problem)
    return False


def _stage_verified(record: AnimationRecord, output: Path, staging: Path, checked: CheckedFiles) -> str | None:
    """Stage the record's files; the first problem found, or None when all are as listed."""
    folders: set[str] = set()
    for listed in record.published:
        if not _inside_animation(record, listed.path):
            return f"{listed.path} is not in the animation's folder"
        source = os.path.join(output, listed.path)
        try:
            found = os.lstat(source)
        except FileNotFoundError:
            return f"{listed.path} is missing"
        if not stat.S_ISREG(found.st_mode):
            return f"{listed.path} is missing"
        if found.st_size != listed.size:
            return f"{listed.path} has changed (size)"
        target = os.path.join(staging, listed.path)
        folder = os.path.dirname(target)
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
        _link_or_copy(source, target)
        staged = os.lstat(target)
        if checked.trusts(listed.path, staged, listed.sha256):
            checked.note(listed.path, staged, listed.sha256, time.time_ns())
            continue
        since = time.time_ns()
        try:
            digest, before = _hashed(target, listed.path)
        except OSError as error:
            return f"{listed.path} cannot be read ({error.strerror})"
        if digest != listed:
            return f"{listed.path} has changed (content)"
        checked.note(listed.path, before, listed.sha256, since)
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


def _record_text(record: AnimationRecord) -> str:
    return json.dumps(record_document(record), ensure_ascii=False, indent=1) + "\n"


@dataclass(frozen=True)
class RecordStore:
    """The last good record of each animation, kept as JSON in the cache folder (not published).

    With ``checked``, the stats of the published files whose bytes the build checked or wrote
    (``CheckedFiles``), kept beside the records.
    """

    root: Path | None
    checked: CheckedFiles | None = None
    # Records decoded by this build and the ones before it given the same memo (``BuildMemo.records``),
    # by the SHA-256 of their document's bytes: the same bytes read again are not parsed and decoded
    # again. None: every load decodes.
    decoded: BoundedMemo[str, AnimationRecord] | None = field(default=None, repr=False, compare=False)
    # The document text and its SHA-256 of each record this store loaded or was asked about, by
    # slug: the record (compared by identity) → (its text to save, None when loaded as it is; its digest).
    _documents: dict[str, tuple[AnimationRecord, str | None, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _path(self, slug: str) -> Path:
        assert self.root is not None
        return self.root / "records" / f"{slug}.json"

    def load(self, slug: str) -> AnimationRecord | None:
        """The saved record, or None when there is none or it cannot be trusted as it is."""
        if self.root is None:
            return None
        path = self._path(slug)
        try:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            record = self.decoded.get(digest) if self.decoded is not None else None
            if record is None:
                record = record_from_document(json.loads(data))
                if self.decoded is not None:
                    self.decoded.put(digest, record, len(data))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as error:  # RecordError, JSON and Unicode errors are ValueErrors
            log.debug("ignoring the saved record %s: %s", path, error)
            return None
        if record.slug != slug:
            log.debug("ignoring the saved record %s: it is the record of %r", path, record.slug)
            return None
        self._documents[slug] = (record, None, digest)
        return record

    def _document(self, record: AnimationRecord) -> tuple[str | None, str]:
        known = self._documents.get(record.slug)
        if known is not None and known[0] is record:
            return known[1], known[2]
        try:
            text = _record_text(record)
        except (TypeError, ValueError) as error:  # a record that cannot be saved: a digest equal to no other
            log.debug("record %s cannot be encoded: %s", record.id, error)
            return None, f"unsaved-{uuid.uuid4().hex}"
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._documents[record.slug] = (record, text, digest)
        return text, digest

    def digest(self, record: AnimationRecord) -> str:
        """The SHA-256 of ``record``'s document as saved (or as it would be): every field of it, with
        its hrefs as published. Equal digests, equal records — what the site stage's files are made of."""
        return self._document(record)[1]

    def save(self, record: AnimationRecord) -> None:
        if self.root is None:
            return
        text, _ = self._document(record)
        write_text_atomic(self._path(record.slug), text if text is not None else _record_text(record))
