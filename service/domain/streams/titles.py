"""Stream and item titles: stable ids, first lines, the state a title names, display text."""

from __future__ import annotations

import hashlib
import re

from service.domain.ruleset import Ruleset, StreamState
from service.domain.times import strip_marks_with

# dashes: hyphen with spaces, en dash, em dash
_TITLE_SEPARATORS = (":", "|", "(", ")", "[", "]", "/", " - ", "\u2013", "\u2014")


def stable_id(prefix: str, *parts: str) -> str:
    """A short id that stays the same across re-imports of the same board items."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False)
    return f"{prefix}-{digest.hexdigest()[:12]}"


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _starts_with_word(text: str, word: str) -> bool:
    return text.startswith(word) and (len(text) == len(word) or not text[len(word)].isalnum())


def _title_segments(title: str) -> list[str]:
    segments = [title]
    for separator in _TITLE_SEPARATORS:
        segments = [part for segment in segments for part in segment.split(separator)]
    return [" ".join(segment.split()) for segment in segments if segment.strip()]


def title_state(title: str, ruleset: Ruleset) -> StreamState | None:
    """The state a container title names, or None.

    The title's first line is cut at separators (``:``, ``|``, brackets, dashes); the first
    piece that starts with a current or target word (a whole word, case-insensitive, longest
    word wins) decides: ``Ist-Zustand: Abo``, ``Abo (Soll)`` and ``Future state`` all match,
    ``Istanbul`` does not.
    """
    words = [
        (" ".join(word.casefold().split()), state)
        for words, state in (
            (ruleset.current_titles, StreamState.CURRENT),
            (ruleset.target_titles, StreamState.TARGET),
        )
        for word in words
    ]
    words.sort(key=lambda pair: -len(pair[0]))
    for segment in _title_segments(first_line(title).casefold()):
        for word, state in words:
            if word and _starts_with_word(segment, word):
                return state
    return None


def title_subject(title: str, ruleset: Ruleset) -> str:
    """What a stream title is about without its state words, case-folded.

    ``Ist-Zustand: Abo-Abschluss`` and ``Abo-Abschluss (Soll)`` both give ``abo-abschluss``.
    """
    words = [
        " ".join(word.casefold().split())
        for word in (*ruleset.current_titles, *ruleset.target_titles)
    ]
    return " ".join(
        segment
        for segment in _title_segments(first_line(title).casefold())
        if not any(word and _starts_with_word(segment, word) for word in words)
    )


def display_title(text: str, marker: re.Pattern[str] | None) -> str:
    """One-line display text: role marker (``marker``, the ruleset's
    ``leading_marker_pattern``), vote marks and time lines removed."""
    return strip_marks_with(text, marker)
