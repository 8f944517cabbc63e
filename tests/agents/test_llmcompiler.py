"""LLMCompiler: plan grammar and streaming parser, executor ordering, the agent loop, replayed runs."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentledger.agents.base import AgentContext
from agentledger.agents.llmcompiler import UNPARSABLE_PLAN, LLMCompiler, LLMCompilerKnobs
from agentledger.agents.llmcompiler_exec import POLICIES, Executor
from agentledger.agents.llmcompiler_plan import JOINER_REGEX, PlanStream, parse_plan, parse_verdict, plan_regex
from agentledger.agents.prompt import Segment, build_messages
from agentledger.capture.run import RunConfig, run_capture
from agentledger.datasets.base import Score, Task
from agentledger.datasets.hotpotqa.env import HotpotQAEnv, NotFound
from agentledger.datasets.hotpotqa.wiki_index import WikiPage
from agentledger.errors import UsageError
from agentledger.traceformat import read_trace, validate_trace
from tests.agents.scripted_server import ScriptedServer

HOTPOT_FILE = "hotpot_dev_distractor_v1_first103.json"  # task 0: Scott Derrickson / Ed Wood -> "yes"
DERRICKSON_PLAN = ('Thought: I need both nationalities.\n1. search("Scott Derrickson")\n2. search("Ed Wood")\n'
                   '3. lookup("American", $2)\n4. join()')


# ---------------------------------------------------------------------------------------- plans

@pytest.mark.parametrize(("text", "ok"), [
    (DERRICKSON_PLAN, True),
    ('Thought: one.\n1. search("Danube")\n2. join()', True),
    ('Thought: x.\n1. search("A")\n2. lookup("b", $2)\n3. join()', False),  # refers to itself
    ('Thought: x.\n1. search("A")\n3. search("B")\n3. join()', False),  # numbering skips
    ('Thought: x.\n1. fly("A")\n2. join()', False),  # not a tool
    ('1. search("A")\n2. join()', False),  # no thought
    ("Thought: x.\n" + "".join(f'{i}. search("p{i}")\n' for i in range(1, 4)) + "4. join()", True),
    ("Thought: x.\n" + "".join(f'{i}. search("p{i}")\n' for i in range(1, 5)) + "5. join()", False),  # > 3 tasks
])
def test_plan_regex_accepts_only_bounded_numbered_plans(text, ok):
    assert bool(re.fullmatch(plan_regex(("search", "lookup"), 3), text)) is ok


def test_webshop_plan_regex_takes_bracketed_arguments_with_quotes():
    rx = plan_regex(("search", "click"), 6, refs=False)
    assert re.fullmatch(rx, 'Thought: buy.\n1. click[B0743JKHBV]\n2. click[28" x 28"]\n3. click[Buy Now]\n4. join()')
    assert not re.fullmatch(rx, 'Thought: buy.\n1. click("B0743JKHBV")\n2. join()')
    with pytest.raises(ValueError, match="max_tasks"):
        plan_regex(("search",), 9)


def test_stream_hands_over_each_task_when_its_line_ends():
    got: list[tuple[int, str]] = []
    stream = PlanStream(6, on_step=lambda s: got.append((s.idx, s.argument)))
    fed = ""
    for ch in DERRICKSON_PLAN:
        stream.feed(ch)
        fed += ch
        complete = [line for line in fed.split("\n")[:-1] if re.match(r"\d\. (search|lookup)", line)]
        assert len(got) == len(complete)  # a task is handed over exactly when its newline arrives
    stream.close()
    assert got == [(1, "Scott Derrickson"), (2, "Ed Wood"), (3, "American")]
    assert stream.joined and stream.steps[2].deps == (2,) and stream.steps[2].arg_refs == ()
    assert stream.text == DERRICKSON_PLAN


def test_parse_plan_reads_variants_and_counts_what_it_cannot_read():
    plan = parse_plan('Thought: go\n1. Search("Ada Lovelace")\n2) LOOKUP[born, $1]\nI will now look\n'
                      '3. search("$1 and $100 bill")\n4. search(\'x\', $7)\n5. search("y")\n6. join()\n'
                      '7. search("after join")', 4)
    assert [(s.tool, s.argument, s.deps, s.arg_refs) for s in plan.steps] == [
        ("search", "Ada Lovelace", (), ()), ("lookup", "born", (1,), ()),
        ("search", "$1 and $100 bill", (1,), (1,)), ("search", "x", (7,), ())]
    assert plan.malformed == ["I will now look"] and plan.truncated and not plan.joined
    webshop = parse_plan("Thought: t\n1. search[pillows under $30]\n2. click[28\" x 28\"]\n3. join()", 6, refs=False)
    assert [(s.argument, s.deps) for s in webshop.steps] == [("pillows under $30", ()), ('28" x 28"', ())]
    unreadable = parse_plan("I think the answer is Paris.", 6)
    assert unreadable.steps == [] and not unreadable.joined and unreadable.malformed


def test_parse_verdict():
    assert parse_verdict("Thought: done.\nFinish[ Chief of Protocol ]") == parse_verdict("finish[Chief of Protocol]")
    assert parse_verdict("Thought: no.\nReplan[find her job]").action == "replan"
    bad = parse_verdict("The answer is yes.")
    assert bad.action == "replan" and not bad.ok
    assert re.fullmatch(JOINER_REGEX, "Thought: both American.\nFinish[yes]")


# ---------------------------------------------------------------------------------------- executor

@dataclass
class _Wiki:
    """An in-memory page store whose fetches take ``delay_s[title]`` seconds."""

    pages: dict[str, tuple[str, ...]]
    delay_s: dict[str, float] = field(default_factory=dict)
    backend: str = "memory"

    async def fetch(self, entity: str) -> WikiPage | NotFound:
        await asyncio.sleep(self.delay_s.get(entity, 0.0))
        if entity in self.pages:
            return WikiPage(entity, self.pages[entity])
        return NotFound(tuple(self.pages)[:2])


@dataclass
class _Obs:
    ok: bool
    output: str
    event_id: int


@dataclass
class _Tools:
    """A ToolCaller over a tools mapping that records (name, argument, parent, iteration, start, end)."""

    tools: dict[str, Callable]
    calls: list[tuple] = field(default_factory=list)
    next_id: int = 1000

    async def __call__(self, name: str, argument: str, *, parent: int | None, iteration: int | None = None) -> _Obs:
        fn = self.tools.get(name.lower())
        if fn is None:
            return _Obs(False, f"There is no tool {name!r}.", -1)
        self.next_id += 1
        eid, t0 = self.next_id, time.monotonic()
        out = await fn(argument)
        self.calls.append((name, argument, parent, iteration, t0, time.monotonic()))
        return _Obs(True, out, eid)


async def _execute(plan: str, tools: _Tools, dataset: str) -> tuple[list, Executor]:
    executor = Executor(tools, POLICIES[dataset], iteration=0, parent=lambda: 7)
    for step in parse_plan(plan, 6, refs=POLICIES[dataset].quoted).steps:
        executor.submit(step)
    return await executor.results(), executor


PAGES = {"Ada Lovelace": ("Ada Lovelace was born in London.", "She wrote the first program."),
         "Charles Babbage": ("Charles Babbage was born in Walworth.", "He designed the Analytical Engine.")}


def test_lookup_reads_the_page_of_its_search_after_parallel_searches():
    async def main():
        env = HotpotQAEnv(_Wiki(PAGES, {"Ada Lovelace": 0.05, "Charles Babbage": 0.15}))
        tools = _Tools(dict(env.tools))
        plan = ('1. search("Ada Lovelace")\n2. search("Charles Babbage")\n3. lookup("born", $1)\n'
                '4. lookup("engine")\n5. join()')
        return await _execute(plan, tools, "hotpotqa"), tools

    (results, executor), tools = asyncio.run(main())
    # Babbage's search finished last, so Ada's page is opened again before task 3 reads it
    assert results[2].output == "(Result 1 / 1) Ada Lovelace was born in London."
    # task 4 names no search: it reads the nearest one above it (Babbage's), opened again in turn
    assert results[3].output == "(Result 1 / 1) He designed the Analytical Engine."
    assert [c[:2] for c in tools.calls] == [
        ("search", "Ada Lovelace"), ("search", "Charles Babbage"), ("search", "Ada Lovelace"), ("lookup", "born"),
        ("search", "Charles Babbage"), ("lookup", "engine")]
    assert executor.reopened == 2 and all(c[2] == 7 and c[3] == 0 for c in tools.calls)
    starts = {c[1]: c[4] for c in tools.calls[:2]}
    ends = {c[1]: c[5] for c in tools.calls[:2]}
    assert starts["Charles Babbage"] < ends["Ada Lovelace"]  # the two searches ran together


def test_references_are_substituted_and_bad_ones_become_observations():
    async def echo(argument: str) -> str:
        await asyncio.sleep(0.01)
        return argument.upper()

    async def main():
        tools = _Tools({"search": echo, "lookup": echo})
        plan = '1. search("ada")\n2. search("about $1 too")\n3. lookup("x", $4)\n4. fly("away")\n5. join()'
        return await _execute(plan, tools, "hotpotqa"), tools

    (results, _), tools = asyncio.run(main())
    assert [r.output for r in results[:2]] == ["ADA", "ABOUT ADA TOO"]
    assert results[1].argument == "about ADA too"
    assert not results[2].ok and "$4" in results[2].output and "below 3" in results[2].output
    assert not results[3].ok and "no tool 'fly'" in results[3].output
    assert [c[1] for c in tools.calls] == ["ada", "about ADA too"]


def test_webshop_tasks_run_one_after_another_in_plan_order():
    async def slow_first(argument: str) -> str:
        await asyncio.sleep({"B01": 0.1, "large": 0.0}.get(argument, 0.02))
        return f"page after {argument}"

    async def main():
        tools = _Tools({"search": slow_first, "click": slow_first})
        return await _execute("1. click[B01]\n2. click[large]\n3. click[Buy Now]\n4. join()", tools, "webshop"), tools

    (results, _), tools = asyncio.run(main())
    assert [c[1] for c in tools.calls] == ["B01", "large", "Buy Now"]
    assert all(tools.calls[i][5] <= tools.calls[i + 1][4] for i in range(2))
    assert results[2].output == "page after Buy Now"


# ---------------------------------------------------------------------------------------- agent loop

@dataclass
class _Gen:
    ok: bool
    text: str
    texts: list[str]
    finish_reason: str | None
    event_id: int
    error: str | None = None


@dataclass
class _LLM:
    """An LLM that streams scripted replies word by word (``delay_s`` apart) and reports its event id."""

    reply: Callable[[str, list[Segment]], str | None]  # None: the call fails
    delay_s: float = 0.0
    calls: list[dict] = field(default_factory=list)
    next_id: int = 0

    async def __call__(self, segments, *, role, iteration=None, parent=None, temperature=0.0, max_tokens=256,
                       stop=None, n=1, regex=None, json_schema=None, on_text=None, on_start=None) -> _Gen:
        self.next_id += 1
        eid, t0 = self.next_id, time.monotonic()
        if on_start is not None:
            on_start(eid)
        text = self.reply(role, list(segments))
        record = {"role": role, "parent": parent, "iteration": iteration, "event_id": eid, "regex": regex,
                  "segments": list(segments), "start": t0}
        self.calls.append(record)
        for piece in re.findall(r"\S+\s*|\s+", text or ""):
            await asyncio.sleep(self.delay_s)
            if on_text is not None:
                on_text(piece)
        record["end"] = time.monotonic()
        if text is None:
            return _Gen(False, "", [""], "error", eid, "HTTP 500: boom")
        return _Gen(True, text, [text], "stop", eid)


def _ctx(llm: _LLM, tools: _Tools, prompt: str = "Who was born in London?") -> AgentContext:
    async def evaluate(answer: str) -> Score:
        return Score(1.0, True)

    return AgentContext(task=Task("t0", prompt), env=None, dataset="hotpotqa", llm=llm, tool=tools,  # type: ignore[arg-type]
                        evaluate=evaluate, request_event_id=0)


def _hotpot_tools() -> _Tools:
    return _Tools(dict(HotpotQAEnv(_Wiki(PAGES)).tools))


@pytest.mark.parametrize("stream", [True, False])
def test_tools_run_while_the_planner_streams_and_name_it_as_parent(stream):
    plan = 'Thought: both.\n1. search("Ada Lovelace")\n2. search("Charles Babbage")\n3. join()'
    llm = _LLM(lambda role, segs: plan if role == "planner" else "Thought: ok.\nFinish[Ada Lovelace]", delay_s=0.03)
    tools = _hotpot_tools()
    episode = asyncio.run(LLMCompiler(LLMCompilerKnobs(stream=stream)).run(_ctx(llm, tools)))
    assert (episode.answer, episode.outcome, episode.iterations) == ("Ada Lovelace", "finished", 1)
    planner, joiner = llm.calls
    assert (planner["role"], joiner["role"], joiner["parent"]) == ("planner", "joiner", planner["event_id"])
    assert all(c[2] == planner["event_id"] for c in tools.calls)
    assert (tools.calls[0][4] < planner["end"]) is stream  # overlap only when streaming
    assert joiner["start"] >= max(c[5] for c in tools.calls)  # the joiner waits for every result
    results = build_messages(joiner["segments"])[-1]["content"]
    assert "1. search(\"Ada Lovelace\") -> Ada Lovelace was born in London." in results


def test_unparsable_plans_are_replans_until_the_budget_ends():
    llm = _LLM(lambda role, segs: "I am not sure what to do.")
    tools = _hotpot_tools()
    episode = asyncio.run(LLMCompiler(LLMCompilerKnobs(max_replans=2)).run(_ctx(llm, tools)))
    assert (episode.outcome, episode.iterations, episode.answer) == ("budget", 3, "")
    assert [c["role"] for c in llm.calls] == ["planner"] * 3 and tools.calls == []
    assert [c["parent"] for c in llm.calls] == [None, 1, 2] and [c["iteration"] for c in llm.calls] == [0, 1, 2]
    last = llm.calls[-1]["segments"]
    assert sum(UNPARSABLE_PLAN in s.text for s in last) == 2
    assert [s.category for s in last][-2:] == ["llm_history", "llm_history"]
    assert episode.notes["malformed_lines"] == 3


def test_a_replan_shows_the_earlier_plan_and_results():
    plans = iter(['Thought: a.\n1. search("Ada")\n2. join()', 'Thought: b.\n1. search("Ada Lovelace")\n'
                  '2. lookup("program", $1)\n3. join()'])
    verdicts = iter(["Thought: not found.\nReplan[search the full name]", "Thought: ok.\nFinish[London]"])
    llm = _LLM(lambda role, segs: next(plans) if role == "planner" else next(verdicts))
    tools = _hotpot_tools()
    episode = asyncio.run(LLMCompiler().run(_ctx(llm, tools)))
    assert (episode.answer, episode.outcome, episode.iterations) == ("London", "finished", 2)
    assert [(c["role"], c["parent"]) for c in llm.calls] == [("planner", None), ("joiner", 1), ("planner", 2),
                                                              ("joiner", 3)]
    second = [(s.category, s.role, s.text) for s in llm.calls[2]["segments"]]
    assert second[-3][:2] == ("llm_history", "assistant") and 'search("Ada")' in second[-3][2]
    assert second[-2][:2] == ("tool_history", "user") and 'search("Ada") -> Could not find Ada.' in second[-2][2]
    assert second[-1][0] == "llm_history" and "Replan: search the full name" in second[-1][2]
    assert [c[1] for c in tools.calls] == ["Ada", "Ada Lovelace", "program"]
    assert [c[3] for c in tools.calls] == [0, 1, 1] and tools.calls[2][2] == 3
    assert episode.notes["replans"] == ["search the full name"]


def test_model_failures_end_the_task_with_an_episode():
    failing = _LLM(lambda role, segs: None)
    episode = asyncio.run(LLMCompiler().run(_ctx(failing, _hotpot_tools())))
    assert episode.outcome == "error" and "HTTP 500" in episode.notes["error"]
    rambling = _LLM(lambda role, segs: 'Thought: t.\n1. search("Ada Lovelace")\n2. join()' if role == "planner"
                    else "It is London, I think.")
    episode = asyncio.run(LLMCompiler(LLMCompilerKnobs(max_replans=1)).run(_ctx(rambling, _hotpot_tools())))
    assert (episode.outcome, episode.iterations) == ("budget", 2)
    assert [c["role"] for c in rambling.calls] == ["planner", "joiner"] * 2
    assert "neither Finish" in episode.notes["replans"][0]


def test_knobs_and_settings():
    assert LLMCompiler().settings("webshop")["few_shot"] == 2
    assert LLMCompiler().settings("hotpotqa")["max_replans"] == 3
    assert LLMCompiler.make_knobs({"max_tasks": 4, "beam": 3, "stream": None}) == LLMCompilerKnobs(max_tasks=4)
    with pytest.raises(UsageError, match="max_tasks must be between 1 and 8"):
        LLMCompilerKnobs(max_tasks=12)
    with pytest.raises(UsageError, match="has 3 examples for hotpotqa"):
        LLMCompiler(LLMCompilerKnobs(few_shot=5)).settings("hotpotqa")
    with pytest.raises(UsageError, match="runs on hotpotqa, webshop, not math"):
        LLMCompiler().settings("math")


# ---------------------------------------------------------------------------------------- replayed runs

def _system(body: dict) -> str:
    return body["messages"][0]["content"]


def _after_system(body: dict) -> str:
    return "\n".join(m["content"] for m in body["messages"][1:])


def _capture(tmp_path: Path, responder, dataset: str, data: Path, *, delay_s: float = 0.0, **cfg) -> tuple:
    options = {"cache_dir": str(tmp_path / "cache")} if dataset == "hotpotqa" else {}
    out = tmp_path / f"{dataset}.arrow"
    with ScriptedServer(responder, delay_s=delay_s) as srv:
        run_capture(RunConfig(agent="llmcompiler", dataset=dataset, data=data, endpoint=srv.url, limit=1, out=out,
                              dataset_options=options, **cfg))
    trace = read_trace(out)
    assert validate_trace(trace) == []
    return trace, srv.requests


def _events(trace, kind: str) -> list[dict]:
    return sorted(trace.events(kind).to_dicts(), key=lambda r: r["start_ns"])


def _hotpot_responder(body: dict) -> str:
    if _system(body).startswith("Plan the"):
        return DERRICKSON_PLAN
    return "Thought: Both are American.\nFinish[yes]"


def test_replay_hotpotqa_overlaps_tool_calls_with_the_streaming_planner(tmp_path, shared_data):
    trace, requests = _capture(tmp_path, _hotpot_responder, "hotpotqa", shared_data / "hotpotqa" / HOTPOT_FILE,
                               delay_s=0.04)
    (req,) = _events(trace, "request")
    llm, tools = _events(trace, "llm_call"), _events(trace, "tool_call")
    assert (req["outcome"], req["score"], req["final_answer"], req["iterations"]) == ("correct", 1.0, "yes", 1)
    assert [(c["role"], c["iteration"]) for c in llm] == [("planner", 0), ("joiner", 0)]
    planner, joiner = llm
    assert joiner["parent_event_id"] == planner["event_id"] and planner["parent_event_id"] == req["event_id"]
    assert [(t["tool_name"], t["tool_input_text"]) for t in tools] == [
        ("search", "Scott Derrickson"), ("search", "Ed Wood"), ("lookup", "American")]
    assert "Edward Davis Wood Jr." in tools[2]["tool_output_text"]  # the lookup read task 2's page
    assert tools[0]["start_ns"] < planner["end_ns"]  # the first search ran while the plan was streaming
    assert tools[1]["start_ns"] < planner["end_ns"]
    assert joiner["start_ns"] >= max(t["end_ns"] for t in tools)
    assert requests[0]["structured_outputs"]["regex"] == plan_regex(("search", "lookup"), 6)
    assert requests[1]["structured_outputs"]["regex"] == JOINER_REGEX and requests[1]["temperature"] == 0.0
    assert "Results:\n1. search(\"Scott Derrickson\") -> Scott Derrickson (born July 16, 1966) is an American" \
        in _after_system(requests[1])


def test_replay_tool_calls_name_the_planner_call_as_parent(tmp_path, shared_data):
    trace, _ = _capture(tmp_path, _hotpot_responder, "hotpotqa", shared_data / "hotpotqa" / HOTPOT_FILE,
                        delay_s=0.02)
    planner = _events(trace, "llm_call")[0]
    assert [t["parent_event_id"] for t in _events(trace, "tool_call")] == [planner["event_id"]] * 3


def test_replay_hotpotqa_replan_unconstrained(tmp_path, shared_data):
    def responder(body: dict) -> str:
        seen = _after_system(body)
        if _system(body).startswith("Plan the"):
            if "Replan:" in seen:
                return 'Thought: Open her page.\n1. search("Shirley Temple")\n2. lookup("Chief of Protocol", $1)\n3. join()'
            return 'Thought: Find the actress.\n1. search("Kiss and Tell (1945 film)")\n2. join()'
        if "Chief of Protocol" in seen.split("Results:")[-1]:
            return "Thought: She was Chief of Protocol.\nFinish[Chief of Protocol]"
        return "Thought: Shirley Temple played Corliss.\nReplan[find Shirley Temple's government position]"

    data = shared_data / "hotpotqa" / HOTPOT_FILE
    options = {"knobs": {"max_replans": 1}, "constrained": False}
    trace, requests = _capture_second(tmp_path, responder, data, **options)
    (req,) = _events(trace, "request")
    llm, tools = _events(trace, "llm_call"), _events(trace, "tool_call")
    assert (req["outcome"], req["final_answer"], req["iterations"]) == ("correct", "Chief of Protocol", 2)
    assert [(c["role"], c["iteration"]) for c in llm] == [("planner", 0), ("joiner", 0), ("planner", 1),
                                                          ("joiner", 1)]
    assert llm[2]["parent_event_id"] == llm[1]["event_id"] and llm[3]["parent_event_id"] == llm[2]["event_id"]
    assert [(t["tool_name"], t["iteration"]) for t in tools] == [("search", 0), ("search", 1), ("lookup", 1)]
    assert all("structured_outputs" not in r for r in requests)
    replan = requests[2]["messages"]
    assert [m["role"] for m in replan] == ["system", "user", "assistant", "user"]
    assert replan[2]["content"].startswith("Thought: Find the actress.")
    assert "Kiss and Tell is a 1945 American comedy film" in replan[3]["content"]
    assert "Replan: find Shirley Temple's government position" in replan[3]["content"]


def _capture_second(tmp_path: Path, responder, data: Path, **cfg) -> tuple:
    """Like ``_capture``, on the second HotpotQA question only (the data file cut to it)."""
    import json

    one = tmp_path / "second.json"
    one.write_text(json.dumps(json.loads(data.read_text())[1:2]))
    return _capture(tmp_path, responder, "hotpotqa", one, **cfg)


def test_replay_webshop_chain_buys_the_product(tmp_path, shared_data):
    def responder(body: dict) -> str:
        seen = _after_system(body)
        if _system(body).startswith("Plan the"):
            if "Replan:" in seen:
                return ('Thought: B0743JKHBV fits.\n1. click[B0743JKHBV]\n2. click[28" x 28"]\n3. click[Buy Now]\n'
                        "4. join()")
            return "Thought: Search first.\n1. search[double sided decorative pillows]\n2. join()"
        if "Thank you for shopping" in seen:
            return "Thought: Bought.\nFinish[B0743JKHBV]"
        return "Thought: B0743JKHBV is listed.\nReplan[click B0743JKHBV, size 28 x 28, Buy Now]"

    trace, requests = _capture(tmp_path, responder, "webshop", shared_data / "webshop")
    (req,) = _events(trace, "request")
    llm, tools = _events(trace, "llm_call"), _events(trace, "tool_call")
    assert (req["outcome"], req["score"], req["iterations"]) == ("correct", 1.0, 2)
    assert [c["role"] for c in llm] == ["planner", "joiner", "planner", "joiner"]
    assert [(t["tool_name"], t["tool_input_text"]) for t in tools] == [
        ("search", "double sided decorative pillows"), ("click", "B0743JKHBV"), ("click", '28" x 28"'),
        ("click", "Buy Now")]
    assert all(a["end_ns"] <= b["start_ns"] for a, b in zip(tools[1:-1], tools[2:], strict=True))  # a chain
    assert requests[0]["structured_outputs"]["regex"] == plan_regex(("search", "click"), 6, refs=False)
    assert "Current page: WebShop [SEP] Instruction:" in requests[0]["messages"][1]["content"]
