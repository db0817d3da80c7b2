"""Overlays stage: everything drawn over the data layer.

Owns: the basemap under the data, the geographic context (Natural Earth coastlines and
country borders), borders and region outlines, the title, date label,
attribution and legend boxes, the scale bar, their layout and text rendering — all as palette indices so the
frame stays one 256-colour image. Each overlay is one class (``base.Overlay``: ``prepare``,
``paint``), listed with its layout rank in ``registry``; ``painter`` runs them. Gets a grid and a
data layer from the render stage and the overlay settings as specs (``generator.core.specs``);
hands finished frames to the encoders.
"""
