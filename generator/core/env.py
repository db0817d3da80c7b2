"""``${NAME}`` references to environment variables in config values (header tokens, API keys).

Owns the one syntax and its expansion, so the config check and the HTTP stage agree on both:
``${NAME}`` is the variable's value, ``$$`` a literal ``$``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from generator.core.errors import ConfigError

ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ``${NAME}``, and ``$$`` for a literal ``$``


def expand_env(value: str, where: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${NAME}`` with the environment variable's value (``$$`` is a literal ``$``).

    A variable that is not set is a ``ConfigError`` naming it and ``where`` it is used.
    """
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        if name not in env:
            raise ConfigError(f"{where}: environment variable {name} is not set (it is used as ${{{name}}})")
        return env[name]

    return ENV_REF.sub(substitute, value)
