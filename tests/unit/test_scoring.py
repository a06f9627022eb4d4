"""The packed continuation scorer (one row per item, a custom 4-D mask, logits only where a
token is scored) against one plain forward pass per continuation: exactly in float64 under
sdpa, to float32 rounding under eager, for every analysed architecture, with boundary merges,
mixed continuation counts, empty continuations, any batch size and either way of keeping
logits (per-row positions, transformers 5.24; shared columns, the GPU set's 5.17)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers
from polyfact.errors import PolyfactError
from polyfact.evaluate import scoring
from polyfact.evaluate.scoring import Encoded, continuation_ids, encode_item, score_continuations, score_one
from polyfact.prompts import mcq_prompt
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.conftest import ARCHITECTURES, tiny_decoder

ITEMS = [
    (mcq_prompt("Frage: Auf welchem Kontinent liegt Frankreich?"), [" Europa", " Asien", " Afrika", " Europe"]),
    (mcq_prompt("x"), [" ইউরোপ", " এশিয়া", " আফ্রিকা", " ইউ"]),
    ("Question: On which contin", ["ent is France?", " x", "ents"]),  # a boundary merge: " x" skips 4 prompt tokens
    ("Answer: Euro", ["pe", " Asia", "pa"]),
    ("法国位于", ["欧洲", "亚洲", "非洲"]),
    ("Frage: Auf welchem Kon", ["tinent", " Europa"]),
    ("Question: x\nAnswer:", [" Europe", "Europa", ":", ""]),  # an empty continuation scores 0 over 0 tokens
    (mcq_prompt("q"), [" A"]),
]


def direct(model: AutoModelForCausalLM, tokenizer: AutoTokenizer, context: str, continuation: str) -> float:
    """One unpadded forward pass, in the model's own dtype throughout."""
    full, start = continuation_ids(tokenizer, context, continuation)
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0], dim=-1)
    return sum(float(logprobs[i - 1, full[i]]) for i in range(start, len(full)))


def check(model: AutoModelForCausalLM, tokenizer: AutoTokenizer, batch_size: int, tol: float) -> None:
    scored = score_continuations(model, tokenizer, ITEMS, batch_size=batch_size)
    for (context, conts), row in zip(ITEMS, scored, strict=True):
        assert len(row) == len(conts)
        for cont, s in zip(conts, row, strict=True):
            full, start = continuation_ids(tokenizer, context, cont)
            assert s.tokens == len(full) - start
            assert s.logprob == pytest.approx(direct(model, tokenizer, context, cont), abs=tol, rel=0)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> AutoTokenizer:
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_the_items_exercise_skips_and_empty_tails(tokenizer: AutoTokenizer) -> None:
    encoded = [encode_item(tokenizer, context, conts) for context, conts in ITEMS]
    assert any(skip > 0 for e in encoded for skip in e.skips)
    assert any(not tail for e in encoded for tail in e.tails)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_scores_equal_one_pass_per_continuation(
    tokenizer: AutoTokenizer, architecture: str, attention: str
) -> None:
    """float64: under sdpa the packed row is the separate sequences up to summation order;
    eager's softmax runs in float32 whatever the dtype, so it agrees to float32 rounding."""
    model = tiny_decoder(architecture, vocab_size=len(tokenizer)).double()
    model.set_attn_implementation(attention)
    for batch_size in (1, 7, 64):  # one item per row batch, mixed widths, everything in few batches
        check(model, tokenizer, batch_size, tol=1e-9 if attention == "sdpa" else 1e-4)


def test_shared_columns_give_the_same_scores(
    tokenizer: AutoTokenizer, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers 5.17 keeps logits only at columns shared by every row: the union of the
    rows' positions, then each row's own; the scores do not change (5.24 keeps per-row ones)."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    assert scoring._keeps_rows(model) == hasattr(transformers.modeling_utils, "slice_logits_to_keep")
    rows = score_continuations(model, tokenizer, ITEMS, batch_size=16)
    monkeypatch.setattr(scoring, "_keeps_rows", lambda model: False)
    columns = score_continuations(model, tokenizer, ITEMS, batch_size=16)
    for a, b in zip(rows, columns, strict=True):
        assert [x.logprob for x in a] == pytest.approx([x.logprob for x in b], abs=1e-5)
        assert [x.tokens for x in a] == [x.tokens for x in b]
    check(model, tokenizer, 16, tol=1e-4)


def test_float32_scores_match_score_one(tokenizer: AutoTokenizer, tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    for (context, conts), row in zip(ITEMS, score_continuations(model, tokenizer, ITEMS), strict=True):
        for cont, s in zip(conts, row, strict=True):
            one = score_one(model, tokenizer, context, cont)
            assert (s.logprob, s.tokens) == (pytest.approx(one.logprob, abs=1e-4), one.tokens)


def test_pack_layout() -> None:
    """Row = context + tails, right-padded; tails restart their positions after the context,
    see the context and themselves only; the first tail token is predicted at the context's
    last position; a skipped token is fed but not scored."""
    items = [
        Encoded(context=[1, 2, 3], tails=[[4, 5], [6]], skips=[0, 1]),
        Encoded(context=[7], tails=[[8], [9]], skips=[0, 0]),
    ]
    packed = scoring._pack(items, pad=0, dtype=torch.float32)
    assert packed.ids.tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 0, 0, 0]]
    assert packed.positions.tolist()[0] == [0, 1, 2, 3, 4, 3] and packed.positions.tolist()[1][:3] == [0, 1, 1]
    allowed = (packed.mask[:, 0] == 0).int().tolist()
    assert allowed[0] == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 0, 0, 1],  # tail 2 sees the context and itself, not tail 1
    ]
    assert [row[:3] for row in allowed[1][:3]] == [[1, 0, 0], [1, 1, 0], [1, 0, 1]]
    assert all(row[3:] == [0, 0, 0] for row in allowed[1][:3])  # no real token sees padding
    assert packed.keep.int().tolist() == [[0, 0, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0]]
    # scored: 4 (at 2), 5 (at 3); 6 skipped; 8 and 9 (both at 0 of row 2)
    assert packed.targets.tolist() == [4, 5, 8, 9]
    assert packed.at.tolist() == [0, 1, 2, 2]
    assert packed.sequence.tolist() == [0, 0, 2, 3]


def test_attention_without_custom_masks_is_refused(tokenizer: AutoTokenizer, tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(PolyfactError, match="flash_attention_2"):
        score_continuations(model, tokenizer, ITEMS[:1])


def test_a_batch_with_nothing_to_score(tokenizer: AutoTokenizer, tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ((scored,),) = score_continuations(model, tokenizer, [("Question: x", [""])])
    assert (scored.logprob, scored.tokens) == (0.0, 0)
