"""Frozen dataclasses to and from plain JSON values, driven by their type hints.

Owns the codec of what the build keeps between runs (an animation's last good record): readable,
and never able to run code when it is read back. The encoder and decoder walk
``dataclasses.fields`` and ``typing.get_type_hints``, so a field added to a dataclass needs no
change here as long as its type is one of:

* ``str``, ``int``, ``float``, ``bool``, ``None``; ``Literal[...]`` of those;
* ``datetime`` (ISO 8601; a timezone offset is kept);
* ``tuple[X, ...]`` and ``tuple[X, Y]`` (JSON lists); ``X | Y`` and ``X | None``;
* ``dict[str, X]``, and ``Any`` for values that are JSON already (a tuple inside becomes a list);
* another dataclass, nested. A value whose class is a subclass of the declared one is written
  with its class name under ``"$class"``, and read back only if that name is in the ``classes``
  allowlist given to :func:`decode` (and is a subclass of the declared class).

Decoding is strict: a missing or unknown field, a value of the wrong type or a class that is not
allowed raises :class:`RecordError`, so a record written by other code is never half-trusted.

The codec itself lives in two modules below this one: ``record_walk`` walks the hints value by
value (the reference, and every error message), ``record_compiled`` makes one function per hint
(the fast path, falling back on the walk on any problem).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any, TypeVar

from generator.core.record_compiled import Mismatch, decoder, encoder
from generator.core.record_walk import CLASS_KEY as CLASS_KEY
from generator.core.record_walk import RecordError as RecordError
from generator.core.record_walk import decode_slow, encode_slow

T = TypeVar("T")


def encode(value: Any, hint: Any = Any) -> Any:
    """``value`` (of type ``hint``) as JSON-ready lists, dicts and scalars."""
    try:
        return encoder(hint)(value)
    except TypeError:
        return encode_slow(value, hint)  # raises the error with its message


def decode(cls: type[T], data: Any, classes: Iterable[type] = ()) -> T:
    """An instance of the dataclass ``cls`` from ``encode``'s output; raises ``RecordError``."""
    allowed = {allowed_class.__name__: allowed_class for allowed_class in classes}
    try:
        value = decoder(typing.cast(Any, cls))(data, allowed)
    except (Mismatch, RecordError):
        value = decode_slow(data, cls, allowed, cls.__name__)  # raises the error with where it is
    return typing.cast(T, value)
