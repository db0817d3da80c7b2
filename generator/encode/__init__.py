"""Encode stage: palette-index frames into files.

Owns: the output formats and their registry (``registry``: one encoder per format, by name),
the streaming GIF writer (``gif``), animated WebP (``webp``), MP4/H.264 (``mp4``), the poster
and thumbnail stills (``stills``) and the input checks they share (``indexed``). Gets 2-D
``uint8`` frames, one 256-entry palette and per-frame durations (formats that take them — WebP,
MP4, the stills — also full-colour RGBA frames); hands back files on disk.
Knows nothing of STAC, configs or the site.
"""
