"""The one owner of folder names made from ids: which characters a folder name may hold.

A folder name is made only of ``[A-Za-z0-9._-]``, never starts or ends with ``.`` or ``-``, so it
cannot escape its parent folder or hide, whatever id it is made from. Two forms exist because
their ids come from different places, and a published gallery's URLs must not move:

* :func:`animation_slug`: an animation id is chosen in the config, so its folder is the readable
  form, lower case, and two ids that clean to one name are a configuration error (reported by
  the plan, which sees all ids at once);
* :func:`id_folder`: a collection or region id may come from a catalog, so it is kept as it is
  when it is already safe, and otherwise cleaned and given a short hash of the original, so two
  ids never share a folder.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")


def animation_slug(text: str) -> str:
    """The folder name of an animation id: lowercase ``[a-z0-9._-]``, no ``..``; may be empty."""
    slug = _UNSAFE.sub("-", text.lower()).strip("-.")
    return _DOTS.sub(".", slug)


def id_folder(identifier: str) -> str:
    """The folder name of a collection or region id: the id if it is safe, else cleaned + hash."""
    cleaned = _UNSAFE.sub("-", identifier).strip(".-")
    if cleaned == identifier and cleaned:
        return cleaned
    digest = hashlib.sha1(identifier.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[:60] or 'id'}-{digest}"
