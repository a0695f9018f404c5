"""The report's step graph is the definition's DAG: one arrow per dependency, condition branches labelled
true/false, steps that did not run greyed (and foldable), and boxes that never overlap, even at full size."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.definition.graph import StepNode, flatten_steps
from pipelines.local.runner import build_definition
from pipelines.report.graph import parse_branch, steps_of_definition
from pipelines.report.local import write_report
from pipelines.report.svg import collapsed_step_graph, step_graph

SVG = "{http://www.w3.org/2000/svg}"
FULLEST = {
    "algorithms": ["xgboost", "catboost", "lightgbm", "gru"],
    "sentiment": {"enabled": True},
    "stability": {"enabled": True},
}


@pytest.fixture(scope="module")
def fullest_definition():
    definition, _ = build_definition(load_config(profile="quick", overrides=FULLEST))
    return definition


def _classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def _edges(svg: ET.Element) -> list[ET.Element]:
    return [g for g in svg.iter(f"{SVG}g") if "edge" in _classes(g)]


def _boxes(svg: ET.Element) -> dict[str, list[tuple[float, float, float, float]]]:
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for g in svg.iter(f"{SVG}g"):
        if "node" in _classes(g):
            rect = g.find(f"{SVG}rect")
            box = tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))
            boxes.setdefault(g.get("data-step") or g.get("data-group"), []).append(box)
    return boxes


def _expected_labels(nodes: dict[str, StepNode]) -> dict[tuple[str, str], str]:
    """A condition's edge to a step of its branch that waits for no other step of that branch: true/false."""
    labels = {}
    for node in nodes.values():
        if node.branch is None:
            continue
        condition, side = node.branch
        inside = [d for d in node.depends_on - {condition} if node.branch in nodes[d].branches]
        if not inside:
            labels[(condition, node.name)] = "true" if side else "false"
    return labels


def _graph_svg(html: str, css_class: str = "graph") -> ET.Element:
    drawings = re.findall(r'<svg[^>]*aria-label="step graph".*?</svg>', html, re.S)
    return next(ET.fromstring(d) for d in drawings if ET.fromstring(d).get("class") == css_class)


def _check_graph(svg: ET.Element, nodes: dict[str, StepNode]) -> None:
    pairs = [(g.get("data-from"), g.get("data-to")) for g in _edges(svg)]
    expected = {(dependency, node.name) for node in nodes.values() for dependency in node.depends_on}
    assert len(pairs) == sum(len(node.depends_on) for node in nodes.values()) == len(expected)
    assert set(pairs) == expected
    labels = {
        (g.get("data-from"), g.get("data-to")): [t.text for t in g.iter(f"{SVG}text")]
        for g in _edges(svg)
        if g.find(f"{SVG}text") is not None
    }
    expected_labels = _expected_labels(nodes)
    assert expected_labels and {pair: [label] for pair, label in expected_labels.items()} == labels
    for g in _edges(svg):
        if (g.get("data-from"), g.get("data-to")) in expected_labels:
            assert "branch" in _classes(g) and g.get("data-branch") in {"true", "false"}
    boxes = _boxes(svg)
    assert {name: len(found) for name, found in boxes.items()} == dict.fromkeys(nodes, 1)


def test_the_report_of_a_quick_run_draws_the_definitions_dag(run_fake, quick_definition):
    run = run_fake(parameters={"MinModelAUC": "0.5"})
    html = write_report(Path(run.record.path)).read_text()
    svg = _graph_svg(html)
    nodes = flatten_steps(quick_definition)
    _check_graph(svg, nodes)
    statuses = {name: step.status for name, step in run.record.steps.items()}
    assert "Skipped" in statuses.values() and "Succeeded" in statuses.values()
    for g in svg.iter(f"{SVG}g"):
        if "node" in _classes(g):
            name = g.get("data-step")
            assert ("skipped" in _classes(g)) == (statuses[name] == "Skipped"), name
            assert g.get("data-status") == statuses[name]
    for g in _edges(svg):  # an arrow into or out of a step that did not run is drawn faint
        faint = "Skipped" in (statuses[g.get("data-from")], statuses[g.get("data-to")])
        assert ("inactive" in _classes(g)) == faint
    # folded by default: the branches not taken are one box each; the full graph is behind a <details> (no script)
    assert "<script" not in html
    assert html.index('class="graph collapsed"') < html.index('<details class="unfolded">') < html.index(
        'class="graph-box graph-full"')
    folded = _graph_svg(html, "graph collapsed")
    groups = [g for g in folded.iter(f"{SVG}g") if "group" in _classes(g)]
    assert groups and all("skipped" in _classes(g) for g in groups)
    shown = {g.get("data-step") for g in folded.iter(f"{SVG}g") if g.get("data-step")}
    hidden = sum(int(g.get("data-members")) for g in groups)
    assert len(shown) + hidden == len(nodes)
    assert {name for name, status in statuses.items() if status != "Skipped"} <= shown


def _simulated(definition, outcomes: dict[str, bool]) -> list[dict]:
    """The record a run of the definition would leave, each condition evaluating as `outcomes` says (true
    unless named): steps of a branch not chosen, and steps waiting for them, Skipped."""
    steps = steps_of_definition(definition)
    by_name = {step["name"]: step for step in steps}
    done: set[str] = set()
    while len(done) < len(steps):
        for step in steps:
            if step["name"] in done or not set(step["depends_on"]) <= done:
                continue
            branch = parse_branch(step["branch"])
            skipped = any(by_name[d]["status"] == "Skipped" for d in step["depends_on"])
            if branch:
                condition = by_name[branch[0]]
                skipped |= condition["status"] == "Skipped" or condition["properties"]["Outcome"] != branch[1]
            step["status"] = "Skipped" if skipped else "Succeeded"
            step["properties"] = {"Outcome": outcomes.get(step["name"], True)} if step["type"] == "Condition" else {}
            done.add(step["name"])
    return steps


def _overlaps(boxes: list[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, (x1, y1, w1, h1) in enumerate(boxes)
        for j, (x2, y2, w2, h2) in enumerate(boxes[i + 1 :], i + 1)
        if x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1
    ]


def _vertical_runs(path: str) -> list[tuple[float, float, float]]:
    """The straight stretches of an edge (where it passes a layer of boxes): x, from y, to y."""
    runs, last = [], None
    for command, x, y in re.findall(r"([MCL])?\s*(-?[\d.]+),(-?[\d.]+)", path):
        point = (float(x), float(y))
        if command == "L" and last is not None:
            runs.append((point[0], last[1], point[1]))
        last = point
    return runs


@pytest.mark.parametrize("outcomes", [{}, {"Gate-models": False}, {"LeakGate": False}])
def test_the_fullest_definition_draws_every_edge_without_overlapping_boxes(fullest_definition, outcomes):
    nodes = flatten_steps(fullest_definition)
    assert len(nodes) >= 50
    steps = _simulated(fullest_definition, outcomes)
    svg = ET.fromstring(step_graph(steps))
    _check_graph(svg, nodes)
    boxes = [found[0] for found in _boxes(svg).values()]
    assert _overlaps(boxes) == []
    width, height = float(svg.get("width")), float(svg.get("height"))
    assert all(0 <= x <= width - w and 0 <= y <= height - h for x, y, w, h in boxes)
    for g in _edges(svg):  # an edge that passes a layer runs between its boxes, never through one
        for x, top, bottom in _vertical_runs(g.find(f"{SVG}path").get("d")):
            assert not any(bx < x < bx + bw and by < bottom and top < by + bh for bx, by, bw, bh in boxes)
    folded = collapsed_step_graph(steps)
    assert folded is not None
    folded_svg = ET.fromstring(folded[0])
    assert _overlaps([found[0] for found in _boxes(folded_svg).values()]) == []
    assert folded[1] == sum(int(g.get("data-members")) for g in folded_svg.iter(f"{SVG}g") if g.get("data-members"))


def test_a_record_without_dependencies_still_lays_its_boxes_out_in_rows():
    steps = [{"name": f"Step-{i}", "type": "Processing", "status": "Succeeded"} for i in range(14)]
    svg = ET.fromstring(step_graph(steps))
    boxes = [found[0] for found in _boxes(svg).values()]
    assert len(boxes) == 14 and _overlaps(boxes) == [] and _edges(svg) == []
    assert float(svg.get("width")) < 1400
