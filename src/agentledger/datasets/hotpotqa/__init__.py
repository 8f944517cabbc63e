"""HotpotQA (Yang et al., 2018): loader, offline and online Wikipedia tools, official scorer.

``HotpotQA(data, wiki="local"|"online", cache_dir=..., strict=...)`` is the benchmark;
see :mod:`.loader` for the file formats read, :mod:`.wiki_index` for the offline index,
:mod:`.env` for the ``search``/``lookup`` semantics, :mod:`.online` for the live API and
:mod:`.scoring` for the metrics.
"""

from __future__ import annotations

from .benchmark import LEVELS, QUESTION_TYPES, WIKI_BACKENDS, HotpotQA
from .download import download
from .env import HotpotQAEnv, LocalWiki, NotFound, WikiBackend, parse_argument
from .loader import ENV_VAR, OFFICIAL_URLS, SPLITS, DataFile, HotpotQALoad, Question, load_hotpotqa, read_file
from .online import OnlineWiki, OnlineWikiError
from .scoring import answer_metrics, exact_match, f1_score, normalize_answer, score_answer
from .wiki_index import IndexInfo, WikiIndex, WikiPage, build_index, default_cache_dir, normalize_title

__all__ = [
    "HotpotQA", "WIKI_BACKENDS", "QUESTION_TYPES", "LEVELS",
    "ENV_VAR", "OFFICIAL_URLS", "SPLITS", "DataFile", "HotpotQALoad", "Question", "load_hotpotqa", "read_file",
    "HotpotQAEnv", "LocalWiki", "NotFound", "WikiBackend", "parse_argument",
    "OnlineWiki", "OnlineWikiError",
    "answer_metrics", "exact_match", "f1_score", "normalize_answer", "score_answer",
    "IndexInfo", "WikiIndex", "WikiPage", "build_index", "default_cache_dir", "normalize_title",
    "download",
]
