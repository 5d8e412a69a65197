"""The flow graph of a stream: step order numbers from connectors, groups and columns."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence

from service.domain.board import Geometry

# two unconnected steps whose x-extents overlap by this share of the narrower one are stacked
STACK_OVERLAP = 0.5


def _break_cycles(count: int, successors: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Edges of a DAG: depth-first from each node in index order, back edges dropped."""
    state = [0] * count  # 0 new, 1 on the stack, 2 done
    kept: list[tuple[int, int]] = []
    for root in range(count):
        if state[root]:
            continue
        state[root] = 1
        stack: list[tuple[int, int]] = [(root, 0)]
        while stack:
            node, position = stack[-1]
            if position < len(successors[node]):
                stack[-1] = (node, position + 1)
                nxt = successors[node][position]
                if state[nxt] == 1:
                    continue  # back edge: closes a cycle
                kept.append((node, nxt))
                if state[nxt] == 0:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                stack.pop()
    return kept


def _layers(count: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Longest-path layer (0-based) of each node of a DAG."""
    successors: list[list[int]] = [[] for _ in range(count)]
    indegree = [0] * count
    for start, end in edges:
        successors[start].append(end)
        indegree[end] += 1
    layer = [0] * count
    queue = deque(node for node in range(count) if indegree[node] == 0)
    while queue:
        node = queue.popleft()
        for nxt in successors[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    return layer


def _components(count: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    parent = list(range(count))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for start, end in edges:
        a, b = root(start), root(end)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(node) for node in range(count)]


def _stacked(a: Geometry, b: Geometry) -> bool:
    overlap = min(a.right, b.right) - max(a.left, b.left)
    return overlap > 0 and overlap >= STACK_OVERLAP * min(a.width, b.width)


def flow_order(
    geometries: Sequence[Geometry], links: Sequence[tuple[int, int]]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Order numbers (1-based, dense) for steps already sorted left to right, and the kept edges.

    ``links`` are connector index pairs (start, end); self loops and duplicates are ignored.
    The package docstring (``service.domain.streams``) says how connected groups and
    unconnected columns are merged.
    """
    count = len(geometries)
    unique = sorted({(a, b) for a, b in links if a != b and 0 <= a < count and 0 <= b < count})
    successors: list[list[int]] = [[] for _ in range(count)]
    for start, end in unique:
        successors[start].append(end)
    edges = _break_cycles(count, successors)
    layer = _layers(count, edges)
    component = _components(count, edges)
    linked = {node for edge in edges for node in edge}

    # units: (first node, member nodes, layer of each member within the unit)
    units: list[tuple[int, list[int], list[int]]] = []
    members: dict[int, list[int]] = defaultdict(list)
    for node in sorted(linked):
        members[component[node]].append(node)
    for nodes in members.values():
        units.append((nodes[0], nodes, [layer[node] for node in nodes]))
    column: list[int] = []
    for node in range(count):
        if node in linked:
            continue
        if column and _stacked(geometries[column[0]], geometries[node]):
            column.append(node)
            continue
        if column:
            units.append((column[0], column, [0] * len(column)))
        column = [node]
    if column:
        units.append((column[0], column, [0] * len(column)))

    order = [0] * count
    offset = 0
    for _, nodes, unit_layers in sorted(units, key=lambda unit: unit[0]):
        for node, unit_layer in zip(nodes, unit_layers, strict=True):
            order[node] = offset + unit_layer + 1
        offset += max(unit_layers) + 1
    return order, edges


def orient_lines(
    lines: Sequence[tuple[str, str]],
    arrows: Sequence[tuple[str, str]],
    geometry: Mapping[str, Geometry],
) -> list[tuple[str, str]]:
    """Lines without a direction (no arrowhead, or one at each end) turned into flow edges.

    The layout of the chain decides: the lines and arrows joined into one chain are laid out
    wider than tall (left to right) or taller than wide (top to bottom), and each line runs
    that way, the other axis breaking ties. Arrows (one head) keep their direction and only
    help to make up the chain.
    """
    if not lines:
        return []
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in (*lines, *arrows):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    spans: dict[str, list[float]] = {}
    for node in list(parent):
        box = geometry[node]
        span = spans.setdefault(root(node), [box.x, box.x, box.y, box.y])
        span[0], span[1] = min(span[0], box.x), max(span[1], box.x)
        span[2], span[3] = min(span[2], box.y), max(span[3], box.y)
    oriented: list[tuple[str, str]] = []
    for a, b in lines:
        left, right, top, bottom = spans[root(a)]
        ga, gb = geometry[a], geometry[b]
        if right - left >= bottom - top:
            key_a, key_b = (ga.x, ga.y, a), (gb.x, gb.y, b)
        else:
            key_a, key_b = (ga.y, ga.x, a), (gb.y, gb.x, b)
        oriented.append((a, b) if key_a <= key_b else (b, a))
    return oriented
