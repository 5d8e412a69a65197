"""The import's account: what became of every board item read, and what could not be found out.

Every item the reader met (a Miro item, a Mural widget other than an arrow) is counted once:

* **used**, by what it became: a role (``step``, ``problem``, ...), ``vote`` (a vote dot),
  ``container`` (a frame or area) or ``label`` (a text item, read for titles and lanes);
* **skipped**, with the reason: left out while reading (hidden, a group, a repeated id...),
  empty, part of a legend, a role with no place in a stream, no role at all;
* **malformed**: a field that could not be read, named with the item id.

So ``read == sum(used) + sum(skipped) + malformed``. ``warnings`` say what the import could not
find out (Mural refused its voting results, no sticky on the board has a colour), which would
otherwise look like a board without votes or colours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import Struct

from service.domain.board import Board, ItemKind
from service.domain.classification import Classification, Unclassified
from service.domain.ruleset import Role

MAX_LISTED_IDS = 50
"""Item ids listed per skip reason; the count covers them all."""

NO_STICKY_COLOUR = "no_sticky_colour"


class Account(Struct, frozen=True):
    read: int
    used: Mapping[str, int]
    # reason -> (count, the first ``MAX_LISTED_IDS`` item ids)
    skipped: Mapping[str, tuple[int, tuple[str, ...]]]
    malformed: tuple[tuple[str, str, str], ...]  # (item id, field, problem), the first 1,000
    malformed_total: int
    warnings: tuple[tuple[str, str], ...]  # (code, sentence)

    @property
    def malformed_share(self) -> float:
        return self.malformed_total / self.read if self.read else 0.0


def account_of(
    board: Board, classification: Classification, unplaced: Sequence[Unclassified]
) -> Account:
    """The account of ``board`` as ``classification`` used it; ``unplaced`` are the items
    with a role but no place in a stream (``streams.unplaced``)."""
    stats = board.stats
    used: Counter[str] = Counter()
    skipped: dict[str, list[str]] = {}
    counts: Counter[str] = Counter(stats.left_out)

    def skip(reason: str, item_id: str) -> None:
        counts[reason] += 1
        skipped.setdefault(reason, []).append(item_id)

    decisions = {decision.item_id: decision for decision in classification.decisions}
    no_place = {entry.item_id: entry.reason for entry in unplaced}
    legends = classification.legend_ids
    roles: Counter[Role] = Counter()  # counted by role, named once at the end
    for item in board.items:
        item_id = item.id
        decision = decisions.get(item_id)
        in_legend = legends and any(container in legends for container in item.containers)
        if item_id in legends or in_legend or (decision and decision.role is Role.LEGEND):
            skip("legend", item_id)
        elif item_id in no_place:
            skip(no_place[item_id], item_id)
        elif decision is not None:
            if decision.role is not None:
                roles[decision.role] += 1
            elif decision.rule == "dot":
                used["vote"] += 1
            elif decision.rule == "empty":
                skip("empty", item_id)
            else:
                skip(decision.why, item_id)
        elif item.kind is ItemKind.CONTAINER:
            used["container"] += 1
        elif item.kind is ItemKind.TEXT:
            used["label"] += 1
        else:
            skip(f"{item.kind.value} without a role", item_id)
    for role, count in roles.items():
        used[role.value] += count

    warnings = list(stats.warnings)
    sticky = ItemKind.STICKY
    if any(item.kind is sticky for item in board.items) and not any(
        item.kind is sticky and item.color is not None for item in board.items
    ):
        warnings.append(
            (
                NO_STICKY_COLOUR,
                "no sticky note on the board has a colour, so no colour rule could apply "
                "(Miro's item list does not promise a style; check the board or use tags)",
            )
        )
    read = len(board.items) + sum(stats.left_out.values()) + stats.malformed_total
    # ids in order (the document does not depend on the item order), the reader's first
    listed = {reason: sorted(ids)[:MAX_LISTED_IDS] for reason, ids in skipped.items()}
    for reason, item_id in _left_out_ids(stats.skipped, stats.left_out):
        listed.setdefault(reason, []).append(item_id)
    return Account(
        read=read,
        used=dict(sorted(used.items())),
        skipped={
            reason: (counts[reason], tuple(listed.get(reason, ())[:MAX_LISTED_IDS]))
            for reason in sorted(counts)
        },
        malformed=stats.malformed,
        malformed_total=stats.malformed_total,
        warnings=tuple(warnings),
    )


def _left_out_ids(
    entries: Sequence[tuple[str, str]], left_out: Mapping[str, int]
) -> list[tuple[str, str]]:
    """(account reason, item id) of the reader's skips that were board elements."""
    found: list[tuple[str, str]] = []
    listed: Counter[str] = Counter()
    for item_id, why in entries:
        reason = _category(why)
        if reason in left_out and listed[reason] < min(left_out[reason], MAX_LISTED_IDS):
            listed[reason] += 1
            found.append((reason, item_id))
    return found


def _category(why: str) -> str:
    if why.startswith("duplicate id"):
        return "duplicate id"
    if why.endswith("without an id"):
        return "no id"
    return why


def account_to_dict(account: Account) -> dict[str, Any]:
    """The contract's ``account`` object (schema/contract-v1.json)."""
    return {
        "read": account.read,
        "used": dict(account.used),
        "skipped": [
            {"reason": reason, "count": count, "item_ids": list(ids)}
            for reason, (count, ids) in account.skipped.items()
        ],
        "malformed": {
            "count": account.malformed_total,
            "items": [
                {"item_id": item_id, "field": field, "problem": problem}
                for item_id, field, problem in account.malformed
            ],
        },
        "warnings": [{"code": code, "message": message} for code, message in account.warnings],
    }


def malformed_error(account: Mapping[str, Any], max_share: float) -> str | None:
    """The sentence that fails an import whose contract ``account`` has more than ``max_share``
    of its items malformed (0: any), naming the first few; None when the board passes."""
    malformed = account.get("malformed") or {}
    count = int(malformed.get("count") or 0)
    read = int(account.get("read") or 0)
    if count == 0 or read == 0 or count / read <= max_share:
        return None
    first = "; ".join(
        f"{entry['item_id']} ({entry['field'] or 'the item'}: {entry['problem']})"
        for entry in (malformed.get("items") or [])[:3]
    )
    return (
        f"{count:,} of {read:,} items ({count / read:.1%}) are malformed, more than the "
        f"{max_share:.1%} the rules allow (max_malformed_share): {first}"
    )


def summary_line(account: Mapping[str, Any]) -> str:
    """One line for people: ``read 67: used 55, skipped 12, malformed 0; 1 warning``."""
    used = sum((account.get("used") or {}).values())
    skipped = sum(entry["count"] for entry in account.get("skipped") or [])
    malformed = (account.get("malformed") or {}).get("count", 0)
    warnings = account.get("warnings") or []
    line = f"read {account.get('read', 0)}: used {used}, skipped {skipped}, malformed {malformed}"
    if warnings:
        codes = ", ".join(str(warning["code"]) for warning in warnings)
        line += f"; {len(warnings)} warning{'s' if len(warnings) > 1 else ''} ({codes})"
    return line
