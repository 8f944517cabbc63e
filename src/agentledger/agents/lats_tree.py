"""The search tree of LATS: nodes (one ReAct step each), UCT selection, backpropagation.

A node is the state reached by the steps on its path from the root (the root has no step).
``value`` starts as the node's evaluation (the evaluator's score scaled to [0, 1], or the
terminal reward) and becomes the running mean of everything backed up through it; ``visits``
counts the backups. Selection follows Zhou et al. (2023): from the root, repeatedly take the
child with the highest UCT

    UCT(s) = V(s) + w * sqrt(ln(N(parent) + 1) / (N(s) + 1))

(the ``+ 1`` keeps unvisited children finite, so an unvisited child ranks by its evaluation),
skipping terminal children, until a node without children. A node whose children are all
terminal or exhausted is marked exhausted and selection starts again from the root.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .react import Step, Trajectory

__all__ = ["Node", "uct", "select_leaf", "backpropagate", "best_terminal", "count_nodes"]


@dataclass(eq=False, slots=True)
class Node:
    """One state of the tree. ``terminal`` nodes end a trajectory (an answer, or the depth limit)."""

    step: Step | None = None
    parent: Node | None = None
    depth: int = 0
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value: float = 0.0
    terminal: bool = False
    reward: float | None = None  # terminal reward (environment score or own-test pass rate)
    correct: bool = False  # the terminal reward counts as a success (search stops)
    exhausted: bool = False  # every child is terminal or exhausted: nothing left to expand below
    feedback: str | None = None  # why a terminal node failed (what its reflection is given)
    last_event_id: int | None = None  # the event a call caused by this node descends from

    def add(self, step: Step) -> Node:
        child = Node(step=step, parent=self, depth=self.depth + 1,
                     last_event_id=step.last_event_id if step.last_event_id is not None else self.last_event_id)
        self.children.append(child)
        return child

    def path(self) -> list[Node]:
        """The nodes from the first step down to this one (the root excluded)."""
        nodes: list[Node] = []
        node: Node | None = self
        while node is not None and node.step is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]

    def steps(self) -> list[Step]:
        return [n.step for n in self.path() if n.step is not None]

    def trajectory(self, dataset: str, max_observation_chars: int | None = 2000) -> Trajectory:
        return Trajectory(dataset, self.steps(), max_observation_chars=max_observation_chars)

    @property
    def answer(self) -> str | None:
        return self.step.answer if self.step is not None else None


def uct(node: Node, exploration: float) -> float:
    parent_visits = node.parent.visits if node.parent is not None else 0
    return node.value + exploration * math.sqrt(math.log(parent_visits + 1) / (node.visits + 1))


def select_leaf(root: Node, exploration: float) -> Node | None:
    """The node to expand next, or None when the whole tree is terminal or exhausted."""
    node = root
    while node.children:
        open_children = [c for c in node.children if not c.terminal and not c.exhausted]
        if not open_children:
            node.exhausted = True
            if node is root:
                return None
            node = root
            continue
        node = max(open_children, key=lambda c: uct(c, exploration))
    if node.terminal or node.exhausted:
        return None
    return node


def backpropagate(node: Node, reward: float) -> None:
    """Add ``reward`` to the running mean of ``node`` and every ancestor (the root included)."""
    current: Node | None = node
    while current is not None:
        current.value = (current.value * current.visits + reward) / (current.visits + 1)
        current.visits += 1
        current = current.parent


def _walk(root: Node) -> list[Node]:
    """All nodes, breadth first (children in the order they were created)."""
    out = [root]
    for node in out:
        out.extend(node.children)
    return out


def best_terminal(root: Node) -> Node | None:
    """The terminal node with an answer and the highest reward (then value; ties: the shallowest, then the first created)."""
    found = [n for n in _walk(root) if n.terminal and n.answer is not None]
    if not found:
        return None
    return max(found, key=lambda n: (n.correct, n.reward or 0.0, n.value))


def count_nodes(root: Node) -> dict[str, int]:
    nodes = _walk(root)[1:]
    return {"nodes": len(nodes), "terminal_nodes": sum(n.terminal for n in nodes),
            "answered_nodes": sum(n.answer is not None for n in nodes)}
