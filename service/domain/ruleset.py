"""The classification ruleset: every knob a facilitator can read and change, with the defaults.

A ruleset is plain data. Files (YAML/JSON) and API bodies are validated by the shells
(``service.rules_file``) and turned into this frozen value; the core never parses files.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from msgspec import Struct, field


class Role(StrEnum):
    STEP = "step"
    WAIT = "wait"  # a step that adds no value
    PROBLEM = "problem"
    IDEA = "idea"
    DATA = "data"
    PERSONA = "persona"
    LEGEND = "legend"
    NOTE = "note"


class Precedence(StrEnum):
    """Who wins when the board's own legend and the rules map one colour to different roles."""

    LEGEND = "legend"  # the board's legend (the default: the team wrote it for this board)
    RULES = "rules"  # the colours of the rules file


class StreamState(StrEnum):
    CURRENT = "current"
    TARGET = "target"
    UNSPECIFIED = "unspecified"


def _default_colors() -> dict[str, Role]:
    return {
        "yellow": Role.STEP,
        "light_yellow": Role.STEP,
        "orange": Role.WAIT,
        "red": Role.PROBLEM,
        "pink": Role.PROBLEM,
        "light_pink": Role.PROBLEM,
        "green": Role.IDEA,
        "light_green": Role.IDEA,
        "dark_green": Role.IDEA,
        "blue": Role.DATA,
        "light_blue": Role.DATA,
        "cyan": Role.DATA,
        "dark_blue": Role.DATA,
        "violet": Role.PERSONA,
        "gray": Role.NOTE,
        "black": Role.NOTE,
    }


def _default_role_words() -> dict[str, Role]:
    """Words (German and English, matched case-insensitively) that name a role.

    Used for tag titles, for text markers (``Word:`` at the start of a sticky) and for the
    stickies of a legend frame.
    """
    words: dict[str, Role] = {}
    for role, names in {
        Role.STEP: ["step", "process step", "prozessschritt", "schritt", "aktivität", "activity"],
        Role.WAIT: [
            "nva",
            "wait",
            "waiting",
            "wartezeit",
            "warten",
            "non-value-adding",
            "nicht wertschöpfend",
        ],
        Role.PROBLEM: ["problem", "issue", "pain point", "schmerzpunkt"],
        Role.IDEA: ["idea", "idee", "improvement", "verbesserung", "kaizen", "lösung"],
        Role.DATA: ["data", "daten", "kennzahlen", "metrics", "zeiten", "times"],
        Role.PERSONA: ["persona", "kunde", "customer"],
        Role.NOTE: ["note", "notiz", "kommentar", "comment"],
    }.items():
        for name in names:
            words[name] = role
    return words


def _default_marker_words() -> dict[str, Role]:
    """Text markers: a sticky starting with ``Problem:`` (or containing ``NVA``) takes the role."""
    return {
        "problem": Role.PROBLEM,
        "idee": Role.IDEA,
        "idea": Role.IDEA,
        "persona": Role.PERSONA,
        "nva": Role.WAIT,
    }


class Ruleset(Struct, frozen=True):
    """All rules with their defaults; see the README's "Classification rules" table."""

    # colour name -> role (lowest precedence)
    colors: Mapping[str, Role] = field(default_factory=_default_colors)
    # tag title (case-insensitive) -> role (highest precedence)
    tag_roles: Mapping[str, Role] = field(default_factory=_default_role_words)
    # text marker word -> role ("Problem: ...", "Idee: ...", a standalone "NVA")
    markers: Mapping[str, Role] = field(default_factory=_default_marker_words)
    # marker words that count anywhere in the text as a standalone word ("Warten auf IT (NVA)");
    # the others only count at the start ("Problem: ..."), since "kein Problem" is no problem
    standalone_markers: tuple[str, ...] = ("nva",)
    # words in a legend frame's stickies -> role
    legend_words: Mapping[str, Role] = field(default_factory=_default_role_words)
    legend_titles: tuple[str, ...] = (
        "legend",
        "legende",
        "key",
        "farblegende",
        "farbcode",
        "farbcodes",
        "farbkodierung",
        "zeichenerklärung",
        "colour code",
        "color code",
        "colour key",
        "color key",
        "colour legend",
        "color legend",
        "colour coding",
        "color coding",
    )
    current_titles: tuple[str, ...] = (
        "ist",
        "ist-zustand",
        "ist zustand",
        "heute",
        "vorher",
        "current",
        "current state",
        "as-is",
        "as is",
        "today",
    )
    target_titles: tuple[str, ...] = (
        "soll",
        "soll-zustand",
        "soll zustand",
        "ziel",
        "zielbild",
        "zielzustand",
        "morgen",
        "nachher",
        "zukunft",
        "target",
        "target state",
        "future state",
        "future",
        "to-be",
        "to be",
        "tomorrow",
        "ideal state",
    )
    # titles of frames that hold no flow: their items are part of no stream (a warning says so)
    skip_titles: tuple[str, ...] = (
        "agenda",
        "ablauf",
        "tagesordnung",
        "parking lot",
        "parkplatz",
        "themenspeicher",
        "check-in",
        "check in",
        "checkin",
        "check-out",
        "check out",
        "checkout",
        "questions",
        "open questions",
        "fragen",
        "offene fragen",
        "icebreaker",
        "ice breaker",
        "warm-up",
        "warm up",
        "welcome",
        "willkommen",
        "instructions",
        "anleitung",
        "how to",
        "ground rules",
        "spielregeln",
        "next steps",
        "nächste schritte",
        "action items",
        "retro",
        "retrospective",
        "retrospektive",
        "feedback",
    )
    # texts at the left edge naming the rows of a stream (step row, data row, ...): no lanes
    row_headings: tuple[str, ...] = (
        "process steps",
        "process step",
        "prozessschritte",
        "prozessschritt",
        "schritte",
        "steps",
        "aktivitäten",
        "activities",
        "data",
        "daten",
        "zeiten",
        "times",
        "kennzahlen",
        "metrics",
        "problems",
        "probleme",
        "pain points",
        "schmerzpunkte",
        "issues",
        "ideas",
        "ideen",
        "improvements",
        "verbesserungen",
        "lösungen",
        "kaizen",
        "timeline",
        "zeitleiste",
    )
    # time units
    hours_per_day: float = 8.0
    days_per_week: float = 5.0
    # a problem/idea further than this many typical sticky sizes from every step hangs on the stream
    attach_distance: float = 2.0
    # an item whose larger side is below this share of the typical sticky size counts as a dot
    dot_size_ratio: float = 0.4
    # a step title in the current and target stream counts as the same step at this similarity
    match_similarity: float = 0.6
    # an import fails when more than this share of the items read are malformed (0: any)
    max_malformed_share: float = 0.02
    # a colour the rules map differently from the defaults, and the board's legend maps to yet
    # another role: the legend wins unless this is RULES (a warning names the rule that lost)
    precedence: Precedence = Precedence.LEGEND
