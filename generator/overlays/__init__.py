"""Overlays stage: everything drawn over the data layer.

Owns: the basemap under the data, borders and region outlines, the title, date label,
attribution and legend boxes, their layout and text rendering — all as palette indices so the
frame stays one 256-colour image. Gets a grid and a data layer from the render stage and the
overlay settings as specs (``generator.core.specs``); hands finished frames to the encoders.
"""
