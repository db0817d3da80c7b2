"""Turn Earth-observation time series (STAC + Cloud-Optimized GeoTIFFs) into animated maps
and a static web gallery."""

__version__ = "0.1.0"
