"""The dataset's LLM stage: answer parsing and validation, retries and drops, label translation
with provenance, the judge audit, the answer cache across a killed job, and the transformers
backend's per-request sampling."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from polyfact.dataset import audit as audit_mod
from polyfact.dataset.build import Removals, build_dataset, labelled_items
from polyfact.dataset.items import Item
from polyfact.dataset.llm_cache import AnswerStore, generate_cached, request_key
from polyfact.dataset.llm_prompts import json_string_field, load_prompts, request_seed
from polyfact.dataset.questions import QuestionPrompt, check_question, shard_of, summarise, write_questions
from polyfact.dataset.translate import EXTRACTED, TRANSLATED, check_translation, source_column, translate_labels
from polyfact.errors import PolyfactError
from polyfact.facts import Fact, facts_frame
from polyfact.models.chat import ChatRequest, Sampling, cut_at_stop, vllm_sampling_kwargs

from tests.conftest import REPO

PROMPTS = load_prompts(REPO / "config/llm/prompts.yaml")
PREFIX = PROMPTS["questions"]["prefix"]
LANGS = ["en", "de", "ru"]
GREEDY = Sampling(0.0, 1.0, 40, ("\n",))
RETRY = Sampling(0.7, 0.9, 40, ("\n",))


def item(fid: str = "Q1|P17|Q142", subject: dict | None = None, obj: dict | None = None) -> Item:
    return Item(
        fact_id=fid,
        subject_id=fid.split("|")[0],
        property_id="P17",
        object_id=fid.split("|")[2],
        subject=subject or {"en": "Lille", "de": "Lille", "ru": "Лилль"},
        object=obj or {"en": "France", "de": "Frankreich", "ru": "Франция"},
    )


class Scripted:
    """A generator answering from a function of the request's user message and seed, and
    recording every batch it was asked for."""

    name = "scripted"

    def __init__(self, answer) -> None:  # noqa: ANN001 (a callable)
        self.answer = answer
        self.calls: list[int] = []

    def generate(self, requests: Sequence[ChatRequest], sampling: Sampling) -> list[str]:
        self.calls.append(len(requests))
        return [self.answer(dict(r.messages)["user"], r.seed, sampling) for r in requests]


def question_for(user: str) -> str:
    """A valid question in any language: the subject given in the prompt (`subject:` line)."""
    subject = next(line.split(": ", 1)[1] for line in user.splitlines() if line.startswith("subject: "))
    return f'{subject}?"}}'


# --- parsing and validation -------------------------------------------------------------


def test_json_string_field_reads_the_string_the_prefix_opened() -> None:
    assert json_string_field(PREFIX, 'Where is Lille?"}') == "Where is Lille?"
    assert json_string_field(PREFIX, r'Where is \"Lille\"?", "x": 1}') == 'Where is "Lille"?'
    assert json_string_field(PREFIX, "Where is Lille?") is None  # cut off: never closed
    assert json_string_field(PREFIX, 'Where\nis Lille?"') is None  # a raw newline is not JSON
    with pytest.raises(PolyfactError, match="must end by opening"):
        json_string_field("{", "x")


def test_check_question_applies_the_dataset_filters() -> None:
    it = item()
    assert check_question('Where is Lille?"}', PREFIX, it, "en") == ("Where is Lille?", [])
    assert check_question('In which country is Lille, France?"', PREFIX, it, "en")[1] == ["answer_leakage"]
    assert check_question('Where is it?"', PREFIX, it, "en")[1] == ["subject_not_mentioned"]
    assert check_question('Где находится Lille?"', PREFIX, it, "ru")[1] == ["subject_not_mentioned", "foreign_script"]
    assert check_question("Where is", PREFIX, it, "en")[1] == ["unparseable"]
    assert check_question('   "', PREFIX, it, "en")[1] == ["empty"]
    assert check_question("Lille " * 80 + '"', PREFIX, it, "en")[1] == ["too_long"]


def test_stop_strings_and_vllm_arguments_match() -> None:
    assert cut_at_stop('Where?"}\nmore', ("\n",)) == 'Where?"}'
    assert cut_at_stop("abc", ("x", "b")) == "a"
    kwargs = vllm_sampling_kwargs(Sampling(0.1, 0.9, 192, ("\n",)), 42)
    assert kwargs == {
        "temperature": 0.1,
        "top_p": 0.9,
        "max_tokens": 192,
        "stop": ["\n"],
        "repetition_penalty": 1.0,
        "seed": 42,
    }


def test_shards_partition_the_facts_stably() -> None:
    ids = [f"Q{i}|P17|Q142" for i in range(300)]
    shards = [shard_of(fid, 4) for fid in ids]
    assert shards == [shard_of(fid, 4) for fid in ids]
    assert all(40 < shards.count(k) < 110 for k in range(4))


def test_request_seeds_differ_by_fact_language_and_try() -> None:
    seeds = {request_seed(1, "question", f, lang, t) for f in ("a", "b") for lang in LANGS for t in range(3)}
    assert len(seeds) == 18 and all(0 <= s < 2**31 for s in seeds)


# --- question writing -------------------------------------------------------------------


def test_prompt_names_language_subject_relation_and_forbids_the_answer() -> None:
    prompt = QuestionPrompt(PROMPTS, "paper", None, 1)
    user = dict(prompt.request(item(), "de", 0).messages)["user"]
    assert "German" in user and "subject: Lille" in user and "country" in user
    assert "correct answer: Frankreich" in user and "must not appear" in user
    assert prompt.version("P17") != prompt.version("P30")


def test_a_relations_prompt_change_changes_only_its_requests(tmp_path: Path) -> None:
    edited = json.loads(json.dumps(PROMPTS))
    edited["questions"]["relations"]["P30"] = "the continent, worded anew"
    p17, p30 = item(), Item("Q2|P30|Q46", "Q2", "P30", "Q46", {"en": "Lille"}, {"en": "Europe"})
    for it, changed in ((p17, False), (p30, True)):
        keys = [
            request_key("m", QuestionPrompt(prompts, "paper", None, 1).request(it, "en", 0), GREEDY)
            for prompts in (PROMPTS, edited)
        ]
        assert (keys[0] != keys[1]) is changed


def test_failing_languages_are_retried_then_the_fact_dropped(tmp_path: Path) -> None:
    good, flaky = item("Q1|P17|Q142"), item("Q2|P17|Q183", obj={"en": "Germany", "de": "Deutschland", "ru": "Германия"})
    # Q2's Russian question leaks its answer on the first try and never names the subject after
    flaky.subject = {"en": "Hamburg", "de": "Hamburg", "ru": "Гамбург"}

    def answer(user: str, seed: int, sampling: Sampling) -> str:
        if "Гамбург" in user:
            return 'Гамбург в Германия?"' if sampling.temperature == 0.1 else 'Где?"'
        if "Hamburg" in user and "language: German" in user and sampling.temperature == 0.1:
            return "Wo liegt"  # cut off: retried, then valid
        return question_for(user)

    gen = Scripted(answer)
    store = AnswerStore(tmp_path, "q")
    prompt = QuestionPrompt(PROMPTS, "paper", None, 1)
    first = Sampling(0.1, 0.9, 40, ("\n",))
    rows, usage = write_questions([good, flaky], LANGS, gen, "m", prompt, first, RETRY, 3, store, 100)
    assert rows[0]["dropped"] is False and rows[0]["questions"]["ru"] == "Лилль?"
    assert rows[1]["dropped"] is True and rows[1]["problems"] == {"ru": ["subject_not_mentioned"]}
    assert rows[1]["attempts"] == {"en": 1, "de": 2, "ru": 3}
    assert gen.calls == [6, 2, 1] and usage["generated"] == 9
    summary = summarise(rows, LANGS)
    assert summary["per_language"]["ru"] == {"generations": 4, "generated": 1, "regenerated": 1, "dropped": 1}
    assert summary["per_language"]["de"] == {"generations": 3, "generated": 2, "regenerated": 1, "dropped": 0}
    assert summary["dropped"] == 1 and summary["failure_reasons"] == {"subject_not_mentioned": 1}
    # a rerun finds every answer in the cache and asks the model for nothing
    again = Scripted(answer)
    rows2, usage2 = write_questions([good, flaky], LANGS, again, "m", prompt, first, RETRY, 3, store, 100)
    assert rows2 == rows and again.calls == [] and usage2["cached"] == 9


def test_paraphrase_prompt_offers_the_template_question() -> None:
    from polyfact.dataset.templates import load_templates

    templates = load_templates(REPO / "config/templates", LANGS)
    user = dict(QuestionPrompt(PROMPTS, "paraphrase", templates, 1).request(item(), "en", 0).messages)["user"]
    assert user.endswith(
        'A plain way to ask it, to reword if you can: {"question": "In which country is Lille located?"}'
    )


def test_template_style_starts_the_answer_with_the_template_question(tmp_path: Path) -> None:
    from polyfact.dataset.templates import load_templates

    prompt = QuestionPrompt(PROMPTS, "template", load_templates(REPO / "config/templates", LANGS), 1)
    request = prompt.request(item(), "en", 0)
    assert request.prefix == PREFIX + "In which country is Lille located?"
    assert prompt.version("P17") != QuestionPrompt(PROMPTS, "paraphrase", None, 1).version("P17")
    gen = Scripted(lambda user, seed, sampling: '"}')  # the model closes the string
    rows, _ = write_questions([item()], LANGS, gen, "m", prompt, GREEDY, RETRY, 2, AnswerStore(tmp_path, "q"), 10)
    assert rows[0]["questions"]["en"] == "In which country is Lille located?" and rows[0]["dropped"] is False


def test_build_takes_generated_questions_and_counts_the_dropped() -> None:
    from tests.unit.test_dataset import LANGS as FIVE
    from tests.unit.test_dataset import synthetic_countries

    facts = facts_frame(synthetic_countries(20), FIVE)
    items, _ = labelled_items(facts, FIVE, ["P30"], Removals())
    generated = {
        i.fact_id: {"fact_id": i.fact_id, "dropped": False, "attempts": dict.fromkeys(FIVE, 1),
                    "questions": {lang: f"{i.subject[lang]}?" for lang in FIVE}}
        for i in items
    }  # fmt: skip
    gone = items[3].fact_id
    generated[gone] = {
        "fact_id": gone,
        "dropped": True,
        "attempts": dict.fromkeys(FIVE, 3),
        "problems": {"bn": ["empty"]},
    }
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    result = build_dataset(facts, None, FIVE, ["P30"], fractions, None, 1, generated=generated)
    assert {"filter": "question_generation", "facts": 1} in result.stats["removed"]
    assert result.stats["questions"] == "llm" and result.stats["question_generation"]["dropped"] == 1
    kept = {r["fact_id"]: r["question"] for split in result.records.values() for r in split["de"]}
    assert len(kept) == 19 and gone not in kept and kept[items[0].fact_id] == f"{items[0].subject['de']}?"
    del generated[items[5].fact_id]
    with pytest.raises(PolyfactError, match="another facts table"):
        build_dataset(facts, None, FIVE, ["P30"], fractions, None, 1, generated=generated)


# --- label translation ------------------------------------------------------------------


def test_missing_labels_are_translated_and_marked(tmp_path: Path) -> None:
    facts = facts_frame(
        [
            Fact(
                "Q648",
                "P17",
                "Q142",
                {"en": "Lille", "de": "Lille"},
                {"en": "France", "de": "Frankreich", "ru": "Франция"},
            ),
            Fact(
                "Q1055",
                "P17",
                "Q183",
                {"de": "Hamburg", "ru": "Гамбург"},
                {"en": "Germany", "de": "Deutschland", "ru": "Германия"},
            ),
        ],
        LANGS,
    )

    def answer(user: str, seed: int, sampling: Sampling) -> str:
        label = user.rsplit("Name: ", 1)[1]
        if "into Russian" in user:
            # Lille: Latin letters in Russian fail the script check on every try
            return {"Lille": "Lille", "Hamburg": "Гамбург"}.get(label, label)
        return f"“{label}”" if sampling.temperature == 0 else label

    out, stats = translate_labels(
        facts, LANGS, Scripted(answer), "m", PROMPTS, GREEDY, RETRY, 2, AnswerStore(tmp_path, "t"), 10, 1
    )
    lille = out[out["subject_id"] == "Q648"].iloc[0]
    hamburg = out[out["subject_id"] == "Q1055"].iloc[0]
    assert hamburg["subject_label_en"] == "Hamburg"  # from German: no English label
    assert hamburg[source_column("subject", "en")] == TRANSLATED
    assert hamburg[source_column("subject", "de")] == EXTRACTED
    assert pd.isna(lille["subject_label_ru"]) and lille[source_column("subject", "ru")] is None
    assert stats["per_language"]["ru"] == {"needed": 1, "translated": 0, "regenerated": 1, "failed": 1}
    assert stats["per_language"]["en"] == {"needed": 1, "translated": 1, "regenerated": 0, "failed": 0}
    assert stats["failure_reasons"] == {"foreign_script": 1}


def test_check_translation_strips_quotes_and_rejects_foreign_script() -> None:
    assert check_translation("«Лилль»", "ru", "Lille") == ("Лилль", [])
    assert check_translation("Lille", "ru", "Lille")[1] == ["foreign_script"]
    assert check_translation("   ", "de", "Lille")[1] == ["empty"]
    assert check_translation("x" * 80, "de", "Lille")[1] == ["too_long"]


# --- audit ------------------------------------------------------------------------------


def test_audit_reports_rates_per_relation_and_language(tmp_path: Path) -> None:
    def row(fid: str, pid: str, lang: str) -> dict:
        return {"fact_id": fid, "property_id": pid, "language": lang, "question": f"q {fid}",
                "option_a": "a", "option_b": "b", "option_c": "c", "option_d": "d", "answer_text": "a"}  # fmt: skip

    records = {lang: [row(f"f{i}", "P17" if i < 6 else "P30", lang) for i in range(10)] for lang in ("en", "de")}

    def answer(user: str, seed: int, sampling: Sampling) -> str:
        if "German" in user and "q f1\n" in user:
            return "maybe"  # no verdict in the asked form
        return 'yes", "gold_correct": "no"' if "q f0\n" in user else 'yes", "gold_correct": "yes"'

    report = audit_mod.audit(
        records, Scripted(answer), "m", PROMPTS, GREEDY, 3, "test", AnswerStore(tmp_path, "a"), 50, 1
    )
    assert {pid: len(ids) for pid, ids in report["sample"].items()} == {"P17": 3, "P30": 3}
    cells = {(c["relation"], c["language"]): c for c in report["cells"]}
    assert all(c["n"] == 3 for c in cells.values())
    sampled = report["sample"]["P17"]
    if "f1" in sampled:
        assert cells[("P17", "de")]["answerable_unparseable"] == 1
    gold = cells[("P17", "en")]["gold_correct"]
    assert gold == (2 / 3 if "f0" in sampled else 1.0)
    md = audit_mod.render_markdown(report)
    assert "| P30 | de | 3 |" in md and "answerable" in md
    assert audit_mod.parse_verdict('{"answerable": "', 'No", "gold_correct": "yes"}') == {
        "answerable": False,
        "gold_correct": True,
    }


# --- the answer cache -------------------------------------------------------------------


def test_a_killed_job_keeps_its_finished_chunks(tmp_path: Path) -> None:
    requests = {f"r{i}": ChatRequest((("user", f"subject: S{i}"),), seed=i) for i in range(10)}

    class Dies(Scripted):
        def generate(self, reqs: Sequence[ChatRequest], sampling: Sampling) -> list[str]:
            if len(self.calls) == 2:
                raise KeyboardInterrupt  # killed during the third chunk
            return super().generate(reqs, sampling)

    with pytest.raises(KeyboardInterrupt):
        generate_cached(Dies(lambda u, s, p: u.upper()), "m", requests, GREEDY, AnswerStore(tmp_path, "x"), 3, "t")
    with open(tmp_path / "x.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"key": "torn')  # and the kill tore a line
    store = AnswerStore(tmp_path, "x")
    assert len(store.answers) == 6 and store.torn == 1
    again = Scripted(lambda u, s, p: u.upper())
    answers, counts = generate_cached(again, "m", requests, GREEDY, store, 3, "t")
    assert counts == {"requests": 10, "cached": 6, "generated": 4} and again.calls == [3, 1]
    assert answers == {rid: dict(r.messages)["user"].upper() for rid, r in requests.items()}
    assert len(AnswerStore(tmp_path, "other").answers) == 10  # the torn line was closed off


def test_request_keys_cover_model_sampling_and_seed() -> None:
    r = ChatRequest((("user", "x"),), prefix="{", seed=1)
    keys = {
        request_key("m", r, GREEDY),
        request_key("other", r, GREEDY),
        request_key("m", r, RETRY),
        request_key("m", ChatRequest((("user", "x"),), prefix="{", seed=2), GREEDY),
    }
    assert len(keys) == 4


# --- the transformers backend -----------------------------------------------------------

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% if not loop.last or add_generation_prompt %}\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.fixture(scope="module")
def chat_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("tiny-chat")
    shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return out


def test_transformers_sampling_does_not_depend_on_the_batch(chat_model_dir: Path) -> None:
    from polyfact.models.generate import TransformersGenerator

    gen = TransformersGenerator(chat_model_dir, None, batch_size=4, threads=1)
    reqs = [
        ChatRequest((("user", "Frage: Auf welchem Kontinent " * (1 + i % 3)),), prefix="{", seed=i) for i in range(6)
    ]
    hot = Sampling(1.5, 0.95, 12, ())
    together = gen.generate(reqs, hot)
    alone = [gen.generate([r], hot)[0] for r in reqs]
    assert together == alone
    assert gen.generate(reqs, hot) == together  # seeded: the same texts again
    assert len(set(gen.generate([ChatRequest(reqs[0].messages, "{", seed=s) for s in range(6)], hot))) > 1
    assert gen.generate(reqs[:2], GREEDY) == [gen.generate([r], GREEDY)[0] for r in reqs[:2]]


def test_backend_choice_fails_clearly_without_vllm() -> None:
    import importlib.util

    from polyfact.models.generate import resolve_backend

    if importlib.util.find_spec("vllm") is None:
        assert resolve_backend("auto") == "transformers"
        with pytest.raises(PolyfactError, match="needs the vllm package"):
            resolve_backend("vllm")
    with pytest.raises(PolyfactError, match="unknown LLM backend"):
        resolve_backend("tgi")


def test_a_tokenizer_without_chat_template_is_refused(tiny_model_dir: Path) -> None:
    from polyfact.models.generate import render
    from transformers import AutoTokenizer

    with pytest.raises(PolyfactError, match="chat template"):
        render(AutoTokenizer.from_pretrained(tiny_model_dir), ChatRequest((("user", "x"),)))


def test_prompts_file_missing_a_key_fails_naming_it(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(PROMPTS))
    del broken["audit"]["prefix"]
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps(broken))
    with pytest.raises(PolyfactError, match=r"section 'audit' lacks \['prefix'\]"):
        load_prompts(path)
