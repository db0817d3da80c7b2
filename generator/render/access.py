"""What to tell a user whose asset read was refused (HTTP 401/403, S3 AccessDenied).

Owns the hint added to a failed read's message: which ``sources.<name>`` setting is likely
missing for that kind of href — ``headers`` (an API key), ``sign: planetary-computer`` (Azure
Blob Storage needs a SAS token), ``s3.requester_pays`` or ``s3.unsigned`` (S3 buckets). GDAL
reports a refusal in words ("HTTP response code: 403", "Access Denied"); the hint is chosen
from the href and the settings the read ran with, never from a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generator.sources.signing import blob_container

_DENIED = re.compile(r"HTTP response code: ?(401|403)\b|\bAccess ?Denied\b|\b(401|403) (Unauthorized|Forbidden)\b", re.I)


@dataclass(frozen=True)
class AccessSettings:
    """The access settings a read ran with (values never included)."""

    key: str  # "sources.<name>"
    headers: bool = False
    signed: bool = False
    s3_unsigned: bool = False
    s3_requester_pays: bool = False


def refused(message: str) -> bool:
    """True when a read's error message says the server refused access (401/403)."""
    return _DENIED.search(message) is not None


def denied_hint(href: str, settings: AccessSettings) -> str:
    """The settings likely missing for ``href`` (unsigned, as the plan has it), as one clause."""
    key = settings.key
    if href.startswith("s3://"):
        hints = []
        if not settings.s3_requester_pays:
            hints.append(f"`{key}.s3.requester_pays: true` for a requester-pays bucket (credentials from the environment)")
        if not settings.s3_unsigned and not settings.s3_requester_pays:
            hints.append(f"`{key}.s3.unsigned: true` for a public bucket")
        if settings.s3_requester_pays:
            hints.append("AWS credentials in the environment that may read this bucket")
        return "access refused: set " + " or ".join(hints) if hints else "access refused"
    if blob_container(href) is not None and not settings.signed:
        return f"access refused: Azure Blob Storage assets (Planetary Computer) need `{key}.sign: planetary-computer`"
    if settings.signed and blob_container(href) is not None:
        return f"access refused with a fresh token: check `{key}.sign_url` and `{key}.headers`"
    if not settings.headers:
        return f"access refused: if the server needs a key or token, set it in `{key}.headers` (sent with every request, COG reads included)"
    return f"access refused: check the values of `{key}.headers`"
