"""WebShop goals (``web_agent_site/engine/goal.py``): synthetic goals from the attributes file, or human goals.

Synthetic goals (``get_synthetic_goals``): every product whose attributes entry has an
``instruction`` gives one goal per combination of its option values (option names sorted), with
text ``"{instruction} with {name}: {value}, and {name}: {value}, and price lower than {upper:.2f}
dollars"``. The price bound is drawn as WebShop does: of the first four multiples of $10 above
the product's charged price, two are sampled and the larger is ``price_upper``; with fewer than
two such multiples (prices of $980 and up) there is no bound (``price_upper`` 1,000,000 and no
price text). Attributes are the product's ``instruction_attributes``; the weight is the mean
inverse frequency of those attributes over all goals.

Human goals (``get_human_goals``): each record of ``items_human_ins.json`` with at least one
``instruction_attributes`` entry gives one goal; ``goal_options`` is its ``instruction_options``
list; the weight is 1.

Goals are then shuffled with ``random.Random(233)`` (WebShop: ``random.seed(233)`` then
``random.shuffle``) and numbered ``fixed_0``, ``fixed_1``, ... in that order, so a goal id names
the same goal on every run. WebShop draws the price bounds from the unseeded global generator;
here they come from a generator seeded with the same seed, so the bounds are fixed too.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from agentledger.errors import DataError

from .catalog import Catalog, Product

__all__ = ["PRICE_RANGE", "NO_PRICE_BOUND", "GOAL_SEED", "Goal", "GoalKind", "price_bound",
           "synthetic_goals", "human_goals", "fixed_goals"]

PRICE_RANGE = tuple(10.0 * i for i in range(1, 100))
NO_PRICE_BOUND = 1_000_000.0
GOAL_SEED = 233
GoalKind = Literal["synthetic", "human"]


@dataclass(frozen=True, slots=True)
class Goal:
    """One shopping goal: what the instruction asks for and what the reward compares against."""

    goal_id: str
    asin: str  # the product the goal was written from
    instruction_text: str
    attributes: tuple[str, ...]
    goal_options: Mapping[str, str] | tuple[str, ...]  # synthetic: name -> value; human: values
    price_upper: float
    name: str
    query: str
    category: str
    product_category: str
    weight: float = 1.0

    def as_dict(self) -> dict[str, object]:
        options = dict(self.goal_options) if isinstance(self.goal_options, Mapping) else list(self.goal_options)
        return {"goal_id": self.goal_id, "asin": self.asin, "instruction_text": self.instruction_text,
                "attributes": list(self.attributes), "goal_options": options, "price_upper": self.price_upper,
                "name": self.name, "query": self.query, "category": self.category,
                "product_category": self.product_category, "weight": self.weight}


def price_bound(price: float, rng: random.Random) -> tuple[float, str]:
    """``(price_upper, price_text)`` for a product charged ``price``."""
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_BOUND, ""
    _, upper = sorted(rng.sample(above, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def _goal(product: Product, text: str, attributes: tuple[str, ...], options: Mapping[str, str] | tuple[str, ...],
          upper: float, weight: float = 1.0) -> Goal:
    return Goal(goal_id="", asin=product.asin, instruction_text=text, attributes=attributes, goal_options=options,
                price_upper=upper, name=product.name, query=product.query, category=product.category,
                product_category=product.product_category, weight=weight)


def synthetic_goals(catalog: Catalog, rng: random.Random) -> list[Goal]:
    goals: list[Goal] = []
    counts: dict[str, int] = defaultdict(int)
    for product in catalog.products:
        if product.instruction_text is None:
            continue
        if not product.instruction_attributes:
            raise DataError(f"product {product.asin} has an instruction but no instruction_attributes "
                            "in the attributes file; re-download items_ins_v2")
        upper, price_text = price_bound(catalog.prices[product.asin], rng)
        names = sorted(product.options)
        for combination in itertools.product(*(product.options[n] for n in names)):
            chosen = dict(zip(names, combination, strict=True))
            option_text = ", and ".join(f"{k}: {v}" for k, v in chosen.items())
            option_text = f" with {option_text}" if option_text else ""
            goals.append(_goal(product, f"{product.instruction_text}{option_text}{price_text}",
                               product.instruction_attributes, chosen, upper))
            for attribute in product.instruction_attributes:
                counts[attribute] += 1
    return [replace(g, weight=sum(1.0 / counts[a] for a in g.attributes) / len(g.attributes)) for g in goals]


def human_goals(catalog: Catalog, rng: random.Random) -> list[Goal]:
    goals: list[Goal] = []
    for product in catalog.products:
        for record in product.human_instructions:
            try:
                attributes = tuple(record["instruction_attributes"])
                text, options = str(record["instruction"]), tuple(record.get("instruction_options") or ())
            except (KeyError, TypeError):
                raise DataError(f"human instruction of {product.asin} lacks instruction/instruction_attributes; "
                                "is this items_human_ins.json?") from None
            if not attributes:
                continue
            upper, price_text = price_bound(catalog.prices[product.asin], rng)
            goals.append(_goal(product, text.strip(".") + price_text, attributes, options, upper))
    return goals


def fixed_goals(catalog: Catalog, kind: GoalKind = "synthetic", seed: int = GOAL_SEED) -> list[Goal]:
    """All goals of ``kind``, shuffled with ``seed`` and numbered ``fixed_0`` ... in order."""
    rng = random.Random(seed)
    goals = synthetic_goals(catalog, rng) if kind == "synthetic" else human_goals(catalog, rng)
    if not goals:
        raise DataError(f"the catalog {catalog.catalog_file.name} yields no {kind} goal; "
                        "check that the attributes/instructions file belongs to it")
    random.Random(seed).shuffle(goals)
    return [replace(g, goal_id=f"fixed_{i}") for i, g in enumerate(goals)]
