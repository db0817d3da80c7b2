"""The one redaction policy: what of a URL or a header may be shown or published."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config.loading import parse_config
from generator.core.errors import ConfigError
from generator.core.redaction import (
    REDACTED,
    UNPARSEABLE_URL,
    public_url,
    public_url_or_none,
    redact_headers,
    redact_urls_in_text,
)


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
