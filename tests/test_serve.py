"""The preview server: loopback only, nothing outside the output folder, and the CLI command."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.core.errors import GeneratorError
from generator.site.serve import make_server, safe_relative_path, serving

from .conftest import REPO

SECRET = "not for the web"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """output/ with a page, a nested file and symlinks that point outside it."""
    base = tmp_path_factory.mktemp("serve")
    (base / "secret.txt").write_text(SECRET, encoding="utf-8")
    (base / "private").mkdir()
    (base / "private" / "key.txt").write_text(SECRET, encoding="utf-8")
    output = base / "output"
    (output / "animations" / "a").mkdir(parents=True)
    (output / "index.html").write_text("<!doctype html><title>gallery</title>", encoding="utf-8")
    (output / "animations" / "a" / "data file.json").write_text('{"ok": true}', encoding="utf-8")
    (output / "link.txt").symlink_to(base / "secret.txt")
    (output / "linked-dir").symlink_to(base / "private", target_is_directory=True)
    (output / "inner-link.json").symlink_to(output / "animations" / "a" / "data file.json")
    return output


@pytest.fixture(scope="module")
def url(tree: Path):
    with serving(tree) as address:
        yield address


def get(url: str, raw_path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as given (no client-side normalisation of `..`)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", raw_path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_binds_to_loopback_only(tree: Path) -> None:
    server = make_server(tree, 0, quiet=True)
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert server.server_address[1] > 0
    finally:
        server.server_close()


def test_serves_pages_and_files_of_the_output_folder(url: str) -> None:
    status, body = get(url, "/")
    assert status == 200 and b"<title>gallery</title>" in body
    status, body = get(url, "/animations/a/data%20file.json")
    assert (status, body) == (200, b'{"ok": true}')
    status, _ = get(url, "/missing.html")
    assert status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/animations/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/animations/a/..%2f..%2f..%2fsecret.txt",
        "/..\\secret.txt",
        "/link.txt",
        "/linked-dir/key.txt",
        "/inner-link.json",  # even a symlink that stays inside: links are never followed
    ],
)
def test_refuses_traversal_and_symlinks(url: str, path: str) -> None:
    status, body = get(url, path)
    assert status in (403, 404), path
    assert SECRET.encode() not in body


@pytest.mark.parametrize(
    ("request_path", "expected"),
    [
        ("/", ""),
        ("/index.html", "index.html"),
        ("/a/./b/%C3%A9.png?x=1#y", "a/b/é.png"),
        ("/a/../b", None),
        ("/%2E%2E/x", None),
        ("/a%5C..%5Cb", None),
        ("/a%00b", None),
    ],
)
def test_safe_relative_path(request_path: str, expected: str | None) -> None:
    assert safe_relative_path(request_path) == expected


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="build"):
        make_server(tmp_path / "nowhere", 0)
    with pytest.raises(GeneratorError, match="index.html"):
        make_server(tmp_path, 0)


def test_cli_serves_and_prints_the_url(tree: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "serve", "--output", str(tree), "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        status, body = get(match.group(0), "/")
        assert status == 200 and b"gallery" in body
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_without_config_or_output_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "generator", "serve", "--config", str(tmp_path / "missing.yml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "missing.yml" in result.stderr
