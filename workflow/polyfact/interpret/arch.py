"""Where the analyses hook into a decoder (§9), found by module structure rather than by
model name, so Qwen2, Llama and OLMo-2 (the paper's, SmolLM2's and the toy's) share one path
and anything else fails clearly before any text is processed."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from transformers import PreTrainedModel

from polyfact.errors import PolyfactError

SUPPORTED = "decoder layers `model.layers[i]` with a gated MLP (`mlp.gate_proj`, `mlp.act_fn`) and `self_attn.o_proj`"


@dataclass(frozen=True)
class DecoderLayout:
    """The modules the analyses need, per decoder layer."""

    layers: list[nn.Module]
    num_heads: int
    head_dim: int
    intermediate_size: int

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def gate_proj(self, layer: int) -> nn.Module:
        return self.layers[layer].mlp.gate_proj

    def act_fn(self, layer: int) -> nn.Module:
        return self.layers[layer].mlp.act_fn

    def o_proj(self, layer: int) -> nn.Module:
        return self.layers[layer].self_attn.o_proj


def _missing(layer: nn.Module) -> list[str]:
    wanted = ("mlp.gate_proj", "mlp.act_fn", "self_attn.o_proj")
    return [path for path in wanted if _get(layer, path) is None]


def _get(module: nn.Module, path: str) -> nn.Module | None:
    for name in path.split("."):
        module = getattr(module, name, None)
        if module is None:
            return None
    return module


def decoder_layout(model: PreTrainedModel) -> DecoderLayout:
    """The decoder's layers, head count and size; PolyfactError for an unsupported structure."""
    name = f"{type(model).__name__} (model_type {getattr(model.config, 'model_type', '?')!r})"
    layers = _get(model, "model.layers")
    if not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        raise PolyfactError(f"{name}: unsupported architecture, no `model.layers`; supported: {SUPPORTED}")
    for k, layer in enumerate(layers):
        missing = _missing(layer)
        if missing:
            raise PolyfactError(f"{name}: unsupported architecture, layer {k} has no {missing}; supported: {SUPPORTED}")
    config = model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    o_proj = layers[0].self_attn.o_proj
    if getattr(o_proj, "in_features", heads * head_dim) != heads * head_dim:
        raise PolyfactError(f"{name}: o_proj takes {o_proj.in_features} inputs, not {heads} heads × {head_dim}")
    return DecoderLayout(list(layers), heads, head_dim, layers[0].mlp.gate_proj.out_features)
