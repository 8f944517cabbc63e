"""The HumanEval sandbox contains hostile code: loops, fork bombs, memory hogs, sockets, file access.

Each guard layer is tested on its own where this machine has it ("kernel": rlimits, network
namespace, seccomp, Landlock; "hook": rlimits and the audit hook) and all together ("all").
After every test no process of ours is left and the run folders are gone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import psutil
import pytest

from agentledger.datasets.humaneval import Chunk, Sandbox, SandboxLimits, SandboxResult

REPO = Path(__file__).resolve().parents[2]
MODES = ["all", "kernel", "hook"]
REFUSED = """
def refused(action, errors=(PermissionError,)):
    try:
        action()
    except errors:
        return True
    return False
"""


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def work_root(tmp_path: Path):
    """Run folders go here; afterwards it must be empty and no process may be left, ours or orphaned."""
    root = tmp_path / "runs"
    root.mkdir()
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # e.g. a session-wide engine
    yield root
    assert [p for p in psutil.Process().children(recursive=True) if p.pid not in before] == []
    stray = []
    for proc in psutil.process_iter(["cwd"]):
        if (proc.info["cwd"] or "").startswith(str(root)):
            stray.append(proc.pid)
    assert stray == []
    assert list(root.iterdir()) == []


@pytest.fixture(scope="module")
def kernel_has() -> dict:
    """The kernel guards this machine offers."""
    return dict(run(Sandbox(SandboxLimits(guards="kernel")).probe()))


def sandbox(work_root: Path, mode: str = "all", **limits) -> Sandbox:
    limits.setdefault("timeout_s", 5.0)
    return Sandbox(SandboxLimits(guards=mode, **limits), work_root=work_root)


def need(kernel_has: dict, mode: str, key: str) -> None:
    if mode == "kernel" and not kernel_has[key]:
        pytest.skip(f"this kernel offers no {key}")


def run_code(box: Sandbox, code: str) -> SandboxResult:
    return run(box.run([Chunk("solution.py", code, asserts=True)]))


def test_guards_report_what_is_in_force(work_root: Path, kernel_has: dict):
    both = run(sandbox(work_root).probe())
    hook = run(sandbox(work_root, "hook").probe())
    assert both["rlimits"] and both["audit_hook"] and not kernel_has["audit_hook"]
    assert {k: both[k] for k in kernel_has if k != "audit_hook"} == {k: v for k, v in kernel_has.items()
                                                                     if k != "audit_hook"}
    assert hook == {"rlimits": True, "network_namespace": None, "seccomp_no_processes": False,
                    "landlock_abi": 0, "audit_hook": True}


def test_endless_loop_is_killed_without_stalling_the_event_loop(work_root: Path):
    box = sandbox(work_root, timeout_s=1.5)

    async def go():
        gaps, last = [], time.monotonic()
        task = asyncio.ensure_future(box.run([Chunk("solution.py", "while True:\n    pass\n")]))
        while not task.done():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
        return task.result(), max(gaps), await box.run([Chunk("ok.py", "assert 1 + 1 == 2\n", True)])

    looped, worst_gap_s, after = run(go())
    assert looped.status == "timeout" and looped.exit_code == -9
    assert 1.5 <= looped.wall_s < 3.5
    assert worst_gap_s < 0.25
    assert after.passed and after.asserts_total == 1


@pytest.mark.parametrize("mode", MODES)
def test_fork_bomb_starts_no_process(work_root: Path, kernel_has: dict, mode: str):
    need(kernel_has, mode, "seccomp_no_processes")
    box = sandbox(work_root, mode)
    naive = run_code(box, "import os\nwhile True:\n    os.fork()\n")
    assert naive.status == "error" and naive.error.splitlines()[-1].startswith(
        "BlockingIOError" if mode == "kernel" else "PermissionError")
    counting = run_code(box, (
        "import os, time\nforked = 0\ndeadline = time.monotonic() + 0.5\n"
        "while time.monotonic() < deadline:\n    try:\n        if os.fork() == 0:\n"
        "            time.sleep(60)\n            os._exit(0)\n        forked += 1\n"
        "    except OSError:\n        pass\nassert forked == 0\n"))
    assert counting.passed and counting.wall_s < 3


def test_memory_file_size_and_output_are_bounded(work_root: Path):
    box = sandbox(work_root, memory_mb=256, file_mb=1)
    hog = run_code(box, "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))\n")
    assert hog.status == "error" and hog.error.endswith("MemoryError") and hog.wall_s < 3
    big = run_code(box, "with open('big.bin', 'wb') as fh:\n    fh.write(b'x' * 5_000_000)\n")
    assert big.status == "error" and "File too large" in big.error
    flood = run_code(box, "import sys\nsys.stdout.write('y' * 5_000_000)\n")
    assert flood.passed and flood.output == "y" * 2000 and flood.output_total_bytes == 5_000_000


@pytest.mark.parametrize("mode", MODES)
def test_sockets_are_refused(work_root: Path, kernel_has: dict, mode: str):
    need(kernel_has, mode, "network_namespace")
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        result = run_code(sandbox(work_root, mode), REFUSED + (
            "import socket\nerrors = (OSError,)\n"
            f"assert refused(lambda: socket.create_connection(('127.0.0.1', {port}), timeout=1), errors)\n"
            "assert refused(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
            f".sendto(b'x', ('127.0.0.1', {port})), errors)\n"))
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    finally:
        server.close()
    assert result.passed and result.asserts_total == 2, result


@pytest.mark.parametrize("mode", MODES)
def test_no_file_outside_the_run_folder(work_root: Path, tmp_path: Path, kernel_has: dict, mode: str):
    need(kernel_has, mode, "landlock_abi")
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    reads = [REPO / "pyproject.toml", REPO / "src" / "agentledger" / "errors.py", secret]
    reads += [p for p in (Path.home() / ".bashrc", Path.home() / ".profile") if p.is_file()]
    code = REFUSED + "import os\n" + "".join(f"assert refused(lambda: open({str(p)!r}).read())\n" for p in reads) + (
        f"assert refused(lambda: os.listdir({str(Path.home())!r}))\n"
        f"assert refused(lambda: open({str(tmp_path / 'escape.txt')!r}, 'w').write('x'))\n"
        f"assert refused(lambda: os.remove({str(victim)!r}))\n"
        f"assert refused(lambda: os.mkdir({str(tmp_path / 'newdir')!r}))\n"
        "assert refused(lambda: __import__('agentledger'), ImportError)\n"
        "with open('mine.txt', 'w') as fh:\n    fh.write('ok')\n"
        "assert open('mine.txt').read() == 'ok'\n"
        "assert os.path.expanduser('~') == os.getcwd()\n"
        "print(os.getcwd())\n")
    result = run_code(sandbox(work_root, mode), code)
    assert result.passed and result.asserts_total == len(reads) + 7, result
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "newdir").exists()
    assert victim.read_text() == "keep me"
    assert Path(result.output.strip()).parent == work_root.resolve()


@pytest.mark.parametrize("mode", MODES)
def test_no_signal_to_other_processes(work_root: Path, kernel_has: dict, mode: str):
    if mode == "kernel" and kernel_has["landlock_abi"] < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    code = REFUSED + f"import os\nassert refused(lambda: os.kill({os.getpid()}, 0))\n"  # signal 0: a probe only
    assert run_code(sandbox(work_root, mode), code).passed


def test_interpreter_is_isolated(work_root: Path):
    code = ("import os, sys\n"
            "assert sorted(os.environ) == ['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']\n"
            "assert sys.flags.isolated == 1 and sys.flags.no_site == 1\n"
            f"assert not any(p.startswith({str(REPO)!r}) for p in sys.path)\n"
            "assert input is not None and sys.stdin.read() == ''\n")
    assert run_code(sandbox(work_root), code).passed


def test_cancelled_run_is_cleaned_up(work_root: Path):
    box = sandbox(work_root, timeout_s=30)

    async def go():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(box.run([Chunk("solution.py", "while True:\n    pass\n")]), 0.5)
        await asyncio.sleep(0.2)  # the shielded clean-up finishes in a worker thread

    started = time.monotonic()
    run(go())
    assert time.monotonic() - started < 3


def test_leftovers_of_a_process_group_are_killed():
    import subprocess

    from agentledger.datasets.humaneval._cleanup import kill_leftovers

    leader = subprocess.Popen(["sh", "-c", "sleep 30 & exec sleep 31"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not psutil.Process(leader.pid).children() and time.monotonic() < deadline:
            time.sleep(0.01)  # wait until the background sleep exists
        group = [p for p in psutil.process_iter() if _pgid(p) == leader.pid]
        assert len(group) == 2
        leader.kill()
        leader.wait()  # the leader is gone; its background child is still in the group
        orphan = next(p for p in group if p.pid != leader.pid)
        assert orphan.is_running()
        kill_leftovers(leader.pid)
        orphan.wait(timeout=5)
        assert not any(_pgid(p) == leader.pid for p in psutil.process_iter())
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()


def _pgid(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None
