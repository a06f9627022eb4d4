"""Benchmark `extract_dump` against `gzip -dc` on a synthetic dump shaped like the real one.

Both passes of the extractor read the whole file, so each pass is compared with one
`gzip -dc FILE > /dev/null`; the overall line compares the whole extraction with one
decompression. Usage:

    python benchmarks/extract_dump.py --entities 200000 --workers 2 --out-dir /tmp/bench
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import random
import string
import subprocess
import time
from pathlib import Path

import orjson
from polyfact.languages import DEFAULT_LANGUAGES
from polyfact.wikidata.dump import extract_dump

RELATIONS = ("P17", "P30", "P37")
# About 300 label languages, like the real dump: the pipeline's own first, then filler codes.
LANG_CODES = [
    *DEFAULT_LANGUAGES,
    "zh-hans",
    "zh-hant",
    "zh-cn",
    "zh-tw",
    "pt-br",
    "en-gb",
    "mul",
    *("".join(p) for p in itertools.product(string.ascii_lowercase, repeat=2)),
][:300]
OTHER_PROPS = [f"P{n}" for n in (31, 18, 373, 625, 646, 910, 935, 1082, 1566, 2044, 214, 227, 244, 268, 356)]
WORDS = [
    "".join(random.Random(i).choices(string.ascii_lowercase, k=random.Random(-i).randint(3, 10))) for i in range(5000)
]


def _item(qid: int) -> dict:
    return {"value": {"entity-type": "item", "numeric-id": qid, "id": f"Q{qid}"}, "type": "wikibase-entityid"}


def _snak(rng: random.Random, pid: str, qid: int) -> dict:
    return {
        "snaktype": "value",
        "property": pid,
        "hash": f"{rng.getrandbits(160):040x}",
        "datavalue": _item(qid),
        "datatype": "wikibase-item",
    }


def _statement(rng: random.Random, subject: int, pid: str, qid: int, qualifier: str | None = None) -> dict:
    statement: dict = {"mainsnak": _snak(rng, pid, qid), "type": "statement"}
    if qualifier or rng.random() < 0.4:
        qualifiers = {qualifier or "P580": [_snak(rng, qualifier or "P580", rng.randint(1, 10**6))]}
        statement |= {"qualifiers": qualifiers, "qualifiers-order": list(qualifiers)}
    uuid = tuple(rng.getrandbits(bits) for bits in (32, 16, 16, 16, 48))
    statement["id"] = f"Q{subject}$%08X-%04X-%04X-%04X-%012X" % uuid
    statement["rank"] = rng.choice(("normal", "normal", "normal", "preferred"))
    statement["references"] = [
        {
            "hash": f"{rng.getrandbits(160):040x}",
            "snaks": {"P248": [_snak(rng, "P248", rng.randint(1, 10**6))]},
            "snaks-order": ["P248"],
        }
    ]
    return statement


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n)).capitalize()


def entity_line(rng: random.Random, qid: int, n_countries: int) -> bytes:
    """One dump line: labels/descriptions/aliases in up to 300 languages, claims, sitelinks."""
    n_langs = min(len(LANG_CODES), int(rng.paretovariate(1.3) * 5))
    langs = LANG_CODES[:3] + rng.sample(LANG_CODES[3:], n_langs - 3) if n_langs > 3 else LANG_CODES[:n_langs]
    name = _phrase(rng, rng.randint(1, 3))
    labels = {lang: {"language": lang, "value": name if rng.random() < 0.6 else _phrase(rng, 2)} for lang in langs}
    desc = _phrase(rng, 4)
    descriptions = {lang: {"language": lang, "value": desc} for lang in langs[: max(1, n_langs // 2)]}
    aliases = {lang: [{"language": lang, "value": _phrase(rng, 2)}] for lang in langs[: n_langs // 4]}
    claims: dict[str, list] = {}
    for pid in rng.sample(OTHER_PROPS, rng.randint(2, 6)):
        claims[pid] = [_statement(rng, qid, pid, rng.randint(1, 10**6)) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.02:  # a wanted property only as a qualifier: a pre-filter false positive
        claims.setdefault("P131", []).append(_statement(rng, qid, "P131", rng.randint(1, 10**6), "P17"))
    if rng.random() < 0.07:  # ~7% of entities carry a wanted relation
        pid = rng.choice(RELATIONS)
        n_objects = rng.choice((1, 1, 1, 2))  # a quarter multi-valued, dropped by the extractor
        claims[pid] = [_statement(rng, qid, pid, rng.randint(1, n_countries)) for _ in range(n_objects)]
    sitelinks = {
        f"{lang}wiki": {"site": f"{lang}wiki", "title": labels[lang]["value"], "badges": []}
        for lang in langs[: n_langs // 3]
    }
    entity = {
        "type": "item",
        "id": f"Q{qid}",
        "labels": labels,
        "descriptions": descriptions,
        "aliases": aliases,
        "claims": claims,
        "sitelinks": sitelinks,
        "lastrevid": 2_000_000_000 + qid,
    }
    return orjson.dumps(entity)


def write_dump(path: Path, n: int, seed: int = 0) -> None:
    """Write a gzip (level 6) dump of `n` entities; Q1..Q500 serve as relation objects."""
    rng = random.Random(seed)
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(b"[\n")
        chunk: list[bytes] = []
        for qid in range(1, n + 1):
            chunk.append(entity_line(rng, qid, min(n, 500)) + (b",\n" if qid < n else b"\n"))
            if len(chunk) >= 2000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk) + b"]\n")


def gzip_seconds(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(f"gzip -dc '{path}' > /dev/null", shell=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/polyfact-bench"))
    args = parser.parse_args()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / f"synthetic-{args.entities}.json.gz"
    if not path.exists():
        t0 = time.perf_counter()
        write_dump(path, args.entities)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f}s")
    compressed = path.stat().st_size

    gz = gzip_seconds(path)
    facts, stats = extract_dump(path, RELATIONS, DEFAULT_LANGUAGES, workers=args.workers, progress=False)
    total = stats.pass1_seconds + stats.pass2_seconds
    decompressed = stats.bytes_decompressed
    n = stats.lines

    print(
        f"\n{n} entities, {compressed / 1e6:.1f} MB gzip, {decompressed / 1e6:.1f} MB JSON, "
        f"{os.cpu_count()} CPUs, workers={args.workers or os.cpu_count()}; "
        f"{stats.prefiltered} lines parsed in pass 1, {stats.parsed_pass2} in pass 2, {len(facts)} facts"
    )
    print(f"{'':<22}{'seconds':>9}{'entities/s':>13}{'comp MB/s':>11}{'decomp MB/s':>13}{'ratio':>8}")
    rows = [
        ("gzip -dc", gz, 1),
        ("extract pass 1", stats.pass1_seconds, 1),
        ("extract pass 2", stats.pass2_seconds, 1),
        ("extract overall", total, 2),
    ]
    for name, seconds, reads in rows:
        print(
            f"{name:<22}{seconds:>9.2f}{n * reads / seconds:>13,.0f}"
            f"{compressed * reads / seconds / 1e6:>11.1f}{decompressed * reads / seconds / 1e6:>13.1f}"
            f"{gz * reads / seconds:>8.2f}"
        )
    print("ratio: extractor throughput / gzip -dc throughput (overall counts both passes' reads)")
    print(f"whole extraction: {total / gz:.2f}x the wall time of one gzip -dc")


if __name__ == "__main__":
    main()
