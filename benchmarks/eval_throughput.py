"""MCQ scoring throughput: the project's scorer against a full-sequence padded scorer, in one run.

Three scorers over the same questions (the first `--facts` facts, each in every `--languages`
language, four options each), each in its own child process so that the peak resident memory
of one does not mix with another's:

- `project`: `polyfact.evaluate.mcq.predict`, i.e. `score_continuations` (each item packed
  as one sequence, context computed once, logits only where a token is scored);
- `padded`: each (question, option) one full sequence, log-probabilities of the option
  tokens from the full logits, as the authors score (their evaluate/evaluate_accuracy.py):
  right-padded batches of `--group` questions of one language × 4 options, or with `--mixed`
  of `--group` facts × every language × 4 options (more padding and far more memory);
- `naive`: `score_one`, one unbatched forward pass per (question, option), on the first
  `--naive-facts` facts only (0 skips it).

For each: wall seconds of the scoring (model loading and a short warm-up excluded),
sequences (question × option) per second, the child's peak RSS (`ru_maxrss`, model
included), and its user and system CPU seconds during the scoring. Then the speed-up and the
memory ratio of `project` over `padded`, how many predictions differ between them and the
largest log-probability difference. Compare figures only from one run on an idle machine
(the load average is printed).

The model is the SmolLM2 base model the DAG converts from its wheel:

    snakemake --configfile config/smollm2.yaml results/models/smollm2/base
    python benchmarks/eval_throughput.py --model results/models/smollm2/base \\
        --data results/data/polyfact/test --facts 100 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCORERS = ("project", "padded", "naive")


def load_rows(data: Path, languages: Sequence[str], facts: int) -> list[dict[str, Any]]:
    """The first `facts` facts present in every language, fact-major, languages in order."""
    from polyfact.io import read_jsonl

    per_lang = {lang: {r["fact_id"]: r for r in read_jsonl(data / f"{lang}.jsonl")} for lang in languages}
    common = [f for f in per_lang[languages[0]] if all(f in rows for rows in per_lang.values())]
    if len(common) < facts:
        raise SystemExit(f"{data}: only {len(common)} facts in every one of {list(languages)}")
    return [per_lang[lang][f] for f in common[:facts] for lang in languages]


def padded_scores(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], group: int, mixed: bool) -> list:
    """Each (question, option) one full right-padded sequence, log-softmax over the full
    logits, option tokens summed, as the authors' evaluate/evaluate_accuracy.py does
    (jvonrad/Lost-in-Mistranslation@9335b1a): `group` questions of one language × 4 options
    per forward pass, or with `mixed` `group` facts × every language × 4 options."""
    import torch
    from polyfact.evaluate.mcq import mcq_item
    from polyfact.evaluate.scoring import Scored, continuation_ids
    from polyfact.models.padding import pad_batch, pad_id

    languages = list(dict.fromkeys(r["language"] for r in rows))
    if mixed:
        step = group * len(languages)
        batches = [list(range(s, min(s + step, len(rows)))) for s in range(0, len(rows), step)]
    else:
        per_lang = [[i for i, r in enumerate(rows) if r["language"] == lang] for lang in languages]
        batches = [idx[s : s + group] for idx in per_lang for s in range(0, len(idx), group)]
    pad = pad_id(tokenizer)
    out: list[list[Scored]] = [[] for _ in rows]
    with torch.no_grad():
        for batch in batches:
            seqs = []
            for i in batch:
                context, conts, _ = mcq_item(rows[i])
                seqs += [continuation_ids(tokenizer, context, c) for c in conts]
            ids, mask = pad_batch([full for full, _ in seqs], pad)
            logits = model(input_ids=ids, attention_mask=mask).logits
            logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            for k, (full, start) in enumerate(seqs):
                out[batch[k // 4]].append(
                    Scored(float(logprobs[k, start - 1 : len(full) - 1].sum()), len(full) - start)
                )
    return out


def run_child(args: argparse.Namespace) -> None:
    """Score with one scorer and write its timings, peak memory and scores as JSON."""
    import torch
    from polyfact.evaluate.mcq import mcq_item, predict
    from polyfact.evaluate.scoring import normalise, score_one
    from polyfact.models.load import load_model

    torch.set_num_threads(args.threads)
    languages = args.languages.split(",")
    facts = args.naive_facts if args.scorer == "naive" else args.facts
    rows = load_rows(args.data, languages, facts)
    model, tokenizer = load_model(args.model)
    model.eval()

    def score(part: Sequence[dict[str, Any]]) -> tuple[list[list[float]], list[int]]:
        """Log-probabilities and predictions (byte-normalised, as `predict`) per row."""
        if args.scorer == "project":
            predicted = predict(model, tokenizer, part, batch_size=args.batch_size)
            return [p["logprobs"] for p in predicted], [p["prediction"] for p in predicted]
        if args.scorer == "padded":
            scored = padded_scores(model, tokenizer, part, args.group, args.mixed)
        else:
            scored = [[score_one(model, tokenizer, c, o) for o in conts] for c, conts, _ in map(mcq_item, part)]
        predictions = []
        for row, options in zip(part, scored, strict=True):
            scores = [normalise(s, t, "byte") for s, t in zip(options, mcq_item(row)[2], strict=True)]
            predictions.append(max(range(4), key=lambda k: scores[k]))
        return [[s.logprob for s in row] for row in scored], predictions

    score(rows[: len(languages)])  # warm-up: one fact
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    logprobs, predictions = score(rows)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "scorer": args.scorer,
        "rows": len(rows),
        "sequences": 4 * len(rows),
        "wall_s": wall,
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "peak_rss_mb": after.ru_maxrss / 1024,  # kilobytes on Linux
        "logprobs": logprobs,
        "predictions": predictions,
    }
    args.out.write_text(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("results/models/smollm2/base"))
    ap.add_argument("--data", type=Path, default=Path("results/data/polyfact/test"), help="per-language JSONL")
    ap.add_argument("--facts", type=int, default=100)
    ap.add_argument("--languages", default="en,de,fr,ar,zh,bn,sw")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="project scorer: continuations per batch")
    ap.add_argument("--group", type=int, default=8, help="padded scorer: questions of one language per batch (× 4)")
    ap.add_argument(
        "--mixed", action="store_true", help="padded scorer: --group facts × every language per batch (far more memory)"
    )
    ap.add_argument("--naive-facts", type=int, default=5, help="facts for the naive scorer (0: skip it)")
    ap.add_argument("--scorers", default="project,padded,naive", help="which scorers to run, in order")
    ap.add_argument("--scorer", choices=SCORERS, help=argparse.SUPPRESS)  # the child's own
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scorer:
        run_child(args)
        return

    scorers = [s for s in args.scorers.split(",") if s != "naive" or args.naive_facts > 0]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scorer in scorers:
            out = Path(tmp) / f"{scorer}.json"
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--scorer", scorer, "--out", str(out)], check=True)
            results[scorer] = json.loads(out.read_text())

    print(f"\nmodel {args.model}, {args.facts} facts × {args.languages} × 4 options, {args.threads} threads")
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'scorer':<9} {'sequences':>9} {'wall s':>8} {'seq/s':>7} {'peak RSS MB':>11} {'user s':>8} {'sys s':>7}")
    for name, r in results.items():
        print(
            f"{name:<9} {r['sequences']:>9} {r['wall_s']:>8.1f} {r['sequences'] / r['wall_s']:>7.1f}"
            f" {r['peak_rss_mb']:>11.0f} {r['user_s']:>8.1f} {r['sys_s']:>7.1f}"
        )
    for other in ("padded", "naive"):
        if "project" in results and other in results:
            a, b = results["project"], results[other]
            n = b["rows"]
            differ = sum(x != y for x, y in zip(a["predictions"][:n], b["predictions"], strict=True))
            delta = max(
                abs(x - y)
                for ra, rb in zip(a["logprobs"][:n], b["logprobs"], strict=True)
                for x, y in zip(ra, rb, strict=True)
            )
            rate = (a["sequences"] / a["wall_s"]) / (b["sequences"] / b["wall_s"])
            print(
                f"project vs {other} ({n} questions): {differ} differing predictions, max |Δ logprob| {delta:.2e},"
                f" speed-up {rate:.2f}× (sequences/s), peak RSS ratio {a['peak_rss_mb'] / b['peak_rss_mb']:.2f}"
            )


if __name__ == "__main__":
    main()
