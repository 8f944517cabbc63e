"""The layout shows the data flow: analyze never imports capture; traceformat imports nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "agentledger"


def _imports(pkg: str) -> set[str]:
    found = set()
    for py in (SRC / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against the module's package
                    parts = py.relative_to(SRC.parent).with_suffix("").parts[: -node.level]
                    mod = ".".join(parts + ((node.module,) if node.module else ()))
                else:
                    mod = node.module or ""
                found.add(mod)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("agentledger")}


def test_analyze_never_imports_capture():
    assert not any(m.startswith("agentledger.capture") for m in _imports("analyze"))


def test_traceformat_depends_on_nothing_of_ours_but_errors():
    assert _imports("traceformat") <= {m for m in _imports("traceformat") if m.startswith(("agentledger.traceformat", "agentledger.errors"))}
    assert all(m.startswith(("agentledger.traceformat", "agentledger.errors")) for m in _imports("traceformat"))


def test_nothing_named_datasets_at_top_level():
    import agentledger.datasets as ours

    assert ours.__name__ == "agentledger.datasets"


def test_agents_never_touch_the_trace_or_the_capture_layer():
    assert not any(m.startswith(("agentledger.capture", "agentledger.traceformat")) for m in _imports("agents"))


def test_every_command_is_documented_in_the_readme():
    from typer.main import get_command

    from agentledger.analyze.cli import app as analyze_app
    from agentledger.capture.cli import app as capture_app

    readme = (SRC.parents[1] / "README.md").read_text()
    for prog, app in (("capture", capture_app), ("analyze", analyze_app)):
        for name in get_command(app).commands:
            assert f"`{prog} {name}" in readme, f"{prog} {name} is not in README.md"
