"""Fuzzy step matching's cheap bound is exactly difflib's quick_ratio."""

from __future__ import annotations

from difflib import SequenceMatcher

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.compare import _bound, _char_counts, _common_chars

_TITLES = st.text(alphabet="abcé 12_-", max_size=20)


@settings(max_examples=1000, deadline=None)
@given(_TITLES, _TITLES)
def test_the_character_count_bound_equals_quick_ratio(current: str, target: str) -> None:
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(current)
    matcher.set_seq1(target)
    common = _common_chars(_char_counts(current), _char_counts(target))
    assert _bound(len(current), len(target), common) == matcher.quick_ratio()
