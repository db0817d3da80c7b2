"""How remote assets are reached, and what to tell a user whose read was refused (HTTP 401/403, S3 AccessDenied).

Owns the hint added to a failed read's message: which ``sources.<name>`` setting is likely
missing for that kind of href — ``headers`` (an API key), ``sign: planetary-computer`` (Azure
Blob Storage needs a SAS token), ``s3.requester_pays`` or ``s3.unsigned`` (S3 buckets). GDAL
reports a refusal in words ("HTTP response code: 403", "Access Denied"); the hint is chosen
from the href and the settings the read ran with, never from a secret.

Also owns how GDAL reaches remote assets of one source (``RemoteAccess``: its headers, an
S3-compatible endpoint, unsigned or requester-pays S3, as GDAL options set per read inside a
``rasterio.Env``, never in the process environment) and the GDAL path of an href
(``href_for_gdal``: ``/vsicurl/`` for HTTP(S), ``/vsis3/`` for S3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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


# GDAL settings for reads, applied per read inside rasterio.Env (never to the process environment).
GDAL_READ_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
    "VSI_CACHE": "TRUE",
}
#: GDAL takes a remote file whose name has none of these extensions for missing: no request is
#: sent for the sidecar files (``.aux.xml``, ``.msk``…) it would otherwise look for. Set only
#: for hrefs that end so (``gdal_options``): a download URL without one (``…/download/B04``) is a
#: COG like any other.
COG_EXTENSIONS = (".tif", ".tiff", ".TIF", ".TIFF")


@dataclass(frozen=True)
class RemoteAccess:
    """How GDAL reaches remote assets of one source (``sources.<name>.s3`` in the config).

    ``s3_endpoint`` is an S3-compatible server (``http://host:port`` or ``https://…``); it is
    addressed path-style (``AWS_VIRTUAL_HOSTING=FALSE``), as such servers usually need.
    ``headers`` (the source's, ``${ENV_VAR}`` expanded) go with every HTTP request GDAL makes
    (``GDAL_HTTP_HEADERS``); ``s3_requester_pays`` sends ``AWS_REQUEST_PAYER=requester``.
    """

    s3_unsigned: bool = False
    s3_endpoint: str | None = None
    s3_region: str | None = None
    user_agent: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    s3_requester_pays: bool = False

    def gdal_options(self, href: str | None = None) -> dict[str, str]:
        """GDAL's settings for reading ``href`` (an asset href, signed or not) from this source."""
        options = dict(GDAL_READ_OPTIONS)
        if href is None or urlsplit(href).path.endswith(COG_EXTENSIONS):
            options["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"] = ",".join((*COG_EXTENSIONS, ".ovr"))
        if self.user_agent:
            options["GDAL_HTTP_USERAGENT"] = self.user_agent
        if self.headers:
            options["GDAL_HTTP_HEADERS"] = "\r\n".join(f"{name}: {value}" for name, value in self.headers)
        if self.s3_requester_pays:
            options["AWS_REQUEST_PAYER"] = "requester"
        if self.s3_unsigned:
            options["AWS_NO_SIGN_REQUEST"] = "YES"
        if self.s3_region:
            options["AWS_REGION"] = self.s3_region
        if self.s3_endpoint:
            parts = urlsplit(self.s3_endpoint)
            options["AWS_S3_ENDPOINT"] = parts.netloc + parts.path.rstrip("/")
            options["AWS_HTTPS"] = "YES" if parts.scheme == "https" else "NO"
            options["AWS_VIRTUAL_HOSTING"] = "FALSE"
        return options


def href_for_gdal(href: str) -> str:
    """A GDAL path for an asset href: local path, ``/vsicurl/`` URL or ``/vsis3/`` key."""
    if href.startswith("file://"):
        return href.removeprefix("file://")
    if href.startswith(("http://", "https://")):
        return f"/vsicurl/{href}"
    if href.startswith("s3://"):
        return f"/vsis3/{href.removeprefix('s3://')}"
    return href
