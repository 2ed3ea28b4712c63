"""Metadata filters that clients send, as Chroma ``where`` clauses.

Two shapes are read:

- Dify's ``metadata_condition`` (its External Knowledge API): ``{"logical_operator": "and" |
  "or", "conditions": [{"name", "comparison_operator", "value"}]}``;
- OpenAI's vector-store ``filters``: a comparison ``{"type": "eq" | "ne" | "gt" | "gte" |
  "lt" | "lte" | "in" | "nin", "key", "value"}`` or a compound ``{"type": "and" | "or",
  "filters": [...]}``, nested.

Chroma's metadata filter compares whole values (``$eq $ne $gt $gte $lt $lte $in $nin``,
``$and``/``$or``); it has no substring match on a metadata string and no test for a missing
field, so Dify's ``contains``, ``not contains``, ``start with``, ``end with``, ``empty`` and
``not empty`` are refused by name, with the operators that are supported. Negations (``is
not``, ``≠``, ``not in``, ``ne``, ``nin``) also match chunks that lack the field, as Chroma's
``$ne``/``$nin`` do. Dify's numeric operators (``=``, ``≠``, ``>``, ``<``, ``≥``, ``≤``) and
time operators (``before``, ``after``) take numbers, or strings holding numbers; a time may also
be an ISO 8601 date, compared as Unix seconds (store times as numbers to filter on them).
Values of ``lang`` are normalised as everywhere in xling (``fr`` → ``fra``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.validation import check_fields, preview

__all__ = [
    "DIFY_OPERATORS",
    "DIFY_UNSUPPORTED",
    "OPENAI_COMPARISONS",
    "dify_where",
    "openai_where",
]

_NUMBER_OPS = {"=": "$eq", "≠": "$ne", ">": "$gt", "<": "$lt", "≥": "$gte", "≤": "$lte"}
_TIME_OPS = {"before": "$lt", "after": "$gt"}
_TEXT_OPS = {"is": "$eq", "is not": "$ne"}
_LIST_OPS = {"in": "$in", "not in": "$nin"}

DIFY_OPERATORS: tuple[str, ...] = (*_TEXT_OPS, *_LIST_OPS, *_NUMBER_OPS, *_TIME_OPS)
"""Dify comparison operators xling maps onto Chroma filters."""
DIFY_UNSUPPORTED: tuple[str, ...] = (
    "contains", "not contains", "start with", "end with", "empty", "not empty",
)  # fmt: skip
"""Dify comparison operators Chroma's metadata filter cannot express (refused by name)."""

_OPENAI_OPS = {"eq": "$eq", "ne": "$ne", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte",
               "in": "$in", "nin": "$nin"}  # fmt: skip
OPENAI_COMPARISONS: tuple[str, ...] = tuple(_OPENAI_OPS)
"""OpenAI comparison filter types (all supported)."""
_MAX_DEPTH = 8  # nesting of compound filters


def _field(name: Any, where: str) -> str:
    if isinstance(name, list) and len(name) == 1:
        name = name[0]  # Dify's older documentation sends the name as a one-item list
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise InvalidInputError(f"{where}: field name {preview(name)} is not allowed; use a "
                                "metadata field name such as 'category'")  # fmt: skip
    if name.startswith(("$", "#", "xling:", "chroma:")):
        raise InvalidInputError(
            f"{where}: field name {name!r} is not allowed; names starting with $, #, xling: "
            "or chroma: are not metadata fields"
        )
    return name


def _scalar(value: Any, name: str, where: str) -> str | int | float | bool:
    if isinstance(value, bool | int | float | str) and not (
        isinstance(value, float) and value != value
    ):
        return normalize_code(value) if name == "lang" and isinstance(value, str) else value
    raise InvalidInputError(
        f"{where}: value {preview(value)} is not allowed; use a string, number or boolean"
    )


def _number(value: Any, where: str, *, time: bool = False) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            pass
        if time:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
                return int(moment.timestamp())
    wanted = "a number, a string holding one, or an ISO 8601 date" if time else "a number"
    raise InvalidInputError(f"{where}: value {preview(value)} is not allowed; use {wanted}")


def _in(name: str, op: str, values: list[Any], where: str) -> dict[str, Any]:
    if not values:
        raise InvalidInputError(f"{where}: the list of values is empty; give at least one")
    items = [_scalar(v, name, where) for v in values]
    # Chroma wants one type per list (str, int, float, bool): one clause per type.
    groups: dict[type, list[Any]] = {}
    for item in items:
        groups.setdefault(type(item), []).append(item)
    clauses = [{name: {op: group}} for group in groups.values()]
    if len(clauses) == 1:
        return clauses[0]
    return {"$or" if op == "$in" else "$and": clauses}


def _join(op: str, clauses: list[dict[str, Any]]) -> dict[str, Any]:
    # Chroma refuses $and/$or over one clause.
    return clauses[0] if len(clauses) == 1 else {op: clauses}


def _dify_condition(condition: Any, where: str) -> dict[str, Any]:
    if not isinstance(condition, Mapping):
        raise InvalidInputError(f"{where} is {preview(condition)}; use an object with name, "
                                "comparison_operator and value")  # fmt: skip
    check_fields(condition, ("name", "comparison_operator", "value"), where)
    name = _field(condition.get("name"), where)
    op = condition.get("comparison_operator")
    value = condition.get("value")
    if op in DIFY_UNSUPPORTED:
        raise InvalidInputError(
            f"{where}: comparison_operator {op!r} is not supported (Chroma's metadata filter "
            f"cannot express it); supported: {', '.join(DIFY_OPERATORS)}"
        )
    if op not in DIFY_OPERATORS:
        raise InvalidInputError(f"{where}: unknown comparison_operator {preview(op)}; "
                                f"supported: {', '.join(DIFY_OPERATORS)}")  # fmt: skip
    if value is None:
        raise InvalidInputError(f"{where}: comparison_operator {op!r} needs a value")
    if op in _TEXT_OPS:
        return {name: {_TEXT_OPS[op]: _scalar(value, name, where)}}
    if op in _LIST_OPS:
        # Dify sends a list, or a comma-separated string.
        if isinstance(value, str):
            values: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list):
            values = value
        else:
            values = [value]
        return _in(name, _LIST_OPS[op], values, where)
    if op in _NUMBER_OPS:
        return {name: {_NUMBER_OPS[op]: _number(value, where)}}
    return {name: {_TIME_OPS[op]: _number(value, where, time=True)}}


def dify_where(metadata_condition: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Dify's ``metadata_condition`` as a Chroma ``where`` clause.

    Args:
        metadata_condition: ``{"logical_operator": "and" | "or" (default "and"),
            "conditions": [{"name", "comparison_operator", "value"}, ...]}``, or ``None``.

    Returns:
        The clause, or ``None`` for no condition (``None``, or no conditions).

    Raises:
        InvalidInputError: On an unsupported or unknown operator (named, with the supported
            ones), a bad field name or value, or a malformed condition.
    """
    if metadata_condition is None:
        return None
    if not isinstance(metadata_condition, Mapping):
        raise InvalidInputError(f"metadata_condition is {preview(metadata_condition)}; use an "
                                "object with logical_operator and conditions")  # fmt: skip
    check_fields(metadata_condition, ("logical_operator", "conditions"), "metadata_condition")
    logical = metadata_condition.get("logical_operator") or "and"
    if logical not in ("and", "or"):
        raise InvalidInputError(
            f"metadata_condition.logical_operator {preview(logical)} is not allowed; use and, or"
        )
    conditions = metadata_condition.get("conditions") or []
    if not isinstance(conditions, list):
        raise InvalidInputError(
            f"metadata_condition.conditions is {preview(conditions)}; use a list of conditions"
        )
    clauses = [
        _dify_condition(c, f"metadata_condition.conditions[{i}]") for i, c in enumerate(conditions)
    ]
    return _join(f"${logical}", clauses) if clauses else None


def _openai_filter(spec: Any, where: str, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise InvalidInputError(f"{where}: filters nest deeper than {_MAX_DEPTH} levels")
    if not isinstance(spec, Mapping):
        raise InvalidInputError(f"{where} is {preview(spec)}; use a comparison {{type, key, "
                                "value}} or a compound {type: and|or, filters}")  # fmt: skip
    kind = spec.get("type")
    if kind in ("and", "or"):
        check_fields(spec, ("type", "filters"), f"{where} (a compound filter)")
        items = spec.get("filters")
        if not isinstance(items, list) or not items:
            raise InvalidInputError(f"{where}.filters is {preview(items)}; use a non-empty list")
        clauses = [
            _openai_filter(item, f"{where}.filters[{i}]", depth + 1) for i, item in enumerate(items)
        ]
        return _join(f"${kind}", clauses)
    if kind not in _OPENAI_OPS:
        raise InvalidInputError(f"{where}: unknown type {preview(kind)}; use one of "
                                f"{', '.join((*OPENAI_COMPARISONS, 'and', 'or'))}")  # fmt: skip
    check_fields(spec, ("type", "key", "value"), f"{where} (a comparison filter)")
    name = _field(spec.get("key"), where)
    value = spec.get("value")
    op = _OPENAI_OPS[kind]
    if op in ("$in", "$nin"):
        if not isinstance(value, list):
            raise InvalidInputError(f"{where}: type {kind!r} needs a list value")
        return _in(name, op, value, where)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return {name: {op: _number(value, where)}}
    return {name: {op: _scalar(value, name, where)}}


def openai_where(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's vector-store ``filters`` as a Chroma ``where`` clause (``None``: none given).

    Raises:
        InvalidInputError: On an unknown type, a missing key or value, a list value for a
            scalar comparison (or the reverse), an empty compound, or nesting past 8 levels.
    """
    if filters is None:
        return None
    return _openai_filter(filters, "filters", 0)
