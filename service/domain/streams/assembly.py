"""Assembly: the placed items of a board built into ``Stream`` values, and what was left out."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from operator import attrgetter

from msgspec import Struct

from service.domain.board import Board, ItemKind
from service.domain.classification import Classification, Times, Unclassified
from service.domain.ruleset import Role, Ruleset
from service.domain.streams.flow import flow_order
from service.domain.streams.ladder import ladder_times
from service.domain.streams.lanes import find_lanes
from service.domain.streams.model import Idea, Lane, Problem, Step, Stream
from service.domain.streams.placement import (
    Columns,
    Key,
    PlacedSteps,
    Seed,
    count_votes,
    find_frames,
    gather_steps,
    is_inventory,
    place_data,
    place_items,
    place_notes,
    stream_seeds,
)
from service.domain.streams.spatial import Placed, finite_geometry
from service.domain.streams.titles import display_title, stable_id
from service.domain.times import (
    count_vote_marks,
    first_bare_time,
    leading_marker_pattern,
    parse_times,
)


def _typical(classification: Classification) -> float:
    size = classification.typical_size
    return size if math.isfinite(size) and size > 0 else 200.0


def build_streams(
    board: Board, classification: Classification, ruleset: Ruleset
) -> tuple[Stream, ...]:
    """The board's value streams: current states first, then target, then unspecified.

    Within a state, container streams come top to bottom, then left to right; the board-level
    stream is last. Items without a finite position or inside a legend are skipped
    (``unplaced`` lists what was left out and why). Shuffling the items or moving the whole
    board gives the same streams.
    """
    typical = _typical(classification)
    frames = find_frames(board, classification, ruleset)
    placed = place_items(board, classification, frames)
    steps = gather_steps(board, placed)
    seeds = stream_seeds(board, frames, list(steps.by_key))
    keys = frozenset(seed.key for seed in seeds)
    reach = typical * ruleset.attach_distance
    problems = placed.by_role.get(Role.PROBLEM, ())
    ideas = placed.by_role.get(Role.IDEA, ())
    stacked = [*placed.by_role.get(Role.DATA, ()), *problems, *ideas]
    columns = Columns.of(stacked, steps, keys, typical)
    ruled: dict[str, str] = {}
    notes = {
        Role.PROBLEM: place_notes(
            problems, steps, placed.homes, keys, reach, typical, columns, ruled
        ),
        Role.IDEA: place_notes(ideas, steps, placed.homes, keys, reach, typical, columns, ruled),
    }
    data = place_data(
        placed.by_role.get(Role.DATA, ()), steps, placed.homes, keys, typical, columns, ruled
    )
    votes = count_votes(board, classification, problems, typical)

    marker = leading_marker_pattern(ruleset)
    personas: dict[Key, list[str]] = defaultdict(list)
    everywhere: list[str] = []
    for persona in sorted(
        placed.by_role.get(Role.PERSONA, ()), key=lambda p: (p.geometry.y, p.geometry.x, p.item.id)
    ):
        text = display_title(persona.item.text, marker)
        home = placed.homes[persona.item.id]
        target = personas[home] if home in keys else everywhere
        if text and text not in target:
            target.append(text)

    context = _Context(
        board, ruleset, marker, classification.roles, typical, steps, data, votes, {}, ruled
    )
    return tuple(
        _stream(
            context,
            seed,
            placed.labels.get(seed.key, ()),
            notes[Role.PROBLEM].get(seed.key, []),
            notes[Role.IDEA].get(seed.key, []),
            [
                *personas.get(seed.key, []),
                *(p for p in everywhere if p not in personas.get(seed.key, [])),
            ],
        )
        for seed in seeds
    )


class _Context(Struct, frozen=True):
    board: Board
    ruleset: Ruleset
    marker: re.Pattern[str] | None  # the ruleset's leading_marker_pattern
    roles: Mapping[str, Role]
    typical: float
    steps: PlacedSteps
    data: Mapping[str, Sequence[Placed]]
    votes: Mapping[str, Sequence[str]]
    parsed_times: dict[str, Times]  # filled while the streams are built
    ruled: Mapping[str, str]  # item id -> the layout rule that placed it (placement.py)


def _step_times(
    context: _Context, step: Placed, value_adding: bool, ladder: Times | None = None
) -> Times:
    """Data stickies first (nearest first), then the step's own text, then the timeline
    ladder: the first stated value of each time counts."""
    stated = [_data_times(context, d) for d in context.data.get(step.item.id, ())]
    stated.append(_parsed_times(context, step.item.text))
    if ladder is not None:
        stated.append(ladder)
    return _completed(_merge(stated), value_adding)


def _data_times(context: _Context, data: Placed) -> Times:
    """A data item's times; an inventory triangle's bare time ("2 days") is waiting."""
    times = _parsed_times(context, data.item.text)
    if times.wait_min is None and is_inventory(data.item):
        waiting = first_bare_time(data.item.text, context.ruleset)
        if waiting is not None:
            return Times(times.process_min, times.lead_min, waiting, times.complete_accurate_pct)
    return times


def _parsed_times(context: _Context, text: str) -> Times:
    """``parse_times`` once per distinct text: data stickies repeat ("BZ: 5 min")."""
    times = context.parsed_times.get(text)
    if times is None:
        times = context.parsed_times[text] = parse_times(text, context.ruleset)
    return times


def _merge(times: Sequence[Times]) -> Times:
    """Field by field, the first stated value wins."""

    finite = math.isfinite
    process = lead = wait = complete_accurate = None
    for candidate in times:
        value = candidate.process_min
        if process is None and value is not None and finite(value):
            process = value
        value = candidate.lead_min
        if lead is None and value is not None and finite(value):
            lead = value
        value = candidate.wait_min
        if wait is None and value is not None and finite(value):
            wait = value
        value = candidate.complete_accurate_pct
        if complete_accurate is None and value is not None and finite(value):
            complete_accurate = value
    return Times(
        process_min=process,
        lead_min=lead,
        wait_min=wait,
        complete_accurate_pct=complete_accurate,
    )


def _completed(times: Times, value_adding: bool) -> Times:
    """Derive what the stated times imply.

    Wait = lead - process when both are stated (and lead is not shorter). Lead = process + wait
    when both are stated; for a waiting step (not value adding) lead = wait when no process time
    is given, because the waiting is all its lead time.
    """
    process, lead, wait = times.process_min, times.lead_min, times.wait_min
    if wait is None and lead is not None and process is not None and lead >= process:
        wait = lead - process
    if lead is None and wait is not None:
        if process is not None:
            lead = process + wait
        elif not value_adding:
            lead = wait
    return Times(process, lead, wait, times.complete_accurate_pct)


_WHY = {
    "lane-box": "a lane label drawn as a box as tall as its lane: the steps inside it are in "
    "lane {name}",
    "lane-band": "a long shape behind the steps: the lane band {name}",
    "lane-column": "a header above a top-to-bottom flow: the column lane {name}",
    "ladder-process": "a time on the timeline ladder under step {step}: its process time",
    "ladder-wait": "a time on the timeline ladder before step {step}: its waiting",
    "data-overlap": "a data sticky a bit to the side of step {step}, overlapping its width: "
    "its times",
    "column": "stacked in the column of step {step} (step row, data row, problem row, idea row)",
}


def _placements(
    context: _Context,
    members: Sequence[Placed],
    lanes: Sequence[Lane],
    rungs: Mapping[str, tuple[str, str]],
    notes: Sequence[tuple[Placed, str | None]],
) -> tuple[tuple[str, str, str], ...]:
    """(item id, rule, why) for the items of one stream placed by a layout rule of issue 11.

    A step's title is worked out only when a rule names it: on most boards none does.
    """
    by_id = {m.item.id: m for m in members}

    def title(step: str) -> str:
        return f"'{_step_title(by_id[step], context.marker)}'"

    found: list[tuple[str, str, str]] = []
    for lane in lanes:
        if lane.rule != "lane-label":
            why = _WHY[lane.rule].format(name=f"'{lane.name}'")
            found.append((lane.label_id, lane.rule, why))
    for item_id, (step, kind) in rungs.items():
        found.append((item_id, f"ladder-{kind}", _WHY[f"ladder-{kind}"].format(step=title(step))))
    if context.ruled:
        attached = [
            (data.item.id, step.item.id)
            for step in members
            for data in context.data.get(step.item.id, ())
        ]
        attached += [(note.item.id, step) for note, step in notes if step is not None]
        for item_id, step in attached:
            rule = context.ruled.get(item_id)
            if rule is not None and step in by_id:
                found.append((item_id, rule, _WHY[rule].format(step=title(step))))
    return tuple(sorted(found))


def _step_title(step: Placed, marker: re.Pattern[str] | None) -> str:
    """A card's title is its first line (the rest is its description, read for times only)."""
    text = step.item.text
    if step.item.kind is ItemKind.CARD:
        text = next((line for line in text.splitlines() if line.strip()), text)
    return display_title(text, marker)


def _stream(
    context: _Context,
    seed: Seed,
    labels: Sequence[Placed],
    problem_notes: Sequence[tuple[Placed, str | None]],
    idea_notes: Sequence[tuple[Placed, str | None]],
    personas: Sequence[str],
) -> Stream:
    board, ruleset = context.board, context.ruleset
    members = context.steps.by_key.get(seed.key, ())
    index = {step.item.id: i for i, step in enumerate(members)}
    links = [(index[a], index[b]) for a, b in context.steps.flows.get(seed.key, ())]
    order, edges = flow_order([step.geometry for step in members], links)
    lanes = find_lanes(labels, members, seed.frame, context.typical, ruleset)
    rungs: dict[str, tuple[str, str]] = {}
    ladder = ladder_times(labels, members, context.typical, ruleset, rungs)
    step_id = {step.item.id: stable_id("st", board.id, step.item.id) for step in members}
    step_order = {step.item.id: order[i] for i, step in enumerate(members)}
    unattached = len(members) + 1

    def rank(step: str | None) -> int:
        return step_order[step] if step is not None else unattached

    def place(note: Placed) -> tuple[float, float, str]:
        return (note.geometry.y, note.geometry.x, note.item.id)

    # ties are broken by position and item id, never by the derived (provider-specific) hash id
    ranked_problems: list[tuple[tuple[int, int, str, float, float, str], Problem]] = []
    for note, step in problem_notes:
        dots = context.votes.get(note.item.id, ())
        marks = count_vote_marks(note.item.text)
        problem = Problem(
            id=stable_id("p", board.id, note.item.id),
            text=display_title(note.item.text, context.marker),
            step_id=step_id[step] if step is not None else None,
            weight=len(dots) + marks + note.item.votes,
            dot_votes=len(dots),
            mark_votes=marks,
            source_item_ids=(note.item.id, *dots),
            provider_votes=note.item.votes,
        )
        ranked_problems.append(((-problem.weight, rank(step), problem.text, *place(note)), problem))
    ranked_problems.sort(key=lambda pair: pair[0])
    problems = [problem for _, problem in ranked_problems]
    ranked_ideas: list[tuple[tuple[int, str, float, float, str], Idea]] = []
    for note, step in idea_notes:
        idea = Idea(
            id=stable_id("i", board.id, note.item.id),
            text=display_title(note.item.text, context.marker),
            step_id=step_id[step] if step is not None else None,
            source_item_ids=(note.item.id,),
        )
        ranked_ideas.append(((rank(step), idea.text, *place(note)), idea))
    ranked_ideas.sort(key=lambda pair: pair[0])
    ideas = [idea for _, idea in ranked_ideas]
    problems_of: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        if problem.step_id is not None:
            problems_of[problem.step_id].append(problem.id)

    built: list[tuple[tuple[int, float, float, str], Step]] = []
    for i, member in enumerate(members):
        value_adding = context.roles.get(member.item.id) is Role.STEP
        times = _step_times(context, member, value_adding, ladder.get(member.item.id))
        sid = step_id[member.item.id]
        built_step = Step(
            id=sid,
            order=order[i],
            title=_step_title(member, context.marker),
            lane=lanes.lane_of(member.geometry),
            value_adding=value_adding,
            process_time_min=times.process_min,
            lead_time_min=times.lead_min,
            wait_time_min=times.wait_min,
            complete_accurate_pct=times.complete_accurate_pct,
            source_item_ids=(
                member.item.id,
                *(d.item.id for d in context.data.get(member.item.id, ())),
            ),
            problem_ids=tuple(problems_of.get(sid, ())),
        )
        built.append(((order[i], member.geometry.y, member.geometry.x, member.item.id), built_step))
    built.sort(key=lambda pair: pair[0])
    flow = sorted(
        (
            step_order[members[a].item.id],
            step_order[members[b].item.id],
            step_id[members[a].item.id],
            step_id[members[b].item.id],
        )
        for a, b in edges
    )
    return Stream(
        id=stable_id("s", board.id, seed.key or ""),
        name=seed.name,
        state=seed.state,
        frame_id=seed.key,
        persona=", ".join(personas) or None,
        lanes=lanes.names,
        lane_spans=lanes.lanes,
        placements=_placements(context, members, lanes.lanes, rungs, [*problem_notes, *idea_notes]),
        steps=tuple(step for _, step in built),
        problems=tuple(problems),
        ideas=tuple(ideas),
        edges=tuple((a, b) for _, _, a, b in flow),
    )


_PLACED_ROLES = frozenset({Role.STEP, Role.WAIT, Role.PROBLEM, Role.IDEA, Role.DATA, Role.PERSONA})


def unplaced(
    board: Board, classification: Classification, streams: Sequence[Stream]
) -> tuple[Unclassified, ...]:
    """Items that got a stream role but landed in no stream, with the reason (sorted by id).

    Items without a finite position get the reason ``no position``.
    """
    used = {
        item_id
        for stream in streams
        for sources in (
            *(step.source_item_ids for step in stream.steps),
            *(problem.source_item_ids for problem in stream.problems),
            *(idea.source_item_ids for idea in stream.ideas),
        )
        for item_id in sources
    }
    legends = classification.legend_ids
    reasons = {
        Role.PROBLEM: "problem outside every value stream and not near a step",
        Role.IDEA: "idea outside every value stream and not near a step",
        Role.DATA: "data sticky not under a step",
        Role.PERSONA: "no value stream on the board",
        Role.STEP: "step outside every value stream",
        Role.WAIT: "step outside every value stream",
    }
    found: list[Unclassified] = []
    for item in board.items:
        role = classification.roles.get(item.id)
        if role not in _PLACED_ROLES or item.id in used:
            continue
        if finite_geometry(item) is None:
            found.append(Unclassified(item.id, item.text, "no position"))
        elif role is not None and not (
            any(cid in legends for cid in item.containers) or (role is Role.PERSONA and streams)
        ):
            found.append(Unclassified(item.id, item.text, reasons[role]))
    # sorted here, not the board's items up front: few items land outside every stream
    return tuple(sorted(found, key=attrgetter("item_id")))
