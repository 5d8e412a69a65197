"""Parent links of board items (Miro frames, Mural areas) resolved into a safe hierarchy.

Provider parent ids are untrusted: they may point at items missing from the dump, form cycles or
nest absurdly deep. ``resolve_nesting`` turns them into an acyclic parent map plus an order in
which every item comes after its parent, in time linear in the number of items, and independent
of the order the items arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping

from msgspec import Struct

MAX_CHAIN = 64
"""Container chains are cut to the innermost ``MAX_CHAIN`` ancestors (real boards nest 1-3)."""


class Nesting(Struct, frozen=True):
    """``parent``: effective parent per id (None = top level; always present in the dump).

    ``order``: every id, each after its effective parent. ``problems``: id -> why its provider
    parent was not used (missing from the dump, or part of a parent cycle).
    """

    parent: dict[str, str | None]
    order: list[str]
    problems: dict[str, str]


def resolve_nesting(parents: Mapping[str, str | None]) -> Nesting:
    """Resolve ``id -> provider parent id`` (None or "" for none) into a ``Nesting``.

    Every member of a parent cycle becomes top level, whichever item the walk started from.
    """
    effective: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    order: list[str] = []
    for start in parents:
        if start in effective:
            continue
        first = parents[start] or None
        if first is None or first in effective:
            # the common case (top level, or the parent is resolved): what the walk would give
            effective[start] = first
            order.append(start)
            continue
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in effective:
            if node in on_path:
                cycle = path[path.index(node) :]
                for member in cycle:
                    effective[member] = None
                    problems[member] = "parent cycle; placed at top level"
                    order.append(member)
                path = path[: len(path) - len(cycle)]
                break
            path.append(node)
            on_path.add(node)
            parent = parents[node] or None
            if parent is not None and parent not in parents:
                effective[node] = None
                problems[node] = f"parent {parent[:80]!r} is not in the dump"
                order.append(node)
                path.pop()
                break
            node = parent
        for member in reversed(path):
            if member not in effective:
                effective[member] = parents[member] or None
                order.append(member)
    return Nesting(effective, order, problems)


def container_chains(
    nesting: Nesting, is_container: Mapping[str, bool]
) -> dict[str, tuple[str, ...]]:
    """id -> ids of the enclosing containers, innermost first, at most ``MAX_CHAIN`` long.

    Ancestors that are not containers (a Mural table holding its cells) are passed through:
    their own containers still count.
    """
    chains: dict[str, tuple[str, ...]] = {}
    # the chain of a container's children, made once per container and shared by them all
    inside: dict[str, tuple[str, ...]] = {}
    for node in nesting.order:
        parent = nesting.parent[node]
        if parent is None:
            chains[node] = ()
        elif is_container.get(parent, False):
            chain = inside.get(parent)
            if chain is None:
                chain = inside[parent] = ((parent,) + chains[parent])[:MAX_CHAIN]
            chains[node] = chain
        else:
            chains[node] = chains[parent]
    return chains
