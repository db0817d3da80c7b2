"""Core: the values and errors every stage shares.

Owns: the plain data model (grids, sources' items and assets, frame plans, styles, animation
records), the exception hierarchy with its exit-code meaning, date/interval parsing, the palette layout
(``colors``), the resolved settings every stage takes (``specs``), config paths and URLs
(``paths``), the canonical JSON cache keys are computed from (``canonical``), and the rules every
stage must apply the same way: redaction of URLs and headers, atomic file writes, the JSON codec
of dataclasses (``records``; walked value by value in ``record_walk``, compiled per type hint
in ``record_compiled``), and folder names made from ids; and the per-build memo (``buildcache``: work
the animations of one build share, dropped when it ends) and the memo a build is handed
(``memo``: what later builds given the same one find again). Gets nothing from the
other stages and imports none of them.
"""
