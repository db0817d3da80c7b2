"""What the local pool's fork server imports besides ``preload`` for a build that may make an MP4.

Owns the warm-up of the MP4 encoder: PyAV takes ≈ 85 ms of the fork server's imports, which
every worker waits for before its first task, and a build of GIFs or WebPs (the default is GIF
alone) would pay them for nothing. The command tells the two apart from the config's text
before it reads the config (``cli.main``); when it guesses wrong, a worker encoding an MP4
imports PyAV itself, as the encoder does on its first use anywhere.
"""

import av  # noqa: F401
