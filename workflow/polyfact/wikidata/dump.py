"""Stream facts out of the Wikidata JSON dump (`latest-all.json.gz` / `.bz2`) in bounded memory.

The dump is a JSON array with one entity per line. Pass 1 reads all of it; pass 2 reads only
the parts that hold the objects pass 1 chose:

1. find candidate (subject, property, object) triples for the wanted properties, keeping the
   subject's labels and P31 types, in a seeded reservoir per relation (bounded memory), and
   index every entity id by the batch (decompressed byte range) it sits in;
2. read back only the batches that hold a needed object, and collect its labels and types.
   Where the decompressor seeks by index (rapidgzip, indexed_bzip2), pass 2 decompresses just
   those batches; otherwise it decompresses up to the last of them and parses only those.

A background thread decompresses (`decompress.py` picks the backend) while worker processes
scan ~4 MB batches of whole lines. A byte regex picks the few lines worth parsing, so most of
the dump is never JSON-decoded. Batches are consumed in submission order, so the result does
not depend on the number of workers or the decompressor.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from tqdm import tqdm

from polyfact.errors import PolyfactError
from polyfact.facts import Fact
from polyfact.languages import label_for, label_keys
from polyfact.relations import PROPERTY_ID
from polyfact.wikidata.decompress import OPEN_ERRORS, Stream, choose_backend, open_stream

log = logging.getLogger(__name__)

BLOCK_BYTES = 4 << 20  # decompressed bytes per read; one block becomes about one batch
MIN_LINES_FOR_BAD_CHECK = 1000
_QUEUE_BLOCKS = 4  # decompressed blocks buffered ahead of the batcher
_ITEM_ID = re.compile(r"Q[1-9][0-9]*")
# The entity's own id sits before its first nested object: {"type":"item","id":"Q42",...
_LINE_ID = re.compile(rb'\{[^{}\n]{0,200}?"id":"Q([1-9][0-9]{0,9})"')
_MAX_QID = 2**32 - 1  # ids are indexed as uint32

Labels = tuple[str | None, ...]  # one entry per requested language, in order
Types = tuple[str, ...]


class DumpError(PolyfactError):
    """The dump cannot be read: truncated or corrupt archive, wrong format, mostly bad lines."""


@dataclass
class DumpStats:
    """Counters of one extraction, for logs and run metadata."""

    path: str = ""
    decompressor: str = ""
    lines: int = 0  # entity lines (well-formed or not) in pass 1, without the `[` and `]` lines
    entities: int = 0  # lines shaped like one JSON object
    malformed: int = 0  # lines not shaped like an object, or failing to parse, in pass 1
    malformed_pass2: int = 0  # lines that failed to parse in pass 2
    bytes_compressed: int = 0
    bytes_decompressed: int = 0
    bytes_pass2: int = 0  # decompressed bytes pass 2 scanned (the batches holding needed objects)
    batches: int = 0  # batches in pass 1
    batches_pass2: int = 0  # of them, read back in pass 2
    prefiltered: int = 0  # lines JSON-parsed in pass 1 (pre-filter hits)
    parsed_pass2: int = 0  # lines JSON-parsed in pass 2 (needed objects)
    candidates: dict[str, int] = field(default_factory=dict)  # single-valued pairs per relation
    kept: dict[str, int] = field(default_factory=dict)  # after the reservoir
    objects_needed: int = 0
    objects_absent: int = 0  # needed objects with no entity line in the dump (deleted items)
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

    def __post_init__(self) -> None:
        alternatives = b"|".join(re.escape(p.encode()) for p in sorted(set(self.relations)))
        self.claim_key = re.compile(b'"(?:' + alternatives + b')":\\[')
        self.label_keys = {k for lang in self.languages for k in label_keys(lang)}


_config: _Config | None = None


def _init_worker(config: _Config) -> None:
    global _config
    _config = config


# --- reading ---------------------------------------------------------------------------

_END = object()
Range = tuple[int, int]  # (decompressed offset, length) of a batch


def _put(out: queue.Queue, item: object, stop: threading.Event) -> None:
    """Put `item` on `out` unless the consumer has stopped (then nobody would take it)."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _read_exactly(stream: Stream, start: int, length: int) -> bytes:
    """`length` bytes at decompressed offset `start`; a short read means a damaged archive."""
    if stream.file.tell() != start:
        stream.file.seek(start)
    parts = []
    while length:
        part = stream.file.read(length)
        if not part:
            raise EOFError(f"the stream ended {length} bytes short of where pass 1 read")
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


def _read_blocks(stream: Stream, plan: Sequence[Range] | None, out: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: put (block, compressed position) on `out`, then _END or the error.

    Without a plan it reads the whole stream from the start; with one, just those ranges.
    """
    try:
        if plan is None:
            while not stop.is_set():
                block = stream.file.read(BLOCK_BYTES)
                if not block:
                    break
                _put(out, (block, stream.compressed_position()), stop)
        else:
            for start, length in plan:
                if stop.is_set():
                    break
                _put(out, (_read_exactly(stream, start, length), stream.compressed_position()), stop)
        _put(out, _END, stop)
    except BaseException as err:  # handed to the consumer, which raises it in context
        _put(out, err, stop)


def _blocks(stream: Stream, plan: Sequence[Range] | None, path: Path) -> Iterator[tuple[bytes, int]]:
    """Yield the reader thread's blocks; a damaged archive becomes a DumpError."""
    blocks: queue.Queue = queue.Queue(maxsize=_QUEUE_BLOCKS)
    stop = threading.Event()
    reader = threading.Thread(target=_read_blocks, args=(stream, plan, blocks, stop), daemon=True)
    reader.start()
    try:
        while (item := blocks.get()) is not _END:
            if isinstance(item, BaseException):
                if isinstance(item, stream.errors):
                    raise DumpError(f"{path}: truncated or corrupt archive ({item})") from item
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _batches(stream: Stream, path: Path) -> Iterator[tuple[bytes, Range, int]]:
    """Yield (batch of whole lines ending in newline, its range in the stream, compressed
    bytes read so far).

    Checks that the stream is a JSON array: starts with `[` and ends with a `]` line. The
    `]` check is what catches a truncated archive under rapidgzip, which stops at the end of
    the data it has instead of raising.
    """
    pending = b""
    tail = b""  # last bytes of the stream, to check the closing `]`
    offset = 0  # decompressed offset of `pending`
    first = True
    position = 0
    for block, position in _blocks(stream, None, path):
        if first:
            if not block.lstrip().startswith(b"["):
                raise DumpError(f"{path}: not a Wikidata JSON dump (does not start with '[')")
            first = False
        tail = (tail + block[-64:])[-64:]
        cut = block.rfind(b"\n") + 1
        if not cut:  # no line ends in this block: it all belongs to the pending line
            pending += block
            continue
        # One copy per byte: the pending line's start and the block up to its last line end.
        batch = b"".join((pending, memoryview(block)[:cut])) if pending else block[:cut]
        pending = block[cut:]
        yield batch, (offset, len(batch)), position
        offset += len(batch)
    if first:
        if stream.backend != "plain" and path.stat().st_size:  # rapidgzip, cut in the first block
            raise DumpError(f"{path}: truncated or corrupt archive (it decompresses to nothing)")
        raise DumpError(f"{path}: empty file, not a Wikidata JSON dump")
    if tail.rstrip().rsplit(b"\n", 1)[-1].strip() != b"]":
        raise DumpError(f"{path}: truncated or corrupt archive (the stream ends without the closing ']')")
    if pending:
        yield pending + b"\n", (offset, len(pending)), position


# --- per-batch work (runs in worker processes) ----------------------------------------


@dataclass
class _BatchResult:
    lines: int = 0
    entities: int = 0
    malformed: int = 0
    parsed: int = 0
    ids: np.ndarray | None = None  # pass 1: the batch's entity ids (Q numbers), in line order
    candidates: list[tuple[str, str, str, Labels, Types]] = field(default_factory=list)
    found: dict[str, tuple[Labels, Types]] = field(default_factory=dict)


def _scan_lines(batch: bytes) -> tuple[list[tuple[int, int]], int, int]:
    """(start, Q number) of every entity line, the count of entity lines and of structurally
    malformed ones (not `{...}` or `{...},`).

    A `find` loop looks at the first and last bytes of each line and matches the id near its
    start, so it costs far less than the decompression that produced the batch.
    """
    find, match = batch.find, _LINE_ID.match
    pos, size = 0, len(batch)
    ids: list[tuple[int, int]] = []
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
        if (m := match(batch, pos, end)) is not None:
            ids.append((pos, int(m.group(1))))
        pos = end + 1
    return ids, entities, malformed


def _parse_line(batch: bytes, start: int, res: _BatchResult) -> dict | None:
    """Parse the line starting at `start`; None (and counted) when it is not a JSON object.

    Structurally malformed lines were counted by `_scan_lines` and are skipped silently.
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
    """Candidate triples from lines holding a claim key of a wanted property, and the
    batch's entity ids for pass 2's index."""
    config = _config
    assert config is not None, "worker not initialised"
    ids, entities, malformed = _scan_lines(batch)
    res = _BatchResult(lines=entities + malformed, entities=entities, malformed=malformed)
    qids = [q for _, q in ids]
    if qids and max(qids) > _MAX_QID:
        raise DumpError(f"entity id Q{max(qids)} is beyond the extractor's index (Q{_MAX_QID})")
    res.ids = np.array(qids, dtype=np.uint32)
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


def _scan_pass2(batch: bytes, wanted: frozenset[int]) -> _BatchResult:
    """Labels and types of the `wanted` entities (Q numbers) on this batch's lines."""
    config = _config
    assert config is not None, "worker not initialised"
    res = _BatchResult()
    for start, qid in _scan_lines(batch)[0]:
        if qid not in wanted:
            continue
        entity = _parse_line(batch, start, res)
        if entity is None:
            continue
        try:
            if entity.get("id") == f"Q{qid}":
                res.found[entity["id"]] = (_labels(entity, config), _types(entity))
        except (AttributeError, TypeError):
            res.malformed += 1
    return res


# --- driver ----------------------------------------------------------------------------


class _Inline(Executor):
    """Runs each task at submission: one worker, no process to start or feed."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _run_pass(
    jobs: Iterator[tuple[tuple, Any, int]],
    scan: Callable[..., _BatchResult],
    pool: Executor,
    workers: int,
    bar: tqdm,
    consume: Callable[[_BatchResult, Any], None],
) -> None:
    """Run `scan(*args)` for every (args, tag, progress position) of `jobs` in `pool`,
    feeding each result and its tag to `consume` in submission order."""
    in_flight: deque[tuple[Future, Any, int]] = deque()

    def finish_one() -> None:
        future, tag, position = in_flight.popleft()
        consume(future.result(), tag)
        bar.update(max(min(position, bar.total) - bar.n, 0))

    try:
        with closing(jobs):
            for args, tag, position in jobs:
                in_flight.append((pool.submit(scan, *args), tag, position))
                if len(in_flight) >= 2 * workers + 2:
                    finish_one()
        while in_flight:
            finish_one()
    except BaseException:
        for future, _, _ in in_flight:
            future.cancel()
        raise


def _pass1_jobs(stream: Stream, path: Path) -> Iterator[tuple[tuple, Range, int]]:
    with closing(_batches(stream, path)) as batches:
        for batch, batch_range, position in batches:
            yield (batch,), batch_range, position


def _pass2_jobs(
    stream: Stream, plan: Sequence[tuple[Range, frozenset[int]]], path: Path
) -> Iterator[tuple[tuple, None, int]]:
    """The planned ranges, each with the Q numbers wanted from it; progress in
    decompressed bytes (the end of each range)."""
    with closing(_blocks(stream, [r for r, _ in plan], path)) as blocks:
        for (block, _), ((start, length), qids) in zip(blocks, plan, strict=False):
            # A range ends at a line end, except the last line of a dump without one.
            batch = block if block.endswith(b"\n") else block + b"\n"
            yield (batch, qids), None, start + length


def _check_bad(stats: DumpStats, max_bad_fraction: float, final: bool) -> None:
    if (final or stats.lines >= MIN_LINES_FOR_BAD_CHECK) and stats.lines:
        if stats.malformed > max_bad_fraction * stats.lines:
            raise DumpError(
                f"{stats.path}: most lines are bad ({stats.malformed} of {stats.lines} malformed, "
                f"over the allowed fraction {max_bad_fraction}); not a Wikidata JSON dump?"
            )


def _pass2_plan(
    ranges: Sequence[Range], ids: Sequence[np.ndarray], needed: frozenset[str]
) -> tuple[list[tuple[Range, frozenset[int]]], int]:
    """The batches holding a needed object, each with the Q numbers wanted from it, in
    stream order; and how many needed objects no batch holds.

    One vectorised membership test over every indexed id (~110M for the real dump, 4 bytes
    each), then the hits are grouped by batch.
    """
    wanted = np.array(sorted(int(q[1:]) for q in needed), dtype=np.uint32)
    all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint32)
    hits = np.flatnonzero(np.isin(all_ids, wanted))
    if not len(hits):
        return [], len(wanted)
    batch_of_hit = np.searchsorted(np.cumsum([len(a) for a in ids]), hits, side="right")
    starts = np.flatnonzero(np.diff(batch_of_hit, prepend=-1))  # hits come in batch order
    groups = np.split(all_ids[hits], starts[1:])
    plan = [(ranges[batch_of_hit[s]], frozenset(g.tolist())) for s, g in zip(starts, groups, strict=True)]
    return plan, len(wanted) - len(np.unique(all_ids[hits]))


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
    decompressor: str = "auto",
) -> tuple[list[Fact], DumpStats]:
    """Extract single-valued item facts for any Wikidata properties (`relations`) from a dump.

    Subjects need labels in at least `min_label_langs` of `languages`; objects are returned
    as found (the caller filters them with `polyfact.facts.filter_min_label_langs`). With
    `max_candidates_per_relation`, a seeded reservoir keeps that many candidates per
    relation. Facts come sorted by (subject, property, object). `decompressor` names a
    backend of `polyfact.wikidata.decompress` (`auto`: the fastest installed); the facts do
    not depend on it. `workers` parser processes (1: parse in this process; default: one
    per core but one) run beside the decompressor, which takes a thread of its own, or
    workers + 1 threads when it is parallel: the extraction keeps workers + 1 cores busy.
    """
    dump = Path(path)
    if not dump.is_file():
        raise DumpError(f"{dump}: no such dump file")
    relations = tuple(dict.fromkeys(relations))
    malformed_ids = [p for p in relations if not PROPERTY_ID.fullmatch(p)]
    if malformed_ids:
        raise DumpError(f"not Wikidata property ids: {malformed_ids} (expected e.g. P17)")
    workers = max((os.cpu_count() or 2) - 1, 1) if workers is None else max(workers, 1)
    backend = choose_backend(dump, decompressor, workers)
    config = _Config(relations, tuple(languages), min_label_langs)
    stats = DumpStats(path=str(dump), decompressor=backend, candidates={p: 0 for p in relations})
    stats.bytes_compressed = dump.stat().st_size
    cap = max_candidates_per_relation
    reservoirs: dict[str, list[tuple[str, str, str, Labels, Types]]] = {p: [] for p in relations}
    rngs = {p: random.Random(f"{seed}:{p}") for p in relations}
    ranges: list[Range] = []
    index: list[np.ndarray] = []

    def consume1(res: _BatchResult, batch_range: Range) -> None:
        stats.lines += res.lines
        stats.entities += res.entities
        stats.malformed += res.malformed
        stats.prefiltered += res.parsed
        stats.bytes_decompressed += batch_range[1]
        ranges.append(batch_range)
        index.append(res.ids)  # type: ignore[arg-type]
        for cand in res.candidates:
            pid = cand[0]
            stats.candidates[pid] += 1
            kept = reservoirs[pid]
            if cap is None or len(kept) < cap:
                kept.append(cand)
            elif (j := rngs[pid].randrange(stats.candidates[pid])) < cap:
                kept[j] = cand
        _check_bad(stats, max_bad_fraction, final=False)

    found: dict[str, tuple[Labels, Types]] = {}

    def consume2(res: _BatchResult, _: None) -> None:
        stats.malformed_pass2 += res.malformed
        stats.parsed_pass2 += res.parsed
        found.update(res.found)

    with ExitStack() as stack:
        # Fork the workers first, before any reader or decompressor thread exists: forking a
        # process with running threads can deadlock the child.
        if workers > 1:
            pool: Executor = stack.enter_context(
                ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(config,))
            )
            pool.submit(int).result()
        else:
            _init_worker(config)
            pool = _Inline()
        try:
            # A parallel decompressor gets every core the extraction holds (workers + 1): its
            # threads and the parsers share them, as the decompressor and the parsers alternate.
            stream = stack.enter_context(open_stream(dump, backend, threads=workers + 1))
        except OPEN_ERRORS as err:
            raise DumpError(f"{dump}: truncated or corrupt archive ({err})") from err
        t0 = time.perf_counter()
        bar = tqdm(total=stats.bytes_compressed, unit="B", unit_scale=True, desc="dump pass 1", disable=not progress)
        with bar:
            _run_pass(_pass1_jobs(stream, dump), _scan_pass1, pool, workers, bar, consume1)
        stats.pass1_seconds = time.perf_counter() - t0
        _check_bad(stats, max_bad_fraction, final=True)
        candidates = [c for p in relations for c in reservoirs[p]]
        stats.kept = {p: len(reservoirs[p]) for p in relations}
        stats.batches = len(ranges)
        reservoirs.clear()  # candidates now hold them; free the reservoir lists

        needed = frozenset(c[2] for c in candidates)
        stats.objects_needed = len(needed)
        plan, stats.objects_absent = _pass2_plan(ranges, index, needed)
        index.clear()
        stats.batches_pass2 = len(plan)
        stats.bytes_pass2 = sum(length for (_, length), _ in plan)
        if plan:
            t0 = time.perf_counter()
            end = plan[-1][0][0] + plan[-1][0][1]
            bar = tqdm(total=end, unit="B", unit_scale=True, desc="dump pass 2", disable=not progress)
            with bar:
                _run_pass(_pass2_jobs(stream, plan, dump), _scan_pass2, pool, workers, bar, consume2)
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
