"""Lazy module attributes: resolved once from their home, with a warning for moved names."""

from __future__ import annotations

import warnings

import pytest

from xling.core.imports import lazy_attributes


def test_names_resolve_from_their_home_once_and_unknown_names_raise() -> None:
    space: dict[str, object] = {"__name__": "old.place"}
    getattr_ = lazy_attributes(space, {"sqrt": "math"}, deprecated=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr_("sqrt")
    assert value(9.0) == 3.0
    assert space["sqrt"] is value  # stored: the module's own look-up finds it next time
    assert [str(w.message) for w in caught] == [
        "old.place.sqrt moved to math.sqrt; the old path goes in the next release"
    ]
    with pytest.raises(AttributeError, match="module 'old.place' has no attribute 'cbrt'"):
        getattr_("cbrt")


def test_a_module_home_serves_only_the_names_in_its_all() -> None:
    space: dict[str, object] = {"__name__": "old.json"}
    getattr_ = lazy_attributes(space, "json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not deprecated: no warning
        assert getattr_("dumps")([1]) == "[1]"
    with pytest.raises(AttributeError, match="module 'old.json' has no attribute 'decoder'"):
        getattr_("decoder")
