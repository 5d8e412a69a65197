"""Provider rich text (Miro HTML, Mural ``<html v="1">`` markup) -> bounded plain text.

Board text is untrusted. Tags are dropped and their text content kept (a ``<script>`` element's
body stays as visible text: it is just characters, and every output escapes it); entities are
decoded; ``<br>`` and block boundaries (``<p>``, ``<div>``, ``<li>``, headings, ...) become line
breaks. All patterns are free of nested repetition and comments are removed with a forward-only
scan, so the cost stays linear in the input length whatever the input (unclosed ``<``, endless
entities, deep nesting).
"""

from __future__ import annotations

import html
import re

DEFAULT_MAX_CHARS = 10_000

# A tag's attributes may not contain "<" or ">": a stray "<" ("a < b") is text, as in HTML.
_ATTRS = r"(?:[\s/][^<>]*)?>"
_BREAK_TAG = re.compile(r"<br" + _ATTRS, re.IGNORECASE)
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|li|ul|ol|tr|table|blockquote|pre|h[1-6]|hr)" + _ATTRS, re.IGNORECASE
)
_ANY_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*" + _ATTRS + r"|<[!?][^<>]*>")

# Markers for the two kinds of line break, chosen from control characters removed from input.
_BREAK = "\x1f"  # <br>: always a new line
_BLOCK = "\x1e"  # block boundary: a new line unless the current line is still empty
_MARKERS = str.maketrans({_BREAK: " ", _BLOCK: " "})


def _drop_comments(s: str) -> str:
    """Remove ``<!-- ... -->`` (an unclosed comment runs to the end, as in browsers)."""
    parts: list[str] = []
    pos = 0
    while True:
        start = s.find("<!--", pos)
        if start < 0:
            parts.append(s[pos:])
            return "".join(parts)
        parts.append(s[pos:start])
        end = s.find("-->", start + 4)
        if end < 0:
            return "".join(parts)
        pos = end + 3


def _lines(text: str) -> list[str]:
    """Split on breaks and decode entities; a block boundary starts a new line only after
    some visible text (``<p>a</p><p>b</p>`` is two lines, ``<div><p>a</p></div>`` one)."""
    lines: list[str] = []
    for row in text.split(_BREAK):
        current = ""
        for segment in row.split(_BLOCK):
            if "&" in segment:
                segment = html.unescape(segment)
            if current and not current.isspace():
                lines.append(current)
                current = segment
            else:
                current += segment
        lines.append(current)
    return lines


def html_to_text(s: str, max_chars: int = DEFAULT_MAX_CHARS) -> tuple[str, bool]:
    """Plain text of ``s`` and whether it was cut to ``max_chars`` characters.

    Runs of whitespace collapse to one space and every line is stripped. In markup, source
    newlines are plain whitespace (HTML rules); in text without any tag they are line breaks.
    """
    if "<" not in s and "&" not in s and "\n" not in s and "\r" not in s:
        text = " ".join(s.split())  # one plain line, the common case for titles and names
        return (text[:max_chars].rstrip(), True) if len(text) > max_chars else (text, False)
    paragraphs = _plain_paragraphs(s)
    if paragraphs is not None and len(paragraphs) == 1 and "&" not in s:
        text = " ".join(paragraphs[0].split())  # one plain paragraph: most stickies
        return (text[:max_chars].rstrip(), True) if len(text) > max_chars else (text, False)
    if paragraphs is not None:
        # the same as the general path below, which makes each non-blank paragraph one line
        lines = (" ".join((html.unescape(p) if "&" in p else p).split()) for p in paragraphs)
        text = "\n".join(line for line in lines if line)
        return (text[:max_chars].rstrip(), True) if len(text) > max_chars else (text, False)
    return _markup_to_text(s, max_chars)


def _plain_paragraphs(s: str) -> list[str] | None:
    """The paragraphs of ``<p>a</p><p>b</p>`` (how Miro stores sticky text), else None.

    Only when nothing else is there: no other tag, no text between paragraphs, and none of the
    characters the general path treats specially (its line markers, carriage returns).
    """
    if not (s.startswith("<p>") and s.endswith("</p>")) or len(s) < 7:
        return None
    if _BREAK in s or _BLOCK in s or "\r" in s:
        return None
    paragraphs = s[3:-4].split("</p><p>")
    return None if any("<" in paragraph for paragraph in paragraphs) else paragraphs


def _markup_to_text(s: str, max_chars: int) -> tuple[str, bool]:
    """``html_to_text`` for any text: the general path."""
    markup = False
    if "<" in s:
        if _BREAK in s or _BLOCK in s:
            s = s.translate(_MARKERS)
        if "<!--" in s:
            without = _drop_comments(s)
            markup = len(without) != len(s)
            s = without
        s, breaks = _BREAK_TAG.subn(_BREAK, s)
        s, blocks = _BLOCK_TAG.subn(_BLOCK, s)
        s, others = _ANY_TAG.subn("", s)
        markup = markup or bool(breaks or blocks or others)
    if markup:
        s = s.replace("\r", " ").replace("\n", " ")
    else:
        if _BREAK in s or _BLOCK in s:
            s = s.translate(_MARKERS)
        s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", _BREAK)
    text = "\n".join(" ".join(line.split()) for line in _lines(s)).strip()
    if len(text) > max_chars:
        return text[:max_chars].rstrip(), True
    return text, False


# What no database column of ours can hold: a lone UTF-16 surrogate (JSON allows the escape
# "\ud800", UTF-8 cannot encode it) and NUL (PostgreSQL text refuses it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def has_unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def storable_text(text: str) -> str:
    """``text`` with every lone surrogate and NUL replaced by U+FFFD (the replacement character)."""
    return _UNSTORABLE.sub("\ufffd", text)
