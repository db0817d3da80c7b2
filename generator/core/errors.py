"""Our exception tree. Every message names what was wrong and what the user can do about it.

The CLI maps these to exit codes in one table (see ``generator.cli.main``); library code never exits.
"""

from __future__ import annotations

import reprlib
from typing import Any


class GeneratorError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(GeneratorError):
    """The configuration file (or a file it references) is invalid.

    ``problems`` holds one readable line per problem so the CLI can print all of them at once.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class RegionError(ConfigError):
    """A region's GeoJSON (geometry, bbox or borders) is missing, invalid or empty."""


class SourceError(GeneratorError):
    """A STAC source could not be read, or does not hold what the configuration asks for."""


class SourceUnreachable(SourceError):
    """A source did not answer (timeout, connection refused, unknown host, HTTP 5xx after retries).

    A build remembers it: later animations using the same source fail at once instead of asking again,
    with the first message and :attr:`REPEATED` after it.
    """

    REPEATED = " (the source already failed in this build)"


class StyleError(GeneratorError):
    """No usable style (rescale, colormap) for a collection."""


class RenderError(GeneratorError):
    """A frame could not be rendered (unreadable asset, unsupported data...)."""


class AnimationError(GeneratorError):
    """The animation files could not be written."""


class FolderInUse(ConfigError):
    """Another build holds the output or cache folder (exit code 2: nothing was touched)."""


def quote_value(value: Any) -> str:
    """``repr`` of a bad value, shortened for a message: one problem must stay one readable line,
    whatever a config or a catalog put there."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 60
    short.maxlist = short.maxdict = short.maxtuple = 3
    short.maxlevel = 3
    return short.repr(value)
