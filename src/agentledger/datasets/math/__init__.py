"""The MATH benchmark (Hendrycks et al., 2021) and MATH-500: loader, tools and scorer.

Modules: :mod:`.loader` (problems and filters), :mod:`.calculator` (``calculate[expr]``),
:mod:`.solver` and :mod:`.worker` (``solve[query]`` with sympy in CPU-limited worker
processes), :mod:`.wolfram` (``solve`` on the Wolfram|Alpha API), :mod:`.latex`,
:mod:`.sympy_safe` and :mod:`.scoring` (answer extraction, normalization, equivalence),
:mod:`.benchmark` (the :class:`MATH` benchmark itself).
"""

from __future__ import annotations

from .benchmark import MATH, MathEnv
from .calculator import calculate, evaluate
from .latex import extract_answer, last_boxed, strip_string
from .loader import ENV_VAR, LEVELS, MATH500_URL, OFFICIAL_URL, SUBJECTS, MathLoad, MathProblem, load_math
from .scoring import equivalent_sympy, is_equiv_string, score_answer
from .solver import SympySolver, run_query
from .wolfram import WolframAlpha, WolframError
from .worker import SympyTimeout, SympyWorker, SympyWorkerError

__all__ = [
    "MATH", "MathEnv", "calculate", "evaluate", "extract_answer", "last_boxed", "strip_string", "ENV_VAR",
    "LEVELS", "MATH500_URL", "OFFICIAL_URL", "SUBJECTS", "MathLoad", "MathProblem", "load_math",
    "equivalent_sympy", "is_equiv_string", "score_answer", "SympySolver", "run_query", "WolframAlpha",
    "WolframError", "SympyTimeout", "SympyWorker", "SympyWorkerError",
]
