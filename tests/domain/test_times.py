"""Times, vote marks and display titles read from sticky text."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.ruleset import Ruleset
from service.domain.times import count_vote_marks, parse_bare_time, parse_times, strip_marks

RULES = Ruleset()  # 8 h days, 5-day weeks
DAY = 8 * 60
WEEK = 5 * DAY


@pytest.mark.parametrize(
    ("text", "process", "lead", "wait"),
    [
        ("PT: 2h", 120, None, None),
        ("PT=45 min", 45, None, None),
        ("PT 30 sec", 0.5, None, None),
        ("BZ: 20 Minuten", 20, None, None),
        ("Bearbeitungszeit 1,5 Std", 90, None, None),
        ("Prozesszeit: 3 Stunden", 180, None, None),
        ("process time: 2 hours", 120, None, None),
        ("Processing time 10 m", 10, None, None),
        ("PT: 90 s", 1.5, None, None),
        ("pt 2 hrs", 120, None, None),
        ("PT2h", 120, None, None),
        ("process time: 1h 30min", 90, None, None),
        ("LT: 3 T", None, 3 * DAY, None),
        ("DLZ = 1,5 Tage", None, 1.5 * DAY, None),
        ("Durchlaufzeit: 2 Wochen", None, 2 * WEEK, None),
        ("lead time 4 days", None, 4 * DAY, None),
        ("Lead-Time: 1 week", None, WEEK, None),
        ("LT 2 Wo", None, 2 * WEEK, None),
        ("LT 1.5 d", None, 1.5 * DAY, None),
        ("WT: 2 d", None, None, 2 * DAY),
        ("WZ 1 Tag", None, None, DAY),
        ("Wartezeit: 3 Tage", None, None, 3 * DAY),
        ("wait time = 30 min", None, None, 30),
        ("waiting 2 days", None, None, 2 * DAY),
        ("PT: 2h\nLT: 3 T\nWT: 1 w", 120, 3 * DAY, WEEK),
        ("PT: 2h LT: 3 T", 120, 3 * DAY, None),
    ],
)
def test_times_are_read_in_minutes_from_german_and_english_labels(
    text: str, process: float | None, lead: float | None, wait: float | None
) -> None:
    times = parse_times(text, RULES)

    assert (times.process_min, times.lead_min, times.wait_min) == (process, lead, wait)


@pytest.mark.parametrize(
    ("text", "midpoint", "bounds"),
    [
        ("PT 30-60 min", 45, (30, 60)),
        ("PT 30–60 min", 45, (30, 60)),  # noqa: RUF001 - the en dash people type
        ("PT 30 bis 60 min", 45, (30, 60)),
        ("PT 30 to 60 min", 45, (30, 60)),
        ("PT 30 min - 1 h", 45, (30, 60)),
        ("PT 2-4 h", 180, (120, 240)),
        ("PT 60-30 min", 45, (30, 60)),
    ],
)
def test_a_range_counts_as_its_midpoint_and_is_kept(
    text: str, midpoint: float, bounds: tuple[float, float]
) -> None:
    times = parse_times(text, RULES)

    assert times.process_min == midpoint
    assert times.ranges == {"process": bounds}


@pytest.mark.parametrize(
    ("text", "pct"),
    [
        ("%C&A 80", 80),
        ("%C&A: 80", 80),
        ("C&A: 80 %", 80),
        ("%CA 80", 80),
        ("C/A 80%", 80),
        ("%C/A = 95,5", 95.5),
        ("%C&A 100", 100),
        ("%C&A 0", 0),
    ],
)
def test_complete_and_accurate_is_read_as_a_percentage(text: str, pct: float) -> None:
    assert parse_times(text, RULES).complete_accurate_pct == pct


def test_a_complete_and_accurate_range_counts_as_its_midpoint() -> None:
    times = parse_times("%C&A 70-90", RULES)

    assert times.complete_accurate_pct == 80
    assert times.ranges == {"complete_accurate": (70, 90)}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Freigabe einholen",
        "PT 30",  # no unit: minutes or hours? not understood
        "PT: viel",
        "LT 3 Monate",
        "SCRIPT 2h",  # "PT" inside a word is no label
        "ALT 2h",
        "PT 2 hx",
        "%C&A 180",  # not a percentage
        "PT 12345678901 min",  # absurdly long numbers are not read
        "PT -",
    ],
)
def test_text_without_a_readable_time_gives_no_times(text: str) -> None:
    assert parse_times(text, RULES).is_empty()


def test_days_and_weeks_follow_the_ruleset() -> None:
    rules = Ruleset(hours_per_day=7.5, days_per_week=4)

    times = parse_times("LT 2 d\nWT 1 w", rules)

    assert times.lead_min == 2 * 7.5 * 60
    assert times.wait_min == 4 * 7.5 * 60


def test_the_first_value_of_a_label_counts() -> None:
    assert parse_times("PT 2h\nPT 5h", RULES).process_min == 120


def test_times_and_percentage_on_one_sticky_are_all_read() -> None:
    times = parse_times("Rechnung prüfen\nPT: 2h\nLT: 3 T\n%C&A: 80", RULES)

    assert (times.process_min, times.lead_min, times.complete_accurate_pct) == (120, 3 * DAY, 80)
    assert times.wait_min is None


@pytest.mark.parametrize(
    "text",
    [
        "PT " * 40_000,
        "PT: 1" + "1" * 90_000,
        "PT 1," + "5" * 90_000 + " h",
        "%C&A " * 30_000,
        "C " * 50_000,
        "LT 3 " + " " * 90_000 + "T",
    ],
)
def test_hostile_text_does_not_hang_the_parser(text: str) -> None:
    # A guard against catastrophic regex backtracking (which takes hours on these inputs; the
    # suite's pytest-timeout fails it), not a speed target: the figures live in
    # bench/digitize.py. No tighter budget here: a loaded laptop must not fail it.
    parse_times(text, RULES)
    strip_marks(text, RULES)
    assert count_vote_marks(text) == 0


@pytest.mark.parametrize(
    ("text", "votes"),
    [
        ("Zu viele Freigaben ●●●", 3),
        ("Zu viele Freigaben •••••", 5),
        ("Zu viele Freigaben ● ● ●  ", 3),
        ("Medienbruch (3)", 3),
        ("Medienbruch (12)\n", 12),
        ("Medienbruch", 0),
        ("• erster Punkt\n• zweiter Punkt", 0),  # a bulleted list, no votes
        ("Schritt (2) danach", 0),
        ("Kosten (teuer)", 0),
        ("zu groß (123456)", 0),
        ("", 0),
        ("●" * 100_000, 100_000),
    ],
)
def test_vote_marks_at_the_end_of_the_text_are_counted(text: str, votes: int) -> None:
    assert count_vote_marks(text) == votes


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Problem: Zu viele Freigaben ●●●", "Zu viele Freigaben"),
        ("problem:Zu viele Freigaben (3)", "Zu viele Freigaben"),
        ("Idee: Self-Service-Portal", "Self-Service-Portal"),
        ("Idea - automate the check", "automate the check"),
        ("Persona: Anna, 34", "Anna, 34"),
        ("Idee-Box", "Idee-Box"),  # no marker: the word is part of the title
        ("Rechnung prüfen\nPT: 2h\nLT: 3 T", "Rechnung prüfen"),
        ("Freigabe einholen PT 2h", "Freigabe einholen"),
        ("Angebot\nerstellen", "Angebot erstellen"),
        ("PT: 2h\nLT: 3T", "PT: 2h LT: 3T"),  # only times: they are the title
        ("- offene Frage", "- offene Frage"),
        ("  Kundendaten   erfassen  ", "Kundendaten erfassen"),
    ],
)
def test_the_display_title_drops_markers_votes_and_time_lines(text: str, title: str) -> None:
    assert strip_marks(text, RULES) == title


def test_the_display_title_uses_the_rulesets_markers() -> None:
    rules = Ruleset(markers={"blocker": Ruleset().markers["problem"]})

    assert strip_marks("Blocker: VPN down", rules) == "VPN down"
    assert strip_marks("Problem: VPN down", rules) == "Problem: VPN down"


@given(
    st.text(
        alphabet=st.sampled_from(list("PTLWZBCA%&/:=-\u2013., 0123456789hdmsTw●•()\nbisStdTage")),
        max_size=80,
    )
)
def test_any_text_gives_finite_non_negative_times(text: str) -> None:
    times = parse_times(text, RULES)

    for value in (times.process_min, times.lead_min, times.wait_min):
        assert value is None or (math.isfinite(value) and value >= 0)
    assert times.complete_accurate_pct is None or 0 <= times.complete_accurate_pct <= 100
    assert count_vote_marks(text) >= 0
    assert isinstance(strip_marks(text, RULES), str)


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))
        | st.sampled_from("●•(3)"),
        max_size=30,
    )
    | st.sampled_from(["Problem: Kunde wartet (2)", "Idee - PT 2h", "BZ: 5 min", "NVA ●●"])
)
def test_a_one_line_title_reads_the_same_as_the_same_line_after_a_line_break(text: str) -> None:
    # one line takes a shortcut; a leading line break sends it down the general path
    assert strip_marks(text, RULES) == strip_marks("\n" + text, RULES)


@pytest.mark.parametrize(
    ("text", "process", "lead", "wait"),
    [
        ("PT: ca. 20 min", 20, None, None),
        ("BZ ca 20 Min.", 20, None, None),
        ("LT ~1 h", None, 60, None),
        ("LT: ≈ 2 d", None, 2 * DAY, None),
        ("DLZ: etwa 3 Tage", None, 3 * DAY, None),
        ("WZ: ½ Tag", None, None, DAY / 2),
        ("PT 1½ h", 90, None, None),
        ("PT 1 ¼ Std.", 75, None, None),
        ("DLZ 3 Arbeitstage", None, 3 * DAY, None),
        ("LT: 2 Werktage", None, 2 * DAY, None),
        ("lead time 2 working days", None, 2 * DAY, None),
        ("WZ: 2 Tg.", None, None, 2 * DAY),
        ("PT:\n20 min", 20, None, None),
        ("Angebot prüfen\nDLZ\nca. 2 Tage", None, 2 * DAY, None),
        ("C/T = 45 sec", 0.75, None, None),
        ("P/T: 2 h\nL/T: 1 d", 120, DAY, None),
        ("Cycle time: 10 min", 10, None, None),
    ],
)
def test_times_are_read_as_teams_write_them_by_hand(
    text: str, process: float | None, lead: float | None, wait: float | None
) -> None:
    times = parse_times(text, RULES)

    assert (times.process_min, times.lead_min, times.wait_min) == (process, lead, wait)


@pytest.mark.parametrize(
    "text",
    [
        "PT:\n\n20 min",  # a blank line parts the label from the number
        "PT:\nBesprechung\n20 min",
        "LT ca.",
        "PT 3 at the desk",
    ],
)
def test_a_label_does_not_reach_for_a_number_further_down(text: str) -> None:
    assert parse_times(text, RULES).process_min is None


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Angebot prüfen\nDLZ:\nca. 2 Tage", "Angebot prüfen"),
        ("Rechnung prüfen\nPT ~ 20 min", "Rechnung prüfen"),
        ("Rechnung prüfen\nWZ: ½ Tag", "Rechnung prüfen"),
    ],
)
def test_the_display_title_drops_hand_written_time_lines(text: str, title: str) -> None:
    assert strip_marks(text, RULES) == title


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("2 d", 2 * DAY),
        ("ca. 20 min", 20),
        ("~1 h", 60),
        ("½ Tag", DAY / 2),
        ("3 Arbeitstage", 3 * DAY),
        ("2 Tg.", 2 * DAY),
        ("1-2 h", 90),
        ("Rechnung prüfen", None),
        ("PT 2 h", None),  # a labelled time is no bare time
        ("20", None),
        ("2 d Wartezeit auf Freigabe", None),
    ],
)
def test_a_text_that_is_only_a_time_is_read_as_one(text: str, minutes: float | None) -> None:
    assert parse_bare_time(text, RULES) == minutes
