"""GRPO wiring (§7): prompts, the fact-grouped sampler, pooled rewards through TRL's own
advantage computation, and an end-to-end CPU run with resume on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from polyfact.errors import PolyfactError
from polyfact.prompts import grpo_prompt, paper_grpo_prompt
from polyfact.train.grouping import FactGroupSampler
from polyfact.train.grpo import FactRolloutReward, build_trainer, grpo_config, grpo_dataset, train_grpo
from polyfact.train.rewards import RewardSpec
from polyfact.train.settings import LoraSpec, RunSpec

LANGS = ["en", "bn"]
SCAFFOLDS = {
    "en": "Answer with the text of the correct option.",
    "bn": "সঠিক বিকল্পের লেখা দিয়ে উত্তর দিন।",
}
OPTIONS = {
    "en": ["Asia", "Europe", "Africa", "Oceania"],
    "bn": ["এশিয়া", "ইউরোপ", "আফ্রিকা", "ওশেনিয়া"],
}
QUESTIONS = {"en": "On which continent is {s}?", "bn": "{s} কোন মহাদেশে অবস্থিত?"}


def record(fact: int, lang: str) -> dict[str, Any]:
    opts = OPTIONS[lang][fact % 4 :] + OPTIONS[lang][: fact % 4]  # shuffled per fact
    gold = (4 - fact % 4) % 4 + 1 if fact % 4 else 1  # Europe's position after the rotation
    return {
        "fact_id": f"t:{fact}|P30|c:EU",
        "language": lang,
        "question": QUESTIONS[lang].format(s=f"X{fact}"),
        **{f"option_{c}": o for c, o in zip("abcd", opts, strict=True)},
        "answer_text": OPTIONS[lang][1],
        "answer_index": gold % 4,
        "option_ids": ["c:AS", "c:EU", "c:AF", "c:OC"],
    }


def records(n_facts: int) -> dict[str, list[dict[str, Any]]]:
    return {lang: [record(f, lang) for f in range(n_facts)] for lang in LANGS}


def test_record_helper_points_at_europe() -> None:
    for f in range(4):
        for lang in LANGS:
            r = record(f, lang)
            assert r[f"option_{'abcd'[r['answer_index']]}"] == OPTIONS[lang][1]


def test_prompt_holds_question_options_scaffold_and_cue() -> None:
    r = record(1, "bn")
    prompt = grpo_prompt(r, SCAFFOLDS["bn"])
    lines = prompt.split("\n")
    assert lines[0] == r["question"]
    assert lines[1:5] == [f"- {r[f'option_{c}']}" for c in "abcd"]
    assert lines[5] == SCAFFOLDS["bn"]
    assert lines[6] == "→"


def test_dataset_is_fact_major_and_rejects_mismatched_facts() -> None:
    dataset, groups = grpo_dataset(records(3), SCAFFOLDS)
    assert groups == [[0, 1], [2, 3], [4, 5]]
    assert dataset["language"] == ["en", "bn"] * 3
    assert all(len({dataset[i]["fact_id"] for i in g}) == 1 for g in groups)
    assert dataset[3]["prompt"] == grpo_prompt(record(1, "bn"), SCAFFOLDS["bn"])
    broken = records(3)
    broken["bn"] = broken["bn"][:2]
    with pytest.raises(PolyfactError, match="different facts"):
        grpo_dataset(broken, SCAFFOLDS)
    with pytest.raises(PolyfactError, match="scaffold"):
        grpo_dataset(records(1), {"en": "x"})


def test_paper_prompt_names_the_language_and_letters_the_options() -> None:
    r = record(1, "bn")
    prompt = paper_grpo_prompt(r, "bn")
    head, question_block = prompt.split("\n\nQuestion: ")
    instruction = head.split("\n")
    assert len(instruction) == 4 and all(line.isascii() for line in instruction)  # English, 4 lines
    assert "Bengali" in instruction[0] and "Bengali" in instruction[1]  # names the question's language
    assert "letter" in instruction[2]
    lines = question_block.split("\n")
    assert lines[0] == r["question"]
    assert lines[1:5] == [f"{letter}. {r[f'option_{c}']}" for letter, c in zip("ABCD", "abcd", strict=True)]
    assert lines[5:] == ["", "Answer text:"]
    assert "Swahili" in paper_grpo_prompt(record(1, "en") | {"language": "sw"}, "sw").split("\n")[0]
    with pytest.raises(PolyfactError, match="'xx'"):
        paper_grpo_prompt(r, "xx")


def test_dataset_paper_prompt_needs_no_scaffolds() -> None:
    dataset, _ = grpo_dataset(records(2), {}, prompt="paper")
    assert dataset[1]["prompt"] == paper_grpo_prompt(record(0, "bn"), "bn")
    assert dataset[1]["prompt"].endswith("Answer text:")
    with pytest.raises(PolyfactError, match="scaffold"):
        grpo_dataset(records(1), {}, prompt="native")
    with pytest.raises(PolyfactError, match="grpo.prompt"):
        grpo_dataset(records(1), SCAFFOLDS, prompt="english")


def test_paper_reward_credits_letters_and_ignores_empty() -> None:
    """The paper runs' reward: a bare letter is that option, an empty completion scores 0."""
    texts = ["B.", "(B)", "", "ইউরোপ", "B", "Mars"]
    layout = ["en"] * 3 + ["bn"] * 3
    golds = [record(0, lang)["answer_index"] for lang in LANGS]
    assert golds == [1, 1]  # option B is Europe in both languages for fact 0
    paper = FactRolloutReward(RewardSpec(empty=0.0, bare_letter="credit"), n_langs=2)
    assert reward_call(paper, texts, layout) == [3.0, 3.0, -0.5, 3.0, 3.0, -0.5]
    later = FactRolloutReward(RewardSpec(), n_langs=2)
    assert reward_call(later, texts, layout) == [0.5, -1.0, -1.5, 0.5, -1.0, -1.5]


def test_sampler_yields_whole_facts_in_order() -> None:
    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    g = 2
    sampler = FactGroupSampler(groups, 7, num_generations=g)
    order = list(sampler)
    assert len(order) == len(sampler) == 4 * 3 * g
    steps = [order[i : i + 3 * g] for i in range(0, len(order), 3 * g)]
    seen = []
    for step in steps:
        fact = step[0] // 3
        assert step == [i for i in groups[fact] for _ in range(g)]  # languages in order, each ×G
        seen.append(fact)
    assert sorted(seen) == [0, 1, 2, 3]  # every fact once per epoch
    assert list(FactGroupSampler(groups, 7, num_generations=g)) == order  # deterministic
    many = FactGroupSampler([[i] for i in range(20)], 7)
    first = list(many)
    many.set_epoch(1)
    assert list(many) != first and sorted(list(many)) == sorted(first)  # a new permutation per epoch


def test_sampler_repeats_chunks_like_trl() -> None:
    groups = [[0, 1], [2, 3], [4, 5]]
    order = list(FactGroupSampler(groups, 0, num_generations=2, repeat_count=2, facts_per_batch=1, shuffle=False))
    assert order[:8] == [0, 0, 1, 1] * 2
    assert len(order) == 3 * 2 * 2 * 2
    two = list(FactGroupSampler(groups, 0, facts_per_batch=2, shuffle=False))
    assert two == [0, 1, 2, 3]  # the third fact does not fill a chunk of two


def reward_call(reward: FactRolloutReward, texts: list[str], langs: list[str], fact: int = 0) -> list[float]:
    rows = [record(fact, lang) for lang in langs]
    return reward(
        prompts=[""] * len(texts),
        completions=texts,
        completion_ids=[[1, 2]] * len(texts),
        fact_id=[r["fact_id"] for r in rows],
        language=langs,
        options=[[r[f"option_{c}"] for c in "abcd"] for r in rows],
        answer_index=[r["answer_index"] for r in rows],
    )


# One fact, G=3, batch laid out [en×3][bn×3]: rollout k = (en k, bn k).
TEXTS = ["Europe", "Asia", "", "ইউরোপ", "ইউরোপ", "B"]


def test_pooled_reward_is_shared_by_a_rollout() -> None:
    reward = FactRolloutReward(RewardSpec(pooling="fact"), n_langs=2)
    rewards = reward_call(reward, TEXTS, ["en"] * 3 + ["bn"] * 3)
    assert rewards == [3.0, 1.0, -1.5, 3.0, 1.0, -1.5]
    assert reward.tokens_generated == 12


def test_per_lang_reward_keeps_own_scores() -> None:
    reward = FactRolloutReward(RewardSpec(pooling="per_lang"), n_langs=2)
    assert reward_call(reward, TEXTS, ["en"] * 3 + ["bn"] * 3) == [2.0, 0.0, -1.0, 2.0, 1.0, -0.5]


def test_reward_rejects_incomplete_facts() -> None:
    reward = FactRolloutReward(RewardSpec(), n_langs=2)
    with pytest.raises(ValueError, match="every language"):
        reward_call(reward, TEXTS[:3], ["en"] * 3)
    with pytest.raises(ValueError, match="every language"):
        reward_call(reward, TEXTS[:5], ["en"] * 3 + ["bn"] * 2)


def spec_for(tmp_path: Path, lora: LoraSpec | None = None, **trainer: Any) -> RunSpec:
    """GRPOConfig fields as the config gives them (G=2, 4 new tokens unless `trainer` says otherwise)."""
    defaults: dict[str, Any] = {
        "max_steps": 2,
        "save_steps": 100,
        "logging_steps": 1,
        "learning_rate": 1e-3,
        "num_generations": 2,
        "max_completion_length": 4,
        "temperature": 0.7,
        "top_p": 0.95,
    }
    return RunSpec(tmp_path / "out", tmp_path / "ckpt", trainer=defaults | trainer, lora=lora)


def test_grpo_config_holds_one_fact_per_step(tmp_path: Path) -> None:
    args = grpo_config(spec_for(tmp_path, num_generations=4, gradient_accumulation_steps=2), n_langs=3)
    assert (args.per_device_train_batch_size, args.steps_per_generation) == (6, 2)
    assert args.generation_batch_size == 12  # languages × G: one fact per generation
    assert not args.bf16 and not args.gradient_checkpointing and not args.use_vllm  # CPU, whatever TRL's defaults
    with pytest.raises(PolyfactError, match="gradient_accumulation_steps=5"):
        grpo_config(spec_for(tmp_path, num_generations=4, gradient_accumulation_steps=5), n_langs=3)


def test_paper_schedule_and_loss_pass_through_to_grpo_config(tmp_path: Path) -> None:
    """The paper runs' trainer settings are plain GRPOConfig fields; warmup below 1 is a fraction."""
    spec = spec_for(
        tmp_path,
        max_steps=200,
        lr_scheduler_type="cosine",
        warmup_steps=0.03,
        weight_decay=0.01,
        max_grad_norm=1.0,
        loss_type="grpo",
        repetition_penalty=1.3,
        max_completion_length=32,
    )
    args = grpo_config(spec, n_langs=2)
    assert args.lr_scheduler_type == "cosine"  # a str enum
    assert args.get_warmup_steps(200) == 6  # 3 % of 200
    assert (args.weight_decay, args.max_grad_norm, args.loss_type) == (0.01, 1.0, "grpo")
    assert (args.repetition_penalty, args.max_completion_length) == (1.3, 32)


@pytest.mark.parametrize("pooling", ["fact", "per_lang"])
def test_trl_advantages_shared_across_languages(tiny_model_dir: Path, tmp_path: Path, pooling: str) -> None:
    """Runs TRL's own `_generate_and_score_completions` (reward → per-group normalisation)
    with scripted completions in place of sampling."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    reward = RewardSpec(pooling=pooling)  # type: ignore[arg-type]
    spec = spec_for(tmp_path, num_generations=3)
    trainer, _ = build_trainer(model, tokenizer, records(2), SCAFFOLDS, spec, reward)
    scripted = [tokenizer.encode(t) + [tokenizer.eos_token_id] for t in TEXTS]
    trainer._generate_single_turn = lambda *a, **k: (scripted, None)  # type: ignore[method-assign]
    batch = [trainer.train_dataset[i] for i in list(trainer._get_train_sampler())[:6]]
    trainer.model.train()
    advantages = trainer._generate_and_score_completions(batch)["advantages"]
    en, bn = advantages[:3], advantages[3:]
    if pooling == "fact":
        assert torch.allclose(en, bn)
        assert en[0] > en[1] > en[2]
    else:
        assert not torch.allclose(en, bn)


def read_stats(out: Path) -> dict[str, Any]:
    return json.loads((out / "train_stats.json").read_text())


@pytest.mark.slow
def test_train_grpo_end_to_end_and_resume(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = spec_for(tmp_path, save_steps=1)
    # A first attempt that leaves a checkpoint behind, as a killed job would.
    trainer, _ = build_trainer(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        AutoTokenizer.from_pretrained(tiny_model_dir),
        records(4),
        SCAFFOLDS,
        spec,
        RewardSpec(),
    )
    trainer.train()
    assert (spec.checkpoint_dir / "checkpoint-2").is_dir()

    rerun = spec_for(tmp_path, max_steps=3, save_steps=1)
    stats = train_grpo(tiny_model_dir, tmp_path / "out", records(4), SCAFFOLDS, rerun, RewardSpec())
    assert stats["resumed_from"] is not None and stats["resumed_from"].endswith("checkpoint-2")
    assert stats["steps"] == 3
    saved = read_stats(tmp_path / "out")
    assert saved["method"] == "grpo" and saved["languages"] == LANGS
    assert saved["tokens_generated_this_attempt"] > 0
    assert [e["step"] for e in saved["reward_history"]] == [1, 2, 3]  # restored log history + the new step
    assert saved["final_rollouts_all_correct"] is not None
    assert saved["settings"]["num_generations"] == 2 and saved["settings"]["reward"]["pooling"] == "fact"
    assert not spec.checkpoint_dir.exists()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert model.config.model_type == "qwen2"


def test_train_grpo_fresh_run_with_lora(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    spec = spec_for(tmp_path, lora=LoraSpec(r=4, alpha=8, target_modules=("q_proj", "v_proj", "up_proj")))
    stats = train_grpo(tiny_model_dir, tmp_path / "out", records(3), SCAFFOLDS, spec, RewardSpec())
    assert stats["resumed_from"] is None and stats["steps"] == 2
    assert [e["step"] for e in stats["reward_history"]] == [1, 2]
    saved = read_stats(tmp_path / "out")
    assert saved["lora"]["r"] == 4
    AutoModelForCausalLM.from_pretrained(tmp_path / "out")


def test_paper_keys_in_the_schema_and_the_trainer_check() -> None:
    """`grpo.prompt` and `grpo.reward.bare_letter` default to today's behaviour, accept the paper
    values, and are project keys (not GRPOConfig fields) for the workflow's check."""
    from polyfact.train.settings import TrainerSettingsError, check_trainer_sections
    from snakemake.utils import validate

    schema = str(Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml")
    config: dict[str, Any] = {}
    validate(config, schema)
    assert config["grpo"]["prompt"] == "native"
    assert config["grpo"]["reward"]["bare_letter"] == "unparseable"
    assert RewardSpec(**config["grpo"]["reward"]) == RewardSpec()
    paper: dict[str, Any] = {"grpo": {"prompt": "paper", "reward": {"bare_letter": "credit", "empty": 0.0}}}
    validate(paper, schema)
    check_trainer_sections(paper | {"grpo": paper["grpo"] | {"repetition_penalty": 1.3, "loss_type": "grpo"}})
    for bad in ({"prompt": "english"}, {"reward": {"bare_letter": "yes"}}):
        with pytest.raises(Exception, match="english|yes"):
            validate({"grpo": bad}, schema)
    with pytest.raises(TrainerSettingsError, match="grpo.promt"):
        check_trainer_sections({"grpo": {"promt": "paper"}})
