"""Batched chat generation for the dataset's LLM stage: vLLM on GPU, transformers on CPU.

Both backends take the same requests (chat messages, an optional assistant prefix the answer
continues, a per-request seed) rendered by the same chat template, so the CPU rehearsal runs
the prompts a GPU run would. Sampling is seeded per request, not per batch: a request's text
does not depend on which other requests shared its batch, which is what lets a restarted job
reuse cached answers and regenerate the rest to the same bytes.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from tqdm import tqdm
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerBase

from polyfact.errors import PolyfactError
from polyfact.models.chat import ChatRequest, Generator, Sampling, cut_at_stop, vllm_sampling_kwargs
from polyfact.models.padding import length_batches, pad_batch, pad_id

log = logging.getLogger(__name__)

BACKENDS = ("auto", "vllm", "transformers")


def render(tokenizer: PreTrainedTokenizerBase, request: ChatRequest) -> str:
    """The prompt text of a request: the chat template with the assistant turn opened and, if
    there is a prefix, continued from it. `enable_thinking=False` is read by templates of
    reasoning models (Qwen3) and ignored by others. A request without messages is its plain
    prefix."""
    if not request.messages:
        return request.prefix
    messages = [{"role": role, "content": content} for role, content in request.messages]
    if request.prefix:
        messages.append({"role": "assistant", "content": request.prefix})
    if tokenizer.chat_template is None:
        raise PolyfactError("the LLM stage needs an instruction model with a chat template")
    return tokenizer.apply_chat_template(
        messages,
        tokenize=False,
        add_generation_prompt=not request.prefix,
        continue_final_message=bool(request.prefix),
        enable_thinking=False,
    )


class SeededSampling(LogitsProcessor):
    """Temperature and nucleus sampling with one random stream per row, by the Gumbel-max trick:
    greedy decoding over logits plus Gumbel noise draws from their softmax. Each row's noise
    comes from its own request's seed, so a row samples the same text in any batch."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float) -> None:
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            sorted_logits, order = logits.sort(dim=-1, descending=True)
            probs = sorted_logits.softmax(dim=-1)
            outside = probs.cumsum(dim=-1) - probs > self.top_p  # the first token always stays
            logits = logits.masked_fill(outside.scatter(-1, order, outside), float("-inf"))
        noise = torch.stack([torch.rand(logits.shape[-1], generator=g, dtype=torch.float64) for g in self.generators])
        gumbel = -torch.log(-torch.log(noise.clamp_min(1e-300))).to(logits.dtype)
        return logits + gumbel.to(logits.device)


class TransformersGenerator:
    """The CPU path: padded batches through `model.generate`, sorted by prompt length so that
    a batch pads little; greedy decoding over `SeededSampling`'s perturbed logits."""

    name = "transformers"

    def __init__(self, model_dir: str | os.PathLike[str], dtype: str | None, batch_size: int, threads: int) -> None:
        from polyfact.models.load import load_model

        torch.set_num_threads(threads)
        self.model, self.tokenizer = load_model(model_dir, dtype=dtype)
        self.model.eval()
        self.batch_size = batch_size

    def generate(self, requests: Sequence[ChatRequest], sampling: Sampling) -> list[str]:
        # A chat template writes its own special tokens; a plain prompt gets the tokenizer's (as in vLLM).
        encoded = [
            self.tokenizer(render(self.tokenizer, r), add_special_tokens=not r.messages).input_ids for r in requests
        ]
        pad = pad_id(self.tokenizer)
        out: list[str] = [""] * len(requests)
        config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=False,
            repetition_penalty=sampling.repetition_penalty,
            pad_token_id=pad,
            eos_token_id=self.model.generation_config.eos_token_id or self.tokenizer.eos_token_id,
        )
        for batch in tqdm(
            length_batches([len(e) for e in encoded], self.batch_size), desc="generate", unit="batch", disable=None
        ):
            # left padding: generation continues every row from its last token
            ids, mask = pad_batch([encoded[i] for i in batch], pad, left=True)
            processors = LogitsProcessorList()
            if sampling.temperature > 0:
                processors.append(
                    SeededSampling([requests[i].seed for i in batch], sampling.temperature, sampling.top_p)
                )
            with torch.inference_mode():
                generated = self.model.generate(
                    input_ids=ids, attention_mask=mask, generation_config=config, logits_processor=processors
                )
            for row, i in enumerate(batch):
                text = self.tokenizer.decode(generated[row, ids.shape[1] :], skip_special_tokens=True)
                out[i] = cut_at_stop(text, sampling.stop)
        return out


class VllmGenerator:
    """The GPU path: vLLM offline batched generation over all requests at once (vLLM schedules
    its own continuous batches); one `SamplingParams` per request for its seed."""

    name = "vllm"

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        dtype: str | None,
        max_model_len: int,
        gpu_memory_utilization: float,
        tensor_parallel_size: int,
        seed: int,
    ) -> None:
        from transformers import AutoTokenizer
        from vllm import LLM

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.llm = LLM(
            model=str(model_dir),
            dtype=dtype or "auto",
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            seed=seed,
        )

    def generate(self, requests: Sequence[ChatRequest], sampling: Sampling) -> list[str]:
        from vllm import SamplingParams

        prompts = [render(self.tokenizer, r) for r in requests]
        params = [SamplingParams(**vllm_sampling_kwargs(sampling, r.seed)) for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=True)
        return [o.outputs[0].text for o in outputs]


def resolve_backend(backend: str) -> str:
    """`auto`: vLLM when it is installed and a GPU is visible, else transformers. Asking for
    vLLM where it cannot run fails here, naming what is missing."""
    if backend not in BACKENDS:
        raise PolyfactError(f"unknown LLM backend {backend!r}; one of {list(BACKENDS)}")
    has_vllm = importlib.util.find_spec("vllm") is not None
    if backend == "auto":
        return "vllm" if has_vllm and torch.cuda.is_available() else "transformers"
    if backend == "vllm" and not (has_vllm and torch.cuda.is_available()):
        raise PolyfactError("LLM backend vllm needs the vllm package (envs/gpu.yaml) and a CUDA GPU")
    return backend


def load_generator(
    model_dir: str | os.PathLike[str], settings: dict[str, Any], seed: int, threads: int
) -> LazyGenerator:
    """The generator a job's `dataset.llm` settings ask for (see the config schema), loaded
    when first asked to generate."""
    backend = resolve_backend(settings["backend"])

    def load() -> Generator:
        log.info("LLM backend %s: loading %s", backend, model_dir)
        if backend == "vllm":
            return VllmGenerator(
                model_dir,
                settings["model"].get("dtype"),
                settings["max_model_len"],
                settings["gpu_memory_utilization"],
                settings["tensor_parallel_size"],
                seed,
            )
        return TransformersGenerator(model_dir, None, settings["batch_size"], threads)

    return LazyGenerator(backend, load)


def model_identity(settings: dict[str, Any], backend: str) -> str:
    """What names the model in the answer cache: its config entry and the backend (the two
    backends sample different texts from one seed)."""
    spec = ",".join(f"{k}={v}" for k, v in sorted(settings["model"].items()))
    return f"{backend}:{spec}"


class LazyGenerator:
    """A generator loaded on first use: a job whose answers are all cached (a rerun, a
    restarted job that had finished its chunks) never loads the model."""

    def __init__(self, backend: str, load: Callable[[], Generator]) -> None:
        self.name = backend
        self._load = load
        self._generator: Generator | None = None

    def generate(self, requests: Sequence[ChatRequest], sampling: Sampling) -> list[str]:
        if self._generator is None:
            self._generator = self._load()
        return self._generator.generate(requests, sampling)
