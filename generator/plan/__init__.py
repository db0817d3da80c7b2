"""Plan stage: what to build, before any pixel is read.

Owns: turning the config into resolved, immutable specs (``site``: ``load_site`` → ``SitePlan``;
``specs``: one conversion per config section) — the only stage besides ``config`` that imports
it — expanding the config into animations (ids, slugs, render settings, ``--only``), the
styles (``styles``: colour ramps, rescaling, categorical classes, true colour — over the STAC
render ``renders`` picks and checks, its expression and colour formula read by ``formulas``), the frames a source's items make (which
asset is the data, ``frames``), the time steps of each animation (one frame per acquisition, cadence detection, gap
frames, ``min_coverage``, frame labels) and the search window of each source. Gets the loaded config from
``generator.config`` and the items (``SourceItem`` records) from ``generator.sources``; hands the engine one
``AnimationPlan`` per animation.
"""
