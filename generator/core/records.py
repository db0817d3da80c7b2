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
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")

CLASS_KEY = "$class"
_SCALARS: tuple[type, ...] = (str, int, float, bool)


class RecordError(ValueError):
    """A value that does not match the dataclass it is decoded as."""


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(item for item in dataclasses.fields(cls) if item.init)


# --------------------------------------------------------------------------- encoding


def encode(value: Any, hint: Any = Any) -> Any:
    """``value`` (of type ``hint``) as JSON-ready lists, dicts and scalars."""
    try:
        return _encoder(hint)(value)
    except TypeError:
        return _encode_slow(value, hint)  # raises the error with its message


def _encode_slow(value: Any, hint: Any) -> Any:
    """``encode`` step by step: the reference the compiled encoders follow, and their error messages."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return _encode_any(value)
    if origin in (Union, types.UnionType):
        return _encode_slow(value, _union_member(value, typing.get_args(hint)))
    if value is None:
        if hint is type(None):
            return None
        raise TypeError(f"None where {hint!r} is declared")
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, hint):
            raise TypeError(f"{type(value).__name__} where {hint.__name__} is declared")
        cls = type(value)
        document = {item.name: _encode_slow(getattr(value, item.name), _hints(cls)[item.name]) for item in _fields(cls)}
        if cls is not hint:
            document = {CLASS_KEY: cls.__name__, **document}
        return document
    if origin is tuple:
        args = typing.get_args(hint)
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return [_encode_slow(item, args[0]) for item in items]
        if len(items) != len(args):
            raise TypeError(f"{len(items)} values where {hint!r} is declared")
        return [_encode_slow(item, arg) for item, arg in zip(items, args, strict=True)]
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        return {_check_key(key): _encode_slow(item, value_hint) for key, item in value.items()}
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise TypeError(f"{value!r} is not one of {typing.get_args(hint)}")
        return value
    if hint is datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"{type(value).__name__} where a datetime is declared")
        return value.isoformat()
    if hint in _SCALARS:
        return _encode_scalar(value, hint)
    raise TypeError(f"cannot encode a field declared as {hint!r}")


def _encode_scalar(value: Any, hint: type) -> Any:
    """A scalar as JSON has it; numpy's integers and floats become Python's."""
    if hint is int and not isinstance(value, bool) and isinstance(value, numbers.Integral):
        return int(value)
    if hint is float and not isinstance(value, bool) and isinstance(value, numbers.Real):
        return int(value) if isinstance(value, numbers.Integral) else float(value)
    if type(value) is hint or (hint is str and isinstance(value, str)):
        return value
    raise TypeError(f"{type(value).__name__} where {hint.__name__} is declared")


def _union_member(value: Any, members: tuple[Any, ...]) -> Any:
    """The member of a union that ``value`` belongs to (the first that fits)."""
    for member in members:
        if _fits(value, member):
            return member
    raise TypeError(f"{type(value).__name__} fits none of {members!r}")


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, member) for member in typing.get_args(hint))
    if origin is not None:
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"dict keys must be strings, got {key!r}")
    return key


def _encode_any(value: Any) -> Any:
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return {_check_key(key): _encode_any(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_any(item) for item in value]
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


# --------------------------------------------------------------------------- decoding


def decode(cls: type[T], data: Any, classes: Iterable[type] = ()) -> T:
    """An instance of the dataclass ``cls`` from ``encode``'s output; raises ``RecordError``."""
    allowed = {allowed_class.__name__: allowed_class for allowed_class in classes}
    try:
        value = _decoder(typing.cast(Any, cls))(data, allowed)
    except (_Mismatch, RecordError):
        value = _decode(data, cls, allowed, cls.__name__)  # raises the error with where it is
    return typing.cast(T, value)


def _decode(data: Any, hint: Any, allowed: Mapping[str, type], where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return _decode_any(data, where)
    if origin in (Union, types.UnionType):
        members = typing.get_args(hint)
        if data is None and type(None) in members:
            return None
        problems = []
        for member in members:
            if member is type(None):
                continue
            try:
                return _decode(data, member, allowed, where)
            except RecordError as error:
                problems.append(str(error))
        raise RecordError("; ".join(problems) or f"{where}: no value of {hint!r}")
    if hint is type(None):
        if data is not None:
            raise RecordError(f"{where}: expected null")
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _decode_dataclass(data, hint, allowed, where)
    if origin is tuple:
        if not isinstance(data, list):
            raise RecordError(f"{where}: expected a list")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(item, args[0], allowed, f"{where}[{n}]") for n, item in enumerate(data))
        if len(data) != len(args):
            raise RecordError(f"{where}: expected {len(args)} values, got {len(data)}")
        return tuple(_decode(item, arg, allowed, f"{where}[{n}]") for n, (item, arg) in enumerate(zip(data, args, strict=True)))
    if origin is dict:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object")
        _, value_hint = typing.get_args(hint)
        return {key: _decode(item, value_hint, allowed, f"{where}.{key}") for key, item in data.items()}
    if origin is Literal:
        choices = typing.get_args(hint)
        if not any(data == choice and type(data) is type(choice) for choice in choices):
            raise RecordError(f"{where}: {data!r} is not one of {choices}")
        return data
    if hint is datetime:
        if not isinstance(data, str):
            raise RecordError(f"{where}: expected an ISO 8601 string")
        try:
            return datetime.fromisoformat(data)
        except ValueError:
            raise RecordError(f"{where}: {data!r} is not an ISO 8601 date and time") from None
    if hint in _SCALARS:
        if not _fits(data, hint):
            raise RecordError(f"{where}: expected {hint.__name__}, got {type(data).__name__}")
        return data
    raise RecordError(f"{where}: cannot decode a field declared as {hint!r}")


def _decode_dataclass(data: Any, declared: type, allowed: Mapping[str, type], where: str) -> Any:
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object")
    cls = declared
    if CLASS_KEY in data:
        name = data[CLASS_KEY]
        found = allowed.get(name) if isinstance(name, str) else None
        if found is None or not issubclass(found, declared):
            raise RecordError(f"{where}: class {name!r} is not allowed here")
        cls = found
        data = {key: value for key, value in data.items() if key != CLASS_KEY}
    hints = _hints(cls)
    names = [item.name for item in _fields(cls)]
    missing = [name for name in names if name not in data]
    unknown = sorted(set(data) - set(names))
    if missing or unknown:
        raise RecordError(f"{where}: missing fields {missing}, unknown fields {unknown}")
    values = {name: _decode(data[name], hints[name], allowed, f"{where}.{name}") for name in names}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise RecordError(f"{where}: {error}") from None


def _decode_any(data: Any, where: str) -> Any:
    if data is None or isinstance(data, _SCALARS):
        return data
    if isinstance(data, dict):
        return {key: _decode_any(item, f"{where}.{key}") for key, item in data.items()}
    if isinstance(data, list):
        return [_decode_any(item, f"{where}[{n}]") for n, item in enumerate(data)]
    raise RecordError(f"{where}: {type(data).__name__} is not JSON")


# --------------------------------------------------------------------------- compiled codecs
#
# One function per type hint, made once (the steps of ``_encode_slow`` and ``_decode`` decided
# ahead): a record of a few thousand values is encoded or decoded without asking ``typing`` about
# every value. On any problem the step-by-step codec runs instead and raises its error.

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, Mapping[str, type]], Any]


class _Mismatch(Exception):
    """A value a compiled decoder cannot take (``_decode`` then says where and why)."""


@functools.cache
def _fitter(hint: Any) -> Callable[[Any], bool]:
    """``_fits(value, hint)`` as a function of ``value``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return lambda value: True
    if hint is type(None):
        return lambda value: value is None
    if origin is Literal:
        choices = typing.get_args(hint)
        return lambda value: value in choices
    if origin in (Union, types.UnionType):
        members = tuple(_fitter(member) for member in typing.get_args(hint))
        return lambda value: any(fits(value) for fits in members)
    if origin is not None:
        return lambda value: isinstance(value, origin)
    if hint is float:
        return lambda value: type(value) is float or (isinstance(value, numbers.Real) and not isinstance(value, bool))
    if hint is int:
        return lambda value: type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))
    if isinstance(hint, type):
        return lambda value: isinstance(value, hint)
    return lambda value: False


@functools.cache
def _encoder(hint: Any) -> Encoder:
    origin = typing.get_origin(hint)
    if hint is Any:
        return _encode_any
    if origin in (Union, types.UnionType):
        members = tuple((_fitter(member), member) for member in typing.get_args(hint))

        def encode_union(value: Any) -> Any:
            for fits, member in members:
                if fits(value):
                    return _encoder(member)(value)
            raise TypeError("fits no member")

        return encode_union
    if hint is type(None):
        return _encode_none
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        declared = hint

        def encode_dataclass(value: Any) -> Any:
            if value is None or not isinstance(value, declared):
                raise TypeError("not the declared class")
            cls = type(value)
            document = {name: encode_field(getattr(value, name)) for name, encode_field in _encoders_of(cls)}
            if cls is not declared:
                document = {CLASS_KEY: cls.__name__, **document}
            return document

        return encode_dataclass
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            encode_item = _encoder(args[0])

            def encode_items(value: Any) -> Any:
                if value is None:
                    raise TypeError("None")
                return [encode_item(item) for item in value]

            return encode_items
        encoders = tuple(_encoder(arg) for arg in args)

        def encode_fixed(value: Any) -> Any:
            if value is None:
                raise TypeError("None")
            items = list(value)
            if len(items) != len(encoders):
                raise TypeError("length")
            return [encode_item(item) for item, encode_item in zip(items, encoders, strict=True)]

        return encode_fixed
    if origin is dict:
        encode_value = _encoder(typing.get_args(hint)[1])

        def encode_dict(value: Any) -> Any:
            if value is None:
                raise TypeError("None")
            return {_check_key(key): encode_value(item) for key, item in value.items()}

        return encode_dict
    if origin is Literal:
        choices = typing.get_args(hint)

        def encode_literal(value: Any) -> Any:
            if value is None or value not in choices:
                raise TypeError("not a choice")
            return value

        return encode_literal
    if hint is datetime:

        def encode_datetime(value: Any) -> Any:
            if not isinstance(value, datetime):
                raise TypeError("not a datetime")
            return value.isoformat()

        return encode_datetime
    if hint in _SCALARS:
        scalar: type = hint

        def encode_scalar(value: Any) -> Any:
            if type(value) is scalar:
                return value
            if value is None:
                raise TypeError("None")
            return _encode_scalar(value, scalar)

        return encode_scalar
    raise TypeError(f"cannot encode a field declared as {hint!r}")


def _encode_none(value: Any) -> Any:
    if value is not None:
        raise TypeError("not None")
    return None


@functools.cache
def _encoders_of(cls: type) -> tuple[tuple[str, Encoder], ...]:
    hints = _hints(cls)
    return tuple((item.name, _encoder(hints[item.name])) for item in _fields(cls))


@functools.cache
def _decoder(hint: Any) -> Decoder:
    origin = typing.get_origin(hint)
    if hint is Any:
        return lambda data, allowed: _decode_any(data, "")
    if origin in (Union, types.UnionType):
        members = typing.get_args(hint)
        takes_none = type(None) in members
        decoders = tuple(_decoder(member) for member in members if member is not type(None))

        def decode_union(data: Any, allowed: Mapping[str, type]) -> Any:
            if data is None and takes_none:
                return None
            for decode_member in decoders:
                try:
                    return decode_member(data, allowed)
                except (_Mismatch, RecordError):
                    continue
            raise _Mismatch

        return decode_union
    if hint is type(None):

        def decode_none(data: Any, allowed: Mapping[str, type]) -> Any:
            if data is not None:
                raise _Mismatch
            return None

        return decode_none
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        declared = hint

        def decode_dataclass(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, dict):
                raise _Mismatch
            cls = declared
            if CLASS_KEY in data:
                name = data[CLASS_KEY]
                found = allowed.get(name) if isinstance(name, str) else None
                if found is None or not issubclass(found, declared):
                    raise _Mismatch
                cls = found
                data = {key: value for key, value in data.items() if key != CLASS_KEY}
            names, decoders = _decoders_of(cls)
            if data.keys() != names:
                raise _Mismatch
            values = {name: decode_field(data[name], allowed) for name, decode_field in decoders}
            try:
                return cls(**values)
            except (TypeError, ValueError):
                raise _Mismatch from None

        return decode_dataclass
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            decode_item = _decoder(args[0])

            def decode_items(data: Any, allowed: Mapping[str, type]) -> Any:
                if not isinstance(data, list):
                    raise _Mismatch
                return tuple([decode_item(item, allowed) for item in data])

            return decode_items
        decoders = tuple(_decoder(arg) for arg in args)

        def decode_fixed(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, list) or len(data) != len(decoders):
                raise _Mismatch
            return tuple([decode_item(item, allowed) for item, decode_item in zip(data, decoders, strict=True)])

        return decode_fixed
    if origin is dict:
        decode_value = _decoder(typing.get_args(hint)[1])

        def decode_dict(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, dict):
                raise _Mismatch
            return {key: decode_value(item, allowed) for key, item in data.items()}

        return decode_dict
    if origin is Literal:
        choices = typing.get_args(hint)

        def decode_literal(data: Any, allowed: Mapping[str, type]) -> Any:
            if not any(data == choice and type(data) is type(choice) for choice in choices):
                raise _Mismatch
            return data

        return decode_literal
    if hint is datetime:

        def decode_datetime(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, str):
                raise _Mismatch
            try:
                return datetime.fromisoformat(data)
            except ValueError:
                raise _Mismatch from None

        return decode_datetime
    if hint in _SCALARS:
        fits = _fitter(hint)

        def decode_scalar(data: Any, allowed: Mapping[str, type]) -> Any:
            if not fits(data):
                raise _Mismatch
            return data

        return decode_scalar

    def decode_nothing(data: Any, allowed: Mapping[str, type]) -> Any:
        raise _Mismatch

    return decode_nothing


@functools.cache
def _decoders_of(cls: type) -> tuple[frozenset[str], tuple[tuple[str, Decoder], ...]]:
    hints = _hints(cls)
    names = [item.name for item in _fields(cls)]
    return frozenset(names), tuple((name, _decoder(hints[name])) for name in names)
