"""The one redaction policy: what of a URL or a header may be shown or published."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.config.loading import parse_config
from generator.core.errors import ConfigError
from generator.core.redaction import (
    REDACTED,
    UNPARSEABLE_URL,
    RedactingFilter,
    public_url,
    public_url_or_none,
    redact_headers,
    redact_text,
    redact_urls_in_text,
)

from .conftest import FakeItem, column_values, write_catalog, write_cog
from .servers.guarded import guard
from .servers.range_http import serve_directory
from .servers.sas_tokens import token_server


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        # local paths are not URLs: kept as written, even with characters a URL would split on
        ("/data/a.tif", "/data/a.tif"),
        ("data/a b.tif", "data/a b.tif"),
        ("C:\\data\\a.tif", "C:\\data\\a.tif"),
        ("/data/odd?name#1.tif", "/data/odd?name#1.tif"),
        # URLs with nothing to strip come back unchanged
        ("file:///data/a.tif", "file:///data/a.tif"),
        ("s3://bucket/a.tif", "s3://bucket/a.tif"),
        ("https://h.org/a.tif", "https://h.org/a.tif"),
        ("https://H.org:8443/a.tif", "https://H.org:8443/a.tif"),
        ("https://tiles.example/{z}/{x}/{y}.png", "https://tiles.example/{z}/{x}/{y}.png"),
        # user:password@ goes
        ("https://user:pw@h.org/a.tif", "https://h.org/a.tif"),
        ("https://token@h.org:8080/a.tif", "https://h.org:8080/a.tif"),
        ("s3://key:secret@bucket/a.tif", "s3://bucket/a.tif"),
        ("https://user:pw@[::1]:8080/a", "https://[::1]:8080/a"),
        # the whole query string goes: signatures, SAS tokens, API keys and the rest with them
        ("https://h.org/a.tif?X-Amz-Algorithm=AWS4&X-Amz-Credential=K&X-Amz-Signature=abc", "https://h.org/a.tif"),
        ("https://acct.blob.core.windows.net/c/a.tif?sv=2021&se=2030&sp=r&sig=xyz%3D", "https://acct.blob.core.windows.net/c/a.tif"),
        ("https://h.org/a.tif?Expires=1&Signature=s&Key-Pair-Id=k", "https://h.org/a.tif"),
        ("https://h.org/cog/feature?url=s3://b/a.tif&token=abc&rescale=0,1", "https://h.org/cog/feature"),
        ("https://h.org/a.tif?rescale=0,1", "https://h.org/a.tif"),
        ("https://h.org/a.tif?", "https://h.org/a.tif"),
        ("s3://bucket/a.tif?versionId=3", "s3://bucket/a.tif"),
        ("file:///data/a.tif?x=1", "file:///data/a.tif"),
        # and the fragment
        ("https://h.org/a.tif#access_token=abc", "https://h.org/a.tif"),
        ("https://h.org/a.tif?rescale=0,1#frag", "https://h.org/a.tif"),
        ("https://u:p@h.org/a.tif?sig=1#f", "https://h.org/a.tif"),
        # a URL that cannot be parsed is not shown at all
        ("https://user:pw@h.org:notaport/a.tif?sig=1", UNPARSEABLE_URL),
        ("https://[::1/a.tif?sig=1", UNPARSEABLE_URL),
    ],
)
def test_public_url(href: str, expected: str) -> None:
    assert public_url(href) == expected
    assert public_url(expected) == expected  # idempotent


def test_public_url_or_none() -> None:
    assert public_url_or_none(None) is None
    assert public_url_or_none("https://h.org:bad/") is None
    assert public_url_or_none("https://u:p@h.org/a?k=1") == "https://h.org/a"


def test_urls_inside_messages_are_made_public() -> None:
    text = (
        "HTTPSConnectionPool(host='h.org'): Max retries exceeded with url: "
        "https://u:p@h.org/a.tif?sig=SECRET (Caused by 'gs://b/x?X-Goog-Signature=SECRET2')"
    )
    redacted = redact_urls_in_text(text)
    assert "SECRET" not in redacted and "u:p@" not in redacted
    assert "https://h.org/a.tif" in redacted and "gs://b/x" in redacted
    assert redact_urls_in_text("/local/path?x: not found") == "/local/path?x: not found"


def test_header_values_are_never_shown() -> None:
    headers = {"Authorization": "Bearer SECRET", "Ocp-Apim-Subscription-Key": "SECRET2", "User-Agent": "x"}
    assert redact_headers(headers) == {name: REDACTED for name in headers}
    assert redact_headers({}) == {}


def test_a_config_error_never_shows_a_header_value_or_a_url_secret(tmp_path: Path) -> None:
    text = """
site: {title: t}
sources:
  api: {api: "https://stac.example.org", headers: {Authorization: 123456789}}
  other: {api: ["https://u:SECRETPW@stac.example.org/?token=SECRET"]}
collections: [{id: c, source: api}]
regions: [{id: r, bbox: [0, 0, 1, 1]}]
"""
    with pytest.raises(ConfigError) as raised:
        parse_config(text, tmp_path / "site_config.yml")
    message = str(raised.value)
    assert "sources.api.headers.Authorization" in message and REDACTED in message
    assert "123456789" not in message and "SECRET" not in message


# --- a whole build: no secret reaches the output folder, the cache folder or the terminal ------

SECRETS = ("HEADERSECRET42", "PRESIGNEDSECRET", "PASSWORDSECRET", "TOKENSECRETXYZ")


def _protected_catalog(root: Path, collection: str, hrefs: list[str]) -> Path:
    items = [FakeItem(id=f"{collection}-{month}", datetime=f"2021-0{month + 1}-01T00:00:00Z", cog=href) for month, href in enumerate(hrefs)]
    return write_catalog(root, collection, items)


def test_a_build_with_failing_signed_assets_writes_no_secret_anywhere(tmp_path: Path) -> None:
    served = tmp_path / "served"
    for month in range(2):
        write_cog(served / "acct" / "cont" / f"tile-{month}.tif", column_values() + month)
    key = {"X-Api-Key": "HEADERSECRET42"}
    with (
        serve_directory(served) as files,
        token_server(secret="TOKENSECRETXYZ") as tokens,
        guard(files.url, require_headers=key, tokens=tokens.accepted) as good,
        guard(files.url, require_headers=key, tokens=set()) as refusing,
    ):
        presigned = [
            refusing.href(f"acct/cont/tile-{month}.tif").replace("http://", "http://reader:PASSWORDSECRET@")
            + "?st=2020-01-01&se=2020-01-02&sp=rl&sv=2020&sr=b&sig=PRESIGNEDSECRET%3D"
            for month in range(2)
        ]
        _protected_catalog(tmp_path / "a", "expired", presigned)
        _protected_catalog(tmp_path / "b", "fresh", [good.href(f"acct/cont/tile-{month}.tif") for month in range(2)])
        _protected_catalog(tmp_path / "c", "rejected", [refusing.href(f"acct/cont/tile-{month}.tif") for month in range(2)])
        (tmp_path / "site_config.yml").write_text(f"""
site: {{title: Secrets}}
sources:
  presigned: {{catalog: a/catalog.json, headers: {{X-Api-Key: HEADERSECRET42}}}}
  signed: {{catalog: b/catalog.json, headers: {{X-Api-Key: HEADERSECRET42}}, sign: planetary-computer, sign_url: "{tokens.sign_url}"}}
  rejecting: {{catalog: c/catalog.json, headers: {{X-Api-Key: HEADERSECRET42}}, sign: planetary-computer, sign_url: "{tokens.sign_url}"}}
collections:
  - {{id: expired, source: presigned, style: {{rescale: [0, 64], colormap: viridis}}}}
  - {{id: fresh, source: signed, style: {{rescale: [0, 64], colormap: viridis}}}}
  - {{id: rejected, source: rejecting, style: {{rescale: [0, 64], colormap: viridis}}}}
regions:
  - {{id: square, bbox: [8, 8, 56, 56]}}
render: {{size: 64, frame_ms: 200}}
cache: {{search_ttl: 3600}}
""")
        result = subprocess.run(
            [sys.executable, "-m", "generator", "build", "--config", str(tmp_path / "site_config.yml"), "--verbose",
             "--output", str(tmp_path / "output"), "--cache-dir", str(tmp_path / "cache")],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "CPL_DEBUG": "ON"},  # GDAL's own debug output names every file it closes
        )
        assert tokens.issued() >= 1 and good.requests and not good.refused()  # the fresh source was signed and read
        assert refusing.refused()  # and the others were refused
    assert result.returncode == 1, result.stderr
    manifest = json.loads((tmp_path / "output" / "manifest.json").read_text())
    status = {entry["id"]: entry["status"] for entry in manifest["animations"]}
    assert status["fresh--square"] == "ok" and status["expired--square"] != "ok" and status["rejected--square"] != "ok"
    errors = " ".join(entry["error"] or "" for entry in manifest["animations"])
    assert "403" in errors and "sources.presigned.sign: planetary-computer" in errors
    written = [path for folder in ("output", "cache") for path in (tmp_path / folder).rglob("*") if path.is_file()]
    assert any(path.name == "provenance.json" for path in written) and any(path.suffix == ".html" for path in written)
    for secret in SECRETS:
        assert secret not in result.stderr and secret not in result.stdout, secret
        leaked = [path for path in written if secret.encode() in path.read_bytes()]
        assert not leaked, (secret, leaked)
    assert "127.0.0.1" in result.stderr  # the messages still name the assets' hosts
    # Searches were kept for the sources whose hrefs carry no secret, not for the pre-signed one.
    searches = [path.read_text() for path in (tmp_path / "cache" / "searches").glob("*.json")]
    assert len(searches) == 2 and not any("expired-0" in text for text in searches)


def test_log_lines_are_redacted_whoever_writes_them(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("generator.test-redaction")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="generator.test-redaction"):
            logger.info("reading %s then %s", "https://u:PW@h.org/a.tif?sig=SECRET1", "/search?key=SECRET2.")
            try:
                raise OSError("cannot open https://h.org/b.tif?token=SECRET3")
            except OSError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    text = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "https://h.org/a.tif" in text and "/search" in text and "https://h.org/b.tif" in text
    assert "SECRET" not in text and "PW@" not in text
    assert "SECRET" not in caplog.text


def test_redact_text_keeps_punctuation_and_drops_queries_on_bare_paths() -> None:
    assert redact_text("see https://h.org/a.tif?sig=S.") == "see https://h.org/a.tif."
    assert redact_text("Max retries exceeded with url: /search?key=S (Caused by x)") == (
        "Max retries exceeded with url: /search (Caused by x)"
    )
    assert redact_text("no url here") == "no url here"
