"""What the reader could not make sense of, said out loud: the ``warnings`` of contract v1.

A consultant must never have to find a silent gap by checking every sticky. Each warning names
the items concerned and what to change, on the board or in the rules, to have them read:

* ``no-steps``: the board yields no process step at all;
* ``stream-without-steps``: a current or target frame holds no step;
* ``skipped-frame``: a frame whose title says it holds no flow (Agenda, Parking Lot, ...) is no
  stream, and the stickies and cards in it that would be steps are none;
* ``unmapped-colour``: stickies of a colour the rules give no role, listed together;
* ``legend-outranks-rules``: the board's legend maps a colour to another role than the rules
  file does, and the legend won (``precedence``); says which rule lost and how to make it win;
* ``ignored-shapes`` / ``ignored-texts``: many shapes or texts with text that no rule read (they
  were neither lanes nor titles).

Warnings come sorted by code, then by their first item id, so a board always gives the same list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from service.domain.board import Board, Item, ItemKind
from service.domain.classification import Classification
from service.domain.classify import quote_first_line as _quote
from service.domain.record import Record
from service.domain.ruleset import Ruleset, StreamState
from service.domain.streams import Stream
from service.domain.times import parse_bare_time

# this many items of one kind left unread is a pattern, not a stray comment
IGNORED_KIND_MIN = 5
_MAX_IDS = 200  # item ids listed per warning; the count in the message stays exact
_CONTAINER_WORD = {"miro": "frame", "mural": "area"}
_ANY_RULES = Ruleset()  # whether a text is a bare time does not depend on the rules


class BoardWarning(Record, frozen=True):
    """One warning: a stable ``code``, a sentence, the items concerned and the fix."""

    code: str
    message: str
    item_ids: tuple[str, ...]
    fix: str


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("ky") else f"{count} {word}s"


def _ids(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(items)[:_MAX_IDS])


def board_warnings(
    board: Board,
    classification: Classification,
    streams: Sequence[Stream],
) -> tuple[BoardWarning, ...]:
    """The warnings of one digitized board (see the module docstring)."""
    word = _CONTAINER_WORD.get(board.provider, "container")
    # the items by id, for the two checks that look items up (the usual board needs neither)
    items = board.by_id() if classification.skipped_ids or classification.unclassified else {}
    found: list[BoardWarning] = []
    step_count = sum(len(stream.steps) for stream in streams)
    if step_count == 0:
        found.append(_no_steps(board, classification))
    for stream in streams:
        if not stream.steps and stream.frame_id is not None:
            state = "current" if stream.state is StreamState.CURRENT else "target"
            if stream.state is StreamState.UNSPECIFIED:
                continue
            found.append(
                BoardWarning(
                    "stream-without-steps",
                    f"The {state} state {word} {_quote(stream.name)} holds no process step.",
                    (stream.frame_id,),
                    f"Put the step stickies inside the {word} (yellow, or tagged Step), or "
                    f"rename the {word} if it holds no value stream.",
                )
            )
    found.extend(_skipped(classification, items, word))
    found.extend(_unmapped_colours(classification, items))
    found.extend(_overruled(classification))
    found.extend(_ignored_kinds(board, classification, streams))
    return tuple(sorted(found, key=lambda w: (w.code, w.item_ids[:1], w.message)))


def _no_steps(board: Board, classification: Classification) -> BoardWarning:
    stickies = [item for item in board.items if item.kind is ItemKind.STICKY]
    shapes = [item for item in board.items if item.kind is ItemKind.SHAPE and item.text.strip()]
    if not stickies and shapes:
        fix = (
            "Steps are read from stickies and cards; shapes count as process boxes only in a row "
            "of at least two rectangles (VSM template). Tag the process shapes Step, or start "
            "their text with 'Step:'."
        )
    else:
        fix = (
            "Write the process steps on yellow stickies, tag them Step, or map the colour your "
            "team uses for steps in the rules (colors.<colour>: step)."
        )
    roles = sorted({role.value for role in classification.roles.values()})
    found = f" (roles found: {', '.join(roles)})" if roles else ""
    return BoardWarning("no-steps", f"The board yields no process step{found}.", (), fix)


def _skipped(
    classification: Classification, items: Mapping[str, Item], word: str
) -> list[BoardWarning]:
    if not classification.skipped_ids:
        return []
    members: dict[str, list[str]] = defaultdict(list)
    withheld = {d.item_id for d in classification.decisions if d.rule == "skipped-frame"}
    for item_id in withheld:
        item = items[item_id]
        home = next((cid for cid in item.containers if cid in classification.skipped_ids), None)
        if home is not None:
            members[home].append(item.id)
    warnings = []
    for frame_id in sorted(classification.skipped_ids):
        frame = items[frame_id]
        inside = members.get(frame_id, [])
        warnings.append(
            BoardWarning(
                "skipped-frame",
                _skipped_message(word, frame.text, len(inside)),
                (frame_id, *_ids(inside)),
                f"To read it as a value stream, rename the {word} or remove its title word "
                "from streams.skip in the rules.",
            )
        )
    return warnings


def _skipped_message(word: str, title: str, withheld: int) -> str:
    message = f"The {word} {_quote(title)} holds no flow: it is no value stream"
    if withheld == 1:
        return message + ", and the sticky in it that would be a step is none."
    if withheld:
        return message + f", and the {withheld} stickies in it that would be steps are none."
    return message + "."


def _unmapped_colours(
    classification: Classification, items: Mapping[str, Item]
) -> list[BoardWarning]:
    by_colour: dict[str, list[str]] = defaultdict(list)
    for entry in classification.unclassified:
        item = items.get(entry.item_id)
        if (
            item is not None
            and item.kind is ItemKind.STICKY
            and item.color is not None
            and entry.reason.startswith("colour ")
        ):
            by_colour[item.color].append(item.id)
    return [
        BoardWarning(
            "unmapped-colour",
            f"{_plural(len(ids), colour + ' sticky')} got no role: the rules give {colour} none.",
            _ids(ids),
            f"Map the colour in the rules (colors.{colour}: step, problem, ...) or tag the "
            "stickies with their role.",
        )
        for colour, ids in sorted(by_colour.items())
    ]


def _overruled(classification: Classification) -> list[BoardWarning]:
    return [
        BoardWarning(
            "legend-outranks-rules",
            f"The board's legend outranks your rule colors.{lost.color}: {lost.rule_role.value}: "
            f"the legend sticky {lost.legend_sticky} in {lost.legend_title} says {lost.color} "
            f"means {lost.legend_role.value}, so {_plural(len(lost.item_ids), 'sticky')} "
            f"became {lost.legend_role.value} instead of {lost.rule_role.value}.",
            _ids(list(lost.item_ids)),
            "To make your rule win, set 'precedence: rules' in the rules file; or change the "
            "legend sticky on the board.",
        )
        for lost in classification.overruled
    ]


def _ignored_kinds(
    board: Board, classification: Classification, streams: Sequence[Stream]
) -> list[BoardWarning]:
    """Shapes and texts with text that no rule read and that name no lane or stream."""
    used_names = {name for stream in streams for name in (stream.name, *stream.lanes)}
    decided = {decision.item_id for decision in classification.decisions}
    excluded = classification.legend_ids | classification.skipped_ids
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in board.items:
        if item.kind not in (ItemKind.SHAPE, ItemKind.TEXT) or item.id in decided:
            continue
        if item.id in classification.dots or any(c in excluded for c in item.containers):
            continue
        line = next((line.strip() for line in item.text.splitlines() if line.strip()), "")
        if not line or " ".join(line.split()) in used_names:
            continue
        if parse_bare_time(item.text, _ANY_RULES) is not None:
            continue  # a rung of a timeline ladder: read when no other time is stated
        label = (item.shape or "shape") if item.kind is ItemKind.SHAPE else "text"
        groups[(item.kind.value, label)].append(item.id)
    warnings = []
    for (kind, label), ids in sorted(groups.items()):
        if len(ids) < IGNORED_KIND_MIN:
            continue
        if kind == ItemKind.SHAPE.value:
            what = f"{len(ids)} {label} shapes with text"
            code = "ignored-shapes"
        else:
            what = f"{len(ids)} text items"
            code = "ignored-texts"
        warnings.append(
            BoardWarning(
                code,
                f"{what} were read as nothing (no lane, no title, no role).",
                _ids(ids),
                "Shapes and texts are read only by a role tag or a marker at the start "
                "('Problem: ...', 'Idee: ...'); tag them, add the marker, or write them on "
                "stickies.",
            )
        )
    return warnings
