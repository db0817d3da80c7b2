"""The atomic writer: whole files or the old ones, unique temporary names, nothing left behind."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from generator.core.atomic import atomic_path, atomic_stream, write_bytes_atomic, write_text_atomic


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


def test_writes_bytes_and_text_and_creates_the_folder(tmp_path: Path) -> None:
    write_bytes_atomic(tmp_path / "a" / "b.bin", b"\x00\x01")
    write_text_atomic(tmp_path / "a" / "c.txt", "é\nx\r\n")
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a" / "c.txt").read_bytes() == "é\nx\r\n".encode()
    assert leftovers(tmp_path / "a") == []


def test_the_file_gets_ordinary_permissions_not_private_ones(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    write_bytes_atomic(tmp_path / "f", b"x")
    (tmp_path / "g").write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == stat.S_IMODE((tmp_path / "g").stat().st_mode)


def test_an_error_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "kept.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_stream(target) as stream:
        stream.write(b"half")
        raise RuntimeError("writer failed")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_temporary_names_are_unique_hidden_and_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        assert first.parent == second.parent == tmp_path
        assert first.name.startswith(".x.json.") and first.name.endswith(".tmp")
        first.write_text("1")
        second.write_text("2")
    assert target.read_text() == "1"  # the last one to finish wins, whole
    assert leftovers(tmp_path) == []


def test_concurrent_writers_of_one_path_never_corrupt_it(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    payloads = [bytes([n]) * (64 * 1024 + n) for n in range(8)]
    start = threading.Barrier(len(payloads) + 1)
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def writer(payload: bytes) -> None:
        try:
            start.wait()
            for _ in range(40):
                write_bytes_atomic(target, payload)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def reader() -> None:
        start.wait()
        for _ in range(400):
            try:
                seen.append(target.read_bytes())
            except FileNotFoundError:
                pass  # before the first replace

    threads = [threading.Thread(target=writer, args=(payload,)) for payload in payloads]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() in payloads
    assert all(content in payloads for content in seen)
    assert leftovers(tmp_path) == []
