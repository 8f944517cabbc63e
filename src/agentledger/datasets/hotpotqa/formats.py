"""The HotpotQA file formats: recognise a file and turn its records into :class:`Record`.

Five encodings of the same questions are read:

* ``distractor`` and ``fullwiki``: the official JSON lists (``_id``, ``question``,
  ``answer``, ``supporting_facts`` = [[title, sentence index]], ``context`` =
  [[title, [sentences]]], ``type``, ``level``). The two have the same keys; a file whose
  name contains "fullwiki" is taken as fullwiki.
* ``simplified``: ReAct's JSON list of ``{"question", "answer", "type"}`` (no context).
* ``hf``: Hugging Face ``hotpot_qa`` JSONL, with parallel lists
  (``context = {"title": [...], "sentences": [[...]]}``).
* ``ircot``: IRCoT's processed JSONL (``question_id``, ``question_text``,
  ``answers_objects``, ``contexts = [{"title", "paragraph_text", "is_supporting"}]``).
  Its paragraphs are the distractor sentences joined with a space; as HotpotQA
  sentences after the first begin with a space, the joins are the double spaces, which
  is where they are split again.

Nothing here reads files: :mod:`.loader` does, and hands each parsed JSON value over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "FORMATS",
    "CONTEXT_FORMATS",
    "QUESTION_FORMATS",
    "Paragraph",
    "Record",
    "RecordError",
    "sniff_format",
    "parse_record",
    "split_joined_paragraph",
]

FORMATS = ("distractor", "fullwiki", "simplified", "hf", "ircot")
CONTEXT_FORMATS = ("distractor", "fullwiki", "hf", "ircot")  # in the order their paragraphs are preferred
QUESTION_FORMATS = ("distractor", "fullwiki", "simplified")  # files in the official order

_IRCOT_JOIN = re.compile(r"(?<=\S)  (?=\S)")


class RecordError(ValueError):
    """A record that is valid JSON but not of the file's format (the message says what is off)."""


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One Wikipedia paragraph: the title and its sentences as the file gives them."""

    title: str
    sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One question in a common shape, whatever file it came from."""

    question: str
    answer: str
    qid: str | None = None  # the official ``_id`` (the HF ``id``, IRCoT's ``question_id``)
    qtype: str | None = None  # "bridge" or "comparison"
    level: str | None = None  # "easy", "medium" or "hard"
    supporting_titles: tuple[str, ...] = ()
    paragraphs: tuple[Paragraph, ...] = field(default=(), repr=False)


def sniff_format(first: Any, path: Path) -> str | None:
    """The format of a file whose first record is ``first``, or None if it is none of ours."""
    if not isinstance(first, Mapping):
        return None
    keys = set(first)
    if {"question_id", "question_text", "contexts"} <= keys:
        return "ircot"
    if {"question", "answer"} <= keys and isinstance(first.get("context"), Mapping):
        return "hf"
    if {"question", "answer"} <= keys and isinstance(first.get("context"), list):
        return "fullwiki" if "fullwiki" in path.name.lower() else "distractor"
    if {"question", "answer"} <= keys and "context" not in keys:
        return "simplified"
    return None


def split_joined_paragraph(text: str) -> tuple[str, ...]:
    """Sentences of an IRCoT ``paragraph_text`` (distractor sentences joined with one space)."""
    return tuple(part for part in _IRCOT_JOIN.split(text.strip()) if part.strip())


def _req(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise RecordError(f"field {key!r} is {type(value).__name__}, not a string")
    return value


def _opt(item: Mapping[str, Any], key: str) -> str | None:
    return None if item.get(key) is None else _req(item, key)


def _sentences(value: Any, title: Any) -> tuple[str, ...]:
    if not isinstance(title, str) or not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise RecordError("a context paragraph is not [title, [sentence, ...]]")
    return tuple(value)


def _official(item: Mapping[str, Any]) -> Record:
    context = item.get("context")
    if not isinstance(context, list):
        raise RecordError("field 'context' is not a list of [title, [sentences]]")
    paragraphs = []
    for para in context:
        if not isinstance(para, list) or len(para) != 2:
            raise RecordError("a context paragraph is not [title, [sentence, ...]]")
        paragraphs.append(Paragraph(para[0], _sentences(para[1], para[0])))
    facts = item.get("supporting_facts") or []
    return Record(
        question=_req(item, "question"), answer=_req(item, "answer"), qid=_opt(item, "_id"),
        qtype=_opt(item, "type"), level=_opt(item, "level"),
        supporting_titles=_unique(f[0] for f in facts if isinstance(f, list) and f and isinstance(f[0], str)),
        paragraphs=tuple(paragraphs),
    )


def _simplified(item: Mapping[str, Any]) -> Record:
    return Record(question=_req(item, "question"), answer=_req(item, "answer"),
                  qid=_opt(item, "_id"), qtype=_opt(item, "type"),
                  level=_opt(item, "level"))


def _hf(item: Mapping[str, Any]) -> Record:
    context = item.get("context")
    titles = context.get("title") if isinstance(context, Mapping) else None
    sentences = context.get("sentences") if isinstance(context, Mapping) else None
    if not isinstance(titles, list) or not isinstance(sentences, list) or len(titles) != len(sentences):
        raise RecordError("field 'context' is not {'title': [...], 'sentences': [[...], ...]} of equal lengths")
    facts = item.get("supporting_facts")
    fact_titles = facts.get("title", []) if isinstance(facts, Mapping) else []
    return Record(
        question=_req(item, "question"), answer=_req(item, "answer"), qid=_opt(item, "id"),
        qtype=_opt(item, "type"), level=_opt(item, "level"),
        supporting_titles=_unique(t for t in fact_titles if isinstance(t, str)),
        paragraphs=tuple(Paragraph(t, _sentences(s, t)) for t, s in zip(titles, sentences, strict=True)),
    )


def _ircot(item: Mapping[str, Any]) -> Record:
    answers: Any = item.get("answers_objects")
    try:
        answer = answers[0]["spans"][0]
    except (TypeError, KeyError, IndexError):
        raise RecordError("field 'answers_objects' has no answer span") from None
    if not isinstance(answer, str):
        raise RecordError("the answer span is not a string")
    contexts = item.get("contexts")
    if not isinstance(contexts, list) or not all(isinstance(c, Mapping) for c in contexts):
        raise RecordError("field 'contexts' is not a list of paragraphs")
    paragraphs = []
    for ctx in contexts:
        title, text = ctx.get("title"), ctx.get("paragraph_text")
        if not isinstance(title, str) or not isinstance(text, str):
            raise RecordError("a context has no string 'title' and 'paragraph_text'")
        paragraphs.append(Paragraph(title, split_joined_paragraph(text)))
    return Record(
        question=_req(item, "question_text"), answer=answer, qid=_opt(item, "question_id"),
        supporting_titles=_unique(c["title"] for c in contexts if c.get("is_supporting") is True),
        paragraphs=tuple(paragraphs),
    )


_PARSERS = MappingProxyType({"distractor": _official, "fullwiki": _official, "simplified": _simplified,
                             "hf": _hf, "ircot": _ircot})


def parse_record(fmt: str, item: Any) -> Record:
    """One record of format ``fmt``; :class:`RecordError` if ``item`` is not one."""
    if not isinstance(item, Mapping):
        raise RecordError(f"expected a JSON object, found {type(item).__name__}")
    return _PARSERS[fmt](item)


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
