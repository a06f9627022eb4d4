"""What the LLM stage asks a generator, independent of the backend (and of torch): chat
requests, sampling settings, and the two behaviours both backends must share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ChatRequest:
    """One generation: `messages` in chat form; the answer continues `prefix` (e.g. the opening
    of a JSON object) and the returned text excludes it. Without messages, `prefix` is a plain
    text prompt continued as it is (a base model's prompt, no chat template)."""

    messages: tuple[tuple[str, str], ...]  # (role, content)
    prefix: str = ""
    seed: int = 0


@dataclass(frozen=True)
class Sampling:
    """temperature 0 is greedy; `stop` strings end a text (and are cut off), as in vLLM."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    stop: tuple[str, ...] = field(default_factory=tuple)
    repetition_penalty: float = 1.0


class Generator(Protocol):
    name: str

    def generate(self, requests: Sequence[ChatRequest], sampling: Sampling) -> list[str]: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Text up to the first stop string (vLLM's behaviour, applied to transformers output)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


def vllm_sampling_kwargs(sampling: Sampling, seed: int) -> dict[str, Any]:
    """`vllm.SamplingParams` arguments of one request (its own seed: batch-independent)."""
    return {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_new_tokens,
        "stop": list(sampling.stop),
        "repetition_penalty": sampling.repetition_penalty,
        "seed": seed,
    }
