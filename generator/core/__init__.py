"""Core: the values and errors every stage shares.

Owns: the plain data model (grids, frame plans, item assets, styles, animation records), the
exception hierarchy with its exit-code meaning, date/interval parsing and the palette layout
(``colors``). Gets nothing from the
other stages and imports none of them.
"""
