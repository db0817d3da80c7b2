"""``python -m generator``: the command line lives in ``generator.cli.main`` (``run``: ``main``
with the collector tuned for a process that runs one command)."""

import sys

from generator.cli.main import run as main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
