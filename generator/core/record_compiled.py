"""The record codec compiled: one encoder and one decoder function per type hint, made once.

Owns the fast path of ``core.records``: the steps of the step-by-step codec (``core.record_walk``)
decided ahead for each hint, so a record of a few thousand values is encoded or decoded without
asking ``typing`` about every value. On any problem the step-by-step codec runs instead and raises
its error.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Union

from generator.core.record_walk import (
    CLASS_KEY,
    SCALARS,
    RecordError,
    check_key,
    decode_any,
    encode_any,
    encode_scalar_value,
    init_fields,
    type_hints,
)

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, Mapping[str, type]], Any]


class Mismatch(Exception):
    """A value a compiled decoder cannot take (``decode_slow`` then says where and why)."""


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
def encoder(hint: Any) -> Encoder:
    origin = typing.get_origin(hint)
    if hint is Any:
        return encode_any
    if origin in (Union, types.UnionType):
        members = tuple((_fitter(member), member) for member in typing.get_args(hint))

        def encode_union(value: Any) -> Any:
            for fits, member in members:
                if fits(value):
                    return encoder(member)(value)
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
            encode_item = encoder(args[0])

            def encode_items(value: Any) -> Any:
                if value is None:
                    raise TypeError("None")
                return [encode_item(item) for item in value]

            return encode_items
        encoders = tuple(encoder(arg) for arg in args)

        def encode_fixed(value: Any) -> Any:
            if value is None:
                raise TypeError("None")
            items = list(value)
            if len(items) != len(encoders):
                raise TypeError("length")
            return [encode_item(item) for item, encode_item in zip(items, encoders, strict=True)]

        return encode_fixed
    if origin is dict:
        encode_value = encoder(typing.get_args(hint)[1])

        def encode_dict(value: Any) -> Any:
            if value is None:
                raise TypeError("None")
            return {check_key(key): encode_value(item) for key, item in value.items()}

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
    if hint in SCALARS:
        scalar: type = hint

        def encode_scalar(value: Any) -> Any:
            if type(value) is scalar:
                return value
            if value is None:
                raise TypeError("None")
            return encode_scalar_value(value, scalar)

        return encode_scalar
    raise TypeError(f"cannot encode a field declared as {hint!r}")


def _encode_none(value: Any) -> Any:
    if value is not None:
        raise TypeError("not None")
    return None


@functools.cache
def _encoders_of(cls: type) -> tuple[tuple[str, Encoder], ...]:
    hints = type_hints(cls)
    return tuple((item.name, encoder(hints[item.name])) for item in init_fields(cls))


@functools.cache
def decoder(hint: Any) -> Decoder:
    origin = typing.get_origin(hint)
    if hint is Any:
        return lambda data, allowed: decode_any(data, "")
    if origin in (Union, types.UnionType):
        members = typing.get_args(hint)
        takes_none = type(None) in members
        decoders = tuple(decoder(member) for member in members if member is not type(None))

        def decode_union(data: Any, allowed: Mapping[str, type]) -> Any:
            if data is None and takes_none:
                return None
            for decode_member in decoders:
                try:
                    return decode_member(data, allowed)
                except (Mismatch, RecordError):
                    continue
            raise Mismatch

        return decode_union
    if hint is type(None):

        def decode_none(data: Any, allowed: Mapping[str, type]) -> Any:
            if data is not None:
                raise Mismatch
            return None

        return decode_none
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        declared = hint

        def decode_dataclass(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, dict):
                raise Mismatch
            cls = declared
            if CLASS_KEY in data:
                name = data[CLASS_KEY]
                found = allowed.get(name) if isinstance(name, str) else None
                if found is None or not issubclass(found, declared):
                    raise Mismatch
                cls = found
                data = {key: value for key, value in data.items() if key != CLASS_KEY}
            names, decoders = _decoders_of(cls)
            if data.keys() != names:
                raise Mismatch
            values = {name: decode_field(data[name], allowed) for name, decode_field in decoders}
            try:
                return cls(**values)
            except (TypeError, ValueError):
                raise Mismatch from None

        return decode_dataclass
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            decode_item = decoder(args[0])

            def decode_items(data: Any, allowed: Mapping[str, type]) -> Any:
                if not isinstance(data, list):
                    raise Mismatch
                return tuple([decode_item(item, allowed) for item in data])

            return decode_items
        decoders = tuple(decoder(arg) for arg in args)

        def decode_fixed(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, list) or len(data) != len(decoders):
                raise Mismatch
            return tuple([decode_item(item, allowed) for item, decode_item in zip(data, decoders, strict=True)])

        return decode_fixed
    if origin is dict:
        decode_value = decoder(typing.get_args(hint)[1])

        def decode_dict(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, dict):
                raise Mismatch
            return {key: decode_value(item, allowed) for key, item in data.items()}

        return decode_dict
    if origin is Literal:
        choices = typing.get_args(hint)

        def decode_literal(data: Any, allowed: Mapping[str, type]) -> Any:
            if not any(data == choice and type(data) is type(choice) for choice in choices):
                raise Mismatch
            return data

        return decode_literal
    if hint is datetime:

        def decode_datetime(data: Any, allowed: Mapping[str, type]) -> Any:
            if not isinstance(data, str):
                raise Mismatch
            try:
                return datetime.fromisoformat(data)
            except ValueError:
                raise Mismatch from None

        return decode_datetime
    if hint in SCALARS:
        fits = _fitter(hint)

        def decode_scalar(data: Any, allowed: Mapping[str, type]) -> Any:
            if not fits(data):
                raise Mismatch
            return data

        return decode_scalar

    def decode_nothing(data: Any, allowed: Mapping[str, type]) -> Any:
        raise Mismatch

    return decode_nothing


@functools.cache
def _decoders_of(cls: type) -> tuple[frozenset[str], tuple[tuple[str, Decoder], ...]]:
    hints = type_hints(cls)
    names = [item.name for item in init_fields(cls)]
    return frozenset(names), tuple((name, decoder(hints[name])) for name in names)
