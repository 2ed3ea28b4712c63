"""Dify and OpenAI metadata filters, run as Chroma ``where`` clauses on a real collection with
hand-written expected ids."""

from __future__ import annotations

from typing import Any

import chromadb
import pytest

from xling.core.errors import InvalidInputError
from xling.retrieval.metadata_filters import (
    DIFY_OPERATORS,
    DIFY_UNSUPPORTED,
    dify_where,
    openai_where,
)

# id: metadata. "d" has no category; "e" has no year.
ROWS: dict[str, dict[str, Any]] = {
    "a": {"category": "faq", "year": 2021, "score": 0.5, "lang": "fra", "public": True},
    "b": {"category": "guide", "year": 2023, "score": 2.5, "lang": "eng", "public": False},
    "c": {"category": "faq", "year": 2024, "score": 1.0, "lang": "swh", "public": True},
    "d": {"year": 2019, "score": 3.0, "lang": "eng"},
    "e": {"category": "news", "lang": "fra", "published": 1_700_000_000},
}


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Any:
    client = chromadb.PersistentClient(path=str(tmp_path_factory.mktemp("filters") / "db"))
    col = client.create_collection("filters")
    ids = sorted(ROWS)
    col.add(ids=ids, embeddings=[[float(i), 1.0] for i in range(len(ids))],
            documents=[f"text {i}" for i in ids], metadatas=[ROWS[i] for i in ids])  # fmt: skip
    return col


def ids(collection: Any, where: dict[str, Any] | None) -> list[str]:
    return sorted(collection.get(where=where)["ids"])


def dify(*conditions: tuple[str, str, Any], logical: str = "and") -> dict[str, Any]:
    return {
        "logical_operator": logical,
        "conditions": [{"name": n, "comparison_operator": o, "value": v} for n, o, v in conditions],
    }


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (("category", "is", "faq"), ["a", "c"]),
        (("category", "is not", "faq"), ["b", "d", "e"]),  # d lacks the field: Chroma's $ne
        (("category", "in", ["faq", "news"]), ["a", "c", "e"]),
        (("category", "in", "guide, news"), ["b", "e"]),  # Dify's comma-separated string
        (("category", "not in", ["faq"]), ["b", "d", "e"]),
        (("year", "=", 2023), ["b"]),
        (("year", "=", "2023"), ["b"]),  # a number sent as a string
        (("year", "≠", 2023), ["a", "c", "d", "e"]),
        (("year", ">", 2021), ["b", "c"]),
        (("year", "<", "2021"), ["d"]),
        (("year", "≥", 2021), ["a", "b", "c"]),
        (("year", "≤", 2021), ["a", "d"]),
        (("score", ">", "0.75"), ["b", "c", "d"]),
        (("published", "before", 1_800_000_000), ["e"]),
        (("published", "after", "2023-11-14T00:00:00Z"), ["e"]),  # 1_699_920_000
        (("published", "after", "2024-01-01"), []),
        (("lang", "is", "fr"), ["a", "e"]),  # normalised as everywhere: fr → fra
        (("public", "is", True), ["a", "c"]),
    ],
)
def test_each_supported_dify_operator(
    collection: Any, condition: tuple[str, str, Any], expected: list[str]
) -> None:
    assert ids(collection, dify_where(dify(condition))) == expected


def test_every_supported_operator_is_covered_above() -> None:
    assert set(DIFY_OPERATORS) == {
        "is", "is not", "in", "not in", "=", "≠", ">", "<", "≥", "≤", "before", "after",
    }  # fmt: skip


def test_dify_and_or(collection: Any) -> None:
    both = dify(("category", "is", "faq"), ("year", ">", 2022))
    either = dify(("category", "is", "guide"), ("year", "<", 2020), logical="or")
    assert ids(collection, dify_where(both)) == ["c"]
    assert ids(collection, dify_where(either)) == ["b", "d"]
    assert dify_where(None) is None
    assert dify_where({"logical_operator": "and", "conditions": []}) is None


def test_dify_name_as_a_one_item_list(collection: Any) -> None:
    condition = {
        "conditions": [{"name": ["category"], "comparison_operator": "is", "value": "faq"}]
    }
    assert ids(collection, dify_where(condition)) == ["a", "c"]


@pytest.mark.parametrize("op", DIFY_UNSUPPORTED)
def test_unsupported_dify_operators_are_refused_by_name(op: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        dify_where(dify(("category", op, "fa")))
    message = str(info.value)
    assert f"{op!r} is not supported" in message
    assert "supported: is, is not, in, not in, =, ≠, >, <, ≥, ≤, before, after" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("condition", "needle"),
    [
        (dify(("year", "lately", 1)), "unknown comparison_operator 'lately'"),
        (dify(("year", ">", "soon")), "value 'soon' is not allowed; use a number"),
        (dify(("published", "before", "someday")), "or an ISO 8601 date"),
        (dify(("$and", "is", "x")), "field name '$and' is not allowed"),
        (dify(("xling:version", "is", "x")), "field name 'xling:version' is not allowed"),
        (dify(("category", "is", None)), "'is' needs a value"),
        (dify(("category", "in", [])), "the list of values is empty"),
        ({"logical_operator": "xor", "conditions": []}, "logical_operator 'xor'"),
        ({"conditions": [{"name": "a", "comparison_operator": "is", "value": 1, "x": 2}]},
         "unknown field(s) x"),
    ],
)  # fmt: skip
def test_bad_dify_conditions_name_the_bad_part(condition: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        dify_where(condition)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": "eq", "key": "category", "value": "faq"}, ["a", "c"]),
        ({"type": "ne", "key": "category", "value": "faq"}, ["b", "d", "e"]),
        ({"type": "gt", "key": "year", "value": 2021}, ["b", "c"]),
        ({"type": "gte", "key": "score", "value": 1}, ["b", "c", "d"]),
        ({"type": "lt", "key": "score", "value": 1}, ["a"]),
        ({"type": "lte", "key": "score", "value": 1.0}, ["a", "c"]),
        ({"type": "in", "key": "year", "value": [2019, 2024]}, ["c", "d"]),
        ({"type": "nin", "key": "category", "value": ["faq", "guide"]}, ["d", "e"]),
        ({"type": "eq", "key": "public", "value": False}, ["b"]),
        ({"type": "and", "filters": [
            {"type": "eq", "key": "lang", "value": "eng"},
            {"type": "or", "filters": [{"type": "lt", "key": "year", "value": 2020},
                                       {"type": "eq", "key": "category", "value": "guide"}]},
        ]}, ["b", "d"]),
        ({"type": "or", "filters": [{"type": "eq", "key": "category", "value": "news"}]}, ["e"]),
    ],
)  # fmt: skip
def test_openai_filters(collection: Any, filters: dict[str, Any], expected: list[str]) -> None:
    assert ids(collection, openai_where(filters)) == expected


def test_mixed_types_in_one_list_become_one_clause_per_type(collection: Any) -> None:
    where = openai_where({"type": "in", "key": "category", "value": ["faq", 7]})
    assert where == {"$or": [{"category": {"$in": ["faq"]}}, {"category": {"$in": [7]}}]}
    assert ids(collection, where) == ["a", "c"]


@pytest.mark.parametrize(
    ("filters", "needle"),
    [
        ({"type": "like", "key": "a", "value": 1}, "unknown type 'like'"),
        ({"type": "in", "key": "a", "value": "x"}, "type 'in' needs a list value"),
        ({"type": "gt", "key": "a", "value": "x"}, "use a number"),
        ({"type": "and", "filters": []}, "use a non-empty list"),
        ({"type": "eq", "value": 1}, "field name None is not allowed"),
    ],
)
def test_bad_openai_filters(filters: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        openai_where(filters)
    assert needle in str(info.value)
