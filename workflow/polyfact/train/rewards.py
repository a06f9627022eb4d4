"""GRPO rewards (§7): resolve a free-text completion to one of the four options, score it,
and add the cross-lingual consistency bonus over a rollout (one generation per training
language of one fact). Pure functions, no torch: this is the science and is tested alone.

Resolution rules (applied to the completion's first non-blank line):

1. whitespace-only completion → EMPTY;
2. a bare option letter ("B", "b)", "(c)", "D.") → UNPARSEABLE: the model must give the
   answer *text*, never the label, even if an option's text happens to be that letter
   (`bare_letter: unparseable`, the default; see "Letters" below for the paper runs' rule);
3. normalised exact match with one option → that option;
4. otherwise *containment*: an option whose normalised text occurs inside the completion
   at word boundaries ("The answer is Europe." → Europe). Only maximal occurrences count,
   so "Guinea-Bissau" names Guinea-Bissau and not also Guinea; if several options remain
   ("Europe or Asia") the completion is ambiguous → UNPARSEABLE. The reverse (completion
   inside an option, e.g. "South" for "South Africa") is *not* accepted: a truncated
   answer would be rewarded for naming nothing;
5. anything else (another script, a non-option) → UNPARSEABLE.

Word boundaries: a match must not continue a word of a spaced script (letters, digits,
combining marks on either side). Han and kana characters are written without spaces, so a
match next to them needs no boundary (CJK options are found by plain substring).

Letters (`RewardSpec.bare_letter`). The paper's runs showed the options lettered A–D and their
matcher accepted a letter as that option; the later protocol does not. After an optional
English answer label ("Answer:", "Answer text:", which the paper prompt ends with), rules 3–5
become:

- `credit`: an exact option text still wins (rule 3); otherwise a completion that is only a
  letter A–D, wrapped in any punctuation ("B", "B.", "(B)", "B)", "[b]", '"C"'), resolves to
  that option;
- `prefix`: as `credit`, and a leading letter followed by `. ) ] : -` or a space ("B) Rome",
  "B. Rome") decides before containment — the paper runs' matcher exactly, including its
  false positives (English "a city …" reads as option A).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

BonusShape = Literal["all_or_nothing", "ladder"]
Pooling = Literal["fact", "per_lang"]
BareLetter = Literal["unparseable", "credit", "prefix"]
BARE_LETTER_RULES: tuple[str, ...] = ("unparseable", "credit", "prefix")

_BARE_LETTER = re.compile(r"\s*[(\[]?[A-Da-d][)\].:]?\s*")
_SPACES = re.compile(r"\s+")
_ANSWER_LABEL = re.compile(r"\s*answer(?: text)?\s*:\s*", re.IGNORECASE)
_LETTER_PREFIX = re.compile(r"([a-d])(?:[.)\]:\-\s]|$)")
_LETTERS = "abcd"


class Outcome(Enum):
    CORRECT = "correct"
    WRONG = "wrong"
    UNPARSEABLE = "unparseable"
    EMPTY = "empty"


@dataclass(frozen=True)
class RewardSpec:
    """Reward constants (§7 defaults). `bonus` is added when the rollout is consistent."""

    correct: float = 1.0
    wrong: float = 0.0
    unparseable: float = -0.5
    empty: float = -1.0
    bonus: float = 1.0
    bonus_shape: BonusShape = "all_or_nothing"
    pooling: Pooling = "fact"
    bare_letter: BareLetter = "unparseable"

    def __post_init__(self) -> None:
        if self.bonus_shape not in ("all_or_nothing", "ladder"):
            raise ValueError(f"unknown bonus_shape {self.bonus_shape!r}")
        if self.pooling not in ("fact", "per_lang"):
            raise ValueError(f"unknown pooling {self.pooling!r}")
        if self.bare_letter not in BARE_LETTER_RULES:
            raise ValueError(f"unknown bare_letter {self.bare_letter!r}; expected one of {BARE_LETTER_RULES}")


DEFAULT_REWARD = RewardSpec()


@dataclass(frozen=True)
class Resolution:
    """What a completion names: an option index, nothing (`index=None`), or nothing at all (`empty`)."""

    index: int | None
    empty: bool = False


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _is_edge_char(ch: str) -> bool:
    """Characters stripped from the ends: whitespace, punctuation, symbols, controls."""
    return ch.isspace() or unicodedata.category(ch)[0] in "PSCZ"


def normalize_answer(text: str) -> str:
    """Comparable form of an answer: first non-blank line, NFC, casefolded, ends stripped of
    punctuation/symbols/whitespace, inner whitespace collapsed to one space."""
    line = unicodedata.normalize("NFC", _first_line(text)).casefold()
    start, end = 0, len(line)
    while start < end and _is_edge_char(line[start]):
        start += 1
    while end > start and _is_edge_char(line[end - 1]):
        end -= 1
    return _SPACES.sub(" ", line[start:end])


def _unspaced(ch: str) -> bool:
    """Han or kana: scripts written without spaces between words."""
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # hiragana, katakana
        or 0x3400 <= cp <= 0x4DBF  # CJK extension A
        or 0x4E00 <= cp <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= cp <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF66 <= cp <= 0xFF9F  # half-width katakana
        or 0x20000 <= cp <= 0x3134F  # CJK extensions B–G
    )


def _word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def _boundary(outside: str | None, inside: str) -> bool:
    """Whether a match may start/end between `outside` (None at the text's edge) and `inside`."""
    if outside is None or not _word_char(outside) or not _word_char(inside):
        return True
    return _unspaced(outside) or _unspaced(inside)


def _occurrences(option: str, text: str) -> list[tuple[int, int]]:
    """Spans of `option` inside `text` that sit on word boundaries."""
    spans = []
    start = text.find(option)
    while start != -1:
        end = start + len(option)
        before = text[start - 1] if start > 0 else None
        after = text[end] if end < len(text) else None
        if _boundary(before, option[0]) and _boundary(after, option[-1]):
            spans.append((start, end))
        start = text.find(option, start + 1)
    return spans


def _letter_answer(completion: str, bare_letter: BareLetter) -> int | None:
    """Option index of a letter answer under `bare_letter` (None if the rule gives none): a
    lone letter for `credit`, also a leading letter before text for `prefix`."""
    line = _first_line(completion)
    label = _ANSWER_LABEL.match(line)
    text = normalize_answer(line[label.end() :] if label else line)
    if len(text) == 1 and text in _LETTERS:
        return _LETTERS.index(text)
    if bare_letter == "prefix" and (m := _LETTER_PREFIX.match(text)):
        return _LETTERS.index(m.group(1))
    return None


def resolve(completion: str, options: Sequence[str], bare_letter: BareLetter = "unparseable") -> Resolution:
    """The option a completion names, following the module's resolution rules
    (`bare_letter`: how an option letter counts, see "Letters" in the module docstring)."""
    if bare_letter not in BARE_LETTER_RULES:
        raise ValueError(f"unknown bare_letter {bare_letter!r}; expected one of {BARE_LETTER_RULES}")
    if not completion.strip():
        return Resolution(None, empty=True)
    if bare_letter == "unparseable" and _BARE_LETTER.fullmatch(_first_line(completion)):
        return Resolution(None)
    text = normalize_answer(completion)
    if not text:
        return Resolution(None)
    normalised = [normalize_answer(o) for o in options]
    exact = [i for i, o in enumerate(normalised) if o == text]
    if len(exact) == 1:
        return Resolution(exact[0])
    if bare_letter != "unparseable":
        letter = _letter_answer(completion, bare_letter)
        if letter is not None and letter < len(options):
            return Resolution(letter)
    spans = {i: _occurrences(o, text) for i, o in enumerate(normalised) if o}
    spans = {i: s for i, s in spans.items() if s}

    def maximal(i: int) -> bool:
        """Some occurrence of option i is not inside a longer occurrence of another option."""
        return any(
            not any(j != i and a <= s and e <= b and (b - a) > (e - s) for j in spans for a, b in spans[j])
            for s, e in spans[i]
        )

    named = [i for i in spans if maximal(i)]
    return Resolution(named[0]) if len(named) == 1 else Resolution(None)


def judge(
    completion: str, options: Sequence[str], answer_index: int, bare_letter: BareLetter = "unparseable"
) -> Outcome:
    """Outcome of one completion against the gold option."""
    res = resolve(completion, options, bare_letter)
    if res.empty:
        return Outcome.EMPTY
    if res.index is None:
        return Outcome.UNPARSEABLE
    return Outcome.CORRECT if res.index == answer_index else Outcome.WRONG


def completion_reward(outcome: Outcome, spec: RewardSpec = DEFAULT_REWARD) -> float:
    """Reward of one completion before the consistency bonus."""
    return {
        Outcome.CORRECT: spec.correct,
        Outcome.WRONG: spec.wrong,
        Outcome.UNPARSEABLE: spec.unparseable,
        Outcome.EMPTY: spec.empty,
    }[outcome]


def consistency_bonus(n_correct: int, n_langs: int, spec: RewardSpec = DEFAULT_REWARD) -> float:
    """Bonus for a rollout with `n_correct` of `n_langs` languages correct.

    all_or_nothing: `bonus` iff every language is correct (the paper's bonus).
    ladder: `bonus × (n_correct / n_langs)²` — 0 when none is correct, the full bonus when
    all are, strictly increasing in between; the square keeps most of the bonus for
    near-complete consistency, so partial agreement is encouraged without being enough.
    """
    if not 0 <= n_correct <= n_langs or n_langs == 0:
        raise ValueError(f"need 0 <= n_correct <= n_langs and n_langs > 0, got {n_correct}/{n_langs}")
    if spec.bonus_shape == "all_or_nothing":
        return spec.bonus if n_correct == n_langs else 0.0
    return spec.bonus * (n_correct / n_langs) ** 2


def rollout_rewards(outcomes_per_lang: Sequence[Outcome], spec: RewardSpec = DEFAULT_REWARD) -> list[float]:
    """Rewards of one rollout's completions (one per language, same order).

    pooling "fact": every completion gets the pooled reward Σ_lang reward + bonus, so the
    rollout's advantage is shared by all its sequences (paper). "per_lang": each completion
    gets its own reward + the rollout's bonus (ablation).
    """
    own = [completion_reward(o, spec) for o in outcomes_per_lang]
    bonus = consistency_bonus(sum(o is Outcome.CORRECT for o in outcomes_per_lang), len(own), spec)
    if spec.pooling == "fact":
        return [sum(own) + bonus] * len(own)
    return [r + bonus for r in own]
