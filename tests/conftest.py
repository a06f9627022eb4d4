"""Shared test helpers: repository paths and small constructed facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from polyfact.facts import Fact

REPO = Path(__file__).resolve().parents[1]
LANGS = ["en", "de", "ru", "zh", "bn"]


def labels(**per_lang: str) -> dict[str, str]:
    return dict(per_lang)


def country_fact(code: str, names: dict[str, str], continent: str, cont_names: dict[str, str]) -> Fact:
    return Fact(f"t:{code}", "P30", f"c:{continent}", names, cont_names)


@pytest.fixture
def repo() -> Path:
    return REPO


TINY_TEXT = [
    "Question: On which continent is France?\nAnswer: Europe",
    "Frage: Auf welchem Kontinent liegt Frankreich?\nAntwort: Europa",
    "Вопрос: На каком континенте находится Франция? Ответ: Европа",
    "问题：法国位于哪个大洲？答案：欧洲",
    "প্রশ্ন: ফ্রান্স কোন মহাদেশে অবস্থিত? উত্তর: ইউরোপ",
    "A. B. C. D. Answer: A B C D",
]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 model with a trained byte-level BPE tokenizer, saved as a HF directory."""
    import torch
    from polyfact.models.toy import ToyModelSpec, toy_config, train_tokenizer
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-qwen2")
    tokenizer = train_tokenizer(TINY_TEXT * 20, vocab_size=400)
    spec = ToyModelSpec(
        hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, max_position_embeddings=128
    )
    model = AutoModelForCausalLM.from_config(toy_config(tokenizer, spec))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


ARCHITECTURES = ("qwen2", "llama", "olmo2")


def tiny_decoder(model_type: str, vocab_size: int = 400, seed: int = 0):  # noqa: ANN201 (a transformers model)
    """A tiny random decoder of one of the analysed architectures (2 layers, 4 heads, GQA)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.for_model(
        model_type,
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=1,
    )
    return AutoModelForCausalLM.from_config(config).eval()
