"""Site stage: the static web gallery.

Owns: the HTML pages (index, one page per animation and per collection), their view models,
links and paths, Markdown descriptions, the locator map, each animation's ``stats.csv`` and statistics chart (``charts``), ``manifest.json``, provenance records,
the text of errors and notes as it may be published (``public``: no secret, no local path),
the static assets and the local preview server, and which of the published gallery's files a
build keeps (linked, once their bytes are checked) because they are made from the same inputs. Gets one ``AnimationRecord`` per animation from
the engine; hands down nothing — its output is the published folder.
"""
