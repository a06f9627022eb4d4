"""Stream facts out of the Wikidata JSON dump (`latest-all.json.gz` / `.bz2`) in constant memory.

The dump is a JSON array with one entity per line. Two passes read it:

1. find candidate (subject, property, object) triples for the wanted properties, keeping the
   subject's labels and P31 types, in a seeded reservoir per relation (bounded memory);
2. collect labels and P31 types of the objects those candidates reference.

Each pass decompresses in a background thread (zlib and bz2 release the GIL) while worker
processes scan ~4 MB batches of whole lines. A byte regex picks the few lines worth parsing,
so most of the dump is never JSON-decoded. Batches are consumed in submission order, so the
result does not depend on the number of workers.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import os
import queue
import random
import re
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from tqdm import tqdm

from polyfact.errors import PolyfactError
from polyfact.facts import Fact
from polyfact.languages import label_for, label_keys

log = logging.getLogger(__name__)

BLOCK_BYTES = 4 << 20  # decompressed bytes per read; one block becomes about one batch
MIN_LINES_FOR_BAD_CHECK = 1000
_QUEUE_BLOCKS = 4  # decompressed blocks buffered ahead of the batcher
_ITEM_ID = re.compile(r"Q[1-9][0-9]*")
# The entity's own id sits before its first nested object: {"type":"item","id":"Q42",...
_LINE_ID = re.compile(rb'\n\{[^{}\n]{0,200}?"id":"(Q[0-9]+)"')
_FIRST_LINE_ID = re.compile(rb'\{[^{}\n]{0,200}?"id":"(Q[0-9]+)"')

Labels = tuple[str | None, ...]  # one entry per requested language, in order
Types = tuple[str, ...]


class DumpError(PolyfactError):
    """The dump cannot be read: truncated or corrupt archive, wrong format, mostly bad lines."""


@dataclass
class DumpStats:
    """Counters of one extraction, for logs and run metadata."""

    path: str = ""
    lines: int = 0  # entity lines (well-formed or not) in pass 1, without the `[` and `]` lines
    entities: int = 0  # lines shaped like one JSON object
    malformed: int = 0  # lines not shaped like an object, or failing to parse, in pass 1
    malformed_pass2: int = 0  # lines that failed to parse in pass 2
    bytes_compressed: int = 0
    bytes_decompressed: int = 0
    prefiltered: int = 0  # lines JSON-parsed in pass 1 (pre-filter hits)
    parsed_pass2: int = 0  # lines JSON-parsed in pass 2 (id hits)
    candidates: dict[str, int] = field(default_factory=dict)  # single-valued pairs per relation
    kept: dict[str, int] = field(default_factory=dict)  # after the reservoir
    objects_needed: int = 0
    objects_found: int = 0
    facts: int = 0
    facts_min_label_langs: int = 0  # facts whose object also meets min_label_langs
    pass1_seconds: float = 0.0
    pass2_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Config:
    """What the workers need; set once per worker process by `_init_worker`."""

    relations: tuple[str, ...]
    languages: tuple[str, ...]
    min_label_langs: int
    needed: frozenset[bytes] = frozenset()  # pass 2: object ids to collect

    def __post_init__(self) -> None:
        alternatives = b"|".join(re.escape(p.encode()) for p in sorted(set(self.relations)))
        self.claim_key = re.compile(b'"(?:' + alternatives + b')":\\[')
        self.label_keys = {k for lang in self.languages for k in label_keys(lang)}


_config: _Config | None = None


def _init_worker(config: _Config) -> None:
    global _config
    _config = config


# --- decompression -------------------------------------------------------------------


def _open_stream(raw: BinaryIO, path: Path) -> BinaryIO:
    """Decompressed view of `raw`, chosen by the file extension."""
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if path.suffix == ".bz2":
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    return raw


_END = object()


def _put(out: queue.Queue, item: object, stop: threading.Event) -> None:
    """Put `item` on `out` unless the consumer has stopped (then nobody would take it)."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _read_blocks(path: Path, out: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: put (block, compressed position) on `out`, then _END or the error."""
    try:
        with open(path, "rb") as raw:
            stream = _open_stream(raw, path)
            while not stop.is_set():
                block = stream.read(BLOCK_BYTES)
                if not block:
                    break
                _put(out, (block, raw.tell()), stop)
        _put(out, _END, stop)
    except BaseException as err:  # handed to the consumer, which raises it in context
        _put(out, err, stop)


def _batches(path: Path) -> Iterator[tuple[bytes, int]]:
    """Yield (batch of whole lines ending in newline, compressed bytes read so far).

    Checks that the stream is a JSON array: starts with `[` and ends with a `]` line.
    """
    blocks: queue.Queue = queue.Queue(maxsize=_QUEUE_BLOCKS)
    stop = threading.Event()
    reader = threading.Thread(target=_read_blocks, args=(path, blocks, stop), daemon=True)
    reader.start()
    pending = b""
    tail = b""  # last bytes of the stream, to check the closing `]`
    first = True
    try:
        while True:
            item = blocks.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                if isinstance(item, (EOFError, OSError, zlib.error)):
                    raise DumpError(f"{path}: truncated or corrupt archive ({item})") from item
                raise item
            block, position = item
            if first:
                if not block.lstrip().startswith(b"["):
                    raise DumpError(f"{path}: not a Wikidata JSON dump (does not start with '[')")
                first = False
            tail = (tail + block[-64:])[-64:]
            data = pending + block if pending else block
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if cut:
                yield data[:cut], position
        if first:
            raise DumpError(f"{path}: empty file, not a Wikidata JSON dump")
        if tail.rstrip().rsplit(b"\n", 1)[-1].strip() != b"]":
            raise DumpError(f"{path}: truncated or corrupt archive (the stream ends without the closing ']')")
        if pending:
            yield pending + b"\n", position
    finally:
        stop.set()
        reader.join()


# --- per-batch work (runs in worker processes) ----------------------------------------


@dataclass
class _BatchResult:
    lines: int = 0
    entities: int = 0
    malformed: int = 0
    parsed: int = 0
    candidates: list[tuple[str, str, str, Labels, Types]] = field(default_factory=list)
    found: dict[str, tuple[Labels, Types]] = field(default_factory=dict)


def _count_lines(batch: bytes, res: _BatchResult) -> None:
    """Count entity lines and structurally malformed ones (not `{...}` or `{...},`).

    A `find` loop looks at only the first and last bytes of each line, so it costs far
    less than the decompression that produced the batch.
    """
    find = batch.find
    pos, size = 0, len(batch)
    entities = malformed = 0
    while pos < size:
        end = find(b"\n", pos)
        last = batch[end - 1]
        if batch[pos] == 0x7B and (last == 0x7D or (last == 0x2C and batch[end - 2] == 0x7D)):  # { } ,
            entities += 1
        else:  # rare: the array brackets, blank lines, CRLF endings, bad lines
            line = batch[pos:end].strip()
            if line.startswith(b"{") and line.removesuffix(b",").endswith(b"}"):
                entities += 1
            elif line and line not in (b"[", b"]"):
                malformed += 1
        pos = end + 1
    res.entities += entities
    res.malformed += malformed
    res.lines += entities + malformed


def _parse_line(batch: bytes, start: int, res: _BatchResult) -> dict | None:
    """Parse the line starting at `start`; None (and counted) when it is not a JSON object.

    Structurally malformed lines were counted by `_count_lines` and are skipped silently.
    """
    end = batch.find(b"\n", start)
    line = batch[start:end].rstrip()
    if line.endswith(b","):
        line = line[:-1]
    if not (line.startswith(b"{") and line.endswith(b"}")):
        return None
    res.parsed += 1
    try:
        entity = orjson.loads(line)
    except orjson.JSONDecodeError:
        entity = None
    if not isinstance(entity, dict):
        res.malformed += 1
        return None
    return entity


def _line_start(batch: bytes, pos: int) -> int:
    return batch.rfind(b"\n", 0, pos) + 1


def _best_statements(statements: list) -> list:
    """Best-ranked statements: the preferred ones if any, else the normal ones."""
    preferred = [s for s in statements if s.get("rank") == "preferred"]
    return preferred or [s for s in statements if s.get("rank") == "normal"]


def _item_value(statement: dict) -> str | None:
    """The item id a statement points to; None for somevalue/novalue or a non-item value."""
    snak = statement.get("mainsnak") or {}
    if snak.get("snaktype") != "value":
        return None
    datavalue = snak.get("datavalue") or {}
    value = datavalue.get("value")
    if datavalue.get("type") != "wikibase-entityid" or not isinstance(value, dict):
        return None
    if value.get("entity-type") != "item":
        return None
    item = value.get("id") or f"Q{value.get('numeric-id')}"
    return item if _ITEM_ID.fullmatch(item) else None


def _single_object(statements: list) -> str | None:
    """The one object of a (subject, property) pair, or None when it has not exactly one."""
    objects = {_item_value(s) for s in _best_statements(statements)}
    if len(objects) != 1 or None in objects:
        return None
    return objects.pop()


def _types(entity: dict) -> Types:
    """Best-ranked P31 (instance of) item values, sorted."""
    statements = (entity.get("claims") or {}).get("P31") or []
    return tuple(sorted({v for s in _best_statements(statements) if (v := _item_value(s))}))


def _labels(entity: dict, config: _Config) -> Labels:
    raw = entity.get("labels") or {}
    texts = {k: v.get("value") for k in config.label_keys if isinstance(v := raw.get(k), dict)}
    return tuple(label_for(texts, lang) for lang in config.languages)


def _scan_pass1(batch: bytes) -> _BatchResult:
    """Candidate triples from lines holding a claim key of a wanted property."""
    config = _config
    assert config is not None, "worker not initialised"
    res = _BatchResult()
    _count_lines(batch, res)
    next_line = 0
    for hit in config.claim_key.finditer(batch):
        if hit.start() < next_line:
            continue  # another hit on a line already handled
        start = _line_start(batch, hit.start())
        next_line = batch.find(b"\n", hit.start())
        entity = _parse_line(batch, start, res)
        if entity is None:
            continue
        try:
            _entity_candidates(entity, config, res)
        except (AttributeError, TypeError):  # valid JSON, but not shaped like an entity
            res.malformed += 1
    return res


def _entity_candidates(entity: dict, config: _Config, res: _BatchResult) -> None:
    subject = entity.get("id")
    if entity.get("type") != "item" or not isinstance(subject, str):
        return
    claims = entity.get("claims") or {}
    pairs = []
    for pid in config.relations:
        statements = claims.get(pid)
        if statements and (obj := _single_object(statements)) and obj != subject:
            pairs.append((pid, obj))
    if not pairs:
        return  # e.g. the hit was a qualifier or reference
    labels = _labels(entity, config)
    if sum(label is not None for label in labels) < config.min_label_langs:
        return
    types = _types(entity)
    res.candidates.extend((pid, subject, obj, labels, types) for pid, obj in pairs)


def _scan_pass2(batch: bytes) -> _BatchResult:
    """Labels and types of the needed entities, found by the id at the start of each line."""
    config = _config
    assert config is not None, "worker not initialised"
    res = _BatchResult()
    first = _FIRST_LINE_ID.match(batch)
    hits = [(0, first.group(1))] if first else []
    hits += ((m.start() + 1, m.group(1)) for m in _LINE_ID.finditer(batch))
    for start, qid in hits:
        if qid not in config.needed:
            continue
        entity = _parse_line(batch, start, res)
        if entity is None:
            continue
        try:
            if entity.get("id") == qid.decode():
                res.found[entity["id"]] = (_labels(entity, config), _types(entity))
        except (AttributeError, TypeError):
            res.malformed += 1
    return res


# --- driver ----------------------------------------------------------------------------


def _run_pass(
    path: Path,
    scan: Callable[[bytes], _BatchResult],
    config: _Config,
    workers: int,
    desc: str,
    progress: bool,
    consume: Callable[[_BatchResult], None],
) -> int:
    """Run `scan` over every batch of the dump, feeding results to `consume` in order.

    Returns the number of decompressed bytes read.
    """
    size = path.stat().st_size
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=desc, disable=not progress, file=sys.stderr)
    decompressed = 0
    done = 0

    def advance(position: int) -> None:
        nonlocal done
        bar.update(position - done)
        done = position

    try:
        if workers <= 1:
            _init_worker(config)
            with closing(_batches(path)) as batches:
                for batch, position in batches:
                    decompressed += len(batch)
                    consume(scan(batch))
                    advance(position)
        else:
            with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(config,)) as pool:
                # Fork the workers now, before the reader thread exists: forking a process
                # with running threads can deadlock the child.
                pool.submit(int).result()
                in_flight: deque[tuple[Future, int]] = deque()
                try:
                    with closing(_batches(path)) as batches:
                        for batch, position in batches:
                            decompressed += len(batch)
                            in_flight.append((pool.submit(scan, batch), position))
                            if len(in_flight) >= 2 * workers + 2:
                                future, pos = in_flight.popleft()
                                consume(future.result())
                                advance(pos)
                    while in_flight:
                        future, pos = in_flight.popleft()
                        consume(future.result())
                        advance(pos)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        advance(size)
    finally:
        bar.close()
    return decompressed


def _check_bad(stats: DumpStats, max_bad_fraction: float, final: bool) -> None:
    if (final or stats.lines >= MIN_LINES_FOR_BAD_CHECK) and stats.lines:
        if stats.malformed > max_bad_fraction * stats.lines:
            raise DumpError(
                f"{stats.path}: most lines are bad ({stats.malformed} of {stats.lines} malformed, "
                f"over the allowed fraction {max_bad_fraction}); not a Wikidata JSON dump?"
            )


def extract_dump(
    path: str | os.PathLike[str],
    relations: Sequence[str],
    languages: Sequence[str],
    min_label_langs: int = 1,
    *,
    max_candidates_per_relation: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    max_bad_fraction: float = 0.5,
) -> tuple[list[Fact], DumpStats]:
    """Extract single-valued facts for `relations` from a Wikidata JSON dump.

    Subjects need labels in at least `min_label_langs` of `languages`; objects are returned
    as found (the caller filters them with `polyfact.facts.filter_min_label_langs`). With
    `max_candidates_per_relation`, a seeded reservoir keeps that many candidates per
    relation. Facts come sorted by (subject, property, object).
    """
    dump = Path(path)
    if not dump.is_file():
        raise DumpError(f"{dump}: no such dump file")
    workers = (os.cpu_count() or 1) if workers is None else workers
    relations = tuple(dict.fromkeys(relations))
    config = _Config(relations, tuple(languages), min_label_langs)
    stats = DumpStats(path=str(dump), candidates={p: 0 for p in relations})
    cap = max_candidates_per_relation
    reservoirs: dict[str, list[tuple[str, str, str, Labels, Types]]] = {p: [] for p in relations}
    rngs = {p: random.Random(f"{seed}:{p}") for p in relations}

    def consume1(res: _BatchResult) -> None:
        stats.lines += res.lines
        stats.entities += res.entities
        stats.malformed += res.malformed
        stats.prefiltered += res.parsed
        for cand in res.candidates:
            pid = cand[0]
            stats.candidates[pid] += 1
            kept = reservoirs[pid]
            if cap is None or len(kept) < cap:
                kept.append(cand)
            elif (j := rngs[pid].randrange(stats.candidates[pid])) < cap:
                kept[j] = cand
        _check_bad(stats, max_bad_fraction, final=False)

    t0 = time.perf_counter()
    stats.bytes_decompressed = _run_pass(dump, _scan_pass1, config, workers, "dump pass 1", progress, consume1)
    stats.bytes_compressed = dump.stat().st_size
    stats.pass1_seconds = time.perf_counter() - t0
    _check_bad(stats, max_bad_fraction, final=True)
    candidates = [c for p in relations for c in reservoirs[p]]
    stats.kept = {p: len(reservoirs[p]) for p in relations}
    reservoirs.clear()  # candidates now hold them; free the reservoir lists

    needed = frozenset(c[2].encode() for c in candidates)
    stats.objects_needed = len(needed)
    found: dict[str, tuple[Labels, Types]] = {}

    def consume2(res: _BatchResult) -> None:
        stats.malformed_pass2 += res.malformed
        stats.parsed_pass2 += res.parsed
        found.update(res.found)

    if needed:
        t0 = time.perf_counter()
        config.needed = needed
        _run_pass(dump, _scan_pass2, config, workers, "dump pass 2", progress, consume2)
        stats.pass2_seconds = time.perf_counter() - t0
    stats.objects_found = len(found)

    missing: tuple[Labels, Types] = ((None,) * len(config.languages), ())
    facts = []
    candidates.sort(key=lambda c: (c[1], c[0], c[2]))  # subject, property, object
    for pid, subject, obj, subject_labels, subject_types in candidates:
        object_labels, object_types = found.get(obj, missing)
        facts.append(
            Fact(
                subject_id=subject,
                property_id=pid,
                object_id=obj,
                subject_labels=dict(zip(config.languages, subject_labels, strict=False)),
                object_labels=dict(zip(config.languages, object_labels, strict=False)),
                subject_types=subject_types,
                object_types=object_types,
            )
        )
        if sum(label is not None for label in object_labels) >= min_label_langs:
            stats.facts_min_label_langs += 1
    stats.facts = len(facts)
    log.info("wikidata dump %s: %s", dump, stats.as_dict())
    return facts, stats
