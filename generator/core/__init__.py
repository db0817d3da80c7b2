"""Core: the values and errors every stage shares.

Owns: the plain data model (grids, frame plans, item assets, styles, animation records), the
exception hierarchy with its exit-code meaning, date/interval parsing, the palette layout
(``colors``), the resolved settings every stage takes (``specs``), config paths and URLs
(``paths``) and the canonical JSON cache keys are computed from (``canonical``). Gets nothing from the
other stages and imports none of them.
"""
