"""Render stage: the data layer of each frame.

Owns: the output grid of an animation (CRS, size, inside-region mask), reading COGs onto it —
locally with rasterio/rio-tiler (``local``) or through a TiTiler server (``titiler``) — and
turning values into palette indices (``palette``), served from the frame cache or rendered in
parallel (``layers``). Gets frame plans, styles and regions from the plan and sources stages;
hands palette-index arrays (before overlays) to the engine.
"""
