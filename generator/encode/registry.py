"""The output formats: one encoder object per format, registered by name.

An encoder turns one animation's frames (2-D ``uint8`` palette-index arrays, see
``generator.encode.indexed``) into one file. Its ``name`` is what ``render.formats`` lists, the
key of the file in ``AnimationFiles.outputs`` and in ``manifest.json``; ``label`` names it in the
page's download links. Options of a format, when it has any, are the config's ``render.<name>``
section (``render.webp``, ``render.mp4``); the engine hands that section to the encoder as
``options`` (None when the config has no such section).

The build calls :meth:`Encoder.encode` of each format as a task of its own, side by side, once
the frames are painted (the GIF first while the size budget may still shrink them): a built-in
encoder may run in a worker process, so it must be picklable and write nothing but ``path``;
a format registered at run time runs in the build's process. Encoders that also have ``open``
(a :class:`StreamingEncoder`, like the GIF writer) can take frames one at a time as well.
Adding a format is a module with an encoder and a ``register()`` call (for a built-in format:
its module name in :data:`BUILTIN_FORMATS`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: The built-in formats, each a module of this package, in the order pages list their links.
BUILTIN_FORMATS = ("gif", "webp", "mp4")
#: The format every animation has: the gallery shows it, and the size budget measures it.
REQUIRED_FORMAT = "gif"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Animation:
    """What an encoder knows of an animation besides its frames.

    ``rgb`` False: the frames are palette indices (2-D ``uint8``) into ``palette_rgb``. True
    (only ever given to an encoder that :func:`takes_rgb`): they are full colour, ``(height,
    width, 4)`` ``uint8`` RGBA with alpha 0 where transparent and 255 elsewhere (true-colour
    animations: data pixels keep their exact colour, see ``generator.render.rgbframe``); the
    palette still names the overlay colours, and ``transparent`` still says whether the
    animation has transparent pixels.
    """

    width: int
    height: int
    palette_rgb: bytes  # 256 RGB triplets
    transparent: int | None  # the palette index shown transparent, if any
    durations_ms: tuple[int, ...]  # one per frame; the last one includes the end pause
    loop: int = 0  # 0: repeat forever
    rgb: bool = False  # the frames are RGBA, not palette indices


def takes_rgb(encoder: Encoder) -> bool:
    """Whether ``encoder`` accepts full-colour frames (``Animation.rgb``): it says so with a
    ``takes_rgb = True`` attribute. The others (the GIF) always get palette indices."""
    return getattr(encoder, "takes_rgb", False) is True


class FrameSink(Protocol):
    """Where a streaming encoder takes the frames, one at a time, as they are painted."""

    def __enter__(self) -> FrameSink: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...

    def add_frame(self, pixels: np.ndarray, duration_ms: int) -> None: ...


class Encoder(Protocol):
    """One output format."""

    @property
    def name(self) -> str: ...  # e.g. "webp": render.formats, AnimationFiles.outputs, manifest.json

    @property
    def suffix(self) -> str: ...  # the file's suffix, with its dot: ".webp"

    @property
    def media_type(self) -> str: ...  # "image/webp"

    @property
    def label(self) -> str: ...  # "WebP": the page links to it as "Download WebP"

    def encode(self, path: Path, animation: Animation, frames: Iterable[np.ndarray], options: Any) -> None:
        """Write ``path`` from every frame of the animation, in order. The frames may be read-only
        arrays: the build hands the same ones to each format of an animation."""
        ...


@runtime_checkable
class StreamingEncoder(Encoder, Protocol):
    """An encoder that takes the frames while they are painted (the engine opens it per attempt)."""

    def open(self, path: Path, animation: Animation, options: Any) -> FrameSink: ...


_registered: dict[str, Encoder] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_FORMATS:
            importlib.import_module(f"{__package__}.{module}")


def register(encoder: Encoder) -> Encoder:
    """Add ``encoder`` under its name; returns it. A name can be registered once."""
    name = encoder.name
    if not _NAME.match(name):
        raise ValueError(f"an encoder name is lowercase letters, digits and '_', got {name!r}")
    if not encoder.suffix.startswith("."):
        raise ValueError(f"the {name} encoder's suffix must start with '.', got {encoder.suffix!r}")
    if _registered.get(name, encoder) is not encoder:
        raise ValueError(f"an encoder named {name!r} is already registered")
    _registered[name] = encoder
    return encoder


def unregister(name: str) -> None:
    """Remove the encoder registered as ``name`` (a built-in comes back only with a new process)."""
    _registered.pop(name, None)


def encoders() -> tuple[Encoder, ...]:
    """Every registered encoder: the built-in ones first, in :data:`BUILTIN_FORMATS` order."""
    _load_builtins()
    builtin = [_registered[name] for name in BUILTIN_FORMATS if name in _registered]
    return (*builtin, *(encoder for name, encoder in _registered.items() if name not in BUILTIN_FORMATS))


def names() -> tuple[str, ...]:
    return tuple(encoder.name for encoder in encoders())


def get(name: str) -> Encoder:
    """The encoder registered as ``name``; KeyError when there is none."""
    _load_builtins()
    return _registered[name]
