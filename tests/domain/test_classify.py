"""What each item on a board is: roles, the rule that fired, and the order of precedence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from service.domain.board import Board, Geometry, Item, ItemKind
from service.domain.board_warnings import board_warnings
from service.domain.classification import Classification, Decision
from service.domain.classify import classify
from service.domain.ruleset import Precedence, Role, Ruleset

RULES = Ruleset()


def sticky(
    id: str,
    text: str = "Rechnung prüfen",
    color: str | None = "yellow",
    *,
    x: float = 0.0,
    y: float = 0.0,
    size: float = 200.0,
    tags: tuple[str, ...] = (),
    containers: tuple[str, ...] = (),
) -> Item:
    return Item(
        id=id,
        kind=ItemKind.STICKY,
        text=text,
        color=color,
        geometry=Geometry(x, y, size, size),
        tags=tags,
        containers=containers,
    )


def frame(id: str, title: str, *, x: float = 0.0, y: float = 0.0, size: float = 2000.0) -> Item:
    return Item(id=id, kind=ItemKind.CONTAINER, text=title, geometry=Geometry(x, y, size, size))


def board(*items: Item) -> Board:
    return Board(provider="miro", id="b1", name="Workshop", items=items)


def decision(result: Classification, item_id: str) -> Decision:
    return next(d for d in result.decisions if d.item_id == item_id)


@pytest.mark.parametrize(
    ("color", "role"),
    [
        ("yellow", Role.STEP),
        ("light_yellow", Role.STEP),
        ("orange", Role.WAIT),
        ("red", Role.PROBLEM),
        ("pink", Role.PROBLEM),
        ("light_pink", Role.PROBLEM),
        ("green", Role.IDEA),
        ("light_green", Role.IDEA),
        ("dark_green", Role.IDEA),
        ("blue", Role.DATA),
        ("light_blue", Role.DATA),
        ("cyan", Role.DATA),
        ("dark_blue", Role.DATA),
        ("violet", Role.PERSONA),
        ("gray", Role.NOTE),
        ("black", Role.NOTE),
    ],
)
def test_default_colours_give_the_role(color: str, role: Role) -> None:
    result = classify(board(sticky("s1", color=color)), RULES)

    assert result.roles == {"s1": role}
    assert decision(result, "s1") == Decision(
        "s1", role, "color", f"colour {color} is mapped to {role.value} by the default colours"
    )


def test_a_colour_from_a_custom_ruleset_says_the_rules_mapped_it() -> None:
    rules = Ruleset(colors={"blue": Role.STEP})

    result = classify(board(sticky("s1", color="blue")), rules)

    assert result.roles == {"s1": Role.STEP}
    assert decision(result, "s1").why == "colour blue is mapped to step by the rules"


@pytest.mark.parametrize(
    ("tag", "role"),
    [("Problem", Role.PROBLEM), ("idee", Role.IDEA), ("NVA", Role.WAIT), (" Daten ", Role.DATA)],
)
def test_a_tag_naming_a_role_gives_that_role(tag: str, role: Role) -> None:
    result = classify(board(sticky("s1", color=None, tags=("Sprint 3", tag))), RULES)

    assert result.roles == {"s1": role}
    assert decision(result, "s1").rule == "tag"


@pytest.mark.parametrize(
    ("text", "role", "why"),
    [
        (
            "Problem: Zu viele Freigaben",
            Role.PROBLEM,
            "the text starts with the marker 'Problem' which names the role problem",
        ),
        (
            "idee: Portal",
            Role.IDEA,
            "the text starts with the marker 'idee' which names the role idea",
        ),
        (
            "Idea - automate",
            Role.IDEA,
            "the text starts with the marker 'Idea' which names the role idea",
        ),
        (
            "Persona: Anna, 34",
            Role.PERSONA,
            "the text starts with the marker 'Persona' which names the role persona",
        ),
        (
            "Warten auf Freigabe (NVA)",
            Role.WAIT,
            "the text contains the word 'NVA', which marks a wait step (no value added)",
        ),
    ],
)
def test_a_text_marker_gives_the_role(text: str, role: Role, why: str) -> None:
    result = classify(board(sticky("s1", text=text, color=None)), RULES)

    assert decision(result, "s1") == Decision("s1", role, "marker", why)


@pytest.mark.parametrize(
    "text",
    ["Kein Problem mit der IT", "Idee-Box aufstellen", "Problematische Freigabe", "CANVAS prüfen"],
)
def test_a_marker_word_inside_a_sentence_is_no_marker(text: str) -> None:
    result = classify(board(sticky("s1", text=text, color="yellow")), RULES)

    assert result.roles == {"s1": Role.STEP}
    assert decision(result, "s1").rule == "color"


LEGEND_ORANGE_IS_PROBLEM = (
    frame("legend", "Legende", x=5000),
    sticky("l1", "Problem", "orange", x=5000, containers=("legend",)),
)


@pytest.mark.parametrize(
    ("item", "extra", "rule", "role"),
    [
        # tag beats marker
        (sticky("s1", "Idee: Portal", "orange", tags=("Problem",)), (), "tag", Role.PROBLEM),
        # tag beats legend
        (sticky("s1", color="orange", tags=("Idee",)), LEGEND_ORANGE_IS_PROBLEM, "tag", Role.IDEA),
        # tag beats colour
        (sticky("s1", color="yellow", tags=("Problem",)), (), "tag", Role.PROBLEM),
        # marker beats legend
        (sticky("s1", "Idee: Portal", "orange"), LEGEND_ORANGE_IS_PROBLEM, "marker", Role.IDEA),
        # marker beats colour
        (sticky("s1", "Problem: Medienbruch", "yellow"), (), "marker", Role.PROBLEM),
        # legend beats colour
        (sticky("s1", "Medienbruch", "orange"), LEGEND_ORANGE_IS_PROBLEM, "legend", Role.PROBLEM),
    ],
)
def test_precedence_is_tag_then_marker_then_legend_then_colour(
    item: Item, extra: tuple[Item, ...], rule: str, role: Role
) -> None:
    result = classify(board(item, *extra), RULES)

    assert decision(result, "s1").rule == rule
    assert result.roles["s1"] is role


def test_the_legend_remaps_a_colour_for_the_whole_board() -> None:
    result = classify(
        board(
            frame("legend", "Legende", x=5000),
            sticky("l1", "Wartezeit", "red", x=5000, containers=("legend",)),
            frame("ist", "Ist-Zustand"),
            sticky("s1", "Warten auf IT", "red", containers=("ist",)),
            sticky("s2", "Warten auf Kunde", "red"),
        ),
        RULES,
    )

    assert result.roles["s1"] is result.roles["s2"] is Role.WAIT
    assert decision(result, "s1").why == (
        "the legend says red means wait (sticky 'Wartezeit' in frame 'Legende')"
    )
    assert result.legend_ids == frozenset({"legend"})


def _legend_says_red_is_wait_rules_say_idea(precedence: Precedence) -> tuple[Board, Ruleset]:
    colors = {**Ruleset().colors, "red": Role.IDEA}
    return board(
        frame("legend", "Legende", x=5000),
        sticky("l1", "Wartezeit", "red", x=5000, containers=("legend",)),
        sticky("s1", "Warten auf IT", "red"),
        sticky("s2", "Warten auf Kunde", "red"),
        sticky("s3", "Rechnung prüfen", "yellow"),
    ), Ruleset(colors=colors, precedence=precedence)


def test_when_the_legend_outranks_a_rule_a_warning_names_the_rule_and_how_to_make_it_win() -> None:
    workshop, rules = _legend_says_red_is_wait_rules_say_idea(Precedence.LEGEND)

    result = classify(workshop, rules)
    warnings = [w for w in board_warnings(workshop, result, ()) if w.code != "no-steps"]

    assert result.roles["s1"] is Role.WAIT
    assert [(w.code, w.item_ids) for w in warnings] == [("legend-outranks-rules", ("s1", "s2"))]
    assert "colors.red: idea" in warnings[0].message
    assert "'Wartezeit' in frame 'Legende'" in warnings[0].message
    assert "2 stickies became wait instead of idea" in warnings[0].message
    assert "precedence: rules" in warnings[0].fix


def test_a_rules_file_with_precedence_rules_outranks_the_boards_legend() -> None:
    workshop, rules = _legend_says_red_is_wait_rules_say_idea(Precedence.RULES)

    result = classify(workshop, rules)

    assert result.roles["s1"] is result.roles["s2"] is Role.IDEA
    assert decision(result, "s1").rule == "color"
    assert "precedence: rules" in decision(result, "s1").why
    assert "legend says red means wait" in decision(result, "s1").why
    assert result.overruled == ()


def test_a_legend_that_agrees_with_the_rules_or_maps_an_unchanged_colour_warns_nothing() -> None:
    workshop = board(
        frame("legend", "Legende", x=5000),
        sticky("l1", "Wartezeit", "red", x=5000, containers=("legend",)),
        sticky("s1", "Warten auf IT", "red"),
    )

    assert classify(workshop, RULES).overruled == ()
    agreeing = Ruleset(colors={**Ruleset().colors, "red": Role.WAIT})
    assert classify(workshop, agreeing).overruled == ()


@pytest.mark.parametrize(
    "title", ["Legend", "LEGENDE", "Key", "Legende: Farben", "legend\nbitte lesen"]
)
def test_a_container_titled_legend_legende_or_key_is_a_legend(title: str) -> None:
    result = classify(
        board(frame("f", title), sticky("l1", "Idee", "yellow", containers=("f",))), RULES
    )

    assert result.legend_ids == frozenset({"f"})
    assert result.roles == {"l1": Role.LEGEND}


def test_legend_members_are_never_steps_whatever_they_say() -> None:
    result = classify(
        board(
            frame("legend", "Legend"),
            sticky("l1", "Process step", "yellow", containers=("legend",)),
            sticky("l2", "Problem: red stickies", "red", tags=("Problem",), containers=("legend",)),
            sticky("l3", "", "gray", containers=("legend",)),
        ),
        RULES,
    )

    assert result.roles == {"l1": Role.LEGEND, "l2": Role.LEGEND, "l3": Role.LEGEND}
    assert {d.rule for d in result.decisions} == {"legend-member"}
    assert (
        decision(result, "l1").why == "part of the legend frame 'Legend'; it says yellow means step"
    )
    assert result.unclassified == ()


def test_texts_shapes_and_dots_inside_a_legend_are_ignored() -> None:
    result = classify(
        board(
            frame("legend", "Legende"),
            Item("t1", ItemKind.TEXT, "Problem: rot", containers=("legend",)),
            Item("c1", ItemKind.SHAPE, "", shape="circle", containers=("legend",)),
        ),
        RULES,
    )

    assert result.decisions == ()
    assert result.dots == frozenset()


def test_legends_merge_and_the_top_left_legend_wins_a_conflict() -> None:
    result = classify(
        board(
            # listed first but lies further right: it loses
            frame("right", "Key", x=6000, y=0),
            sticky("r1", "Idea", "orange", x=6000, containers=("right",)),
            sticky("r2", "Data", "cyan", x=6000, y=300, containers=("right",)),
            frame("left", "Legende", x=3000, y=0),
            sticky("a1", "Problem", "orange", x=3000, containers=("left",)),
            sticky("s1", "Medienbruch", "orange"),
            sticky("s2", "Kundennummer", "cyan"),
        ),
        RULES,
    )

    assert result.roles["s1"] is Role.PROBLEM
    assert result.roles["s2"] is Role.DATA
    assert "'Problem' in frame 'Legende' comes first" in decision(result, "r1").why


def test_a_legend_sticky_without_a_role_word_maps_nothing() -> None:
    result = classify(
        board(
            frame("legend", "Legende"),
            sticky("l1", "Bitte nicht verschieben", "orange", containers=("legend",)),
            sticky("s1", "Warten", "orange"),
        ),
        RULES,
    )

    assert result.roles["s1"] is Role.WAIT
    assert decision(result, "s1").rule == "color"
    assert "names no role" in decision(result, "l1").why


def test_empty_stickies_are_ignored_not_unclassified() -> None:
    result = classify(board(sticky("s1", " \n\t", "yellow"), sticky("s2", "", None)), RULES)

    assert result.roles == {}
    assert [(d.item_id, d.role, d.rule) for d in result.decisions] == [
        ("s1", None, "empty"),
        ("s2", None, "empty"),
    ]
    assert result.unclassified == ()


@pytest.mark.parametrize(
    ("text", "color", "reason"),
    [
        ("Rechnung prüfen", None, "no colour, tag or marker"),
        ("Rechnung prüfen", "purple", "colour 'purple' has no role in the ruleset"),
    ],
)
def test_a_sticky_no_rule_fits_is_unclassified_with_the_reason(
    text: str, color: str | None, reason: str
) -> None:
    result = classify(board(sticky("s1", text, color)), RULES)

    assert result.roles == {}
    assert [(u.item_id, u.text, u.reason) for u in result.unclassified] == [("s1", text, reason)]
    assert decision(result, "s1") == Decision("s1", None, "unclassified", reason)


def test_cards_are_steps_unless_a_tag_or_marker_names_another_role() -> None:
    result = classify(
        board(
            Item("c1", ItemKind.CARD, "JIRA-12 Login", color="red", tags=("Problem",)),
            Item("c2", ItemKind.CARD, "Idee: SSO", color="yellow"),
            Item("c3", ItemKind.CARD, "JIRA-13 Export", color="red"),
        ),
        RULES,
    )

    # a card's colour is its theme: red does not make c3 a problem
    assert result.roles == {"c1": Role.PROBLEM, "c2": Role.IDEA, "c3": Role.STEP}
    assert decision(result, "c3").rule == "card"
    assert result.unclassified == ()


def test_texts_shapes_and_frames_get_a_role_only_from_a_tag_or_marker() -> None:
    result = classify(
        board(
            Item("t1", ItemKind.TEXT, "Vertrieb", color="yellow"),
            Item("sh1", ItemKind.SHAPE, "Backoffice", color="red", shape="rectangle"),
            frame("f1", "Ist-Zustand"),
            Item("t2", ItemKind.TEXT, "Problem: kein Zugang"),
            Item("sh2", ItemKind.SHAPE, "Portal", shape="rectangle", tags=("Idee",)),
            Item("img", ItemKind.IMAGE, "Problem: Foto"),
        ),
        RULES,
    )

    assert result.roles == {"t2": Role.PROBLEM, "sh2": Role.IDEA}
    assert [d.item_id for d in result.decisions] == ["sh2", "t2"]
    assert result.unclassified == ()


@pytest.mark.parametrize(
    ("item", "is_dot"),
    [
        (Item("d", ItemKind.SHAPE, "", geometry=Geometry(0, 0, 40, 40), shape="circle"), True),
        (Item("d", ItemKind.SHAPE, "", geometry=Geometry(0, 0, 40, 30), shape="Ellipse"), True),
        (Item("d", ItemKind.SHAPE, "MK", geometry=Geometry(0, 0, 40, 40), shape="oval"), True),
        (Item("d", ItemKind.SHAPE, "", shape="circle"), True),  # no coordinates: still a dot
        (Item("d", ItemKind.SHAPE, "", geometry=Geometry(0, 0, 900, 900), shape="circle"), False),
        (
            Item(
                "d",
                ItemKind.SHAPE,
                "Kunde ruft an",
                geometry=Geometry(0, 0, 40, 40),
                shape="circle",
            ),
            False,
        ),
        (sticky("d", "", "red", size=50), True),
        (sticky("d", "3", "red", size=50), True),
        (sticky("d", "+1", "red", size=50), True),
        (sticky("d", "Zu viele Freigaben", "red", size=50), False),  # a small problem sticky
        (sticky("d", "", "red", size=120), False),  # not far smaller than 200: an empty sticky
    ],
)
def test_circles_and_tiny_stickies_are_vote_dots(item: Item, is_dot: bool) -> None:
    others = [sticky(f"s{i}", x=300.0 * i) for i in range(5)]

    result = classify(board(item, *others), RULES)

    assert ("d" in result.dots) is is_dot
    assert "d" not in {u.item_id for u in result.unclassified}
    assert ("d" in result.roles) is (
        not is_dot and item.kind is ItemKind.STICKY and item.text != ""
    )
    if is_dot:
        assert decision(result, "d").role is None
        assert decision(result, "d").rule == "dot"


def test_the_typical_sticky_size_is_the_median_of_the_stickies() -> None:
    items = [sticky(f"s{i}", size=size) for i, size in enumerate([100, 150, 150, 400, 1000])]

    result = classify(board(*items, Item("x", ItemKind.SHAPE, "", shape="rectangle")), RULES)

    assert result.typical_size == 150


@pytest.mark.parametrize(
    "items",
    [(), (Item("t", ItemKind.TEXT, "Titel"),), (sticky("s", size=float("nan")),)],
)
def test_a_board_without_measurable_stickies_uses_the_default_typical_size(
    items: tuple[Item, ...],
) -> None:
    assert classify(board(*items), RULES).typical_size == 200


def test_stickies_with_nan_or_missing_coordinates_are_still_classified() -> None:
    result = classify(
        board(
            sticky("s1", size=float("nan")),
            Item("s2", ItemKind.STICKY, "Problem: ohne Ort", color="yellow"),
        ),
        RULES,
    )

    assert result.roles == {"s1": Role.STEP, "s2": Role.PROBLEM}
    assert result.dots == frozenset()


def test_decisions_come_one_per_considered_item_sorted_by_id() -> None:
    result = classify(
        board(
            sticky("b"),
            sticky("a", "", "yellow"),
            sticky("c", color=None),
            Item("t", ItemKind.TEXT, "Lane"),
        ),
        RULES,
    )

    assert [d.item_id for d in result.decisions] == ["a", "b", "c"]


_ITEMS = (
    frame("legend", "Legende", x=5000),
    sticky("l1", "Wartezeit", "red", x=5000, containers=("legend",)),
    frame("legend2", "Key", x=9000),
    sticky("l2", "Problem", "red", x=9000, containers=("legend2",)),
    sticky("s1", "Antrag stellen", "yellow", x=0),
    sticky("s2", "Problem: Medienbruch ●●", "yellow", x=100),
    sticky("s3", "Freigabe", "red", x=200),
    sticky("s4", "Prüfen", "purple", x=300, tags=("Idee",)),
    sticky("s5", "", "yellow", x=400),
    sticky("s6", "Notiz", None, x=500),
    sticky("d1", "", "red", x=100, size=40),
    Item("d2", ItemKind.SHAPE, "", geometry=Geometry(100, 0, 30, 30), shape="circle"),
    Item("c1", ItemKind.CARD, "JIRA-1", color="red"),
    Item("t1", ItemKind.TEXT, "Vertrieb"),
)


@settings(max_examples=50, deadline=None)
@given(order=st.permutations(_ITEMS))
def test_item_order_does_not_change_the_classification(order: list[Item]) -> None:
    assert classify(board(*order), RULES) == classify(board(*_ITEMS), RULES)


def test_a_large_board_gets_exactly_one_decision_per_sticky() -> None:
    colors = ["yellow", "orange", "red", "green", "blue", None, "purple"]
    texts = ["Antrag prüfen\nPT: 2h", "Problem: Medienbruch", "", "Warten (NVA)", "Idee - Portal"]
    items = tuple(
        sticky(
            f"s{i}",
            texts[i % len(texts)],
            colors[i % len(colors)],
            x=(i % 300) * 250.0,
            y=(i // 300) * 250.0,
            size=40.0 if i % 97 == 0 else 200.0,
            tags=("Problem",) if i % 31 == 0 else (),
        )
        for i in range(100_000)
    )
    big = board(*items)

    result = classify(big, RULES)

    assert len(result.decisions) == 100_000
    assert len({d.item_id for d in result.decisions}) == 100_000


def test_legend_membership_reaches_through_nested_frames() -> None:
    result = classify(
        board(
            frame("legend", "Legende"),
            replace(frame("inner", "Farben"), containers=("legend",)),
            sticky("l1", "Daten", "orange", containers=("inner", "legend")),
            sticky("s1", "Kundennummer", "orange"),
        ),
        RULES,
    )

    assert result.roles == {"l1": Role.LEGEND, "s1": Role.DATA}


def test_a_mural_legend_is_called_an_area_in_the_explanation() -> None:
    items = (frame("legend", "Key"), sticky("l1", "Data", "orange", containers=("legend",)))
    mural = Board(
        provider="mural", id="m1", name="Workshop", items=(*items, sticky("s1", color="orange"))
    )

    result = classify(mural, RULES)

    assert (
        decision(result, "s1").why
        == "the legend says orange means data (sticky 'Data' in area 'Key')"
    )


def test_the_first_of_two_disagreeing_role_tags_wins_and_says_so() -> None:
    result = classify(board(sticky("s1", tags=("Problem", "Idee"))), RULES)

    assert result.roles == {"s1": Role.PROBLEM}
    assert decision(result, "s1").why == (
        "tag 'Problem' names the role problem (the first role tag wins over idea)"
    )


def test_a_standalone_marker_can_be_switched_off_by_the_ruleset() -> None:
    rules = Ruleset(standalone_markers=())

    result = classify(board(sticky("s1", "Warten (NVA)", "yellow")), rules)

    assert result.roles == {"s1": Role.STEP}


def test_a_text_explaining_nva_is_not_a_wait_step() -> None:
    result = classify(
        board(
            Item("t1", ItemKind.TEXT, "NVA = non-value-adding"),
            Item("t2", ItemKind.TEXT, "NVA: Freigabe abwarten"),
        ),
        RULES,
    )

    assert result.roles == {"t2": Role.WAIT}


def test_standalone_markers_match_whatever_their_case_in_the_ruleset() -> None:
    rules = Ruleset(standalone_markers=("NVA",))

    result = classify(board(sticky("s1", "Warten (nva)", "yellow")), rules)

    assert result.roles == {"s1": Role.WAIT}
