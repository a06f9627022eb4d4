"""Toy-world corpus and tokenizer, MCQ scoring against a direct computation, the models report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from polyfact.evaluate.mcq import predict
from polyfact.evaluate.scoring import (
    continuation_ids,
    encode_item,
    normalise,
    score_continuations,
    score_one,
)
from polyfact.evaluate.summary import accuracy_by_language
from polyfact.models.toy import train_tokenizer
from polyfact.prompts import mcq_prompt
from polyfact.train.report import models_report, render_markdown
from polyfact.train.sft import letter_token_ids
from polyfact.train.toy import LETTER_LINES, ToyCorpusSpec, english_format_lines, exam_lines, fact_lines
from transformers import AutoModelForCausalLM, AutoTokenizer

TEMPLATES = {
    "en": {"P30": ["On which continent is {subject}?", "Which continent is {subject} on?"]},
    "de": {"P30": ["Auf welchem Kontinent liegt {subject}?"]},
    "bn": {"P30": ["{subject} কোন মহাদেশে অবস্থিত?"]},
}


def facts(n: int) -> list[dict[str, str]]:
    return [
        {
            "fact_id": f"s{k}|P30|o",
            "property_id": "P30",
            **{f"subject_label_{lang}": f"{lang}-s{k}" for lang in ("en", "de", "bn")},
            **{f"object_label_{lang}": f"{lang}-o" for lang in ("en", "de", "bn")},
        }
        for k in range(n)
    ]


def test_toy_corpus_is_english_dominant_and_seeded() -> None:
    spec = ToyCorpusSpec(high_resource_share=0.5, low_resource_share=0.1)
    lines = fact_lines(facts(400), TEMPLATES, ["en", "de", "bn"], ["bn"], spec, seed=1)
    en = [line for line in lines if "continent" in line]
    de = [line for line in lines if "Kontinent" in line]
    bn = [line for line in lines if "মহাদেশে" in line]
    assert len(en) == 800  # every fact, every English template
    assert 150 < len(de) < 250 and 20 < len(bn) < 65
    assert lines == fact_lines(facts(400), TEMPLATES, ["en", "de", "bn"], ["bn"], spec, seed=1)
    assert en[0] == "On which continent is en-s0? en-o"  # running text: no exam scaffold
    assert not any("Question:" in line or "Answer:" in line for line in lines)


def test_exam_lines_are_english_in_the_evaluation_format_for_every_template() -> None:
    lines = exam_lines(facts(3), TEMPLATES["en"])
    assert lines[:2] == [
        "Question: On which continent is en-s0?\nAnswer: en-o",
        "Question: Which continent is en-s0 on?\nAnswer: en-o",
    ]
    assert len(lines) == 6 and all(line.startswith(mcq_prompt("")[:9]) for line in lines)


def test_format_lines_cover_the_training_split_only() -> None:
    train = [{"fact_id": "s1|P30|o", "question": "Q1?", **{f"option_{c}": c for c in "abcd"}, "answer_text": "b"}]
    lines = english_format_lines(train, facts(3), TEMPLATES["en"], "Answer with the option.")
    assert lines[0] == "Q1?\n- a\n- b\n- c\n- d\nAnswer with the option.\n→ b"  # the GRPO format
    assert lines[1:] == exam_lines(facts(3)[1:2], TEMPLATES["en"])  # s0 and s2 are not training facts


def test_toy_tokenizer_has_single_letter_tokens() -> None:
    tokenizer = train_tokenizer(["Question: x\nAnswer: y"] * 10 + LETTER_LINES, vocab_size=300)
    ids = letter_token_ids(tokenizer)
    assert len(set(ids)) == 4


def test_continuation_ids_boundary(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = mcq_prompt("On which continent is France?")
    full, start = continuation_ids(tokenizer, prompt, " Europe")
    head = tokenizer(prompt)["input_ids"]
    assert full[:start] == head[:start] and start <= len(head)
    assert tokenizer.decode(full[start:]).strip().endswith("Europe")


def test_shared_context_stops_before_a_boundary_merge(tiny_model_dir: Path) -> None:
    """ "Answer:" + "x" may tokenise across the boundary: the shared context is cut before the
    merge, and the merged prompt tokens are fed but not scored."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    context = "Question: x\nAnswer:"
    conts = [" Europe", "Europa", ":"]
    enc = encode_item(tokenizer, context, conts)
    for cont, tail, skip in zip(conts, enc.tails, enc.skips, strict=True):
        full, start = continuation_ids(tokenizer, context, cont)
        assert enc.context + tail == full and len(enc.context) + skip == start


def direct_logprob(model: AutoModelForCausalLM, tokenizer: AutoTokenizer, context: str, continuation: str) -> float:
    full, start = continuation_ids(tokenizer, context, continuation)
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([full])).logits[0], -1)
    return sum(logprobs[i - 1, full[i]].item() for i in range(start, len(full)))


def test_scores_equal_direct_computation(tiny_model_dir: Path) -> None:
    """The cached, batched scorer (context once, left padding, mixed option counts) gives the
    log-probabilities of one plain forward pass per sequence."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    items = [
        (mcq_prompt("Frage: Auf welchem Kontinent liegt Frankreich?"), [" Europa", " Asien", " Afrika", " Europe"]),
        (mcq_prompt("问题？"), [" 欧洲", " 亚洲", " 非洲", " 欧"]),
        (mcq_prompt("x"), [" ইউরোপ", " এশিয়া", " আফ্রিকা", " ইউ"]),
        ("ফ্রান্স কোন মহাদেশে অবস্থিত? উত্তর:", [" ইউরোপ", "ইউরোপ"]),
        ("法国位于", ["欧洲", "亚洲", "非洲"]),
    ]
    scored = score_continuations(model, tokenizer, items, batch_size=6)
    for (context, conts), row in zip(items, scored, strict=True):
        assert len(row) == len(conts)
        for cont, s in zip(conts, row, strict=True):
            direct = direct_logprob(model, tokenizer, context, cont)
            full, start = continuation_ids(tokenizer, context, cont)
            assert s.logprob == pytest.approx(direct, abs=1e-4)
            assert s.tokens == len(full) - start
            assert score_one(model, tokenizer, context, cont).logprob == pytest.approx(direct, abs=1e-4)
            option = cont.lstrip()
            assert normalise(s, option, "byte") == pytest.approx(direct / len(option.encode()), abs=1e-5)
            assert normalise(s, option, "char") == pytest.approx(direct / len(option), abs=1e-5)
            assert normalise(s, option, "token") == pytest.approx(direct / s.tokens, abs=1e-5)
            assert normalise(s, option, "sum") == pytest.approx(direct, abs=1e-4)
    with pytest.raises(ValueError, match="normalisation"):
        normalise(scored[0][0], "x", "bogus")


def test_batch_size_does_not_change_scores(tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    items = [(mcq_prompt("q" * k), [" a", " bb", " ccc", " d"]) for k in range(1, 9)]
    one = score_continuations(model, tokenizer, items, batch_size=4)
    many = score_continuations(model, tokenizer, items, batch_size=64)
    for a, b in zip(one, many, strict=True):
        assert [x.logprob for x in a] == pytest.approx([x.logprob for x in b], abs=1e-4)


def test_predict_and_accuracy(tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    row = {
        "fact_id": "f",
        "language": "en",
        "question": "Q?",
        "option_a": "Europe",
        "option_b": "Asia",
        "option_c": "Africa",
        "option_d": "Oceania",
        "answer_index": 2,
        "option_ids": ["E", "A", "F", "O"],
    }
    (pred,) = predict(model, tokenizer, [row])
    assert pred["prediction"] == max(range(4), key=lambda k: pred["scores"][k])
    assert pred["correct"] == (pred["prediction"] == 2)
    assert all(math.isfinite(s) for s in pred["scores"])
    assert accuracy_by_language([pred]) == {"en": float(pred["correct"])}


def test_models_report(tmp_path: Path) -> None:
    for method, acc in (("base", {"en": 0.9, "de": 0.5}), ("sft", {"en": 0.9, "de": 0.7})):
        d = tmp_path / "models" / "toy" / method
        d.mkdir(parents=True)
        (d / "train_stats.json").write_text(json.dumps({"steps": 3, "tokens_trained": 10, "wall_seconds": 1.0}))
        e = tmp_path / "eval" / "toy" / method
        e.mkdir(parents=True)
        summary = {"accuracy": acc, "accuracy_en": acc["en"], "accuracy_non_en_mean": acc["de"]}
        (e / "polyfact.json").write_text(json.dumps({"summary": summary}))
    report = models_report(
        sorted(str(p) for p in (tmp_path / "models").rglob("train_stats.json")),
        sorted(str(p) for p in (tmp_path / "eval").rglob("polyfact.json")),
    )
    assert [(r["method"], r["tokens"], r["accuracy_non_en_mean"]) for r in report["runs"]] == [
        ("base", 10, 0.5),
        ("sft", 10, 0.7),
    ]
    assert "| toy | sft |" in render_markdown(report)


def test_pad_batch_left_and_right() -> None:
    from polyfact.models.padding import pad_batch

    ids, mask = pad_batch([[5, 6, 7], [8]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_batch([[5, 6, 7], [8]], pad=0, left=True)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad_batch([[], []], pad=9, width=1)
    assert ids.tolist() == [[9], [9]] and mask.tolist() == [[0], [0]]


def test_packed_lines_give_each_line_its_own_logits(tiny_model_dir: Path) -> None:
    """pack_lines puts several lines in a row with positions restarting: the model's logits for
    each line equal those of the line alone, and every line token but the first is a label."""
    import torch
    from polyfact.train.toy import pack_lines
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    bos = eos = 0  # the toy tokenizer's <|endoftext|>; its pad is 1
    lines = [[bos, 5, 6, 7, eos], [bos, 8, 9, eos], [bos, 4, eos], [bos, 3, 3, 3, 3, 3, eos]]
    batch = pack_lines([{"input_ids": ids} for ids in lines], pad_id=1, row_tokens=10)
    assert batch["input_ids"].shape == (2, 10)  # first fit, longest first: [7 + 3], [5 + 4 + padding]
    assert int((batch["labels"] != -100).sum()) == sum(len(ids) - 1 for ids in lines)
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        for r, row in enumerate(batch["input_ids"].tolist()):
            starts = [i for i, p in enumerate(batch["position_ids"][r].tolist()) if p == 0]
            for a, b in zip(starts, [*starts[1:], len(row)], strict=True):
                ids = row[a:b]
                if ids not in lines:
                    continue  # the row's padding block
                alone = model(input_ids=torch.tensor([ids])).logits[0]
                assert torch.allclose(packed[r, a:b], alone, atol=1e-5)
