"""Tests for harness.registry: decorator registration, duplicates, unknown names."""
from __future__ import annotations

import pytest

from harness.registry import Registry, UnknownNameError


@pytest.fixture
def widgets() -> Registry:
    reg: Registry = Registry("widget")

    @reg.register()
    def big_thing():
        return "big"

    @reg.register("explicit-name")
    def some_function_name():
        return "explicit"

    @reg.register()
    def alpha():
        return "alpha"

    return reg


def test_decorator_uses_function_name_with_dashes(widgets):
    assert "big-thing" in widgets
    assert "big_thing" not in widgets
    assert widgets.get("big-thing")() == "big"


def test_decorator_explicit_name_overrides_function_name(widgets):
    assert "explicit-name" in widgets
    assert "some-function-name" not in widgets
    assert widgets.get("explicit-name")() == "explicit"


def test_decorator_returns_the_object_unchanged():
    reg: Registry = Registry("widget")

    def original():
        return 42

    assert reg.register()(original) is original
    assert reg.get("original") is original


def test_add_registers_under_the_given_name():
    reg: Registry = Registry("widget")
    obj = object()
    reg.add("thing", obj)
    assert reg.get("thing") is obj


def test_duplicate_name_raises(widgets):
    with pytest.raises(ValueError, match="duplicate widget name 'alpha'"):
        widgets.add("alpha", lambda: None)
    with pytest.raises(ValueError, match="duplicate"):

        @widgets.register("big-thing")
        def other():
            pass

    assert widgets.get("big-thing")() == "big"  # the first registration survives


def test_unknown_name_lists_known_names_and_suggests_closest(widgets):
    with pytest.raises(UnknownNameError) as info:
        widgets.get("big-thin")
    message = str(info.value)
    assert message.startswith("unknown widget 'big-thin'")  # str(), not KeyError's repr
    assert "Did you mean 'big-thing'?" in message
    assert "Known widgets: alpha, big-thing, explicit-name" in message


def test_unknown_name_is_a_key_error(widgets):
    with pytest.raises(KeyError):
        widgets.get("nope")


def test_unknown_name_without_close_match_has_no_suggestion(widgets):
    with pytest.raises(UnknownNameError) as info:
        widgets.get("zzzzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "alpha, big-thing, explicit-name" in str(info.value)


def test_unknown_name_in_empty_registry():
    with pytest.raises(UnknownNameError, match=r"\(none registered\)"):
        Registry("widget").get("x")


def test_names_sorted_iter_len_contains():
    reg: Registry = Registry("widget")
    for name in ["zeta", "alpha", "mid"]:
        reg.add(name, name)
    assert reg.names() == ["alpha", "mid", "zeta"]
    assert list(reg) == ["alpha", "mid", "zeta"]
    assert len(reg) == 3
    assert "mid" in reg
    assert "missing" not in reg
    assert 3 not in reg


def test_unknown_study_message_spells_the_plural():
    with pytest.raises(Exception, match="Known studies: "):
        Registry("study").get("nope")
