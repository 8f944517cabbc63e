"""WebShop (Yao et al., 2022): a local web shop over HTTP with WebShop's catalog, goals, search and reward.

``WebShop`` is the benchmark (tasks = fixed goals, tools ``search`` and ``click``, score = the
purchase reward); ``WebShopEnv`` is one task's session. The parts: :mod:`.catalog` (official
files, WebShop's cleaning), :mod:`.goals` (synthetic/human goals, fixed ids), :mod:`.search_index`
(SQLite FTS5 BM25), :mod:`.reward` (``get_reward``), :mod:`.pages` and :mod:`.app` (the Starlette
shop), :mod:`.server` (uvicorn on a free loopback port), :mod:`.render` (text observations) and
:mod:`.env` (the HTTP client side).
"""

from __future__ import annotations

from .benchmark import ENV_VAR, OFFICIAL_URL, WebShop, find_data_files
from .catalog import Catalog, Product, load_catalog
from .env import WebShopEnv
from .goals import Goal, fixed_goals
from .reward import Reward, get_reward
from .search_index import SearchIndex

__all__ = ["ENV_VAR", "OFFICIAL_URL", "WebShop", "WebShopEnv", "find_data_files", "Catalog", "Product",
           "load_catalog", "Goal", "fixed_goals", "Reward", "get_reward", "SearchIndex"]
