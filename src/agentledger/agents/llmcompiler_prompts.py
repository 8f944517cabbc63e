"""LLMCompiler's prompts, as tagged segments: the planner's and the joiner's, per benchmark.

The planner sees its instruction and example plans (system), the question (user) and, when
replanning, each earlier round: its plan (``llm_history``, as the assistant's message), the
task results (``tool_history``) and the joiner's reason to replan (``llm_history``). The
joiner sees the question and every round's plan and results, and answers ``Finish[...]`` or
``Replan[...]``. The examples are written for this project; none is a benchmark question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .llmcompiler_exec import POLICIES, TaskResult
from .prompt import Segment

__all__ = ["Round", "PLANNER_INSTRUCTIONS", "PLANNER_EXAMPLES", "JOINER_INSTRUCTIONS", "JOINER_EXAMPLES",
           "planner_segments", "joiner_segments", "render_results"]


@dataclass(frozen=True, slots=True)
class Round:
    """One finished plan-execute-join round, as later prompts show it."""

    plan: str
    results: tuple[TaskResult, ...]
    note: str  # the joiner's reason to replan, or why the plan could not be run


PLANNER_INSTRUCTIONS = {
    "hotpotqa": (
        "Plan the Wikipedia look-ups that answer the question. Tools:\n"
        '- search("entity"): opens the Wikipedia page of the entity and returns its first sentences.\n'
        '- lookup("keyword", $k): the next sentence containing keyword in the page opened by task k.\n'
        "Write a one-line Thought, then one task per line numbered from 1 (at most {max_tasks} tasks), "
        "then join(). $k stands for the result of task k. Tasks that do not depend on each other run "
        "in parallel, so search every entity you already know the name of at once."),
    "webshop": (
        "Plan the web shop actions that buy the product the instruction describes. Tools:\n"
        "- search[keywords]: searches the shop (only from the search page).\n"
        "- click[element]: clicks a button, a product id or an option shown on the current page, "
        "e.g. click[B07XYZ1234], click[large], click[Buy Now].\n"
        "Write a one-line Thought, then one task per line numbered from 1 (at most {max_tasks} tasks), "
        "then join(). The tasks run one after another in one browser session. Only click what you have "
        "seen on a page; when you must first see the results, end the plan and plan again."),
}

PLANNER_EXAMPLES = {
    "hotpotqa": (
        ("Question: Which river is longer, the Danube or the Dnieper?",
         'Thought: I need the length of both rivers.\n1. search("Danube")\n2. search("Dnieper")\n3. join()'),
        ("Question: Who designed the bridge that carries the A1 road over the Tweed at Berwick?",
         'Thought: First find the bridge, then its designer.\n1. search("Royal Tweed Bridge")\n'
         '2. lookup("designed", $1)\n3. join()'),
        ("Question: Were the composers of The Planets and of Peer Gynt of the same nationality?",
         'Thought: Find both composers and their nationalities.\n1. search("The Planets")\n'
         '2. search("Peer Gynt (Grieg)")\n3. join()'),
    ),
    "webshop": (
        ("Instruction: i want a pack of 12 unscented beeswax tea light candles, price lower than 30.00 dollars",
         "Thought: Search first; I choose a product once I see the results.\n"
         "1. search[unscented beeswax tea light candles 12 pack]\n2. join()"),
        ("Instruction: i want a large black cotton hoodie, price lower than 40.00 dollars\n"
         "Seen: [B09HOODIE1] Black Cotton Pullover Hoodie $29.99",
         "Thought: B09HOODIE1 fits; open it, pick the size and colour, buy.\n1. click[B09HOODIE1]\n"
         "2. click[large]\n3. click[black]\n4. click[Buy Now]\n5. join()"),
    ),
}

JOINER_INSTRUCTIONS = {
    "hotpotqa": (
        "You read the results of a plan of Wikipedia look-ups. If they answer the question, write a "
        "one-line Thought and then Finish[answer] with a short answer (a name, a date, yes or no). "
        "Otherwise write a one-line Thought and Replan[what is still missing]."),
    "webshop": (
        "You read the results of a plan of web shop actions. If a product has been bought, write a "
        "one-line Thought and Finish[the product id]. Otherwise write a one-line Thought and "
        "Replan[the next actions to take, naming what you saw]."),
}

JOINER_EXAMPLES = {
    "hotpotqa": (
        ('Question: Which river is longer, the Danube or the Dnieper?\n1. search("Danube") -> The Danube is '
         '2,850 km long.\n2. search("Dnieper") -> The Dnieper is 2,201 km long.',
         "Thought: 2,850 km is more than 2,201 km.\nFinish[Danube]"),
        ('Question: Who designed the bridge that carries the A1 road over the Tweed at Berwick?\n'
         '1. search("Royal Tweed Bridge") -> The Royal Tweed Bridge is a road bridge at Berwick.\n'
         '2. lookup("designed", $1) -> No more results.',
         "Thought: The page does not name the designer.\nReplan[look up engineer in the Royal Tweed Bridge page]"),
        ('Question: Were the composers of The Planets and of Peer Gynt of the same nationality?\n'
         '1. search("The Planets") -> The Planets is a suite by the English composer Gustav Holst.\n'
         '2. search("Peer Gynt (Grieg)") -> Peer Gynt is incidental music by the Norwegian composer Edvard Grieg.',
         "Thought: Holst was English and Grieg was Norwegian.\nFinish[no]"),
    ),
    "webshop": (
        ("Instruction: i want a pack of 12 unscented beeswax tea light candles\n1. search[beeswax tea lights "
         "12 pack] -> [Back to Search] Page 1 [B0CANDLE12] Unscented Beeswax Tea Lights, 12 Pack $18.00",
         "Thought: B0CANDLE12 matches and nothing is bought yet.\nReplan[click B0CANDLE12, then Buy Now]"),
        ("Instruction: i want a pack of 12 unscented beeswax tea light candles\n1. click[B0CANDLE12] -> ...\n"
         "2. click[Buy Now] -> Thank you for shopping with us! Your score: 1.0",
         "Thought: The candles are bought.\nFinish[B0CANDLE12]"),
    ),
}


def _clip(text: str, limit_chars: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit_chars else flat[: limit_chars - 3].rstrip() + "..."


def _task(r: TaskResult, quoted: bool) -> str:
    return f'{r.step.tool}("{r.argument}")' if quoted else f"{r.step.tool}[{r.argument}]"


def render_results(results: Sequence[TaskResult], obs_chars: int, *, quoted: bool = True) -> str:
    """Task results as prompts show them: ``k. tool("argument") -> observation`` (or ``tool[argument]``)."""
    return "\n".join(f"{r.step.idx}. {_task(r, quoted)} -> {_clip(r.output, obs_chars)}" for r in results)


def _question(dataset: str, prompt: str) -> str:
    return f"{'Instruction' if dataset == 'webshop' else 'Question'}: {prompt.strip()}"


def _examples(pairs: Sequence[tuple[str, str]]) -> str:
    return "\n\nExamples:\n\n" + "\n\n".join(f"{q}\n{a}" for q, a in pairs)


def planner_segments(dataset: str, prompt: str, rounds: Sequence[Round], *, few_shot: int, max_tasks: int,
                     obs_chars: int, first_page: str | None = None) -> list[Segment]:
    """The planner's prompt for the next round (``rounds`` are the finished ones)."""
    quoted = POLICIES[dataset].quoted
    segs = [Segment("instruction", PLANNER_INSTRUCTIONS[dataset].format(max_tasks=max_tasks), "system")]
    if few_shot:
        segs.append(Segment("few_shot", _examples(PLANNER_EXAMPLES[dataset][:few_shot]), "system"))
    question = _question(dataset, prompt)
    if first_page:
        question += f"\nCurrent page: {_clip(first_page, obs_chars)}"
    segs.append(Segment("user", question, "user"))
    for r in rounds:
        segs.append(Segment("llm_history", r.plan.strip() or "(no plan)", "assistant"))
        if r.results:
            segs.append(Segment("tool_history", "Results:\n" + render_results(r.results, obs_chars, quoted=quoted),
                                "user"))
        segs.append(Segment("llm_history", f"\nReplan: {r.note}\nWrite a new plan.", "user"))
    return segs


def joiner_segments(dataset: str, prompt: str, rounds: Sequence[Round], plan: str,
                    results: Sequence[TaskResult], *, few_shot: int, obs_chars: int) -> list[Segment]:
    """The joiner's prompt: the question, earlier rounds' results and this round's plan and results."""
    quoted = POLICIES[dataset].quoted
    segs = [Segment("instruction", JOINER_INSTRUCTIONS[dataset], "system")]
    if few_shot:
        segs.append(Segment("few_shot", _examples(JOINER_EXAMPLES[dataset][:few_shot]), "system"))
    segs.append(Segment("user", _question(dataset, prompt), "user"))
    earlier = [r for r in rounds if r.results]
    if earlier:
        shown = "\n".join(render_results(r.results, obs_chars, quoted=quoted) for r in earlier)
        segs.append(Segment("tool_history", f"\nEarlier results:\n{shown}", "user"))
    segs.append(Segment("llm_history", f"\nPlan:\n{plan.strip()}", "user"))
    shown = render_results(results, obs_chars, quoted=quoted) or "(none)"
    segs.append(Segment("tool_history", f"\nResults:\n{shown}", "user"))
    return segs
