"""The step graph of a run as the report draws it: which edges, which are condition branches, where boxes go.

The edges are the record's `depends_on` (the local runner writes `pipelines.definition.graph`'s reading:
DependsOn, data references and the enclosing condition); `steps_of_definition` gives the same shape for a
definition, so a SageMaker execution's report draws the same graph. An edge from a condition to a first
step of one of its branches (a step of that branch that waits for no other step of it) is labelled true
(IfSteps) or false (ElseSteps).

The layout is layered, top to bottom: longest-path layers, long edges cut into one chain of waypoints per
source and layer (so the edges of a step that feeds many later ones run down one trunk, between boxes, and
branch off to their targets), a few barycenter sweeps to order each layer with fewer crossings, then
positions that pull each box towards its neighbours without overlapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pipelines.definition.graph import flatten_steps

Point = tuple[float, float]
UNEXECUTED = {"Skipped"}


# -- the graph --------------------------------------------------------------------------------------------
def branch_text(branch: tuple[str, bool] | None) -> str | None:
    """The record's spelling of a branch (`Gate.IfSteps`), as the local runner writes it."""
    return f"{branch[0]}.{'IfSteps' if branch[1] else 'ElseSteps'}" if branch else None


def parse_branch(text: str | None) -> tuple[str, bool] | None:
    if not text or "." not in text:
        return None
    condition, _, side = text.rpartition(".")
    return (condition, side == "IfSteps") if side in {"IfSteps", "ElseSteps"} else None


def steps_of_definition(definition: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Every step of a definition in the record's shape (name, type, depends_on, branch), not yet run."""
    if isinstance(definition, str):
        definition = json.loads(definition)
    return [
        {
            "name": node.name,
            "type": node.type,
            "status": "NotStarted",
            "depends_on": sorted(node.depends_on),
            "branch": branch_text(node.branch),
        }
        for node in flatten_steps(definition).values()
    ]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str | None = None  # "true" / "false" on a condition's edge to a first step of its branch
    member: bool = False  # a condition's edge to a later step of its branch (it waits for the choice too)


@dataclass
class StepGraph:
    steps: list[dict[str, Any]]
    edges: list[Edge]

    @property
    def names(self) -> list[str]:
        return [s["name"] for s in self.steps]


def graph_of(steps: list[dict[str, Any]]) -> StepGraph:
    """One edge per (dependency, step) pair of the record, branch edges labelled."""
    names = {s["name"] for s in steps}
    branch = {s["name"]: parse_branch(s.get("branch")) for s in steps}

    def chain(name: str) -> list[tuple[str, bool]]:
        """The enclosing branches of a step, innermost first (from each condition's own branch)."""
        found: list[tuple[str, bool]] = []
        current = branch.get(name)
        while current and current not in found:
            found.append(current)
            current = branch.get(current[0])
        return found

    chains = {name: chain(name) for name in names}
    edges = []
    for step in steps:
        name, own = step["name"], branch[step["name"]]
        for parent in sorted(set(step.get("depends_on") or []) & names - {name}):
            if own and parent == own[0]:
                siblings = [d for d in step.get("depends_on") or [] if d != parent and own in chains.get(d, [])]
                if siblings:
                    edges.append(Edge(parent, name, member=True))
                else:
                    edges.append(Edge(parent, name, label="true" if own[1] else "false"))
            else:
                edges.append(Edge(parent, name))
    return StepGraph(list(steps), edges)


@dataclass
class Group:
    """Steps that did not run, shown as one box: a branch that was not taken."""

    key: str
    branch: tuple[str, bool]
    members: list[str] = field(default_factory=list)


def collapse_unexecuted(graph: StepGraph) -> tuple[StepGraph, list[Group]]:
    """The graph with each branch that did not run folded into one box.

    A skipped step joins the outermost branch around it whose condition did not choose it (the condition
    skipped, or evaluated the other way); a skipped step whose every branch was chosen stays as it is, and
    so does a branch of one step. Of the edges into a folded branch only its condition's is drawn.
    """
    by_name = {s["name"]: s for s in graph.steps}

    def chosen(branch: tuple[str, bool]) -> bool:
        condition = by_name.get(branch[0])
        return bool(
            condition
            and condition.get("status") == "Succeeded"
            and bool((condition.get("properties") or {}).get("Outcome")) == branch[1]
        )

    groups: dict[str, Group] = {}
    for step in graph.steps:
        if step.get("status") not in UNEXECUTED:
            continue
        branches, current = [], parse_branch(step.get("branch"))
        while current and current not in branches:
            branches.append(current)
            current = parse_branch((by_name.get(current[0]) or {}).get("branch"))
        refused = next((b for b in reversed(branches) if not chosen(b)), None)
        if refused is None:
            continue
        key = f"not-run:{refused[0]}.{'true' if refused[1] else 'false'}"
        groups.setdefault(key, Group(key, refused)).members.append(step["name"])
    groups = {key: group for key, group in groups.items() if len(group.members) > 1}  # one step: its own box
    if not groups:
        return graph, []
    owner = {member: key for key, group in groups.items() for member in group.members}
    steps: list[dict[str, Any]] = []
    for step in graph.steps:
        key = owner.get(step["name"])
        if key is None:
            steps.append(step)
        elif step["name"] == groups[key].members[0]:
            steps.append({"name": key, "type": "Group", "status": "Skipped", "group": groups[key]})
    edges: dict[tuple[str, str], Edge] = {}
    for edge in graph.edges:
        source, target = owner.get(edge.source, edge.source), owner.get(edge.target, edge.target)
        if source == target:
            continue
        if target in groups:  # into a folded branch: only the edge of the condition that did not choose it
            branch = groups[target].branch
            if source != branch[0]:
                continue
            edges[(source, target)] = Edge(source, target, "true" if branch[1] else "false")
        elif (source, target) not in edges:
            edges[(source, target)] = Edge(source, target, edge.label, edge.member)
    return StepGraph(steps, list(edges.values())), list(groups.values())


# -- the layout -------------------------------------------------------------------------------------------
@dataclass
class Layout:
    boxes: dict[str, tuple[float, float, float, float]]  # name -> x, y, width, height
    routes: dict[tuple[str, str], list[Point]]  # edge -> points: start, (waypoint top, bottom)*, end
    width: float
    height: float


def _layers(names: list[str], edges: Iterable[tuple[str, str]], wrap: int) -> dict[str, int]:
    """Longest-path layers (a step one below the deepest step it waits for); without edges, rows of `wrap`."""
    parents: dict[str, set[str]] = {n: set() for n in names}
    for source, target in edges:
        parents[target].add(source)
    if not any(parents.values()):
        return {name: index // wrap for index, name in enumerate(names)}
    layer: dict[str, int] = {}
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining if parents[n] <= layer.keys()] or remaining[:1]  # a cycle: break it
        for name in ready:
            layer[name] = 1 + max((layer[p] for p in parents[name] if p in layer), default=-1)
        remaining = [n for n in remaining if n not in layer]
    return layer


def _crossings(upper: list[str], lower: list[str], links: set[tuple[str, str]]) -> int:
    top = {n: i for i, n in enumerate(upper)}
    bottom = {n: i for i, n in enumerate(lower)}
    pairs = sorted((top[a], bottom[b]) for a, b in links if a in top and b in bottom)
    return sum(1 for i, (a1, b1) in enumerate(pairs) for a2, b2 in pairs[i + 1 :] if a2 > a1 and b2 < b1)


def _fit(desired: list[float], gaps: list[float], weights: list[float]) -> list[float]:
    """Positions in this order, each at least `gaps[i]` right of the one before, closest (least squares) to
    `desired`: weighted isotonic regression after removing the gaps (pool adjacent violators)."""
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, offset, weight in zip(desired, offsets, weights, strict=True):
        blocks.append([value - offset, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, weight2, count2 = blocks.pop()
            mean1, weight1, count1 = blocks[-1]
            blocks[-1] = [(mean1 * weight1 + mean2 * weight2) / (weight1 + weight2), weight1 + weight2, count1 + count2]
    fitted: list[float] = []
    for mean, _, count in blocks:
        fitted.extend([mean] * int(count))
    return [value + offset for value, offset in zip(fitted, offsets, strict=True)]


def layered_layout(
    names: list[str],
    edges: list[tuple[str, str]],
    box: tuple[float, float] = (200, 40),
    gap: tuple[float, float] = (28, 58),
    lane: float = 12,
    margin: float = 16,
    wrap: int = 6,
) -> Layout:
    """Boxes in layers top to bottom and a route for every edge; `lane` separates edge waypoints."""
    box_w, box_h = box
    gap_x, gap_y = gap
    edges = [(s, t) for s, t in dict.fromkeys(edges) if s != t and s in names and t in names]
    layer = _layers(names, edges, wrap)
    depth = max(layer.values(), default=0) + 1

    # waypoints: one per (source, layer) that an edge from that source passes through
    chains: dict[tuple[str, str], list[str]] = {}
    layer_of: dict[str, int] = dict(layer)
    for source, target in edges:
        chain = [source]
        for level in range(layer[source] + 1, layer[target]):
            waypoint = f"\0{source}\0{level}"
            layer_of[waypoint] = level
            chain.append(waypoint)
        chains[(source, target)] = [*chain, target]
    links = {(a, b) for chain in chains.values() for a, b in pairwise(chain)}
    above: dict[str, list[str]] = {n: [] for n in layer_of}
    below: dict[str, list[str]] = {n: [] for n in layer_of}
    for a, b in sorted(links):
        below[a].append(b)
        above[b].append(a)

    # first order: depth first from the sources, children in definition order (waypoints after steps)
    definition_order = {name: i for i, name in enumerate(names)}
    rows: list[list[str]] = [[] for _ in range(depth)]
    seen: set[str] = set()
    stack = [name for name in reversed(names) if not above[name]]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        rows[layer_of[current]].append(current)
        stack.extend(sorted(below[current], key=lambda n: definition_order.get(n, len(names)), reverse=True))
    for name in layer_of:  # only on a cycle
        if name not in seen:
            rows[layer_of[name]].append(name)

    def sweep(rows: list[list[str]], downward: bool) -> list[list[str]]:
        rows = [list(r) for r in rows]
        order = range(1, depth) if downward else range(depth - 2, -1, -1)
        for level in order:
            reference = {n: i for i, n in enumerate(rows[level - 1 if downward else level + 1])}
            neighbours = above if downward else below
            keys = {}
            for slot, name in enumerate(rows[level]):
                known = [reference[n] for n in neighbours[name] if n in reference]
                keys[name] = sum(known) / len(known) if known else slot
            rows[level] = sorted(rows[level], key=keys.__getitem__)
        return rows

    def total(rows: list[list[str]]) -> int:
        return sum(_crossings(rows[i], rows[i + 1], links) for i in range(depth - 1))

    def transpose(rows: list[list[str]]) -> list[list[str]]:
        """Swap neighbours in a layer while that removes crossings with the layers above and below."""
        rows = [list(r) for r in rows]
        position = {n: i for row in rows for i, n in enumerate(row)}

        def cost(left: str, right: str) -> int:
            return sum(
                1 for side in (above, below) for a in side[left] for b in side[right] if position[a] > position[b]
            )

        improved = True
        while improved:
            improved = False
            for row in rows:
                for i in range(len(row) - 1):
                    left, right = row[i], row[i + 1]
                    if cost(right, left) < cost(left, right):
                        row[i], row[i + 1] = right, left
                        position[left], position[right] = i + 1, i
                        improved = True
        return rows

    best, best_count = rows, total(rows)
    current = rows
    for iteration in range(8):
        current = transpose(sweep(current, downward=iteration % 2 == 0))
        count = total(current)
        if count < best_count:
            best, best_count = current, count
    rows = best

    def width(name: str) -> float:
        return box_w if name in layer else 0.0

    def spacing(a: str, b: str) -> float:
        between = gap_x if a in layer and b in layer else lane
        return (width(a) + width(b)) / 2 + between

    centre: dict[str, float] = {}
    for row in rows:
        x = 0.0
        for slot, name in enumerate(row):
            x += spacing(row[slot - 1], name) if slot else width(name) / 2
            centre[name] = x
    for iteration in range(24):
        downward = iteration % 2 == 0
        order = range(1, depth) if downward else range(depth - 2, -1, -1)
        for level in order:
            row = rows[level]
            desired = []
            for name in row:
                first = [centre[n] for n in (above[name] if downward else below[name])]
                second = [centre[n] for n in (below[name] if downward else above[name])]
                pulls = [*first, *first, *second]  # the sweep's side counts twice
                desired.append(sum(pulls) / len(pulls) if pulls else centre[name])
            weights = [1.0 if name in layer else 2.0 for name in row]  # keep trunks straight
            gaps = [spacing(a, b) for a, b in pairwise(row)]
            for name, x in zip(row, _fit(desired, gaps, weights), strict=True):
                centre[name] = x
    left = min((centre[n] - width(n) / 2 for n in centre), default=0.0)
    right = max((centre[n] + width(n) / 2 for n in centre), default=0.0)
    shift = margin - left
    top = {level: margin + level * (box_h + gap_y) for level in range(depth)}
    boxes = {name: (centre[name] + shift - box_w / 2, top[layer[name]], box_w, box_h) for name in names}

    # ports: a box's edges leave from (and arrive at) points spread along its bottom (top) edge
    def ports(name: str, others: list[str]) -> dict[str, float]:
        if name not in layer:
            return dict.fromkeys(others, centre[name] + shift)
        ordered = sorted(dict.fromkeys(others), key=lambda n: centre[n])
        step = min(16.0, 0.8 * box_w / max(len(ordered), 1))
        middle = centre[name] + shift
        return {n: middle + (i - (len(ordered) - 1) / 2) * step for i, n in enumerate(ordered)}

    out_ports = {n: ports(n, below[n]) for n in layer_of}
    in_ports = {n: ports(n, above[n]) for n in layer_of}
    routes: dict[tuple[str, str], list[Point]] = {}
    for edge, chain in chains.items():
        points: list[Point] = [(out_ports[chain[0]][chain[1]], top[layer[chain[0]]] + box_h)]
        for waypoint in chain[1:-1]:
            x = centre[waypoint] + shift
            points += [(x, top[layer_of[waypoint]]), (x, top[layer_of[waypoint]] + box_h)]
        points.append((in_ports[chain[-1]][chain[-2]], top[layer[chain[-1]]]))
        routes[edge] = points
    return Layout(boxes, routes, right - left + 2 * margin, margin * 2 + depth * (box_h + gap_y) - gap_y)
