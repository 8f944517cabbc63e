"""Clean-up after a sandbox run: kill what is left of its process group, remove its folder."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
from pathlib import Path
from typing import Any

__all__ = ["kill_leftovers", "remove_tree"]


def _group_members(pgid: int) -> list[int]:
    """Processes still in process group ``pgid`` (from /proc)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat_line = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def kill_leftovers(pgid: int) -> None:
    """Kill what is left of the group; checks membership first so a recycled id is never signalled."""
    for _ in range(50):
        try:
            os.killpg(pgid, 0)  # the common case: the group is gone (ESRCH), no /proc scan needed
        except OSError:
            return
        if not Path("/proc").is_dir() or not _group_members(pgid):
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            return
        time.sleep(0.01)


def remove_tree(path: str) -> None:
    """Remove a run folder, also where the code took away its own write permission."""

    def retry(func: Any, failed: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(failed), stat.S_IRWXU)
            func(failed)
        except OSError:
            pass  # best effort: the rest of the tree is still removed

    if os.path.isdir(path):
        shutil.rmtree(path, onerror=retry)
