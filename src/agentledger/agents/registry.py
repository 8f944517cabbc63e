"""The agents by name, and the agent × benchmark pairs the study ran."""

from __future__ import annotations

import importlib

from ..errors import UsageError
from .base import Agent

__all__ = ["AGENTS", "PAIRS", "agent_class", "check_pair", "pairs_table"]

_MODULES = {
    "cot": "agentledger.agents.cot",
    "react": "agentledger.agents.react",
    "reflexion": "agentledger.agents.reflexion",
    "lats": "agentledger.agents.lats",
    "llmcompiler": "agentledger.agents.llmcompiler",
}
AGENTS = tuple(_MODULES)
BENCHMARKS = ("hotpotqa", "webshop", "math", "humaneval")
# The study's table (plus ShareGPT, the single-turn baseline, for CoT).
PAIRS: dict[str, tuple[str, ...]] = {
    "cot": ("hotpotqa", "math", "humaneval", "sharegpt"),
    "react": ("hotpotqa", "webshop", "math", "humaneval"),
    "reflexion": ("hotpotqa", "webshop", "math", "humaneval"),
    "lats": ("hotpotqa", "webshop", "math", "humaneval"),
    "llmcompiler": ("hotpotqa", "webshop"),
}


def pairs_table() -> str:
    """The supported pairs as a small text table."""
    head = f"{'':12}" + "".join(f"{b:>11}" for b in BENCHMARKS + ("sharegpt",))
    rows = [head] + [f"{a:12}" + "".join(f"{'yes' if b in PAIRS[a] else '-':>11}" for b in BENCHMARKS + ("sharegpt",))
                     for a in AGENTS]
    return "\n".join(rows)


def check_pair(agent: str, dataset: str, datasets: tuple[str, ...]) -> None:
    if agent not in AGENTS:
        raise UsageError(f"unknown agent {agent!r}; valid agents: {', '.join(AGENTS)}")
    if dataset not in datasets:
        raise UsageError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(datasets)}")
    if dataset not in PAIRS[agent]:
        pairs = "; ".join(f"{a}: {', '.join(ds)}" for a, ds in PAIRS.items())
        raise UsageError(f"{agent} does not run on {dataset} (as in the study); supported pairs: {pairs}")


def agent_class(name: str) -> type[Agent]:
    """The ``Agent`` subclass whose ``name`` is ``name``."""
    if name not in _MODULES:
        raise UsageError(f"unknown agent {name!r}; valid agents: {', '.join(AGENTS)}")
    module = importlib.import_module(_MODULES[name])
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Agent) and obj is not Agent and obj.name == name:
            return obj
    raise UsageError(f"agent {name!r} is not available in this installation")
