"""GRPO throughput on a toy-sized Qwen2 (hidden 256, 4 layers, ~2k vocab) on this machine.

Measures (1) sampling: `model.generate` for L×G prompts (one fact's generation batch), a
fixed number of new tokens; (2) GRPO updates: a few `FactGroupedGRPOTrainer` steps, with the
time spent inside TRL's generation call measured separately and subtracted, so the update
rate counts prompt+completion tokens per second of scoring, loss and backward. Usage:

    python benchmarks/grpo_throughput.py --langs 4 --generations 8 --new-tokens 16 --steps 4 --threads 2

On a shared machine use --threads 1: with other jobs on the cores, torch's intra-op
threads contend and a 2-thread run can be an order of magnitude slower.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from polyfact.models.toy import ToyModelSpec, toy_config, train_tokenizer
from polyfact.prompts import grpo_prompt
from polyfact.train.grpo import build_trainer
from polyfact.train.rewards import RewardSpec
from polyfact.train.settings import RunSpec
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

LANGS = ("en", "de", "ru", "zh", "bn", "sw", "ja", "ar")
REPO = Path(__file__).resolve().parents[1]
NAMES = ["Europe", "Asia", "Africa", "Oceania", "Europa", "Азия", "非洲", "ইউরোপ", "Afrika", "ヨーロッパ"]
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz",
    "абвгдеёжзийклмнопрстуфхцчшщыэюя",
    "অআইউএকখগঘচছজটডতদধনপবমযরলশসহ",
    "的一是不了人我在有他这中大来上国个到说们为子和你地出",
]


def scaffolds(langs: list[str]) -> dict[str, str]:
    return {
        lang: yaml.safe_load((REPO / "config" / "templates" / f"{lang}.yaml").read_text())["answer_scaffold"]
        for lang in langs
    }


def records(langs: list[str], n_facts: int) -> dict[str, list[dict[str, Any]]]:
    """Synthetic four-option records (prompt lengths like the real ones: ~40–80 tokens)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for lang in langs:
        out[lang] = [
            {
                "fact_id": f"f{i}",
                "question": f"[{lang}] On which continent is the city number {i} located?",
                **{f"option_{c}": NAMES[(i + k) % len(NAMES)] for k, c in enumerate("abcd")},
                "answer_index": i % 4,
            }
            for i in range(n_facts)
        ]
    return out


def corpus(langs: list[str], n: int = 4000) -> list[str]:
    """Prompts plus pseudo-words in four scripts, enough distinct text for a ~2k BPE vocabulary."""
    rng = random.Random(0)
    words = ["".join(rng.choices(rng.choice(ALPHABETS), k=rng.randint(2, 8))) for _ in range(3000)]
    prompts = [grpo_prompt(r, s) for lang, s in scaffolds(langs).items() for r in records([lang], 50)[lang]]
    return prompts + [" ".join(rng.choices(words, k=12)) for _ in range(n)]


def toy_model(langs: list[str]) -> tuple[Any, PreTrainedTokenizerFast]:
    tokenizer = train_tokenizer(corpus(langs), vocab_size=2000)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(toy_config(tokenizer, ToyModelSpec())), tokenizer


def bench_generate(
    model: Any, tokenizer: PreTrainedTokenizerFast, prompts: list[str], new_tokens: int, reps: int
) -> float:
    """New tokens per second of sampled generation for one batch of prompts."""
    batch = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    kwargs = {
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,  # time a fixed length, whatever the random model samples
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.95,
    }
    model.eval()
    with torch.no_grad():
        model.generate(**batch, **kwargs)  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            model.generate(**batch, **kwargs)
    return reps * len(prompts) * new_tokens / (time.perf_counter() - start)


def bench_grpo(
    model: Any, tokenizer: PreTrainedTokenizerFast, langs: list[str], args: argparse.Namespace
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = RunSpec(
            out_dir=Path(tmp) / "out",
            checkpoint_dir=Path(tmp) / "ckpt",
            trainer={
                "max_steps": args.steps + 1,
                "save_steps": 10_000,
                "logging_steps": 1,
                "learning_rate": 1e-5,
                "num_generations": args.generations,
                "max_completion_length": args.new_tokens,
                "temperature": 0.7,
                "top_p": 0.95,
                "generation_kwargs": {"min_new_tokens": args.new_tokens},
                "disable_tqdm": True,
            },
        )
        data = records(langs, args.steps + 1)
        trainer, _ = build_trainer(model, tokenizer, data, scaffolds(langs), spec, RewardSpec())
        generate = trainer._generate_single_turn
        gen_seconds: list[float] = []

        def timed(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            out = generate(*a, **k)
            gen_seconds.append(time.perf_counter() - start)
            return out

        trainer._generate_single_turn = timed  # type: ignore[method-assign]
        trainer.train()
    steps = [e for e in trainer.state.log_history if "step_time" in e][1:]  # drop the warm-up step
    step_time = sum(e["step_time"] for e in steps)
    gen_time = sum(gen_seconds[1:])
    tokens = steps[-1]["num_tokens"] - trainer.state.log_history[0]["num_tokens"]
    seqs = len(langs) * args.generations * len(steps)
    return {
        "step_s": step_time / len(steps),
        "gen_s": gen_time / len(steps),
        "gen_tok_s": seqs * args.new_tokens / gen_time,
        "update_tok_s": tokens / (step_time - gen_time),
        "tokens_per_step": tokens / len(steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", type=int, default=4)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    langs = list(LANGS[: args.langs])
    model, tokenizer = toy_model(langs)
    params = sum(p.numel() for p in model.parameters())
    first = records(langs, 1)
    prompts = [grpo_prompt(first[lang][0], s) for lang, s in scaffolds(langs).items() for _ in range(args.generations)]
    prompt_tokens = sum(len(tokenizer(p)["input_ids"]) for p in prompts) / len(prompts)
    gen = bench_generate(model, tokenizer, prompts, args.new_tokens, args.reps)
    grpo = bench_grpo(model, tokenizer, langs, args)
    print(f"toy Qwen2: {params / 1e6:.2f} M params, vocab {len(tokenizer)}, torch threads {torch.get_num_threads()}")
    print(
        f"batch: {args.langs} langs × G={args.generations} = {len(prompts)} sequences, "
        f"~{prompt_tokens:.0f} prompt tokens + {args.new_tokens} new tokens"
    )
    print(f"{'measure':<38}{'value':>12}")
    print(f"{'model.generate new tokens/s':<38}{gen:>12.0f}")
    print(f"{'GRPO step (s, one fact)':<38}{grpo['step_s']:>12.2f}")
    print(f"{'  of which generation (s)':<38}{grpo['gen_s']:>12.2f}")
    print(f"{'  generation new tokens/s (in trainer)':<38}{grpo['gen_tok_s']:>12.0f}")
    print(f"{'  update tokens/s (prompt+completion)':<38}{grpo['update_tok_s']:>12.0f}")
    print(f"{'  tokens per step':<38}{grpo['tokens_per_step']:>12.0f}")


if __name__ == "__main__":
    main()
