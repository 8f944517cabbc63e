"""Our own instructions and short few-shot examples, per benchmark, for ReAct-style agents and CoT.

Every example was written for this package (none is taken from a benchmark's dev or test set
or from the original papers' prompts) and kept short: small models have short contexts and a
slow CPU engine pays for every prompt token. Observations in the examples follow the real
tools' formats (:mod:`agentledger.datasets`).

* :func:`instruction` ``(dataset, agent)``: the system text; ``agent`` is ``"cot"`` or a ReAct-style
  agent (``"react"``, ``"reflexion"``, ``"lats"``).
* :func:`few_shots` ``(dataset, k, style="react"|"cot")``: the first ``k`` examples as strings.
* :func:`user_text` ``(task, dataset)``: the task as the user turn (a WebShop task's first page,
  a HumanEval prompt in a code block, otherwise ``Question: ...``).
* :data:`DEFAULT_SHOTS`: the default example counts per style and benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..datasets.base import Task
from ..errors import UsageError

__all__ = ["DEFAULT_SHOTS", "instruction", "few_shots", "few_shot_text", "user_text"]

_REACT_HOTPOTQA = (
    """Question: Which river flows through the capital of Hungary?
Thought: I need the capital of Hungary, then the river that flows through it.
Action: Search[Hungary]
Observation: Hungary is a landlocked country in Central Europe. Its capital and largest city is Budapest.
Thought: The capital is Budapest. Now I need the river of Budapest.
Action: Search[Budapest]
Observation: Budapest is the capital and most populous city of Hungary. The city lies on both banks of the Danube.
Thought: The Danube flows through Budapest.
Action: Finish[Danube]""",
    """Question: Who was born first, Marie Curie or Albert Einstein?
Thought: I need the birth dates of both people.
Action: Search[Marie Curie]
Observation: Marie Curie (7 November 1867 - 4 July 1934) was a Polish and naturalised-French physicist and chemist.
Thought: Marie Curie was born in 1867. Now Albert Einstein.
Action: Search[Albert Einstein]
Observation: Albert Einstein (14 March 1879 - 18 April 1955) was a German-born theoretical physicist.
Thought: 1867 is before 1879, so Marie Curie was born first.
Action: Finish[Marie Curie]""",
    """Question: In which U.S. state is the university where Alan Turing earned his PhD?
Thought: I need to find where Alan Turing earned his PhD.
Action: Search[Alan Turing]
Observation: Alan Mathison Turing (23 June 1912 - 7 June 1954) was an English mathematician and computer scientist.
Thought: The summary does not say where he earned his PhD. I will look up PhD.
Action: Lookup[PhD]
Observation: (Result 1 / 1) Turing obtained his PhD from Princeton University in 1938.
Thought: Now I need the state of Princeton University.
Action: Search[Princeton University]
Observation: Princeton University is a private research university in Princeton, New Jersey.
Thought: Princeton University is in New Jersey.
Action: Finish[New Jersey]""",
    """Question: How tall is the highest mountain of the Alps?
Thought: I need the highest mountain of the Alps and its height.
Action: Search[highest mountain of the Alps]
Observation: Could not find highest mountain of the Alps. Similar: ['Mont Blanc', 'Alps', 'Matterhorn'].
Thought: The highest mountain of the Alps is Mont Blanc. I will search it.
Action: Search[Mont Blanc]
Observation: Mont Blanc is the highest mountain in the Alps, rising 4,805 m above sea level.
Thought: Mont Blanc is 4,805 m tall.
Action: Finish[4,805 m]""",
    """Question: Are the Uffizi and the Prado museums in the same country?
Thought: I need the country of each museum.
Action: Search[Uffizi]
Observation: The Uffizi Gallery is an art museum in Florence, Italy.
Thought: The Uffizi is in Italy. Now the Prado.
Action: Search[Prado Museum]
Observation: The Prado Museum is the main Spanish national art museum, in central Madrid.
Thought: The Prado is in Spain, not Italy.
Action: Finish[no]""",
    """Question: The author of Pride and Prejudice was born in which English county?
Thought: I need the author of Pride and Prejudice, then where the author was born.
Action: Search[Pride and Prejudice]
Observation: Pride and Prejudice is an 1813 novel of manners by Jane Austen.
Thought: The author is Jane Austen. Now her birthplace.
Action: Search[Jane Austen]
Observation: Jane Austen (16 December 1775 - 18 July 1817) was an English novelist. She was born in Steventon, Hampshire.
Thought: Jane Austen was born in Hampshire.
Action: Finish[Hampshire]""",
)
_COT_HOTPOTQA = (
    "Question: Which river flows through the capital of Hungary?\n"
    "Thought: The capital of Hungary is Budapest, and Budapest lies on both banks of the Danube.\nAnswer: Danube",
    "Question: Who was born first, Marie Curie or Albert Einstein?\n"
    "Thought: Marie Curie was born in 1867 and Albert Einstein in 1879, so Curie was born first.\n"
    "Answer: Marie Curie",
    "Question: In which U.S. state is the university where Alan Turing earned his PhD?\n"
    "Thought: Turing earned his PhD at Princeton University, which is in New Jersey.\nAnswer: New Jersey",
    "Question: How tall is the highest mountain of the Alps?\n"
    "Thought: The highest mountain of the Alps is Mont Blanc, which rises 4,805 m above sea level.\nAnswer: 4,805 m",
    "Question: Are the Uffizi and the Prado museums in the same country?\n"
    "Thought: The Uffizi is in Florence, Italy and the Prado is in Madrid, Spain, so they are not.\nAnswer: no",
    "Question: The author of Pride and Prejudice was born in which English county?\n"
    "Thought: Pride and Prejudice was written by Jane Austen, who was born in Steventon, Hampshire.\n"
    "Answer: Hampshire",
)
_REACT_WEBSHOP = (
    """WebShop [SEP] Instruction: [SEP] i need a pack of 12 oat milk cartons, and price lower than 40.00 dollars [SEP] Search
Thought: I should search for oat milk in a pack of 12.
Action: search[oat milk pack of 12]
Observation: Instruction: [SEP] i need a pack of 12 oat milk cartons, and price lower than 40.00 dollars [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B0EX4MPL01 [SEP] Oat Milk Original, 32 fl oz (Pack of 12) [SEP] $35.88 [SEP] B0EX4MPL02 [SEP] Barista Oat Drink, 1 Liter (Pack of 6) [SEP] $21.50
Thought: B0EX4MPL01 is a pack of 12 and costs less than 40 dollars.
Action: click[B0EX4MPL01]
Observation: Instruction: [SEP] i need a pack of 12 oat milk cartons, and price lower than 40.00 dollars [SEP] Back to Search [SEP] < Prev [SEP] Oat Milk Original, 32 fl oz (Pack of 12) [SEP] Price: $35.88 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now
Thought: This product matches, and it has no options to choose. I will buy it.
Action: click[Buy Now]""",
    """WebShop [SEP] Instruction: [SEP] i want a cotton t-shirt for men in size large, and price lower than 25.00 dollars [SEP] Search
Thought: I should search for a cotton t-shirt for men.
Action: search[men cotton t-shirt]
Observation: Instruction: [SEP] i want a cotton t-shirt for men in size large, and price lower than 25.00 dollars [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B0EX4MPL07 [SEP] Men's Cotton Crew Neck T-Shirt [SEP] $14.99 [SEP] B0EX4MPL08 [SEP] Women's Linen Blouse [SEP] $29.00
Thought: B0EX4MPL07 is a men's cotton t-shirt under 25 dollars.
Action: click[B0EX4MPL07]
Observation: Instruction: [SEP] i want a cotton t-shirt for men in size large, and price lower than 25.00 dollars [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] medium [SEP] large [SEP] Men's Cotton Crew Neck T-Shirt [SEP] Price: $14.99 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now
Thought: I need to choose the size large.
Action: click[large]
Observation: Instruction: [SEP] i want a cotton t-shirt for men in size large, and price lower than 25.00 dollars [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] medium [SEP] large [SEP] Men's Cotton Crew Neck T-Shirt [SEP] Price: $14.99 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now
Thought: The size is chosen. I will buy it.
Action: click[Buy Now]""",
)
_REACT_MATH = (
    """Question: What is the sum of the roots of $x^2 - 7x + 10 = 0$?
Thought: I will solve the equation to find its roots.
Action: Solve[x^2 - 7x + 10 = 0]
Observation: x = 2 or x = 5
Thought: The roots are 2 and 5, so their sum is 7.
Action: Finish[7]""",
    """Question: Compute $\\sqrt{50} \\cdot \\sqrt{2}$.
Thought: I will calculate the product.
Action: Calculate[sqrt(50)*sqrt(2)]
Observation: 10
Thought: The product is 10.
Action: Finish[10]""",
    """Question: Two numbers add up to 30 and differ by 8. What is the larger number?
Thought: Let x and y be the numbers, with x + y = 30 and x - y = 8.
Action: Solve[x + y = 30, x - y = 8]
Observation: x = 19, y = 11
Thought: The larger number is 19.
Action: Finish[19]""",
    """Question: What is the area of a circle with diameter 10? Express your answer in terms of $\\pi$.
Thought: The radius is 5, so the area is pi times 5 squared.
Action: Calculate[5^2]
Observation: 25
Thought: The area is 25 pi.
Action: Finish[\\boxed{25\\pi}]""",
)
_COT_MATH = (
    "Question: What is the sum of the roots of $x^2 - 7x + 10 = 0$?\n"
    "Solution: The equation factors as (x - 2)(x - 5) = 0, so the roots are 2 and 5 and their sum is 7.\n"
    "Answer: \\boxed{7}",
    "Question: Compute $\\sqrt{50} \\cdot \\sqrt{2}$.\n"
    "Solution: The product is sqrt(50 * 2) = sqrt(100) = 10.\nAnswer: \\boxed{10}",
    "Question: Two numbers add up to 30 and differ by 8. What is the larger number?\n"
    "Solution: With x + y = 30 and x - y = 8, adding gives 2x = 38, so the larger number is x = 19.\n"
    "Answer: \\boxed{19}",
    "Question: What is the area of a circle with diameter 10? Express your answer in terms of $\\pi$.\n"
    "Solution: The radius is 5, so the area is pi * 5^2 = 25 pi.\nAnswer: \\boxed{25\\pi}",
)
_LEAP = 'def is_leap_year(year: int) -> bool:\n    """Return True if year is a leap year in the Gregorian calendar."""\n'
_WORDS = 'def count_words(text: str) -> int:\n    """Return the number of words in text, split on whitespace."""\n'
_LEAP_OK = ("def is_leap_year(year: int) -> bool:\n"
            "    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)")
_WORDS_OK = "def count_words(text: str) -> int:\n    return len(text.split())"
_REACT_HUMANEVAL = (
    f"""```python
{_WORDS}```
Thought: Splitting on whitespace gives the words; I will test it.
Action: Test
```python
{_WORDS_OK}

assert count_words("a b  c") == 3
assert count_words("") == 0
```
Observation: run_tests: PASSED: all 2 asserts passed.
Thought: The tests pass, so this is my answer.
Action: Finish
```python
{_WORDS_OK}
```""",
    f"""```python
{_LEAP}```
Thought: A year divisible by 4 is a leap year; I will test it.
Action: Test
```python
def is_leap_year(year: int) -> bool:
    return year % 4 == 0

assert is_leap_year(2024) == True
assert is_leap_year(1900) == False
```
Observation: run_tests: FAILED: 1 of 2 top-level asserts passed, 1 failed.
- line 5: assert is_leap_year(1900) == False -> got True, expected False
Thought: Century years are leap years only when divisible by 400; I will fix and test again.
Action: Test
```python
{_LEAP_OK}

assert is_leap_year(2024) == True
assert is_leap_year(1900) == False
assert is_leap_year(2000) == True
```
Observation: run_tests: PASSED: all 3 asserts passed.
Thought: All tests pass.
Action: Finish
```python
{_LEAP_OK}
```""",
)
_COT_HUMANEVAL = (
    f"```python\n{_WORDS}```\n```python\n{_WORDS_OK}\n```",
    f"```python\n{_LEAP}```\n```python\n{_LEAP_OK}\n```",
)

_EXAMPLES: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType({
    ("react", "hotpotqa"): _REACT_HOTPOTQA, ("cot", "hotpotqa"): _COT_HOTPOTQA,
    ("react", "webshop"): _REACT_WEBSHOP,
    ("react", "math"): _REACT_MATH, ("cot", "math"): _COT_MATH,
    ("react", "humaneval"): _REACT_HUMANEVAL, ("cot", "humaneval"): _COT_HUMANEVAL,
})
DEFAULT_SHOTS: Mapping[tuple[str, str], int] = MappingProxyType({
    ("react", "hotpotqa"): 6, ("react", "webshop"): 2, ("react", "math"): 4, ("react", "humaneval"): 2,
    ("cot", "hotpotqa"): 6, ("cot", "math"): 4, ("cot", "humaneval"): 2,
})

_TASK = {
    "hotpotqa": ("Answer the question by interleaving Thought and Action lines. Search[entity] shows the first "
                 "sentences of the Wikipedia page of entity (or similar titles), Lookup[keyword] shows the next "
                 "sentence with keyword in the current page, Finish[answer] gives the short final answer."),
    "webshop": ("Buy the product that best matches the instruction by interleaving Thought and Action lines. "
                "search[keywords] searches the shop from the search page; click[element] clicks a product id, "
                "an option or a button shown on the page (Back to Search, Next >, < Prev, Buy Now). "
                "Choose the requested options, then click[Buy Now]."),
    "math": ("Solve the problem by interleaving Thought and Action lines. Calculate[expression] evaluates a "
             "numeric expression, Solve[equation] solves or simplifies with algebra, Finish[answer] gives the "
             "final answer in simplest form."),
    "humaneval": ("Write the Python function by interleaving Thought and Action lines. Action: Test followed by a "
                  "```python block with the complete function and assert lines runs them; Action: Finish followed "
                  "by a ```python block with the complete function gives the final answer."),
}
_COT = {
    "hotpotqa": "Answer the question. Think in one line starting with 'Thought:', then give 'Answer:' and a short answer.",
    "math": ("Solve the problem. Reason in one line starting with 'Solution:', then write 'Answer:' and the final "
             "answer in \\boxed{}."),
    "humaneval": "Complete the Python function. Reply with the complete function in one ```python block.",
}
_REFLEXION = (" If reflections on earlier failed attempts are given, use them to avoid repeating the same "
              "mistakes.")


def instruction(dataset: str, agent: str) -> str:
    """The system instruction for ``agent`` (``cot``, or a ReAct-style agent) on ``dataset``."""
    table = _COT if agent == "cot" else _TASK
    if dataset not in table:
        raise UsageError(f"{agent} has no prompt for {dataset}; datasets with one: {', '.join(table)}")
    return table[dataset] + (_REFLEXION if agent == "reflexion" else "")


def few_shots(dataset: str, k: int, *, style: str = "react") -> list[str]:
    """The first ``k`` of our examples for ``dataset`` in ``style`` (``react`` or ``cot``)."""
    examples = _EXAMPLES.get((style, dataset))
    if examples is None:
        raise UsageError(f"no {style} examples for {dataset}; styles: react (hotpotqa, webshop, math, humaneval), "
                         "cot (hotpotqa, math, humaneval)")
    if not 0 <= k <= len(examples):
        raise UsageError(f"few-shot count must be 0 to {len(examples)} for {style} on {dataset}, not {k}")
    return list(examples[:k])


def few_shot_text(dataset: str, k: int, *, style: str = "react") -> str:
    """The examples as one block of text (empty for ``k == 0``), ready for a ``few_shot`` segment."""
    shots = few_shots(dataset, k, style=style)
    if not shots:
        return ""
    return "Here are examples.\n\n" + "\n\n".join(shots) + "\n\n(End of examples.)\n\n"


def user_text(task: Task, dataset: str) -> str:
    """The task as the model reads it."""
    if dataset == "webshop":
        return str(task.fields.get("observation") or f"WebShop [SEP] Instruction: [SEP] {task.prompt} [SEP] Search")
    if dataset == "humaneval":
        return f"```python\n{task.prompt.rstrip()}\n```"
    return f"Question: {task.prompt.strip()}"
