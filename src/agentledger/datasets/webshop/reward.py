"""WebShop's purchase reward (``web_agent_site/engine/goal.py`` ``get_reward``), ported.

    reward = r_type * (n_att_matched + n_opt_matched + r_price) / (n_att + n_opt + 1)

* ``r_type``: 1.0 when the product is of the goal's type; 0.5 when neither the query, the
  category path (two or more shared levels) nor the title (more than 20 % of the goal title's
  nouns) agrees; 0.1 when under 10 % of the title nouns are shared; 0.0 when none are.
* attributes: a goal attribute matches when ``token_set_ratio`` with one of the product's
  attributes is above 85, or when it occurs in the product's title, features or description.
* options: each chosen option matches when (``size``: exactly; others: fuzzily, after colour
  normalisation) it equals a goal option, or when it occurs in the title, features or description.
* ``r_price``: the charged price is at most the goal's ``price_upper``.

See :mod:`.matching` for the one approximation (title nouns without spaCy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .catalog import Product
from .goals import Goal
from .matching import normalize_color, title_nouns, token_set_ratio

__all__ = ["EXACT_MATCH_OPTIONS", "TypeMatch", "Reward", "type_reward", "attribute_matches",
           "option_matches", "get_reward"]

EXACT_MATCH_OPTIONS = ("size",)
FUZZY_THRESHOLD = 85


@dataclass(frozen=True, slots=True)
class TypeMatch:
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


@dataclass(frozen=True, slots=True)
class Reward:
    """The reward of one purchase and its components (WebShop's ``verbose`` info)."""

    value: float
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float
    r_att: float
    n_att_matched: int
    n_att: int
    r_option: float | None  # None when the goal has no options
    n_opt_matched: int
    n_opt: int
    r_price: bool
    price: float
    price_upper: float

    def as_detail(self) -> dict[str, float]:
        """The components as floats (``Score.detail``); weights ``w_*`` as WebShop reports them."""
        denom = self.n_att + self.n_opt + 1
        detail = {
            "reward": self.value, "r_type": self.r_type, "r_att": self.r_att, "w_att": self.n_att / denom,
            "query_match": float(self.query_match), "category_match": float(self.category_match),
            "title_score": self.title_score, "r_price": float(self.r_price), "w_price": 1 / denom,
            "price": self.price, "price_upper": self.price_upper,
        }
        if self.r_option is not None:
            detail["r_option"] = self.r_option
            detail["w_option"] = self.n_opt / denom
        return detail


def _mentions(product: Product, text: str) -> bool:
    return (text in product.name.lower() or text in " ".join(product.bullet_points).lower()
            or text in product.description.lower())


def type_reward(product: Product, goal: Goal) -> TypeMatch:
    query_match = product.query == goal.query
    bought = {x.strip() for x in product.product_category.split("›")}
    wanted = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(bought & wanted) >= 2
    desired = title_nouns(goal.name)
    shared = len(set(title_nouns(product.name)) & set(desired))
    title_score = 0.2 if not desired else shared / len(desired)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeMatch(r_type, query_match, category_match, title_score)


def attribute_matches(product: Product, goal_attributes: tuple[str, ...]) -> int:
    matched = 0
    for wanted in goal_attributes:
        if any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in product.attributes):
            matched += 1
        elif _mentions(product, wanted):
            matched += 1
    return matched


def option_matches(product: Product, goal_options: list[str], chosen: Mapping[str, str]) -> int:
    goal_norm = [normalize_color(o) for o in goal_options]
    matched = 0
    for name, value in chosen.items():
        value = normalize_color(value)
        if name.lower() in EXACT_MATCH_OPTIONS:
            hit = value in goal_norm
        else:
            hit = any(token_set_ratio(g, value) > FUZZY_THRESHOLD for g in goal_norm)
        if hit or _mentions(product, value):
            matched += 1
    return matched


def get_reward(product: Product, goal: Goal, price: float, options: Mapping[str, str]) -> Reward:
    """The reward for buying ``product`` at ``price`` with ``options`` chosen, against ``goal``."""
    kind = type_reward(product, goal)
    r_price = price <= goal.price_upper
    n_att_matched = attribute_matches(product, goal.attributes)
    goal_options = list(goal.goal_options.values()) if isinstance(goal.goal_options, Mapping) \
        else list(goal.goal_options)
    n_opt_matched = option_matches(product, goal_options, options)
    n_att, n_opt = len(goal.attributes), len(goal_options)
    value = (n_att_matched + n_opt_matched + int(r_price)) / (n_att + n_opt + 1) * kind.r_type
    return Reward(
        value=value, r_type=kind.r_type, query_match=kind.query_match, category_match=kind.category_match,
        title_score=kind.title_score, r_att=n_att_matched / n_att if n_att else 0.0,
        n_att_matched=n_att_matched, n_att=n_att,
        r_option=n_opt_matched / n_opt if n_opt else None, n_opt_matched=n_opt_matched, n_opt=n_opt,
        r_price=r_price, price=price, price_upper=goal.price_upper,
    )
