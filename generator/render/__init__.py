"""Render stage: the data layer of each frame.

Owns: the output grid of an animation (CRS, size, inside-region mask), reading COGs onto it —
locally with rasterio/rio-tiler (``local``; its warp geometry and rio-tiler's kernel read in
``warp``, nearest reads through a map made once per file layout and grid in ``nearest``,
bilinear reads that do not downsample through GDAL's weights kept the same way in ``bilinear``, the
cost cap of one read in ``limits``) or through a TiTiler server (``titiler``), each
registered by kind in ``registry``, both returning values that ``frames`` combines into a frame
the same way, COGs kept open for the rest of a build (``datasets``), how remote assets are
reached and the hint for a refused read (``access``) — turning
values into palette indices (``palette``), true colour — three channels as RGB on one palette
per animation (``truecolor``) and a painted frame back in the data's own colours (``rgbframe``), the statistics of each frame's values over the region
(``stats``), and the frame cache that keeps those data layers
between builds (``cache``); ``layers`` serves each frame's layer from the cache or renders it,
in parallel. Gets frame plans, styles and regions from the plan and sources stages; hands
palette-index arrays (before overlays) to the engine.
"""
