"""JSON with a nesting limit: the depth is counted as a parser sees it, never recursing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eeg4students._json import JSONLimitError, loads, nesting_depth

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab"\\[]{}\n', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=30,
)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=VALUES, pad=st.booleans())
def test_the_depth_is_the_parsed_value_s_short_or_long(value, pad):
    text = json.dumps(value) + (" " * 5000 if pad else "")  # both ways of counting
    assert nesting_depth(text) == _depth(value)
    assert nesting_depth(text.encode()) == _depth(value)


@pytest.mark.parametrize("depth", [101, 100_000, 1_000_000])
def test_deep_documents_are_refused_without_recursion(depth):
    with pytest.raises(JSONLimitError, match="nested"):
        loads("[" * depth + "]" * depth)
    assert loads("[" * 100 + "]" * 100) is not None
