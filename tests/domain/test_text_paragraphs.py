"""The ``<p>...</p>`` fast path of html_to_text gives exactly what the general path gives."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.domain.text import _markup_to_text, html_to_text

# Pieces that stress the rules the fast path must reproduce: entities (named, numeric, without
# semicolon, decoding to whitespace or to the general path's line markers), whitespace of every
# kind, stray "<" and ">", tags, and the marker characters themselves.
_PIECES = st.sampled_from(
    [
        "a",
        "Schritt 1.2",
        "BZ: 5 min",
        " ",
        "  ",
        "\t",
        "\n",
        "\r",
        "\xa0",
        "\x1e",
        "\x1f",
        "\u2028",
        "&amp;",
        "&amp",
        "&nbsp;",
        "&#10;",
        "&#x1e;",
        "&#30;",
        "&lt;p&gt;",
        "&notin;",
        "&not",
        "&",
        "#",
        ";",
        "<",
        ">",
        "<br>",
        "<b>",
        "</p",
        "<!-- c -->",
        "%C&A",
        "é",
    ]
)
_PARAGRAPH = st.lists(_PIECES, max_size=6).map("".join)
_SEPARATOR = st.sampled_from(["</p><p>", "</p><p>", "</p><p>", "</p>x<p>", "</p>\n<p>", "<br>"])


@st.composite
def _sticky_html(draw: st.DrawFn) -> str:
    paragraphs = draw(st.lists(_PARAGRAPH, min_size=1, max_size=5))
    text = paragraphs[0]
    for paragraph in paragraphs[1:]:
        text += draw(_SEPARATOR) + paragraph
    return "<p>" + text + "</p>"


@settings(max_examples=2000, deadline=None)
@given(_sticky_html(), st.sampled_from([3, 10, 10_000]))
@example("<p>BZ: 5 min</p><p>DLZ: 1 T</p><p>%C&amp;A: 90</p>", 10_000)
@example("<p> </p><p>&nbsp;</p><p>b</p>", 10_000)
@example("<p>&#10;</p><p>a&#x1e;b</p>", 10_000)
def test_miro_paragraph_markup_gives_the_same_text_as_the_general_path(
    markup: str, max_chars: int
) -> None:
    assert html_to_text(markup, max_chars) == _markup_to_text(markup, max_chars)
