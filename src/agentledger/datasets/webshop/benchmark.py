"""The WebShop benchmark: fixed goals as tasks, a local shop server, the purchase reward as score.

``WebShop(data)`` reads WebShop's official files from a folder (``--data`` or
``$AGENTLEDGER_WEBSHOP``): a catalog ``items_shuffle*.json`` and its ``items_ins_v2*.json`` with
the same suffix (the 1000-product release: ``items_shuffle_1000.json`` and
``items_ins_v2_1000.json``), and optionally ``items_human_ins.json`` for human goals. Tasks are
the goals ``fixed_0`` ... in WebShop's fixed shuffled order. The shop server starts on the first
``new_env`` (or ``await start()``) and stops in ``aclose()``; ``async with WebShop(...) as bench``
does both.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from agentledger.errors import DataError, UsageError

from ..base import Benchmark, Score, Task, TaskEnv, resolve_data_path
from . import pages
from .app import Shop, create_app
from .catalog import Catalog, load_catalog
from .env import WebShopEnv
from .goals import GOAL_SEED, Goal, fixed_goals
from .render import OBSERVATION_MODES, observation, parse_page
from .search_index import SearchIndex
from .server import ShopServer

__all__ = ["ENV_VAR", "OFFICIAL_URL", "HUMAN_FILE", "WebShop", "find_data_files"]

ENV_VAR = "AGENTLEDGER_WEBSHOP"
OFFICIAL_URL = ("https://github.com/princeton-nlp/WebShop, setup.sh -d small: items_shuffle_1000.json from "
                "https://drive.google.com/uc?id=1EgHdxQ_YxqIQlvvq5iKlCrkEKR6-j0Ib and items_ins_v2_1000.json from "
                "https://drive.google.com/uc?id=1IduG0xl544V_A_jv3tHXC0kyFi7PnyBu")
NEEDED = "a folder holding items_shuffle_1000.json and items_ins_v2_1000.json"
HUMAN_FILE = "items_human_ins.json"
GoalChoice = Literal["auto", "synthetic", "human"]


def find_data_files(path: Path) -> tuple[Path, Path, Path | None]:
    """``(catalog, attributes, human or None)`` in a data folder, or for a given catalog file."""
    if path.is_file():
        folder, catalogs = path.parent, [path]
    else:
        folder, catalogs = path, sorted(path.glob("items_shuffle*.json"))
    if not catalogs:
        raise DataError(f"{folder} has no WebShop catalog: put items_shuffle_1000.json and items_ins_v2_1000.json "
                        f"there (download: {OFFICIAL_URL})")
    if len(catalogs) > 1:
        names = ", ".join(c.name for c in catalogs)
        raise DataError(f"{folder} holds several catalogs ({names}); pass the one to use as --data {folder}/NAME")
    catalog = catalogs[0]
    suffix = catalog.name.removeprefix("items_shuffle")
    attributes = folder / f"items_ins_v2{suffix}"
    if not attributes.is_file():
        raise DataError(f"{folder} has {catalog.name} but not its attributes file {attributes.name}; "
                        f"put it beside the catalog (download: {OFFICIAL_URL})")
    human = folder / HUMAN_FILE
    return catalog, attributes, human if human.is_file() else None


class WebShop(Benchmark):
    """WebShop over a local HTTP shop; see the module docstring."""

    name = "webshop"
    tool_names = ("search", "click")

    def __init__(self, data: str | os.PathLike[str] | None = None, *, num_products: int | None = None,
                 observation_mode: str = "text", strict: bool = True, goals: GoalChoice = "auto") -> None:
        if observation_mode not in OBSERVATION_MODES:
            raise UsageError(f"unknown WebShop observation mode {observation_mode!r}; "
                             f"use one of {', '.join(OBSERVATION_MODES)}")
        if goals not in ("auto", "synthetic", "human"):
            raise UsageError(f"goals must be auto, synthetic or human, not {goals!r}")
        catalog_path, attributes_path, human_path = find_data_files(
            resolve_data_path(data, ENV_VAR, needed=NEEDED, official_url=OFFICIAL_URL))
        if goals == "human" and human_path is None:
            raise DataError(f"human goals need {HUMAN_FILE} beside {catalog_path.name} "
                            f"(download: https://drive.google.com/uc?id=14Kb5SPBk_jfdLZ_CDBNitW98QLDlKR5O)")
        self.goal_kind: Literal["synthetic", "human"] = \
            "human" if goals == "human" or (goals == "auto" and human_path) else "synthetic"
        self.catalog: Catalog = load_catalog(catalog_path, attributes_path, num_products=num_products,
                                             human_path=human_path if self.goal_kind == "human" else None)
        self.goals: list[Goal] = fixed_goals(self.catalog, self.goal_kind)
        self._by_id = {g.goal_id: g for g in self.goals}
        self.index = SearchIndex(self.catalog.products)
        self.observation_mode = observation_mode
        self.strict = strict
        self.num_products = num_products
        self._server = ShopServer(create_app(Shop(self.catalog, self.goals, self.index)))

    # ------------------------------------------------------------------ tasks

    def goal(self, goal_id: str) -> Goal:
        found = self._by_id.get(goal_id)
        if found is None:
            raise DataError(f"unknown WebShop goal id {goal_id!r}; ids run from fixed_0 to "
                            f"fixed_{len(self.goals) - 1} for {self.catalog.catalog_file.name}")
        return found

    def task(self, goal_id: str) -> Task:
        goal = self.goal(goal_id)
        first = observation(parse_page(pages.search_page("", goal.instruction_text)), self.observation_mode)
        return Task(task_id=goal.goal_id, prompt=goal.instruction_text, reference=None,
                    fields={"observation": first, "goal": goal.as_dict()})

    def tasks(self, limit: int | None = None) -> list[Task]:
        chosen = self.goals if limit is None else self.goals[:max(limit, 0)]
        return [self.task(g.goal_id) for g in chosen]

    # ------------------------------------------------------------------ server and envs

    @property
    def url(self) -> str:
        """The shop's base URL (starts the server if needed)."""
        return self._server.start()

    async def start(self) -> str:
        """Start the shop server without blocking the event loop; returns its URL."""
        return await asyncio.to_thread(self._server.start)

    def new_env(self, task: Task) -> WebShopEnv:
        goal = self.goal(task.task_id)
        return WebShopEnv(self._server.start(), goal.goal_id, observation_mode=self.observation_mode,
                          strict=self.strict)

    async def score(self, task: Task, answer: str, env: TaskEnv | None = None) -> Score:
        """The reward of the env's purchase (0 without one); ``correct`` when it is 1.0."""
        if env is None:
            return Score(0.0, False, {"purchased": 0.0})
        if not isinstance(env, WebShopEnv):
            raise UsageError(f"WebShop scores a WebShopEnv, not {type(env).__name__}; pass the env of the task")
        if env.goal_id != task.task_id:
            raise UsageError(f"env of goal {env.goal_id} given to score task {task.task_id}")
        if env.purchase is None:
            return Score(0.0, False, {"purchased": 0.0})
        reward = float(env.purchase["reward"])
        detail = {k: float(v) for k, v in env.purchase["detail"].items()}
        return Score(reward, reward == 1.0, {**detail, "purchased": 1.0})

    def describe(self) -> Mapping[str, Any]:
        c = self.catalog
        return {
            "name": self.name,
            "catalog": {**c.catalog_file.as_dict(), "products": len(c.products), "records_read": c.records_read,
                        "skipped_records": c.skipped_records, "num_products": self.num_products},
            "attributes": c.attributes_file.as_dict(),
            "goals": {"kind": self.goal_kind, "count": len(self.goals), "ids": f"fixed_0..fixed_{len(self.goals) - 1}",
                      "seed": GOAL_SEED, "source": (c.human_file or c.attributes_file).name},
            "search": {"engine": "sqlite-fts5-bm25", "documents": self.index.size,
                       "index_build_s": round(self.index.build_s, 6)},
            "observation_mode": self.observation_mode,
            "strict": self.strict,
        }

    async def aclose(self) -> None:
        await asyncio.to_thread(self._server.stop)

    def close(self) -> None:
        """Stop the server from synchronous code."""
        self._server.stop()

    async def __aenter__(self) -> WebShop:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
