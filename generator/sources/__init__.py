"""Sources stage: everything read from the network or disk that is not a pixel.

Owns: STAC access (static catalogs and STAC APIs behind one ``StacSource`` protocol, with the
same item rules for both in ``stac_common``), region geometries and border layers, and the
project's HTTP session (retries, timeouts, ``User-Agent``, secrets kept out of messages), and the
Natural Earth geography shipped with the package (``geodata``: coastlines, country borders,
land). Gets
source and region specs (``generator.core.specs``) from the plan stage — never a config model;
hands down collections' info, items and
regions as plain values.
"""
