"""Source kinds (``sources.<name>``: ``catalog``, ``api``, or a ``kind`` of your own), by name.

Owns the ``Source`` protocol the planner reads through — collections' info and items as our own
``core.model`` records, never a STAC library's objects — and the table from a source kind to the
function that opens it for a ``SourceSpec``. A new source kind is one module that calls
:func:`register_source` (with the dataclass of its ``options``, if it takes any); the built-in
kinds are registered by the modules in :data:`SOURCE_MODULES`, each imported when its kind is
first looked up (a build from a static catalog never imports the STAC API's module, nor the
HTTP library a local catalog does not need).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from generator.core.dates import Interval
from generator.core.errors import ConfigError
from generator.core.model import CollectionInfo, SourceItem
from generator.core.query import ItemSearch
from generator.core.specs import SourceSpec

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

#: The module that registers each built-in kind.
SOURCE_MODULES = {"catalog": "generator.sources.catalog", "api": "generator.sources.stac_api"}


class Source(Protocol):
    """What the planner needs from a source, whatever its kind."""

    name: str
    notes: list[str]  # warnings worth showing next to the result (page cap, looping next link)

    def collection(self, collection_id: str) -> CollectionInfo:
        """The collection's info (title, license, renders, time density…); ``SourceError`` if absent."""
        ...

    def items(
        self, collection_id: str, interval: Interval | None, region: BaseGeometry, search: ItemSearch | None = None
    ) -> list[SourceItem]:
        """Items of the collection: at least those in the interval that meet the region (and ``search``).

        A superset is fine: the planner keeps the items that match (``sources.items.filter_items``),
        in the order the source lists them (``composite: stac-order``). ``search`` (query, CQL2
        filter) is passed only when the collection sets one; a kind whose ``items`` takes no
        ``search`` still works with ``query`` (the planner evaluates it), not with ``filter``.
        """
        ...


SourceOpener = Callable[[SourceSpec], Source]


@dataclass(frozen=True)
class SourceKind:
    """A registered kind: how to open it, and the dataclass of its ``options`` (None: it takes none)."""

    name: str
    opener: SourceOpener
    options: type | None = None


_kinds: dict[str, SourceKind] = {}


def register_source(kind: str, opener: SourceOpener, options: type | None = None) -> None:
    """Make ``kind`` a source kind: ``opener(spec)`` opens a ``sources.<name>`` block of that kind.

    ``options`` is a (frozen) dataclass: ``sources.<name>.options`` is validated into it by the
    plan stage (unknown keys are errors) and handed to the opener as ``spec.options``.
    """
    entry = SourceKind(kind, opener, options)
    if kind in _kinds and _kinds[kind] != entry:
        raise ValueError(f"source kind {kind!r} is registered twice")
    _kinds[kind] = entry


def unregister_source(kind: str) -> None:
    """Forget ``kind`` (a kind of your own; tests use it to clean up)."""
    _kinds.pop(kind, None)


def source_kinds() -> tuple[str, ...]:
    for builtin in SOURCE_MODULES:
        _load(builtin)
    return tuple(sorted(_kinds))


def source_kind(kind: str, where: str = "sources") -> SourceKind:
    """The registered ``kind``; a ``ConfigError`` naming the known ones when it is not."""
    _load(kind)
    if kind not in _kinds:
        for builtin in SOURCE_MODULES:  # the message names every kind there is
            _load(builtin)
        raise ConfigError(
            f"{where}.kind: unknown source kind {kind!r} (known: {', '.join(sorted(_kinds))}); "
            "import the module that registers it before building"
        )
    return _kinds[kind]


def open_source(spec: SourceSpec) -> Source:
    """The source of ``sources.<name>``, opened by its kind (no request is made yet)."""
    return source_kind(spec.kind, spec.where).opener(spec)


def _load(kind: str) -> None:
    """Import the module of a built-in ``kind`` (registered already, or not built in: nothing)."""
    module = SOURCE_MODULES.get(kind)
    if module is not None and kind not in _kinds:
        importlib.import_module(module)
