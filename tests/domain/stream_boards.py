"""Small builders for normalized boards with hand-made classifications (streams/metrics tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.domain.board import Board, Connector, Geometry, Item, ItemKind
from service.domain.classification import Classification
from service.domain.ruleset import Role

SIZE = 100.0


def note(
    id: str,
    x: float,
    y: float,
    text: str = "",
    *,
    w: float = SIZE,
    h: float = SIZE,
    inside: Iterable[str] = (),
    kind: ItemKind = ItemKind.STICKY,
) -> Item:
    """A sticky (or any kind) centred at (x, y); ``inside``: containers, innermost first."""
    return Item(
        id=id,
        kind=kind,
        text=text or id,
        geometry=Geometry(x, y, w, h),
        containers=tuple(inside),
    )


def label(id: str, x: float, y: float, text: str, *, inside: Iterable[str] = ()) -> Item:
    return Item(
        id=id,
        kind=ItemKind.TEXT,
        text=text,
        geometry=Geometry(x, y, 120.0, 40.0),
        containers=tuple(inside),
    )


def frame(
    id: str,
    title: str,
    left: float,
    top: float,
    w: float = 2000.0,
    h: float = 1000.0,
    *,
    inside: Iterable[str] = (),
) -> Item:
    """A container given by its top-left corner and size."""
    return Item(
        id=id,
        kind=ItemKind.CONTAINER,
        text=title,
        geometry=Geometry(left + w / 2, top + h / 2, w, h),
        containers=tuple(inside),
    )


def link(start: str | None, end: str | None, id: str | None = None) -> Connector:
    return Connector(id or f"c-{start}-{end}", start, end)


def board(*items: Item, connectors: Iterable[Connector] = (), name: str = "Board") -> Board:
    return Board("miro", "b1", name, tuple(items), tuple(connectors))


def classified(
    roles: Mapping[str, Role],
    *,
    dots: Iterable[str] = (),
    legends: Iterable[str] = (),
    typical: float = SIZE,
) -> Classification:
    return Classification(
        roles=dict(roles),
        decisions=(),
        unclassified=(),
        dots=frozenset(dots),
        legend_ids=frozenset(legends),
        typical_size=typical,
    )


def steps_of(*ids: str) -> dict[str, Role]:
    return dict.fromkeys(ids, Role.STEP)
