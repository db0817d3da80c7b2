"""How a source talks HTTP, as settings: what can be known of it without making a request.

Owns :class:`HttpSettings` (timeouts, retries, the per-host bound, the body-size limit, headers,
the User-Agent) and the settings of a ``sources.<name>`` block with its ``${ENV_VAR}`` headers
expanded (:func:`settings_for_source`). Kept apart from ``sources.http`` (the session that uses
them) so that a build that makes no request — a local catalog read by the local renderer —
checks and carries its settings without loading an HTTP library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from generator import __version__
from generator.core.env import expand_env
from generator.core.specs import SourceSpec

USER_AGENT = f"eo-timelapse-generator/{__version__}"
DEFAULT_MAX_BODY = 256 * 1024 * 1024  # bytes; a STAC page or a rendered frame is far smaller


@dataclass(frozen=True)
class HttpSettings:
    """How one source (or the whole build) talks HTTP. All times are seconds."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4  # retries after the first try, for each kind of failure
    backoff: float = 0.5  # first back-off step; doubles on each consecutive failure
    backoff_max: float = 30.0
    jitter: float = 0.5  # up to this much random time added to each back-off
    retry_after_max: float = 60.0  # a server's Retry-After is honoured up to this
    max_per_host: int = 4  # concurrent requests to one host (scheme + host + port)
    # Remote files (COGs) the local renderer's GDAL reads at once across the build: object stores,
    # where real assets live, serve far more than a STAC API should be sent.
    max_cog_reads: int = 16
    max_body_bytes: int | None = DEFAULT_MAX_BODY
    # Whole exchange of one attempt (headers and body): read_timeout bounds each wait for bytes,
    # so a server that drips a byte a second would otherwise never time out.
    total_timeout: float = 300.0
    headers: Mapping[str, str] = field(default_factory=dict)
    user_agent: str = USER_AGENT

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


def settings_for_source(section: SourceSpec, where: str | None = None) -> HttpSettings:
    """The ``HttpSettings`` of a ``sources.<name>`` block, with ``${ENV_VAR}`` headers expanded.

    ``where`` names the block in messages (default: the spec's own ``where``, e.g.
    ``"site_config.yml: sources.veda"``).
    """
    where = section.where if where is None else where
    headers = {name: expand_env(value, f"{where}.headers.{name}") for name, value in section.headers.items()}
    # Every field of the spec carries over by name, so a new http setting can't be left behind.
    return HttpSettings(**asdict(section.http), headers=headers)
