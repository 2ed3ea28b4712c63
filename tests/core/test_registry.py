"""The one registry every package uses: duplicates refused, replace on request, one-line misses."""

from __future__ import annotations

import pytest

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.registry import Registry


def make() -> Registry[int]:
    return Registry("widget", {"alpha": 1, "beta": 2})


def test_entries_are_read_in_registration_order() -> None:
    registry = make()
    registry.register("aardvark", 3)
    assert registry.get("beta") == registry["beta"] == 2
    assert registry.names() == list(registry) == ["alpha", "beta", "aardvark"]
    assert registry.items() == [("alpha", 1), ("beta", 2), ("aardvark", 3)]
    assert "alpha" in registry and "gamma" not in registry and ["alpha"] not in registry
    assert len(registry) == 3


def test_a_duplicate_name_is_refused_unless_replace_is_asked() -> None:
    registry = make()
    with pytest.raises(InvalidInputError) as info:
        registry.register("alpha", 9)
    assert str(info.value) == (
        "widget 'alpha' is already registered; pass replace=True to replace it"
    )
    assert registry.get("alpha") == 1
    registry.register("alpha", 9, replace=True)
    assert registry.get("alpha") == 9 and registry.names() == ["alpha", "beta"]


@pytest.mark.parametrize("name", ["gamma", ["alpha"], None])
def test_an_unknown_name_lists_the_registered_ones(name: object) -> None:
    with pytest.raises(UnknownSpecError) as info:
        make().get(name)
    assert str(info.value) == f"unknown widget {name!r}; allowed: alpha, beta"
    with pytest.raises(UnknownSpecError):
        make()[name]  # type: ignore[index]


@pytest.mark.parametrize("name", ["", "  ", 5])
def test_a_name_must_be_a_non_empty_str(name: object) -> None:
    with pytest.raises(InvalidInputError, match=f"widget name {name!r} is not allowed"):
        make().register(name, 1)  # type: ignore[arg-type]
