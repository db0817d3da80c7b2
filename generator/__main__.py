"""``python -m generator``: the command line lives in ``generator.cli.main``."""

import sys

from generator.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
