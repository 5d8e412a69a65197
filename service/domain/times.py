"""Sticky text -> times (minutes), vote marks and a clean display title.

Everything here reads untrusted board text. The patterns are anchored on fixed labels, numbers
are capped at a few digits and whitespace is collapsed first, so each match attempt does a
bounded amount of work and a whole text is scanned in linear time.
"""

from __future__ import annotations

import re
from functools import lru_cache

from service.domain.classification import Times
from service.domain.ruleset import Ruleset

# Minutes per unit; days and weeks depend on the ruleset and are filled in per call.
_SECOND_UNITS = ("s", "sec", "secs", "sek", "sekunde", "sekunden", "second", "seconds")
_MINUTE_UNITS = ("m", "min", "mins", "minute", "minuten", "minutes")
_HOUR_UNITS = ("h", "hr", "hrs", "hour", "hours", "std", "stunde", "stunden")
_DAY_UNITS = (
    "d",
    "t",
    "tg",
    "tag",
    "tage",
    "tagen",
    "day",
    "days",
    # working days are the days a ruleset counts anyway (``hours_per_day``)
    "arbeitstag",
    "arbeitstage",
    "arbeitstagen",
    "werktag",
    "werktage",
    "werktagen",
    "working day",
    "working days",
    "business day",
    "business days",
)
_WEEK_UNITS = ("w", "wk", "wks", "wo", "woche", "wochen", "week", "weeks")

_UNIT = "|".join(
    sorted(
        (*_SECOND_UNITS, *_MINUTE_UNITS, *_HOUR_UNITS, *_DAY_UNITS, *_WEEK_UNITS),
        key=lambda unit: (-len(unit), unit),
    )
)
# Vulgar fractions people type or paste: "½ Tag", "1½ h", "1 ¼ Std".
_FRACTIONS = {"½": 0.5, "¼": 0.25, "¾": 0.75, "⅓": 1 / 3, "⅔": 2 / 3}
_FRACTION = "[" + "".join(_FRACTIONS) + "]"
# At most 9 digits and 6 decimals: a bounded number, and no float overflow on absurd input.
_NUM = rf"(?:\d{{1,9}}(?:[.,]\d{{1,6}})?(?: ?{_FRACTION})?|{_FRACTION})(?!\d)"
# "ca. 20 min", "~1 h", "≈ 2 d", "etwa 3 Tage": an estimate is still the time to count.
_ABOUT = r"(?:(?:ca\.?|circa|zirka|etwa|ungefähr|approx\.?|about|~|≈|\+/?-|±) ?)?"
_NOT_LETTER_BEFORE = r"(?<![^\W_])"  # not preceded by a letter or digit
_NOT_LETTER_AFTER = r"(?![^\W\d_])"  # not followed by a letter
# hyphen, en dash, em dash: all three appear on stickies
DASHES = "-\u2013\u2014"
_RANGE_SEP = rf"(?:[{DASHES}]|bis|to)"

_LABELS = (
    r"(?:(?P<process>pt|p/t|bz|bearbeitungszeit|prozesszeit|process(?:ing)?[ -]?time"
    + r"|c/t|cycle[ -]?time|zykluszeit)"
    + r"|(?P<lead>lt|l/t|dlz|durchlaufzeit|lead[ -]?time)"
    + r"|(?P<wait>wt|w/t|wz|wartezeit|wait(?:ing)?(?:[ -]?time)?))"
)
# The value may stand on the line after its label ("PT:" / "20 min"): one line break is allowed
# between them, never more, so a label cannot pick up a number from further down the sticky.
_TIME = re.compile(
    _NOT_LETTER_BEFORE
    + _LABELS
    + _NOT_LETTER_AFTER
    + rf" ?[:=]? ?\n? ?{_ABOUT}(?P<a>{_NUM}) ?(?:(?P<ua>{_UNIT}){_NOT_LETTER_AFTER} ?)?"
    + rf"(?:{_RANGE_SEP} ?(?P<b>{_NUM}) ?)?"
    + rf"(?P<u>{_UNIT}){_NOT_LETTER_AFTER}"
    + rf"(?: ?(?P<a2>{_NUM}) ?(?P<u2>{_UNIT}){_NOT_LETTER_AFTER})?",
    re.IGNORECASE,
)
_COMPLETE_ACCURATE = re.compile(
    r"(?:% ?c ?[&/]? ?a|"
    + _NOT_LETTER_BEFORE
    + r"c ?[&/] ?a)"
    + _NOT_LETTER_AFTER
    + rf" ?[:=]? ?(?P<a>{_NUM})(?: ?{_RANGE_SEP} ?(?P<b>{_NUM}))? ?%?",
    re.IGNORECASE,
)
_BLANKS = re.compile(r"[^\S\n]+")
# Both patterns need a digit (``_NUM``); most sticky texts have none, and searching for one is
# much cheaper than trying the patterns at every position.
_DIGIT = re.compile(r"\d|" + _FRACTION)
_ALNUM = re.compile(r"[^\W_]")  # the characters str.isalnum() accepts

_VOTE_DOTS = frozenset("●•⬤⚫")
_MAX_PARENTHESIZED_VOTES = 4  # "(9999)" at most; longer numbers are not vote marks


# Minutes per unit where they do not depend on the ruleset; days are marked with None.
_FIXED_MINUTES: dict[str, float | None] = {
    **dict.fromkeys(_SECOND_UNITS, 1 / 60),
    **dict.fromkeys(_MINUTE_UNITS, 1.0),
    **dict.fromkeys(_HOUR_UNITS, 60.0),
    **dict.fromkeys(_DAY_UNITS, None),
}


def _unit_minutes(unit: str, ruleset: Ruleset) -> float:
    unit = unit.lower()
    if unit in _FIXED_MINUTES:
        minutes = _FIXED_MINUTES[unit]
        return ruleset.hours_per_day * 60 if minutes is None else minutes
    # weeks, and any case-insensitive match lower() does not map back to a listed unit
    return ruleset.days_per_week * ruleset.hours_per_day * 60


def _number(text: str) -> float:
    fraction = _FRACTIONS.get(text[-1], 0.0)
    if fraction:
        text = text[:-1].rstrip()
    return (float(text.replace(",", ".")) if text else 0.0) + fraction


def parse_times(text: str, ruleset: Ruleset) -> Times:
    """Read process, lead and wait time and %C&A from a sticky's text.

    Labels: PT/BZ/Bearbeitungszeit/Prozesszeit/process time; LT/DLZ/Durchlaufzeit/lead time;
    WT/WZ/Wartezeit/wait time/waiting; %C&A, C&A, %CA, C/A. Separator ``:``, ``=`` or a space.
    A time needs a unit (s, min, h/Std, d/T/Tag, w/Wo/Woche and their long forms); a number
    without a unit is not understood and ignored, because "PT 30" could mean minutes or hours.
    ``1h 30min`` adds up; a range ``30-60 min`` / ``30 bis 60 min`` counts as its midpoint and is
    kept in ``Times.ranges`` (keys ``process``, ``lead``, ``wait``, ``complete_accurate``).
    A %C&A above 100 is ignored. When a label appears twice, the first value counts.
    All times are returned in minutes; a day is ``ruleset.hours_per_day`` hours and a week
    ``ruleset.days_per_week`` days.
    """
    if _DIGIT.search(text) is None:
        return Times()
    text = _BLANKS.sub(" ", text)
    values: dict[str, float] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for match in _TIME.finditer(text):
        if match["process"] is not None:
            kind = "process"
        elif match["lead"] is not None:
            kind = "lead"
        else:
            kind = "wait"
        if kind in values:
            continue
        unit = _unit_minutes(match["u"], ruleset)
        first = _number(match["a"]) * (_unit_minutes(match["ua"], ruleset) if match["ua"] else unit)
        if match["b"] is not None:
            second = _number(match["b"]) * unit
            low, high = min(first, second), max(first, second)
            ranges[kind] = (low, high)
            values[kind] = (low + high) / 2
        else:
            value = first
            if match["a2"] is not None:
                value += _number(match["a2"]) * _unit_minutes(match["u2"], ruleset)
            values[kind] = value
    for match in _COMPLETE_ACCURATE.finditer(text):
        low = _number(match["a"])
        high = _number(match["b"]) if match["b"] is not None else low
        low, high = min(low, high), max(low, high)
        if high > 100:
            continue
        if match["b"] is not None:
            ranges["complete_accurate"] = (low, high)
        values["complete_accurate"] = (low + high) / 2
        break
    return Times(
        process_min=values.get("process"),
        lead_min=values.get("lead"),
        wait_min=values.get("wait"),
        complete_accurate_pct=values.get("complete_accurate"),
        ranges=ranges,
    )


_BARE_TIME = re.compile(
    rf"{_ABOUT}(?P<a>{_NUM}) ?(?:{_RANGE_SEP} ?(?P<b>{_NUM}) ?)?(?P<u>{_UNIT}){_NOT_LETTER_AFTER}"
    + r"\.?",
    re.IGNORECASE,
)


def parse_bare_time(text: str, ruleset: Ruleset) -> float | None:
    """The time of a text that is nothing but a time ("2 d", "ca. 20 min", "½ Tag", "1-2 h"),
    in minutes; None for any other text. What the time means (process or waiting) the caller
    knows from where the text stands, e.g. on the timeline ladder."""
    if _DIGIT.search(text) is None or len(text) > 40:
        return None
    match = _BARE_TIME.fullmatch(" ".join(text.split()))
    if match is None:
        return None
    unit = _unit_minutes(match["u"], ruleset)
    first = _number(match["a"]) * unit
    if match["b"] is None:
        return first
    return (first + _number(match["b"]) * unit) / 2


def first_bare_time(text: str, ruleset: Ruleset) -> float | None:
    """The first line of ``text`` that is nothing but a time (an inventory triangle's
    "I / 300 pcs / 2 days"), in minutes; None when no line is."""
    for line in text.splitlines()[:16]:
        found = parse_bare_time(line, ruleset)
        if found is not None:
            return found
    return None


def _trailing_parenthesized_votes(text: str) -> tuple[int, int] | None:
    """(votes, start index) of a ``(3)`` at the very end of ``text`` (already right-stripped)."""
    if not text.endswith(")"):
        return None
    opening = text.rfind("(", max(0, len(text) - _MAX_PARENTHESIZED_VOTES - 2))
    digits = text[opening + 1 : -1] if opening >= 0 else ""
    if not digits.isascii() or not digits.isdigit():
        return None
    return int(digits), opening


def _trailing_dot_run(text: str) -> tuple[int, int]:
    """(number of dots, start index) of the run of ●/• (spaces allowed between) ending ``text``."""
    count = 0
    start = len(text)
    index = len(text) - 1
    while index >= 0 and (text[index] in _VOTE_DOTS or text[index].isspace()):
        if text[index] in _VOTE_DOTS:
            count += 1
            start = index
        index -= 1
    return count, start


def count_vote_marks(text: str) -> int:
    """Votes written into the text: a trailing ``(3)``, else a trailing run of ``●``/``•``.

    Only the end of the text counts, so a bulleted list ("• first\\n• second") is not a vote.
    Returns 0 when there is no mark.
    """
    text = text.rstrip()
    parenthesized = _trailing_parenthesized_votes(text)
    if parenthesized is not None:
        return parenthesized[0]
    return _trailing_dot_run(text)[0]


def _strip_votes(text: str) -> str:
    text = text.rstrip()
    parenthesized = _trailing_parenthesized_votes(text)
    if parenthesized is not None:
        return text[: parenthesized[1]]
    count, start = _trailing_dot_run(text)
    return text[:start] if count else text


@lru_cache(maxsize=32)
def _leading_marker_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternation = "|".join(re.escape(word) for word in sorted(words, key=lambda w: (-len(w), w)))
    return re.compile(
        rf"^\s*(?P<word>{alternation})(?:\s*:|\s+[{DASHES}](?=\s|$))\s*", re.IGNORECASE
    )


def leading_marker_pattern(ruleset: Ruleset) -> re.Pattern[str] | None:
    """The compiled ``Word:`` / ``Word -`` pattern for the ruleset's markers (None: no markers)."""
    return _leading_marker_pattern(tuple(word.strip() for word in ruleset.markers if word.strip()))


_EDGE_PUNCTUATION = " \t,;|/·" + DASHES


def _without_times(line: str) -> str:
    if _DIGIT.search(line) is None:
        return line
    line, times_found = _TIME.subn(" ", line)
    line, percentages_found = _COMPLETE_ACCURATE.subn(" ", line)
    if not times_found and not percentages_found:
        return line
    return _BLANKS.sub(" ", line).strip(_EDGE_PUNCTUATION)


_BARE_LABEL = re.compile(_LABELS + r" ?[:=]?", re.IGNORECASE)


def _join_label_lines(lines: list[str]) -> list[str]:
    """A label alone on its line joined with the value on the next ("PT:" + "20 min"), so the
    pair is one time line, as ``parse_times`` reads it."""
    if len(lines) < 2:
        return lines
    joined: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if index + 1 < len(lines) and _BARE_LABEL.fullmatch(line):
            joined.append(f"{line} {lines[index + 1]}")
            index += 2
        else:
            joined.append(line)
            index += 1
    return joined


def strip_marks(text: str, ruleset: Ruleset) -> str:
    """The display title of a sticky, on one line.

    Drops a leading role marker ("Problem: ", "Idee:", "Idea - "), trailing vote marks and,
    when the sticky also carries a title, its time lines ("PT: 2h", "%C&A 80"). A sticky that
    holds only times keeps them as its title. Lines are joined with single spaces.
    """
    return strip_marks_with(text, leading_marker_pattern(ruleset))


def strip_marks_with(text: str, marker: re.Pattern[str] | None) -> str:
    """``strip_marks`` with the ruleset's ``leading_marker_pattern`` looked up once by the caller
    (building the pattern's key costs more than the rest for a short sticky)."""
    if marker is not None:
        text = marker.sub("", text, count=1)
    text = _strip_votes(text)
    if text.isprintable():  # one line (no line break is printable): the common case, in short
        line = " ".join(text.split())  # what _BLANKS and strip() give without a line break
        if not line:
            return ""
        stripped = _without_times(line)
        return stripped if _ALNUM.search(stripped) else line
    lines = [_BLANKS.sub(" ", line).strip() for line in text.splitlines()]
    lines = _join_label_lines([line for line in lines if line])
    titled = [stripped for stripped in map(_without_times, lines) if _ALNUM.search(stripped)]
    return " ".join(titled if titled else lines)
