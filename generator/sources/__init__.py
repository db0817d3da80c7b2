"""Sources stage: everything read from the network or disk that is not a pixel.

Owns: the source kinds (``registry``: the ``Source`` protocol and the kinds by name — static
catalogs and STAC APIs built in, with the STAC rules both share in ``stac_common``), the rules
every kind's items follow (``items``), region geometries and border layers, the project's HTTP
session (retries, timeouts, ``User-Agent``, secrets kept out of messages), asset hrefs signed
at read time with short-lived tokens (``signing``: Planetary Computer SAS), and the Natural Earth
geography shipped with the package (``geodata``: coastlines, country borders, land). Gets
source and region specs (``generator.core.specs``) from the plan stage — never a config model;
hands down collections' info, items (``core.model.SourceItem``) and regions as plain values —
never a STAC library's objects.
"""
