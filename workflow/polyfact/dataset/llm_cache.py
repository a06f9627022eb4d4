"""A content-addressed, append-only store of LLM answers that makes the LLM stage restartable.

A request's key digests everything its text depends on: the model, the rendered prompt (so
its prompt version: changing one relation's prompt changes only that relation's keys), the
sampling settings and the request's own seed. Answers are appended a chunk at a time and
flushed to disk, so a killed job keeps every chunk it finished; a rerun reads them back and
generates only the missing keys. The store lives outside the rule outputs (Snakemake removes
a failed job's outputs, and the point is to keep what it finished). Each job appends to its
own file and reads every file of the directory, so concurrent shard jobs never write the same
file and a change of shard count still finds earlier answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from tqdm import tqdm

from polyfact.models.chat import ChatRequest, Generator, Sampling

log = logging.getLogger(__name__)
V = TypeVar("V")


def request_key(model: str, request: ChatRequest, sampling: Sampling) -> str:
    """Digest of everything an answer depends on (the model named by its config entry)."""
    payload = json.dumps([model, asdict(request), asdict(sampling)], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class AnswerStore:
    """Answers by request key, read from every `*.jsonl` of `directory`, appended to `name`."""

    def __init__(self, directory: str | os.PathLike[str], name: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{name}.jsonl"
        self.answers: dict[str, str] = {}
        self.torn = 0  # lines cut short by a killed writer, ignored
        for path in sorted(self.directory.glob("*.jsonl")):
            self._read(path)

    def _read(self, path: Path) -> None:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                    self.answers[row["key"]] = row["text"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    self.torn += 1

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append answers and flush them to disk: once this returns, a kill loses none."""
        self.directory.mkdir(parents=True, exist_ok=True)
        torn_tail = self.path.is_file() and self.path.stat().st_size and not _ends_with_newline(self.path)
        with open(self.path, "a", encoding="utf-8") as fh:
            if torn_tail:  # a line of ours cut short by a kill: start on a fresh line
                fh.write("\n")
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                self.answers[row["key"]] = row["text"]
            fh.flush()
            os.fsync(fh.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def generate_cached(
    generator: Generator,
    model: str,
    requests: Mapping[str, ChatRequest],
    sampling: Sampling,
    store: AnswerStore,
    chunk: int,
    what: str,
) -> tuple[dict[str, str], dict[str, int]]:
    """Answers of `requests` (by the caller's ids), generating only those not in `store`,
    `chunk` requests at a time (each chunk stored as soon as it is done). Returns the answers
    and counts of cached and generated requests."""
    keys = {rid: request_key(model, req, sampling) for rid, req in requests.items()}
    todo = [rid for rid, key in keys.items() if key not in store.answers]
    log.info("%s: %d requests, %d cached, %d to generate", what, len(keys), len(keys) - len(todo), len(todo))
    with tqdm(total=len(todo), desc=what, unit="req", disable=None) as bar:
        for start in range(0, len(todo), chunk):
            ids = todo[start : start + chunk]
            texts = generator.generate([requests[rid] for rid in ids], sampling)
            store.append([{"key": keys[rid], "id": rid, "text": text} for rid, text in zip(ids, texts, strict=True)])
            bar.update(len(ids))
    counts = {"requests": len(keys), "cached": len(keys) - len(todo), "generated": len(todo)}
    return {rid: store.answers[keys[rid]] for rid in keys}, counts


@dataclass
class Validated(Generic[V]):
    """Outcome of asking until valid: accepted values, tries per unit, the last problems of
    units that failed every try, and cache usage."""

    accepted: dict[tuple[str, str], V] = field(default_factory=dict)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    problems: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    usage: Counter[str] = field(default_factory=Counter)


def generate_validated(
    generator: Generator,
    model: str,
    units: Sequence[tuple[str, str]],
    request: Callable[[tuple[str, str], int], ChatRequest],
    check: Callable[[tuple[str, str], str], tuple[V | None, list[str]]],
    sampling: Sampling,
    retry_sampling: Sampling,
    tries: int,
    store: AnswerStore,
    chunk: int,
    what: str,
) -> Validated[V]:
    """Ask for every unit (an (item, language) pair), check each answer, and ask again for
    the failing ones with `retry_sampling` (their requests carry the try number, so a fresh
    seed), up to `tries` in all."""
    out: Validated[V] = Validated()
    pending = list(units)
    for attempt in range(tries):
        if not pending:
            break
        ids = {unit: "|".join((*unit, str(attempt))) for unit in pending}
        answers, counts = generate_cached(
            generator,
            model,
            {ids[unit]: request(unit, attempt) for unit in pending},
            sampling if attempt == 0 else retry_sampling,
            store,
            chunk,
            f"{what} (try {attempt + 1} of {tries})",
        )
        out.usage.update(counts)
        failed = []
        for unit in pending:
            out.attempts[unit] += 1
            value, why = check(unit, answers[ids[unit]])
            if why:
                out.problems[unit] = why
                failed.append(unit)
            else:
                out.accepted[unit] = value  # type: ignore[assignment]
                out.problems.pop(unit, None)
        pending = failed
    return out
