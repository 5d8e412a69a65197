"""Board text -> safe, bounded, wrapped markup pieces for the SVG and HTML renderers.

Everything on a board is untrusted: every function here that returns markup escapes its input,
drops the characters XML 1.0 forbids and caps the length before doing any work, so the cost of a
100,000-character sticky is the cost of its first ``MAX_TEXT_CHARS`` characters.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from xml.sax.saxutils import escape

from service.domain.export import format_minutes as export_minutes

# Longest board text any renderer looks at; the rest is cut off with an ellipsis.
MAX_TEXT_CHARS = 2_000
ELLIPSIS = "\u2026"

# Characters not allowed in XML 1.0 documents (C0 controls except tab/LF/CR, lone surrogates,
# U+FFFE/U+FFFF): one of them would make the whole SVG unparseable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_ENTITIES = {'"': "&quot;", "'": "&#39;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}

# Approximate advance widths in em for a sans-serif face; good enough to wrap without a font.
_NARROW = frozenset("iljtfrI.,;:!|'`()[]{} ")
_WIDE = frozenset("mwMWOQGDH@%&")


def clean(text: object, limit: int = MAX_TEXT_CHARS) -> str:
    """Any value -> a str without XML-invalid characters, at most ``limit`` characters long."""
    raw = "" if text is None else str(text)
    cut = len(raw) > limit
    raw = _XML_INVALID.sub("", raw[:limit])
    return raw + ELLIPSIS if cut else raw


def esc(text: object, limit: int = MAX_TEXT_CHARS) -> str:
    """Escape for element content (``<``, ``>``, ``&``; so ``]]>`` and ``</script>`` are inert)."""
    return escape(clean(text, limit))


def attr(text: object, limit: int = MAX_TEXT_CHARS) -> str:
    """Escape for a double- or single-quoted attribute value."""
    return escape(clean(text, limit), _ATTR_ENTITIES)


# Board texts repeat a small alphabet; caching the per-character estimate halves render time.
@functools.lru_cache(maxsize=4096)
def char_width_em(char: str) -> float:
    """Approximate advance width of one character in em (emoji and CJK count as wide)."""
    if unicodedata.combining(char) or char in "\u200d\ufe0f":
        return 0.0
    if unicodedata.east_asian_width(char) in ("W", "F") or ord(char) >= 0x1F000:
        return 1.05
    if char in _NARROW:
        return 0.32
    if char in _WIDE:
        return 0.85
    if char.isupper() or char.isdigit():
        return 0.68
    return 0.58


def text_width_em(text: str) -> float:
    return sum(map(char_width_em, text))


def _split_long_word(word: str, max_em: float) -> list[str]:
    """Pieces of a word that each fit ``max_em``: broken after a hyphen or slash when one is
    close enough (``Bestätigungs-E-`` / ``Mail``), else wherever the line is full."""
    parts: list[str] = []
    rest = word
    while rest:
        if text_width_em(rest) <= max_em:
            parts.append(rest)
            break
        width = 0.0
        cut = 0
        soft_cut = 0
        for index, char in enumerate(rest):
            width += char_width_em(char)
            if width > max_em:
                break
            cut = index + 1
            if char in "-/" and index + 1 < len(rest):
                soft_cut = index + 1
        cut = soft_cut if soft_cut > cut // 3 else max(cut, 1)
        parts.append(rest[:cut])
        rest = rest[cut:]
    return parts


def _ellipsize(line: str, max_em: float) -> str:
    budget = max_em - char_width_em(ELLIPSIS)
    out = ""
    width = 0.0
    for char in line:
        w = char_width_em(char)
        if width + w > budget:
            break
        out += char
        width += w
    return out.rstrip() + ELLIPSIS


def wrap(text: object, max_em: float, max_lines: int) -> list[str]:
    """Word-wrap ``text`` into at most ``max_lines`` lines of at most ``max_em`` em each.

    Line breaks in the text are kept; words longer than a line are broken; when the text does
    not fit, the last line ends with an ellipsis. Returns plain (unescaped) lines, never more
    than ``max_lines`` and at least one (possibly empty).
    """
    max_lines = max(1, max_lines)
    max_em = max(1.0, max_em)
    source = clean(text)
    lines: list[str] = []
    overflow = False
    for paragraph in source.splitlines() or [""]:
        words = paragraph.split()
        current = ""
        width = 0.0
        space = char_width_em(" ")
        for word in words:
            for piece in _split_long_word(word, max_em):
                w = text_width_em(piece)
                if current and width + space + w <= max_em:
                    current += " " + piece
                    width += space + w
                    continue
                if current:
                    lines.append(current)
                current, width = piece, w
                if len(lines) > max_lines:
                    break
            if len(lines) > max_lines:
                break
        if current or not words:
            lines.append(current)
        if len(lines) > max_lines:
            break
    # blank paragraphs at the end add nothing to a label
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        overflow = True
    if overflow:
        lines[-1] = _ellipsize(lines[-1], max_em)
    return lines or [""]


def format_minutes(minutes: float | None, *, day_minutes: float = 480.0) -> str:
    """Minutes -> a short label: ``45 min``, ``2.5 h``, ``3 d`` (d = working day); None -> ``?``.

    The units are the CLI's and the exports' (``export.format_minutes``), so the map, the
    report and ``vsm import`` agree; a day is ``day_minutes`` long (8 working hours).
    """
    if minutes is None or isinstance(minutes, bool):
        return "?"
    value = float(minutes)
    if not math.isfinite(value):
        return "?"
    return export_minutes(value, hours_per_day=day_minutes / 60)


def format_percent(value: float | None, *, digits: int = 1) -> str:
    """A percentage (already times 100) -> ``12.5 %``; None -> ``?``."""
    if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
        return "?"
    return f"{_number(float(value), digits)} %"


def _number(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
