"""Wrapping, escaping and time labels shared by the SVG and HTML renderers."""

from __future__ import annotations

import math

import pytest

from service.domain.render.textfit import (
    MAX_TEXT_CHARS,
    attr,
    esc,
    format_minutes,
    format_percent,
    text_width_em,
    wrap,
)


@pytest.mark.parametrize(
    ("minutes", "label"),
    [
        (None, "?"),
        (math.nan, "?"),
        (0, "0 min"),
        (0.5, "30 s"),
        (45, "45 min"),
        (90, "1.5 h"),
        (480, "1 d"),
        (470, "7.8 h"),
        (960, "2 d"),
        (1930, "4 d"),
        (-30, "-30 min"),
    ],
)
def test_minutes_read_as_short_labels_with_working_days(minutes: float | None, label: str) -> None:
    assert format_minutes(minutes) == label


@pytest.mark.parametrize(("value", "label"), [(None, "?"), (1.14, "1.1 %"), (80, "80 %")])
def test_percentages_read_as_short_labels(value: float | None, label: str) -> None:
    assert format_percent(value) == label


def test_text_wraps_at_word_boundaries_within_the_width() -> None:
    lines = wrap("Zahlungsdaten im Backoffice manuell prüfen und freigeben", 12, 5)

    assert len(lines) > 1
    assert " ".join(lines) == "Zahlungsdaten im Backoffice manuell prüfen und freigeben"
    assert all(text_width_em(line) <= 12 for line in lines)


def test_text_beyond_the_last_line_ends_in_an_ellipsis() -> None:
    lines = wrap("eins zwei drei vier fünf sechs sieben acht neun zehn", 6, 2)

    assert len(lines) == 2
    assert lines[-1].endswith("\u2026")


def test_a_word_longer_than_a_line_is_broken() -> None:
    lines = wrap("Donaudampfschifffahrtsgesellschaftskapitän", 8, 10)

    assert len(lines) > 2
    assert "".join(lines) == "Donaudampfschifffahrtsgesellschaftskapitän"


def test_line_breaks_in_the_text_are_kept() -> None:
    assert wrap("PT 5 min\nLT 2 h", 30, 3) == ["PT 5 min", "LT 2 h"]


def test_emoji_count_as_wide_characters() -> None:
    assert text_width_em("📰📰") > text_width_em("ii")


def test_wrapping_a_huge_text_looks_only_at_its_start() -> None:
    lines = wrap("x" * 1_000_000, 10, 3)

    assert len(lines) == 3
    assert lines[-1].endswith("\u2026")


@pytest.mark.parametrize(
    ("text", "content", "attribute"),
    [
        ("<script>", "&lt;script&gt;", "&lt;script&gt;"),
        ('a "b" & c', 'a "b" &amp; c', "a &quot;b&quot; &amp; c"),
        ("]]>", "]]&gt;", "]]&gt;"),
        ("it's", "it's", "it&#39;s"),
    ],
)
def test_text_is_escaped_for_content_and_attributes(
    text: str, content: str, attribute: str
) -> None:
    assert esc(text) == content
    assert attr(text) == attribute


def test_escaped_text_is_capped() -> None:
    assert len(esc("a" * (MAX_TEXT_CHARS * 10))) == MAX_TEXT_CHARS + 1


def test_a_long_compound_breaks_after_a_hyphen() -> None:
    assert wrap("Bestätigungs-E-Mail abwarten", 10, 3) == ["Bestätigungs-E-", "Mail abwarten"]
