"""CM-Align (Zhang et al., "Consistency-based Multilingual Alignment for Large Language
Models", EMNLP 2025 Findings, arXiv 2509.08541) as a cross-lingual-consistency baseline, in
two steps.

Construct (`construct_pairs`): the policy samples K free-text answers per (fact, language)
with the GRPO prompts. Embedded by a multilingual sentence encoder, the English candidate
closest on average to the other English candidates is the pivot; in every other language the
candidate closest to the pivot is chosen and the farthest rejected. Gold answers are never
read: the method is self-supervised. Rollouts run through vLLM on GPU and transformers on CPU
(`polyfact.models.generate`), each with its own seed, cached per request so a killed job
resumes.

Train (`train_cmalign`): TRL's `DPOTrainer` on the pairs (β 0.1), plus γ times TRL's NLL term
on the chosen answer when `nll_gamma` > 0 (CM-Align's optional NLL; 0 for this task).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyfact.errors import PolyfactError
from polyfact.models.chat import ChatRequest, Sampling
from polyfact.models.pooling import cosine_matrix
from polyfact.prompts import styled_grpo_prompt
from polyfact.train.settings import RunSpec

log = logging.getLogger(__name__)

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class ConstructSpec:
    """`cmalign.construct`: the rollouts (K candidates, sampling), the facts used, the pivot
    language and the encoder (`model`: the policy's mean-pooled hidden states at
    `encoder_layer`; otherwise a sentence-transformers directory such as LaBSE's)."""

    num_candidates: int = 4
    max_facts: int | None = None
    temperature: float = 0.9
    top_p: float = 0.95
    repetition_penalty: float = 1.3
    max_new_tokens: int = 32
    prompt: str = "native"
    pivot: str = "en"
    min_margin: float = 0.0
    encoder: str = "model"
    encoder_layer: int | None = None
    backend: str = "auto"
    batch_size: int = 16
    max_model_len: int = 2048
    gpu_memory_utilization: float = 0.85
    checkpoint_every: int = 256


def answer_text(completion: str) -> str:
    """The answer a free-text completion gives: its first non-empty line, stripped."""
    return next((line.strip() for line in completion.splitlines() if line.strip()), "")


def pivot_index(embeddings: np.ndarray) -> int:
    """The row with the highest mean cosine similarity to the other rows (CM-Align's
    consistency-guided reference)."""
    if len(embeddings) == 1:
        return 0
    sim = cosine_matrix(embeddings, embeddings)
    np.fill_diagonal(sim, 0.0)
    return int(np.argmax(sim.sum(axis=1) / (len(embeddings) - 1)))


def fact_pairs(
    candidates: Mapping[str, Sequence[str]],
    embeddings: Mapping[str, np.ndarray],
    pivot: str,
    min_margin: float = 0.0,
) -> tuple[str | None, list[dict[str, Any]]]:
    """One fact's pivot answer and its preference pairs: per language other than `pivot`, the
    candidate nearest the pivot (chosen) and the farthest (rejected). No pair where the two
    are the same text or closer than `min_margin`; no pivot without a non-empty candidate."""
    valid = [i for i, c in enumerate(candidates[pivot]) if c]
    if not valid:
        return None, []
    best = valid[pivot_index(embeddings[pivot][valid])]
    reference = embeddings[pivot][[best]]
    pairs = []
    for lang, texts in candidates.items():
        if lang == pivot or len(texts) < 2:
            continue
        cos = cosine_matrix(embeddings[lang], reference)[:, 0]
        win, lose = int(np.argmax(cos)), int(np.argmin(cos))
        if win == lose or texts[win] == texts[lose] or float(cos[win] - cos[lose]) < min_margin:
            continue
        pairs.append(
            {
                "language": lang,
                "chosen": texts[win],
                "rejected": texts[lose],
                "cos_chosen": float(cos[win]),
                "cos_rejected": float(cos[lose]),
            }
        )
    return candidates[pivot][best], pairs


def select_facts(fact_ids: Sequence[str], max_facts: int | None, seed: int) -> list[str]:
    """A seeded sample of at most `max_facts` facts (all when None), in a seeded order."""
    order = sorted(set(fact_ids))
    np.random.default_rng(seed).shuffle(order)
    return order if max_facts is None else order[:max_facts]


def rollout_requests(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    facts: Sequence[str],
    spec: ConstructSpec,
    scaffolds: Mapping[str, str],
    seed: int,
) -> dict[str, ChatRequest]:
    """K plain-text requests per (fact, language), ids `fact|lang|k`, each with its own seed."""
    from polyfact.dataset.llm_prompts import request_seed

    wanted = set(facts)
    requests = {}
    for lang, records in records_by_lang.items():
        for r in records:
            if r["fact_id"] not in wanted:
                continue
            prompt = styled_grpo_prompt(r, lang, spec.prompt, scaffolds)
            for k in range(spec.num_candidates):
                rid = f"{r['fact_id']}|{lang}|{k}"
                requests[rid] = ChatRequest(messages=(), prefix=prompt, seed=request_seed(seed, "cmalign", rid))
    return requests


def model_fingerprint(model_dir: str | Path) -> str:
    """What names the policy in the rollout cache: its config and the size and time of its
    weight files (a retrained model at the same path gets new keys without hashing gigabytes)."""
    root = Path(model_dir)
    parts = [(root / "config.json").read_text(encoding="utf-8")]
    for path in sorted(root.glob("*.safetensors")):
        stat = path.stat()
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def construct_pairs(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    facts: Sequence[str],
    requests: Mapping[str, ChatRequest],
    answers: Mapping[str, str],
    encode: Encoder,
    spec: ConstructSpec,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Preference rows (the rollout prompt, chosen, rejected, …) from the rollouts' `answers`
    (by request id, see `rollout_requests`) and the statistics of what was kept and skipped."""
    languages = list(records_by_lang)
    if spec.pivot not in languages:
        raise PolyfactError(f"cmalign.construct.pivot {spec.pivot!r} is not a training language ({languages})")
    records = {lang: {r["fact_id"]: r for r in rows} for lang, rows in records_by_lang.items()}
    texts = {
        (fact, lang): [answer_text(answers[f"{fact}|{lang}|{k}"]) for k in range(spec.num_candidates)]
        for fact in facts
        for lang in languages
        if fact in records[lang]
    }
    flat = [t or " " for ts in texts.values() for t in ts]  # an empty answer still embeds (far from all)
    vectors = encode(flat) if flat else np.zeros((0, 1))
    embeddings = {key: vectors[i * spec.num_candidates : (i + 1) * spec.num_candidates] for i, key in enumerate(texts)}
    rows: list[dict[str, Any]] = []
    no_pivot = 0
    per_lang: Counter[str] = Counter()
    for fact in facts:
        langs = [lang for lang in languages if (fact, lang) in texts]
        if spec.pivot not in langs:
            no_pivot += 1
            continue
        reference, pairs = fact_pairs(
            {lang: texts[fact, lang] for lang in langs},
            {lang: embeddings[fact, lang] for lang in langs},
            spec.pivot,
            spec.min_margin,
        )
        if reference is None:
            no_pivot += 1
            continue
        for pair in pairs:
            lang = pair["language"]
            rows.append(
                {
                    "fact_id": fact,
                    "prompt": requests[f"{fact}|{lang}|0"].prefix,
                    **pair,
                    "chosen": " " + pair["chosen"],
                    "rejected": " " + pair["rejected"],
                    "pivot": reference,
                }
            )
            per_lang[lang] += 1
    empty = sum(1 for ts in texts.values() for t in ts if not t)
    stats = {
        "facts": len(facts),
        "facts_without_pivot": no_pivot,
        "candidates": len(flat),
        "empty_candidates": empty,
        "pairs": len(rows),
        "pairs_per_language": {lang: per_lang[lang] for lang in languages if lang != spec.pivot},
        "construct": asdict(spec),
    }
    return rows, stats


def load_policy_generator(model_dir: str | Path, spec: ConstructSpec, seed: int, threads: int) -> Any:
    """The rollout backend (`construct.backend`: vLLM on GPU, transformers on CPU), loaded on
    first use: a rerun served from the cache never loads it."""
    from polyfact.models.generate import LazyGenerator, TransformersGenerator, VllmGenerator, resolve_backend

    backend = resolve_backend(spec.backend)

    def load() -> Any:
        if backend == "vllm":
            return VllmGenerator(model_dir, None, spec.max_model_len, spec.gpu_memory_utilization, 1, seed)
        return TransformersGenerator(model_dir, None, spec.batch_size, threads)

    return LazyGenerator(backend, load)


def policy_encoder(model_dir: str | Path, spec: ConstructSpec) -> Encoder:
    """`construct.encoder`: `model` embeds with the policy's own mean-pooled hidden states
    (CPU, toy world; no download); otherwise a sentence-transformers directory (LaBSE, fetched
    by the acquisition stage)."""
    from polyfact.evaluate.released import MODEL_ENCODER, make_encoder

    if spec.encoder != MODEL_ENCODER:
        return make_encoder(spec.encoder, setting="cmalign.construct.encoder")
    from polyfact.models.load import load_model

    model, tokenizer = load_model(model_dir)
    model.eval()
    return make_encoder(MODEL_ENCODER, model, tokenizer, spec.encoder_layer)


def run_construct(
    model_dir: str | Path,
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]],
    scaffolds: Mapping[str, str],
    spec: ConstructSpec,
    seed: int,
    threads: int,
    cache_dir: str | Path,
    cache_name: str,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sample the rollouts (cached per request under `cache_dir`), embed them and build the
    preference pairs of the sampled facts."""
    from polyfact.dataset.llm_cache import AnswerStore, generate_cached

    fact_ids = [r["fact_id"] for rows in records_by_lang.values() for r in rows]
    facts = select_facts(fact_ids, spec.max_facts, seed)
    requests = rollout_requests(records_by_lang, facts, spec, scaffolds, seed)
    sampling = Sampling(
        temperature=spec.temperature,
        top_p=spec.top_p,
        max_new_tokens=spec.max_new_tokens,
        repetition_penalty=spec.repetition_penalty,
    )
    generator = load_policy_generator(model_dir, spec, seed, threads)
    identity = f"{generator.name}:{model_fingerprint(model_dir)}"
    store = AnswerStore(cache_dir, cache_name)
    answers, counts = generate_cached(
        generator, identity, requests, sampling, store, spec.checkpoint_every, "cmalign rollouts"
    )
    del generator  # free the rollout model before the encoder loads
    rows, stats = construct_pairs(records_by_lang, facts, requests, answers, policy_encoder(model_dir, spec), spec)
    stats["rollouts"] = counts
    log.info("cmalign: %d pairs from %d facts (%s)", len(rows), len(facts), json.dumps(stats["pairs_per_language"]))
    return rows, stats


def train_cmalign(
    model_dir: str | Path,
    out_dir: str | Path,
    pairs: Sequence[Mapping[str, Any]],
    spec: RunSpec,
    nll_gamma: float,
) -> dict[str, Any]:
    """DPO on the constructed pairs (TRL's sigmoid loss, plus γ × its NLL term on the chosen
    answer when `nll_gamma` > 0); saves merged weights and train_stats.json to `out_dir`."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from polyfact.train.common import training_arguments
    from polyfact.train.preference import train_preference

    if not pairs:
        raise PolyfactError(
            "no CM-Align preference pair: every language's candidates were identical or the pivot was empty "
            "(see the construct job's stats)"
        )
    derived: dict[str, Any] = {"loss_type": ["sigmoid"], "loss_weights": [1.0]}
    if nll_gamma > 0:
        derived = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, nll_gamma]}
    args = training_arguments(spec, DPOConfig, derived)
    dataset = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])
    languages = sorted({p["language"] for p in pairs})
    extra = {"method": "cmalign", "languages": languages, "settings": {"nll_gamma": nll_gamma}}
    return train_preference(DPOTrainer, model_dir, out_dir, dataset, spec, args, extra)
