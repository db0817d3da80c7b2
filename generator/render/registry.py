"""Renderers by kind (``render.renderer`` in the config): each renderer module registers itself.

Owns the table from a renderer kind (``local``, ``titiler``) to the factory that makes it for a
source, and what the engine needs to run it: its name in cache keys and whether it runs in the
build's process pool (CPU-bound) or in a thread pool of its own (I/O-bound). A new renderer is
one module that calls :func:`register_renderer`, its name in :data:`RENDERER_MODULES`, and its
kind in the config's ``RendererName``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from generator.core.errors import ConfigError
from generator.core.specs import SourceSpec

if TYPE_CHECKING:  # the renderer modules import this one to register themselves
    from generator.render.frames import Renderer
    from generator.sources.http import HttpSettings  # requests loads with the first renderer made

#: Modules that register a renderer, imported on the first lookup (they pull in heavy readers).
RENDERER_MODULES = ("generator.render.local", "generator.render.titiler")


@dataclass(frozen=True)
class RendererSetup:
    """A renderer made for one source, with how the engine runs it."""

    renderer: Renderer
    cache_name: str  # identifies the renderer (and its endpoint) in cache keys
    threads: int | None = None  # None: run in the build's process pool; else a thread pool this wide


RendererFactory = Callable[[SourceSpec, "HttpSettings"], RendererSetup]
_factories: dict[str, RendererFactory] = {}


def register_renderer(kind: str) -> Callable[[RendererFactory], RendererFactory]:
    """Decorator: ``factory(source, http_settings)`` makes the renderer of ``kind`` for a source."""

    def register(factory: RendererFactory) -> RendererFactory:
        if kind in _factories and _factories[kind] is not factory:
            raise ValueError(f"renderer kind {kind!r} is registered twice")
        _factories[kind] = factory
        return factory

    return register


def renderer_kinds() -> tuple[str, ...]:
    _load()
    return tuple(sorted(_factories))


def make_renderer(kind: str, source: SourceSpec) -> RendererSetup:
    """The renderer of ``kind`` for ``source``; its HTTP settings (headers expanded) come from the source."""
    _load()
    from generator.sources.http import settings_for_source

    if kind not in _factories:
        raise ConfigError(f"unknown renderer {kind!r} (known: {', '.join(sorted(_factories))})")
    return _factories[kind](source, settings_for_source(source))


def _load() -> None:
    for module in RENDERER_MODULES:
        importlib.import_module(module)
