"""html_to_text: provider rich text becomes bounded plain text with its line breaks."""

from __future__ import annotations

import pytest

from service.domain.text import html_to_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>Ship v2</p>", "Ship v2"),
        ("<p>Auftrag prüfen</p><p>PT 5 min</p>", "Auftrag prüfen\nPT 5 min"),
        ('<html v="1"><div><b>Ship</b> it</div><div>now</div></html>', "Ship it\nnow"),
        ("a<br>b<br/><br />c", "a\nb\n\nc"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("<p>a</p>\n<p>b</p>", "a\nb"),
        ("<div><p>nested</p></div>", "nested"),
        ("<p>a</p><p>&nbsp;</p><p>b</p>", "a\nb"),
        ("<p>a</p><p><br></p><p>b</p>", "a\n\nb"),
        ("<P>Upper case</P>", "Upper case"),
        ('<a href="https://example.com">link</a>  and   text', "link and text"),
        ("x<!-- hidden > still hidden -->y", "xy"),
    ],
)
def test_markup_becomes_plain_text_with_line_breaks(raw: str, expected: str) -> None:
    assert html_to_text(raw) == (expected, False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("&lt;b&gt;not bold&lt;/b&gt;", "<b>not bold</b>"),
        ("&#x41;&#66;&eacute;", "ABé"),
        ("%C&A 80 %", "%C&A 80 %"),
        ("a < b > c", "a < b > c"),
    ],
)
def test_entities_are_decoded_and_stray_brackets_stay_text(raw: str, expected: str) -> None:
    assert html_to_text(raw)[0] == expected


def test_script_tags_are_dropped_and_their_text_kept_as_plain_characters() -> None:
    text, _ = html_to_text("<p>Step<script>alert('x')</script></p><img src=x onerror=alert(1)>")

    assert text == "Stepalert('x')"
    assert "<" not in text


def test_escaped_markup_stays_literal_text_and_is_not_parsed_again() -> None:
    text, _ = html_to_text("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>")

    assert text == "<script>alert(1)</script>"


def test_plain_text_keeps_its_newlines_and_collapses_spaces() -> None:
    assert html_to_text("  first   line \r\n\tsecond  \n") == ("first line\nsecond", False)


def test_text_longer_than_the_limit_is_cut_and_flagged() -> None:
    text, truncated = html_to_text("<p>" + "x" * 50 + "</p>", max_chars=20)

    assert (text, truncated) == ("x" * 20, True)


def test_text_at_the_limit_is_not_flagged() -> None:
    assert html_to_text("x" * 20, max_chars=20) == ("x" * 20, False)


@pytest.mark.parametrize(
    "hostile",
    [
        "<a" * 50_000,
        "<" * 100_000,
        "&" * 100_000,
        "&#" * 50_000,
        "<p>" * 50_000,
        "<b> </b><p>" * 10_000,
        "<!--" * 25_000,
        "<p" + " " * 100_000,
        "<p>" + "word " * 20_000 + "</p>",
    ],
)
def test_hostile_100k_inputs_give_bounded_text(hostile: str) -> None:
    # Speed on these inputs is measured in bench/digitize.py, not asserted here: a loaded
    # laptop must not fail the suite. A quadratic regression still ends in pytest-timeout.
    text, _ = html_to_text(hostile)

    assert len(text) <= 10_000


def test_empty_and_whitespace_only_text_is_empty() -> None:
    assert html_to_text("") == ("", False)
    assert html_to_text("<p> </p><div>\n</div>") == ("", False)
