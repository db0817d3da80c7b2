"""Renderers by kind (``render.renderer`` in the config): each renderer module registers itself.

Owns the table from a renderer kind (``local``, ``titiler``) to the factory that makes it for a
source, and what the engine needs to run it: its name in cache keys and whether it runs in the
build's process pool (CPU-bound) or in a thread pool of its own (I/O-bound). A new renderer is
one module that calls :func:`register_renderer`, its name in :data:`RENDERER_MODULES`, and its
kind in the config's ``RendererName``. A renderer's module is imported when its kind is first
asked for: a local build does not load TiTiler's client (nor the HTTP library it uses).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from generator.core.errors import ConfigError
from generator.core.specs import SourceSpec
from generator.sources.http_settings import settings_for_source

if TYPE_CHECKING:  # the renderer modules import this one to register themselves
    from generator.render.frames import Renderer
    from generator.sources.http_settings import HttpSettings

#: The module that registers each renderer, imported on its first lookup (they pull in heavy readers).
RENDERER_MODULES = {"local": "generator.render.local", "titiler": "generator.render.titiler"}


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
    for builtin in RENDERER_MODULES:
        _load(builtin)
    return tuple(sorted(_factories))


def make_renderer(kind: str, source: SourceSpec, processes: int = 1) -> RendererSetup:
    """The renderer of ``kind`` for ``source``; its HTTP settings (headers expanded) come from the source.

    A renderer that runs in the build's pool reads in ``processes`` processes at once: they
    share the source's bounds of the whole build (``http.max_per_host``, ``http.max_cog_reads``),
    each getting its part of them (at least one).
    """
    _load(kind)
    if kind not in _factories:
        renderer_kinds()  # the message names every renderer there is
        raise ConfigError(f"unknown renderer {kind!r} (known: {', '.join(sorted(_factories))})")
    settings = settings_for_source(source)
    setup = _factories[kind](source, settings)
    if setup.threads is None and processes > 1:
        shared = replace(
            settings, max_per_host=max(1, settings.max_per_host // processes),
            max_cog_reads=max(1, settings.max_cog_reads // processes),
        )
        setup = _factories[kind](source, shared)
    return setup


def _load(kind: str) -> None:
    """Import the module of a built-in ``kind`` (registered already, or not built in: nothing)."""
    module = RENDERER_MODULES.get(kind)
    if module is not None and kind not in _factories:
        importlib.import_module(module)
