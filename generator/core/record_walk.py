"""The record codec step by step: each value walked against its type hint, as ``core.records`` defines.

Owns the reference codec — ``encode_slow`` and ``decode_slow`` ask ``typing`` about every value —
and what both codecs share: the ``$class`` key, ``RecordError`` and the checks of scalars, dict
keys and plain JSON. The compiled codecs (``core.record_compiled``) follow these steps and fall back
on them for every problem, so each error message, and where it points, comes from here.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Union

CLASS_KEY = "$class"
SCALARS: tuple[type, ...] = (str, int, float, bool)


class RecordError(ValueError):
    """A value that does not match the dataclass it is decoded as."""


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def init_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(item for item in dataclasses.fields(cls) if item.init)


# --------------------------------------------------------------------------- encoding


def encode_slow(value: Any, hint: Any) -> Any:
    """``encode`` step by step: the reference the compiled encoders follow, and their error messages."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return encode_any(value)
    if origin in (Union, types.UnionType):
        return encode_slow(value, _union_member(value, typing.get_args(hint)))
    if value is None:
        if hint is type(None):
            return None
        raise TypeError(f"None where {hint!r} is declared")
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, hint):
            raise TypeError(f"{type(value).__name__} where {hint.__name__} is declared")
        cls = type(value)
        document = {item.name: encode_slow(getattr(value, item.name), type_hints(cls)[item.name]) for item in init_fields(cls)}
        if cls is not hint:
            document = {CLASS_KEY: cls.__name__, **document}
        return document
    if origin is tuple:
        args = typing.get_args(hint)
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return [encode_slow(item, args[0]) for item in items]
        if len(items) != len(args):
            raise TypeError(f"{len(items)} values where {hint!r} is declared")
        return [encode_slow(item, arg) for item, arg in zip(items, args, strict=True)]
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        return {check_key(key): encode_slow(item, value_hint) for key, item in value.items()}
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise TypeError(f"{value!r} is not one of {typing.get_args(hint)}")
        return value
    if hint is datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"{type(value).__name__} where a datetime is declared")
        return value.isoformat()
    if hint in SCALARS:
        return encode_scalar_value(value, hint)
    raise TypeError(f"cannot encode a field declared as {hint!r}")


def encode_scalar_value(value: Any, hint: type) -> Any:
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


def check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"dict keys must be strings, got {key!r}")
    return key


def encode_any(value: Any) -> Any:
    if value is None or isinstance(value, SCALARS):
        return value
    if isinstance(value, Mapping):
        return {check_key(key): encode_any(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode_any(item) for item in value]
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


# --------------------------------------------------------------------------- decoding


def decode_slow(data: Any, hint: Any, allowed: Mapping[str, type], where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return decode_any(data, where)
    if origin in (Union, types.UnionType):
        members = typing.get_args(hint)
        if data is None and type(None) in members:
            return None
        problems = []
        for member in members:
            if member is type(None):
                continue
            try:
                return decode_slow(data, member, allowed, where)
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
            return tuple(decode_slow(item, args[0], allowed, f"{where}[{n}]") for n, item in enumerate(data))
        if len(data) != len(args):
            raise RecordError(f"{where}: expected {len(args)} values, got {len(data)}")
        return tuple(decode_slow(item, arg, allowed, f"{where}[{n}]") for n, (item, arg) in enumerate(zip(data, args, strict=True)))
    if origin is dict:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object")
        _, value_hint = typing.get_args(hint)
        return {key: decode_slow(item, value_hint, allowed, f"{where}.{key}") for key, item in data.items()}
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
    if hint in SCALARS:
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
    hints = type_hints(cls)
    names = [item.name for item in init_fields(cls)]
    missing = [name for name in names if name not in data]
    unknown = sorted(set(data) - set(names))
    if missing or unknown:
        raise RecordError(f"{where}: missing fields {missing}, unknown fields {unknown}")
    values = {name: decode_slow(data[name], hints[name], allowed, f"{where}.{name}") for name in names}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise RecordError(f"{where}: {error}") from None


def decode_any(data: Any, where: str) -> Any:
    if data is None or isinstance(data, SCALARS):
        return data
    if isinstance(data, dict):
        return {key: decode_any(item, f"{where}.{key}") for key, item in data.items()}
    if isinstance(data, list):
        return [decode_any(item, f"{where}[{n}]") for n, item in enumerate(data)]
    raise RecordError(f"{where}: {type(data).__name__} is not JSON")
