"""Choosing items by their properties: the STAC API query extension's conditions, and composites.

Owns the query extension's operators (``eq``, ``neq``, ``lt``, ``lte``, ``gt``, ``gte``,
``startsWith``, ``endsWith``, ``contains``, ``in``), the check of a written query (every
problem names the collection, the property and the operator), and the evaluation of a query on
an item's properties — the same rules whether a STAC API applied it or we do (static catalogs,
APIs without the query extension). Also the names of the composite orders
(``collections[].composite``) and ``ItemSearch``, what a source is asked besides time and place.
Pure values, no I/O.

Evaluation rules: a property that is missing or ``null`` matches no condition (``neq``
included). Numbers compare as numbers (``true``/``false`` are not numbers), text compares as
text (ISO dates order correctly); a number against text matches nothing. ``startsWith``,
``endsWith`` and ``contains`` look for text inside text (case-sensitive). ``in`` takes a list:
the property equals one of its values. A query's conditions must all hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

QueryOperator = Literal["eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "endsWith", "contains", "in"]
QUERY_OPERATORS: tuple[str, ...] = get_args(QueryOperator)
_ORDERING = ("lt", "lte", "gt", "gte")
#: The operators every server with the query extension takes (stac-fastapi's pgstac backend
#: refuses the others); conditions with other operators are only checked here.
PORTABLE_OPERATORS: tuple[str, ...] = ("eq", "neq", *_ORDERING)
_TEXT = ("startsWith", "endsWith", "contains")

#: ``collections[].composite``: how the items of one time step are ranked (the first valid pixel wins).
Composite = Literal["least-cloudy", "newest", "oldest", "stac-order"]
COMPOSITES: tuple[str, ...] = get_args(Composite)
#: The item property ``least-cloudy`` ranks by (the STAC ``eo`` extension's cloud cover, in percent).
CLOUD_COVER = "eo:cloud_cover"

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    """One ``property: {operator: value}`` of a query (``in`` values as a tuple)."""

    property: str
    operator: str
    value: Scalar | tuple[Scalar, ...]

    def matches(self, properties: Mapping[str, Any]) -> bool:
        actual = properties.get(self.property)
        if actual is None or isinstance(actual, (dict, list)):
            return False
        if self.operator == "eq":
            return _equal(actual, self.value)
        if self.operator == "neq":
            return not _equal(actual, self.value)
        if self.operator == "in":
            assert isinstance(self.value, tuple)
            return any(_equal(actual, value) for value in self.value)
        if self.operator in _ORDERING:
            return _ordered(actual, self.operator, self.value)
        if not isinstance(actual, str) or not isinstance(self.value, str):
            return False
        if self.operator == "startsWith":
            return actual.startswith(self.value)
        if self.operator == "endsWith":
            return actual.endswith(self.value)
        return self.value in actual  # contains


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(actual: object, expected: object) -> bool:
    if _is_number(actual) and _is_number(expected):
        return actual == expected
    return type(actual) is type(expected) and actual == expected


def _ordered(actual: object, operator: str, bound: object) -> bool:
    if not ((_is_number(actual) and _is_number(bound)) or (isinstance(actual, str) and isinstance(bound, str))):
        return False
    a: Any = actual
    b: Any = bound
    if operator == "lt":
        return bool(a < b)
    if operator == "lte":
        return bool(a <= b)
    if operator == "gt":
        return bool(a > b)
    return bool(a >= b)


@dataclass(frozen=True)
class ItemQuery:
    """A query extension document (``{property: {operator: value}}``), checked; every condition must hold."""

    conditions: tuple[Condition, ...] = ()

    def matches(self, properties: Mapping[str, Any]) -> bool:
        return all(condition.matches(properties) for condition in self.conditions)

    def as_json(self) -> dict[str, dict[str, Any]]:
        """The document as the query extension sends it."""
        document: dict[str, dict[str, Any]] = {}
        for condition in self.conditions:
            value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
            document.setdefault(condition.property, {})[condition.operator] = value
        return document

    def portable(self) -> ItemQuery:
        """The conditions every query-extension server understands (``PORTABLE_OPERATORS``)."""
        return ItemQuery(tuple(c for c in self.conditions if c.operator in PORTABLE_OPERATORS))

    def __bool__(self) -> bool:
        return bool(self.conditions)


def query_problems(document: object, collection: str) -> list[str]:
    """What is wrong with a written query (empty: nothing); each line names the collection,
    the property and the operator."""
    where = f"collection {collection!r}"
    if not isinstance(document, Mapping):
        return [f"{where}: `query` must map item properties to {{operator: value}}, e.g. {{eo:cloud_cover: {{lt: 20}}}}"]
    problems: list[str] = []
    for name, operations in document.items():
        if not isinstance(operations, Mapping) or not operations:
            problems.append(
                f"{where}: query property {name!r} must map operators to values, e.g. {{lt: 20}} "
                f"(operators: {', '.join(QUERY_OPERATORS)})"
            )
            continue
        for operator, value in operations.items():
            problem = _operand_problem(str(operator), value)
            if problem:
                problems.append(f"{where}: query property {name!r}, operator {operator!r}: {problem}")
    return problems


def _operand_problem(operator: str, value: object) -> str | None:
    if operator not in QUERY_OPERATORS:
        return f"unknown operator (known: {', '.join(QUERY_OPERATORS)})"
    if operator == "in":
        if not isinstance(value, list) or not value or not all(_is_scalar(item) for item in value):
            return "takes a non-empty list of values, e.g. [a, b]"
        return None
    if operator in _ORDERING and not (_is_number(value) or isinstance(value, str)):
        return "takes a number or a text (e.g. a date)"
    if operator in _TEXT and not isinstance(value, str):
        return "takes a text"
    if not _is_scalar(value):
        return "takes a single value (a number, a text or true/false)"
    return None


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def parse_query(document: Mapping[str, Mapping[str, Any]], collection: str) -> ItemQuery:
    """A written query as an ``ItemQuery``; ``ValueError`` listing its problems."""
    problems = query_problems(document, collection)
    if problems:
        raise ValueError("; ".join(problems))
    conditions = []
    for name, operations in document.items():
        for operator, value in operations.items():
            conditions.append(Condition(str(name), str(operator), tuple(value) if isinstance(value, list) else value))
    return ItemQuery(tuple(conditions))


@dataclass(frozen=True)
class ItemSearch:
    """What a source is asked besides a collection, a time and a place.

    ``query``: a query extension document (sent to APIs that declare the extension, evaluated
    here otherwise); ``filter``: a CQL2 JSON expression as canonical JSON text (sent to APIs
    that declare the filter extension; anything else refuses it).
    """

    query: ItemQuery | None = None
    filter: str | None = None

    def filter_json(self) -> dict[str, Any] | None:
        return None if self.filter is None else dict(json.loads(self.filter))

    def __bool__(self) -> bool:
        return bool(self.query) or self.filter is not None
