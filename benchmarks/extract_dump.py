"""Benchmark `extract_dump` against `gzip -dc`, ISA-L's igzip and `bzip2 -dc` on a synthetic
dump shaped like the real one, for every decompressor and 1 and 2 worker processes, and
extrapolate to the real dump on a 16-core node.

Every row is the whole extraction (pass 1 over the whole file, pass 2 over the batches that
hold needed objects) over the 14 PolyFact-Clean relations, with 1 or 2 parser processes (1:
parsing in the main process) beside the decompressor's thread(s); `/ tool` is its wall time
over one decompression of the same file by that tool. Each figure is the median of `--repeats`
runs, all in this one run. The facts' digest must be the same on every row. Usage:

    python benchmarks/extract_dump.py --entities 20000 --out-dir /tmp/bench
    python benchmarks/extract_dump.py --entities 20000 --objects spread   # pass 2's worst case
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import itertools
import os
import random
import statistics
import string
import subprocess
import sys
import time
from pathlib import Path

import orjson
from polyfact.languages import DEFAULT_LANGUAGES
from polyfact.relations import PAPER_RELATIONS
from polyfact.wikidata import dump as dump_module
from polyfact.wikidata.decompress import BZIP2_BACKENDS, GZIP_BACKENDS, choose_backend, installed, open_stream
from polyfact.wikidata.dump import extract_dump

RELATIONS = PAPER_RELATIONS
REAL_GZ_BYTES = 140e9  # latest-all.json.gz, late 2026
REAL_BZ2_BYTES = 100e9  # latest-all.json.bz2
NODE_CORES = 16
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


def entity_line(rng: random.Random, qid: int, n_objects: int) -> bytes:
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
        n_values = rng.choice((1, 1, 1, 2))  # a quarter multi-valued, dropped by the extractor
        claims[pid] = [_statement(rng, qid, pid, rng.randint(1, n_objects)) for _ in range(n_values)]
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


def write_dump(path: Path, n: int, objects: str = "clustered", seed: int = 0) -> None:
    """Write a gzip (level 6) dump of `n` entities and the same JSON as bzip2 (level 9).

    Relation objects are Q1..Q500 (`clustered`: countries, continents and languages have
    low ids and sit at the start of the real dump) or any entity (`spread`: pass 2's worst
    case, where nearly every batch holds a needed object).
    """
    rng = random.Random(seed)
    n_objects = min(n, 500) if objects == "clustered" else n
    with gzip.open(path, "wb", compresslevel=6) as gz, bz2.open(bz2_path(path), "wb", compresslevel=9) as bz:
        for out in (gz, bz):
            out.write(b"[\n")
        chunk: list[bytes] = []
        for qid in range(1, n + 1):
            chunk.append(entity_line(rng, qid, n_objects) + (b",\n" if qid < n else b"\n"))
            if len(chunk) >= 2000 or qid == n:
                for out in (gz, bz):
                    out.write(b"".join(chunk))
                chunk.clear()
        for out in (gz, bz):
            out.write(b"]\n")


def bz2_path(path: Path) -> Path:
    return path.with_suffix(".bz2")


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def tool_seconds(command: str, repeats: int) -> float:
    return median_seconds(lambda: subprocess.run(command, shell=True, check=True), repeats)


def facts_digest(facts) -> str:
    return hashlib.sha256(orjson.dumps([vars(f) for f in facts], option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


def decompress_seconds(path: Path, backend: str, repeats: int) -> float:
    """One thread reading the whole stream through `backend` (rapidgzip, indexed_bzip2: one thread)."""

    def run() -> None:
        with open_stream(path, backend, threads=1) as stream:
            while stream.file.read(dump_module.BLOCK_BYTES):
                pass

    return median_seconds(run, repeats)


def scan_seconds(path: Path, repeats: int) -> float:
    """Pass 1's worker CPU time alone: the scan of every batch, in this process."""
    dump_module._init_worker(dump_module._Config(RELATIONS, tuple(DEFAULT_LANGUAGES), 1))
    with open_stream(path, choose_backend(path)) as stream:
        batches = [batch for (batch,), _, _ in dump_module._pass1_jobs(stream, path)]
    return median_seconds(lambda: [dump_module._scan_pass1(b) for b in batches], repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--objects", choices=("clustered", "spread"), default="clustered")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/polyfact-bench"))
    args = parser.parse_args()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / f"synthetic-{args.entities}-{args.objects}.json.gz"
    if not path.exists() or not bz2_path(path).exists():
        t0 = time.perf_counter()
        write_dump(path, args.entities, args.objects)
        print(f"wrote {path} and {bz2_path(path).name} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    r = args.repeats
    refs = {
        "gz": {"gzip -dc": tool_seconds(f"gzip -dc '{path}' > /dev/null", r)},
        "bz2": {"bzip2 -dc": tool_seconds(f"bzip2 -dc '{bz2_path(path)}' > /dev/null", r)},
    }
    if installed("isal"):  # python-isal's igzip command line: ISA-L, as the igzip binary
        refs["gz"]["igzip -dc"] = tool_seconds(f"'{sys.executable}' -m isal.igzip -dc '{path}' > /dev/null", r)
    if installed("indexed_bzip2"):
        refs["bz2"]["ibzip2 -P 2 -dc"] = tool_seconds(f"ibzip2 -P 2 -d -c '{bz2_path(path)}' > /dev/null", r)

    print(
        f"{args.entities} entities ({args.objects} objects), {path.stat().st_size / 1e6:.1f} MB gzip, "
        f"{bz2_path(path).stat().st_size / 1e6:.1f} MB bzip2, {len(RELATIONS)} relations, {os.cpu_count()} CPUs; "
        f"median of {r} runs; load average {os.getloadavg()[0]:.1f} at the start"
    )
    digests = set()
    pass2_share = 0.0
    # The default on this machine: `auto`'s backend, one parser per core but one.
    default_workers = max((os.cpu_count() or 2) - 1, 1)
    auto: dict[str, tuple[str, float]] = {}  # per format: the default's backend and ratio to the first tool
    for kind, backends, file in (("gz", GZIP_BACKENDS, path), ("bz2", BZIP2_BACKENDS, bz2_path(path))):
        names = list(refs[kind])
        print(f"\n{kind}: " + ", ".join(f"{n} {s:.2f}s" for n, s in refs[kind].items()))
        print(
            f"{'decompressor':<14}{'workers':>8}{'pass 1 s':>10}{'pass 2 s':>10}{'total s':>9}"
            + "".join(f"{'/ ' + n:>18}" for n in names)
            + "  facts"
        )
        for backend in (b for b in backends if installed(b)):
            for workers in (1, 2):
                runs = []
                for _ in range(r):
                    facts, stats = extract_dump(
                        file, RELATIONS, DEFAULT_LANGUAGES, workers=workers, progress=False, decompressor=backend
                    )
                    runs.append((stats.pass1_seconds + stats.pass2_seconds, stats))
                total, stats = sorted(runs, key=lambda x: x[0])[len(runs) // 2]
                digests.add(facts_digest(facts))
                pass2_share = stats.batches_pass2 / stats.batches
                ratios = "".join(f"{total / refs[kind][n]:>18.2f}" for n in names)
                if workers == default_workers and backend == choose_backend(file, "auto", workers):
                    auto[kind] = (backend, total / refs[kind][names[0]])
                print(
                    f"{backend:<14}{workers:>8}{stats.pass1_seconds:>10.2f}{stats.pass2_seconds:>10.2f}{total:>9.2f}"
                    f"{ratios}  {len(facts)} ({facts_digest(facts)})"
                )
        print(
            f"pass 2 read {stats.batches_pass2} of {stats.batches} batches; "
            f"{stats.prefiltered} lines parsed in pass 1, {stats.parsed_pass2} in pass 2"
        )
    print(f"\nfacts identical across every decompressor and worker count: {len(digests) == 1}")
    for kind, (backend, ratio) in auto.items():
        tool = next(iter(refs[kind]))
        print(
            f"default here (auto = {backend}, {default_workers} worker(s) + the decompressor), whole extraction: "
            f"{ratio:.2f}x the wall time of one {tool}"
        )

    # Extrapolation: per-thread rates measured here, scaled by compressed size; assumes the
    # real dump decompresses and scans at this file's rates per compressed byte, and that
    # rapidgzip / indexed_bzip2 and the scan workers scale linearly over the node's cores.
    s = scan_seconds(path, r)
    print(
        f"\nEXTRAPOLATION (not measured): the real dump on a {NODE_CORES}-core node. Per thread, on this file: "
        f"scan s = {s:.2f}s (pass 1's worker CPU time); decompression d per backend below; pass 2 share f."
    )
    print(f"  serial decompressor:   T = (C_real / C) x max(d, s / ({NODE_CORES} - 1)) x (1 + f_serial)")
    print(f"  parallel decompressor: T = (C_real / C) x (d + s) / {NODE_CORES} x (1 + f)")
    print(
        f"  f = {pass2_share:.3f} here (share of batches pass 2 reads back); f = 1 if every batch held a needed "
        "object; f_serial = 1 (a serial decompressor reads up to the last needed batch, near the end of the real dump)"
    )
    print(f"{'backend':<14}{'d (s)':>8}{'C (MB)':>9}{'C_real (GB)':>12}{'T, f here':>12}{'T, f = 1':>11}")
    for kind, backends, file, real in (
        ("gz", GZIP_BACKENDS, path, REAL_GZ_BYTES),
        ("bz2", BZIP2_BACKENDS, bz2_path(path), REAL_BZ2_BYTES),
    ):
        size = file.stat().st_size
        tool, d = next(iter(refs[kind].items()))
        print(
            f"{tool:<14}{d:>8.2f}{size / 1e6:>9.1f}{real / 1e9:>12.0f}{real / size * d / 3600:>11.2f}h  (decompression only)"
        )
        for backend in (b for b in backends if installed(b)):
            d = decompress_seconds(file, backend, r)
            scale = real / size
            if backend in ("rapidgzip", "indexed_bzip2"):
                here = scale * (d + s) / NODE_CORES * (1 + pass2_share)
                worst = scale * (d + s) / NODE_CORES * 2
            else:
                here = worst = scale * max(d, s / (NODE_CORES - 1)) * 2
            print(
                f"{backend:<14}{d:>8.2f}{size / 1e6:>9.1f}{real / 1e9:>12.0f}{here / 3600:>11.2f}h{worst / 3600:>10.2f}h"
            )
    print(
        "calibration: gzip -dc of the real 115.2 GiB json.gz took 89 min on a cloud server (brawer/wikidata-qsdump, "
        "May 2023); compare with the gzip -dc row scaled to that size: the real dump compresses better than this "
        "file, so scaling by compressed bytes underestimates every row by about the same factor"
    )


if __name__ == "__main__":
    main()
