"""`polyfact acquire SOURCE`: obtain one external input and convert it to the form its consumer
reads (rules/acquire.smk; the only jobs that touch the network).

Every source takes its config entry (`--spec FILE#config.acquire.NAME`). A `local` path there
replaces the download: clusters whose compute nodes have no internet point it at a copy. Raw
downloads are kept under `--raw-dir` as resumable `.part` files until complete, so a killed job
resumes where it stopped; converted outputs appear only whole (atomic renames). Each job also
writes a manifest (`--manifest`): where the data came from, sizes and sha256 of what was read.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
HF_TOKEN_VARIABLE = "HF_TOKEN"  # gated Hub sets (FLORES+): the token comes from the environment only


def _file_record(path: Path, checksum: str | None = None, origin: str = "") -> dict[str, Any]:
    """Path, size and sha256 of a file already on disk (a local copy, an earlier complete
    download), checked against `checksum` when one is given; one read for both digests."""
    import hashlib

    from polyfact.acquire.http import hash_file, parse_checksum
    from polyfact.errors import PolyfactError

    algo, expected = parse_checksum(checksum) if checksum else ("sha256", None)
    hashers = {name: hashlib.new(name) for name in {"sha256", algo}}
    size = hash_file(path, hashers.values())
    record = {"path": str(path), "bytes": size, "sha256": hashers["sha256"].hexdigest()}
    if expected is not None:
        got = hashers[algo].hexdigest()
        if got != expected:
            raise PolyfactError(f"{path} (from {origin}): {algo} {got} != expected {expected}")
        record["checksum"] = f"{algo}:{got}"
    return record


def _write_manifest(args: argparse.Namespace, record: dict[str, Any]) -> None:
    """Where the data came from and what was read; when is in the job's provenance record."""
    from polyfact.io import write_json

    write_json(args.manifest, {"source": args.source, **record})


def _fetch(url: str, raw_dir: str, retries: int, *, checksum: str | None = None) -> dict[str, Any]:
    """Download `url` into `raw_dir` under its own file name, resuming a partial download; a
    file already there (a complete earlier download) is reused once its checksum, if any, holds."""
    from urllib.parse import urlparse

    from polyfact.acquire.http import download

    dest = Path(raw_dir, Path(urlparse(url).path).name)
    if dest.is_file():
        log.info("%s: reusing the complete download %s", url, dest)
        return {"url": url, **_file_record(dest, checksum, url), "reused": True}
    return download(url, dest, checksum=checksum, retries=retries, progress=True)


def _checksum(spec: dict[str, Any], filename: str) -> str | None:
    """The configured checksum, or the file's line in the publisher's listing (Wikimedia's
    `wikidata-YYYYMMDD-md5sums.txt`)."""
    if spec.get("checksum") or not spec.get("checksums_url"):
        return spec.get("checksum")
    import requests

    from polyfact.acquire.http import checksum_from_listing
    from polyfact.errors import PolyfactError

    url = spec["checksums_url"]
    algo = next((a for a in ("sha256", "sha1", "md5") if a in Path(url).name), None)
    if algo is None:
        raise PolyfactError(f"{url}: cannot tell the checksum algorithm from the name (sha256, sha1 or md5)")
    try:
        response = requests.get(url, timeout=60)
        response.raise_for_status()
    except requests.RequestException as err:
        raise PolyfactError(f"{url}: checksum listing not available ({err})") from None
    return f"{algo}:{checksum_from_listing(response.text, filename, algo)}"


def acquire_wikidata_dump(args: argparse.Namespace) -> None:
    """The dump itself is the consumer's form; a local copy is hard-linked (or symlinked)."""
    from urllib.parse import urlparse

    from polyfact.acquire.http import download

    spec, out = args.spec, Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if spec.get("local"):
        local = Path(spec["local"]).resolve()
        _link(local, out)
        try:
            record = _file_record(out, spec.get("checksum"), str(local))
        except Exception:
            out.unlink()
            raise
        _write_manifest(args, {"local": str(local), **record})
        return
    checksum = _checksum(spec, Path(urlparse(spec["url"]).path).name)
    record = download(spec["url"], out, checksum=checksum, retries=args.retries, progress=True)
    _write_manifest(args, record)


def _link(source: Path, dest: Path) -> None:
    from polyfact.errors import PolyfactError

    if not source.is_file():
        raise PolyfactError(f"acquire: local file {source} does not exist")
    tmp = dest.with_name(f".{dest.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # another file system: a symlink, the manifest records what it pointed at
        os.symlink(source, tmp)
    os.replace(tmp, dest)


def acquire_ted2025(args: argparse.Namespace) -> None:
    """TED2025 `multi_way.jsonl` (shared by its authors on request, so a URL or a local copy)
    -> parallel JSONL rows `{talk_id, lang: text}` over the configured languages."""
    from polyfact.acquire.sources import ted_row
    from polyfact.errors import PolyfactError
    from polyfact.io import atomic_path

    spec = args.spec
    if spec.get("local"):
        raw = {"local": spec["local"], **_file_record(Path(spec["local"]))}
    else:
        raw = _fetch(spec["url"], args.raw_dir, args.retries, checksum=spec.get("checksum"))
    counts: Counter[str] = Counter()
    rows = dropped = 0
    with (
        open(raw["path"], encoding="utf-8") as src,
        atomic_path(args.out) as tmp,
        open(tmp, "w", encoding="utf-8") as dst,
    ):
        for lineno, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                row = ted_row(json.loads(line), args.languages, spec["lang_codes"])
            except (json.JSONDecodeError, ValueError) as err:
                raise PolyfactError(f"{raw['path']}:{lineno}: malformed TED2025 row: {err}") from None
            if row is None:
                dropped += 1
                continue
            counts.update(k for k in row if k != "talk_id")
            rows += 1
            dst.write(json.dumps(row, ensure_ascii=False) + "\n")
        if rows == 0:  # inside the block: nothing is renamed into place
            raise PolyfactError(f"{raw['path']}: no segment has two of the languages {args.languages}")
    log.info("TED2025: %d parallel rows, %d with fewer than two languages dropped", rows, dropped)
    _write_manifest(args, {"raw": raw, "rows": rows, "dropped": dropped, "languages": dict(counts)})


def _hub_source(spec: dict[str, Any]) -> str:
    """A local directory (the Hub repository's layout, its README's `configs`) or the Hub id:
    `datasets` reads both through the same call."""
    return spec.get("local") or spec["hub"]


def _load_split(source: str, config: str, split: str) -> Any:
    import datasets

    from polyfact.errors import PolyfactError

    try:
        return datasets.load_dataset(source, config, split=split, token=os.environ.get(HF_TOKEN_VARIABLE))
    except Exception as err:  # datasets raises many types (gated, missing split, network)
        hint = f" (gated sets need {HF_TOKEN_VARIABLE} in the environment)" if "gated" in str(err).lower() else ""
        raise PolyfactError(f"{source} [{config}] split {split!r}: {err}{hint}") from err


def acquire_flores(args: argparse.Namespace) -> None:
    """FLORES+ (gated on the Hub: one config per language) -> parallel JSONL joined by id."""
    from polyfact.acquire.sources import FLORES_CODES, join_by_id
    from polyfact.io import write_jsonl

    spec, source = args.spec, _hub_source(args.spec)
    codes = {**FLORES_CODES, **spec["lang_codes"]}
    per_language = {lang: _load_split(source, codes[lang], spec["split"]) for lang in args.languages}
    rows = join_by_id(per_language)
    write_jsonl(args.out, rows)
    log.info("FLORES+ %s: %d sentences in %d languages", spec["split"], len(rows), len(per_language))
    _write_manifest(
        args,
        {
            "hub": spec.get("hub"),
            "local": spec.get("local"),
            "split": spec["split"],
            "rows": len(rows),
            "languages": {lang: len(ds) for lang, ds in per_language.items()},
        },
    )


def acquire_klar(args: argparse.Namespace) -> None:
    """KLAR-CLC `{lang}/{relation}.json` from a base URL (or a local copy) -> the same layout
    with `relation_id` added, every configured file or a clear error naming the missing one."""
    from polyfact.acquire.sources import klar_file
    from polyfact.errors import PolyfactError
    from polyfact.io import atomic_dir

    spec = args.spec
    files = []
    with atomic_dir(args.out) as tmp:
        for lang in spec["languages"]:
            for relation in spec["relations"]:
                name = f"{lang}/{relation}.json"
                if spec.get("local"):
                    path = Path(spec["local"], name)
                    if not path.is_file():
                        raise PolyfactError(f"KLAR: {path} does not exist")
                    record = {"local": str(path), **_file_record(path)}
                else:
                    record = _fetch(
                        f"{spec['base_url'].rstrip('/')}/{name}", str(Path(args.raw_dir, lang)), args.retries
                    )
                data = json.loads(Path(record["path"]).read_text(encoding="utf-8"))
                converted = klar_file(data, relation, lang)
                Path(tmp, lang).mkdir(exist_ok=True)
                Path(tmp, name).write_text(json.dumps(converted, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
                files.append({**record, "samples": len(converted["samples"])})
    log.info("KLAR: %d relation files in %d languages", len(files), len(spec["languages"]))
    _write_manifest(args, {"base_url": spec.get("base_url"), "local": spec.get("local"), "files": files})


def acquire_hub_mcq(args: argparse.Namespace) -> None:
    """A Hub MCQ set with one config per language (Global-MMLU(-Lite), the released PolyFact and
    PolyFact-Clean) -> `{split}/{lang}.jsonl`, rows as published. Languages the set lacks
    (Global-MMLU-Lite has no Russian) are skipped and listed in the manifest."""
    import datasets

    from polyfact.errors import PolyfactError
    from polyfact.io import atomic_dir

    spec, source = args.spec, _hub_source(args.spec)
    try:
        configs = set(datasets.get_dataset_config_names(source, token=os.environ.get(HF_TOKEN_VARIABLE)))
    except Exception as err:  # as in _load_split
        raise PolyfactError(f"{source}: cannot list its configs: {err}") from err
    languages = spec.get("languages") or args.languages
    present = [lang for lang in languages if lang in configs]
    missing = [lang for lang in languages if lang not in configs]
    if not present:
        raise PolyfactError(f"{source}: none of the languages {languages} is a config (configs: {sorted(configs)})")
    if missing:
        log.warning("%s: no config for %s; skipped", source, ",".join(missing))
    counts: dict[str, dict[str, int]] = {}
    with atomic_dir(args.out) as tmp:
        for split in spec["splits"]:
            Path(tmp, split).mkdir()
            for lang in present:
                ds = _load_split(source, lang, split)
                ds.to_json(str(Path(tmp, split, f"{lang}.jsonl")), force_ascii=False, lines=True)
                counts.setdefault(split, {})[lang] = len(ds)
    _write_manifest(args, {"hub": spec.get("hub"), "local": spec.get("local"), "rows": counts, "missing": missing})


def acquire_encoder(args: argparse.Namespace) -> None:
    """A sentence-transformers model repository (CM-Align's LaBSE) from the Hub at a pinned
    revision, or a local copy -> `--out`, whole or not at all; every file's size and sha256 in
    the manifest."""
    import shutil

    from polyfact.errors import PolyfactError
    from polyfact.io import atomic_dir

    spec = args.spec
    with atomic_dir(args.out) as tmp:
        if spec.get("local"):
            local = Path(spec["local"])
            if not local.is_dir():
                raise PolyfactError(f"acquire encoder: local directory {local} does not exist")
            shutil.copytree(local, tmp, dirs_exist_ok=True)
        else:
            from huggingface_hub import snapshot_download

            try:
                snapshot_download(
                    spec["hub"], revision=spec["revision"], local_dir=tmp, token=os.environ.get(HF_TOKEN_VARIABLE)
                )
            except Exception as err:  # network, missing repository or revision
                raise PolyfactError(f"acquire encoder {spec['hub']}@{spec['revision']}: {err}") from err
            shutil.rmtree(Path(tmp, ".cache"), ignore_errors=True)  # huggingface_hub's download metadata
        missing = [name for name in ("config.json", "modules.json") if not Path(tmp, name).is_file()]
        if missing:
            raise PolyfactError(f"acquire encoder: {missing} missing; not a sentence-transformers model directory")
        files = [
            _file_record(p) | {"path": str(p.relative_to(tmp))} for p in sorted(Path(tmp).rglob("*")) if p.is_file()
        ]
    log.info("encoder: %d files", len(files))
    _write_manifest(
        args, {"hub": spec.get("hub"), "revision": spec.get("revision"), "local": spec.get("local"), "files": files}
    )
