"""Board -> what each item is (its role), with the rule that decided it and why.

Precedence, highest first: a tag naming a role, a text marker ("Problem: ...", a standalone
"NVA"), the board's own legend, the ruleset's colours. Before those: members of a legend frame
are legend items, vote dots carry no role, empty stickies are ignored.

Which items are considered:

* stickies: by every rule above; one with no rule that fits is unclassified;
* cards: by tag or marker (their colour is a theme, not a role), else a process step;
* texts, shapes and containers: only when a tag or a leading marker names a role, or shapes
  drawn as a VSM template draws them (``service.domain.template``); otherwise they are titles,
  lanes and frames and get no decision at all;
* a sticky or card that would be a step inside a frame that holds no flow
  (``ruleset.skip_titles``: Agenda, Parking Lot, ...) gets no role (rule ``skipped-frame``):
  agenda items are no process steps;
* circles (shape circle/ellipse/oval, any kind but a container) smaller than a typical sticky,
  and stickies smaller than ``ruleset.dot_size_ratio`` typical stickies, are vote dots when their
  text is at most one short token (empty, "3", "+1", initials such as "MK"). A tiny sticky with a
  sentence on it is an ordinary sticky and goes through the rules like any other.

Decisions and unclassified items are sorted by item id, so the result does not depend on the
order the provider listed the items in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from operator import attrgetter

from msgspec import Struct

from service.domain.board import Board, Geometry, Item, ItemKind
from service.domain.classification import Classification, Decision, Overruled, Unclassified
from service.domain.ruleset import Precedence, Role, Ruleset
from service.domain.template import template_decisions
from service.domain.times import DASHES, leading_marker_pattern

DEFAULT_TYPICAL_SIZE = 200.0
CIRCLE_SHAPES = frozenset({"circle", "ellipse", "oval"})
_TEXT_BEARING = frozenset(
    {ItemKind.STICKY, ItemKind.CARD, ItemKind.TEXT, ItemKind.SHAPE, ItemKind.CONTAINER}
)
_CONTAINER_WORD = {"miro": "frame", "mural": "area"}  # what the facilitator calls it
_DOT_TEXT_MAX = 3  # "3", "+1", "MK": what people write on a vote dot
_QUOTE_MAX = 40
STEPS = frozenset({Role.STEP, Role.WAIT})


class _LegendEntry(Struct, frozen=True):
    role: Role
    sticky: Item
    legend_title: str


def quote_first_line(text: str) -> str:
    """First line of ``text``, shortened and in quotes, for a "why" sentence or a warning."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(line) > _QUOTE_MAX:
        line = line[: _QUOTE_MAX - 1] + "…"
    return f"'{line}'"


def _role_phrase(role: Role) -> str:
    return "a wait step (no value added)" if role is Role.WAIT else f"the role {role.value}"


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({w.strip() for w in words if w.strip()}, key=lambda w: (-len(w), w))
    if not cleaned:
        return None
    alternation = "|".join(re.escape(word) for word in cleaned)
    return re.compile(rf"(?<![^\W_])(?:{alternation})(?![^\W_])", re.IGNORECASE)


@lru_cache(maxsize=32)
def _cached_words_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    return _words_pattern(words)


def _title_words(title: str) -> tuple[str, str]:
    """(first line, first word) of a container title, case-folded, edge punctuation removed."""
    first_line = next((line for line in title.splitlines() if line.strip()), "")
    first_line = first_line.strip().strip(":" + DASHES).strip().casefold()
    first_word = first_line.split(maxsplit=1)[0].strip(":()" + DASHES) if first_line else ""
    return first_line, first_word


def _is_legend(container: Item, titles: frozenset[str]) -> bool:
    return _title_names(container, titles)


def _title_names(container: Item, titles: frozenset[str]) -> bool:
    """Whether the container's title is, or starts with, one of ``titles`` as whole words
    ("Farblegende", "Colour code: what the stickies mean", "Agenda (Tag 1)")."""
    first_line, first_word = _title_words(container.text)
    if first_line in titles or first_word in titles:
        return True
    head = re.split(rf"[:|()\[\]/{DASHES}]", first_line, maxsplit=1)[0].strip()
    return any(
        head.startswith(title) and (len(head) == len(title) or not head[len(title)].isalnum())
        for title in titles
        if " " in title or "-" in title
    )


def _position_key(geometry: Geometry | None) -> tuple[int, float, float]:
    """Top-left first; items without usable coordinates last."""
    if geometry is None or not geometry.is_finite():
        return (1, 0.0, 0.0)
    return (0, geometry.top, geometry.left)


def _measured_size(item: Item) -> float | None:
    """The item's larger side, or None when it has no usable (finite, positive) size."""
    geometry = item.geometry
    if geometry is None:
        return None
    width, height = geometry.width, geometry.height
    if not (math.isfinite(width) and math.isfinite(height)):
        return None
    size = max(width, height)
    return size if size > 0 else None


def typical_sticky_size(items: Iterable[Item]) -> float:
    """Median larger side of the stickies with a usable size; 200 when there are none."""
    sizes = sorted(
        size
        for size in (_measured_size(item) for item in items if item.kind is ItemKind.STICKY)
        if size is not None
    )
    if not sizes:
        return DEFAULT_TYPICAL_SIZE
    middle = len(sizes) // 2
    return sizes[middle] if len(sizes) % 2 else (sizes[middle - 1] + sizes[middle]) / 2


def _is_dot_text(text: str) -> bool:
    token = text.strip()
    return len(token) <= _DOT_TEXT_MAX and not any(c.isspace() for c in token)


def _dot_reason(item: Item, typical_size: float, ruleset: Ruleset) -> str | None:
    """Why ``item`` is a vote dot, or None when it is not one."""
    if item.kind is ItemKind.CONTAINER:
        return None
    is_circle = item.shape is not None and item.shape.casefold() in CIRCLE_SHAPES
    if not is_circle and item.kind is not ItemKind.STICKY:
        return None
    size = _measured_size(item)
    if is_circle:
        if size is not None and size >= typical_size:
            return None
        reason = "a circle smaller than a sticky: a vote dot"
    elif size is not None and size < ruleset.dot_size_ratio * typical_size:
        reason = (
            f"a sticky far smaller than the typical sticky ({size:g} vs {typical_size:g}): "
            "a vote dot"
        )
    else:
        return None
    return reason if _is_dot_text(item.text) else None


def _legend_map(
    items: Iterable[Item],
    legends: Mapping[str, Item],
    ruleset: Ruleset,
    container_word: str,
) -> tuple[dict[str, _LegendEntry], dict[str, str]]:
    """Colour -> legend entry for the whole board, and a "why" for every legend member.

    Legends are read top-left first and, inside each, stickies top-left first; when two legend
    stickies give one colour different roles, the first one wins and the other says so.
    """
    if not legends:  # the usual board: no walk over its items
        return {}, {}
    legend_order = {
        legend.id: (_position_key(legend.geometry), legend.id) for legend in legends.values()
    }
    members: list[tuple[tuple[tuple[int, float, float], str], tuple[int, float, float], str, Item]]
    members = []
    for item in items:
        if item.kind not in (ItemKind.STICKY, ItemKind.CARD):
            continue
        legend_id = next((c for c in item.containers if c in legends), None)
        if legend_id is not None:
            members.append((legend_order[legend_id], _position_key(item.geometry), item.id, item))
    members.sort(key=lambda member: member[:3])

    words_pattern = _words_pattern(ruleset.legend_words)
    words = {word.strip().casefold(): role for word, role in ruleset.legend_words.items()}
    mapping: dict[str, _LegendEntry] = {}
    whys: dict[str, str] = {}
    for legend_key, _, _, sticky in members:
        title = f"{container_word} {quote_first_line(legends[legend_key[1]].text)}"
        part_of = f"part of the legend {title}"
        match = words_pattern.search(sticky.text) if words_pattern is not None else None
        if match is None:
            whys[sticky.id] = f"{part_of}; its text names no role, so it maps no colour"
            continue
        role = words[match.group(0).casefold()]
        if sticky.color is None:
            whys[sticky.id] = f"{part_of}; it names {_role_phrase(role)} but has no colour"
            continue
        color = sticky.color.casefold()
        earlier = mapping.get(color)
        if earlier is None:
            mapping[color] = _LegendEntry(role, sticky, title)
            whys[sticky.id] = f"{part_of}; it says {color} means {role.value}"
        elif earlier.role is role:
            whys[sticky.id] = f"{part_of}; it repeats that {color} means {role.value}"
        else:
            whys[sticky.id] = (
                f"{part_of}; it says {color} means {role.value}, but the legend sticky "
                f"{quote_first_line(earlier.sticky.text)} in {earlier.legend_title} comes first "
                f"and says {earlier.role.value}, so {earlier.role.value} wins"
            )
    return mapping, whys


class _Rules(Struct, frozen=True):
    """The ruleset, prepared once per ``classify`` call for case-insensitive lookups."""

    tag_roles: Mapping[str, Role]
    markers: Mapping[str, Role]
    leading_marker: re.Pattern[str] | None
    standalone_marker: re.Pattern[str] | None
    colors: Mapping[str, Role]
    default_colors: Mapping[str, Role]
    rules_first: bool  # Precedence.RULES: a changed colour outranks the board's legend

    def changed(self, color: str) -> Role | None:
        """The role the rules give ``color`` when it differs from the defaults, else None."""
        role = self.colors.get(color)
        return role if role is not None and self.default_colors.get(color) is not role else None

    @classmethod
    def of(cls, ruleset: Ruleset) -> _Rules:
        markers = {word.strip().casefold(): role for word, role in ruleset.markers.items()}
        standalone = tuple(
            sorted(
                w.strip().casefold()
                for w in ruleset.standalone_markers
                if w.strip().casefold() in markers
            )
        )
        return cls(
            tag_roles={tag.strip().casefold(): role for tag, role in ruleset.tag_roles.items()},
            markers=markers,
            leading_marker=leading_marker_pattern(ruleset),
            standalone_marker=_cached_words_pattern(standalone),
            colors={color.casefold(): role for color, role in ruleset.colors.items()},
            default_colors=Ruleset().colors,
            rules_first=ruleset.precedence is Precedence.RULES,
        )


def _by_tag(item: Item, rules: _Rules) -> Decision | None:
    if not item.tags:
        return None
    named = [
        (tag, rules.tag_roles[tag.strip().casefold()])
        for tag in item.tags
        if tag.strip().casefold() in rules.tag_roles
    ]
    if not named:
        return None
    tag, role = named[0]
    why = f"tag '{tag}' names {_role_phrase(role)}"
    others = sorted({other.value for _, other in named if other is not role})
    if others:
        why += f" (the first role tag wins over {', '.join(others)})"
    return Decision(item.id, role, "tag", why)


def _by_marker(item: Item, rules: _Rules) -> Decision | None:
    """A leading ``Word:`` marker; for stickies and cards also a standalone word such as NVA.

    Texts, shapes and frames only count a leading marker: free text on a board often explains
    the words ("NVA = non-value-adding") without being a wait step itself.
    """
    if rules.leading_marker is not None:
        match = rules.leading_marker.match(item.text)
        role = rules.markers.get(match["word"].casefold()) if match is not None else None
        if match is not None and role is not None:
            why = f"the text starts with the marker '{match['word']}' which names "
            return Decision(item.id, role, "marker", why + _role_phrase(role))
    if rules.standalone_marker is not None and item.kind in (ItemKind.STICKY, ItemKind.CARD):
        match = rules.standalone_marker.search(item.text)
        role = rules.markers.get(match.group(0).casefold()) if match is not None else None
        if match is not None and role is not None:
            why = f"the text contains the word '{match.group(0)}', which marks {_role_phrase(role)}"
            return Decision(item.id, role, "marker", why)
    return None


# A colour's outcome in one classify call: (role, rule, why); rule "" means unclassified, with
# ``why`` as the reason.
_ColorOutcome = tuple[Role | None, str, str]


def _by_color(
    item: Item,
    rules: _Rules,
    legend: Mapping[str, _LegendEntry],
    outcomes: dict[str | None, _ColorOutcome],
) -> Decision | Unclassified:
    """``outcomes`` remembers each colour's outcome: a board has a handful of colours."""
    outcome = outcomes.get(item.color)
    if outcome is None:
        outcome = outcomes[item.color] = _color_outcome(item.color, rules, legend)
    role, rule, why = outcome
    if not rule:
        return Unclassified(item.id, item.text, why)
    return Decision(item.id, role, rule, why)


def _color_outcome(
    raw: str | None, rules: _Rules, legend: Mapping[str, _LegendEntry]
) -> _ColorOutcome:
    if raw is None:
        return None, "", "no colour, tag or marker"
    color = raw.casefold()
    entry = legend.get(color)
    changed = rules.changed(color)
    says = (
        f"the legend says {color} means {entry.role.value} (sticky "
        f"{quote_first_line(entry.sticky.text)} in {entry.legend_title})"
        if entry is not None
        else ""
    )
    if entry is not None and not (rules.rules_first and changed not in (None, entry.role)):
        return entry.role, "legend", says
    role = rules.colors.get(color)
    if role is None:
        return None, "", f"colour '{raw}' has no role in the ruleset"
    source = "the default colours" if changed is None else "the rules"
    why = f"colour {color} is mapped to {role.value} by {source}"
    if entry is not None:
        why += f" (precedence: rules; {says})"
    return role, "color", why


def _overruled(
    items: Iterable[Item],
    decisions: Iterable[Decision],
    rules: _Rules,
    legend: Mapping[str, _LegendEntry],
) -> tuple[Overruled, ...]:
    """The colours the rules changed that the legend outranked, with the stickies concerned."""
    by_legend = {d.item_id for d in decisions if d.rule == "legend"}
    lost: dict[str, list[str]] = {}
    for item in items:
        if item.id not in by_legend or item.color is None:
            continue
        color = item.color.casefold()
        entry = legend.get(color)
        changed = rules.changed(color)
        if entry is not None and changed is not None and changed is not entry.role:
            lost.setdefault(color, []).append(item.id)
    return tuple(
        Overruled(
            color=color,
            rule_role=rules.colors[color],
            legend_role=legend[color].role,
            legend_sticky=quote_first_line(legend[color].sticky.text),
            legend_title=legend[color].legend_title,
            item_ids=tuple(ids),
        )
        for color, ids in sorted(lost.items())
    )


def _decide(
    item: Item,
    rules: _Rules,
    legend: Mapping[str, _LegendEntry],
    color_outcomes: dict[str | None, _ColorOutcome],
) -> Decision | Unclassified | None:
    """The decision for one item outside every legend; None when the item is not considered."""
    if item.kind in (ItemKind.STICKY, ItemKind.CARD) and not item.text.strip():
        kind = item.kind.value
        return Decision(item.id, None, "empty", f"the {kind} is empty, so it is ignored")
    if item.kind not in _TEXT_BEARING:
        return None
    decision = _by_tag(item, rules) or _by_marker(item, rules)
    if decision is not None:
        return decision
    if item.kind is ItemKind.STICKY:
        return _by_color(item, rules, legend, color_outcomes)
    if item.kind is ItemKind.CARD:
        # a card's colour is its theme, not a role; teams that put cards on a VSM board write
        # their process steps on them
        why = "a card without a role tag or marker is read as a process step (tag it Note to "
        return Decision(item.id, Role.STEP, "card", why + "leave it out)")
    return None


def _skipped_frames(
    items: Iterable[Item], legends: Mapping[str, Item], ruleset: Ruleset
) -> dict[str, Item]:
    """Containers titled as holding no flow (Agenda, Parking Lot, ...): ``ruleset.skip_titles``.

    A title that names a current or target state is never skipped.
    """
    titles = frozenset(" ".join(title.casefold().split()) for title in ruleset.skip_titles)
    if not titles:
        return {}
    state_titles = frozenset(
        " ".join(title.casefold().split())
        for title in (*ruleset.current_titles, *ruleset.target_titles)
    )
    return {
        item.id: item
        for item in items
        if item.kind is ItemKind.CONTAINER
        and item.id not in legends
        and _title_names(item, titles)
        and not _title_names(item, state_titles)
    }


def classify(board: Board, ruleset: Ruleset) -> Classification:
    """Give each considered item of ``board`` one recorded decision (see the module docstring).

    Runs in O(n log n): one sort for the median sticky size, one for the output order.
    """
    items = sorted(
        (item for item in board.items if item.kind is not ItemKind.CONNECTOR),
        key=attrgetter("id"),
    )
    legend_titles = frozenset(title.strip().casefold() for title in ruleset.legend_titles)
    legends = {
        item.id: item
        for item in items
        if item.kind is ItemKind.CONTAINER and _is_legend(item, legend_titles)
    }
    skipped = _skipped_frames(items, legends, ruleset)
    typical_size = typical_sticky_size(items)
    container_word = _CONTAINER_WORD.get(board.provider, "container")
    legend_colors, legend_whys = _legend_map(items, legends, ruleset, container_word)
    rules = _Rules.of(ruleset)

    roles: dict[str, Role] = {}
    decisions: list[Decision] = []
    unclassified: list[Unclassified] = []
    dots: set[str] = set()
    color_outcomes: dict[str | None, _ColorOutcome] = {}
    for item in items:
        if item.id in legends:
            continue
        if legends and any(container in legends for container in item.containers):
            why = legend_whys.get(item.id)
            if why is not None:
                decisions.append(Decision(item.id, Role.LEGEND, "legend-member", why))
                roles[item.id] = Role.LEGEND
            continue
        dot_reason = _dot_reason(item, typical_size, ruleset)
        if dot_reason is not None:
            decisions.append(Decision(item.id, None, "dot", dot_reason))
            dots.add(item.id)
            continue
        outcome = _decide(item, rules, legend_colors, color_outcomes)
        frame = (
            next((skipped[cid] for cid in item.containers if cid in skipped), None)
            if skipped
            else None
        )
        if frame is not None and isinstance(outcome, Decision) and outcome.role in STEPS:
            why = (
                f"inside {container_word} {quote_first_line(frame.text)}, which holds no flow "
                "(its title is one of the rules' streams.skip words), so it is no process step"
            )
            outcome = Decision(item.id, None, "skipped-frame", why)
        if isinstance(outcome, Unclassified):
            unclassified.append(outcome)
            decisions.append(Decision(item.id, None, "unclassified", outcome.reason))
        elif outcome is not None:
            decisions.append(outcome)
            if outcome.role is not None:
                roles[item.id] = outcome.role
    excluded = frozenset(legends) | frozenset(skipped)
    decided = {decision.item_id: decision.role for decision in decisions}
    template = template_decisions(items, decided, excluded)
    if template:
        for decision in template:
            if decision.role is not None:
                roles[decision.item_id] = decision.role
        decisions = sorted([*decisions, *template], key=attrgetter("item_id"))
    overruled = _overruled(items, decisions, rules, legend_colors) if legend_colors else ()
    return Classification(
        overruled=overruled,
        roles=roles,
        decisions=tuple(decisions),
        unclassified=tuple(unclassified),
        dots=frozenset(dots),
        legend_ids=frozenset(legends),
        skipped_ids=frozenset(skipped),
        typical_size=typical_size if math.isfinite(typical_size) else DEFAULT_TYPICAL_SIZE,
    )
