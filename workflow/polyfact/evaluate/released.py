"""Load PolyFact-layout MCQ data — our own test split and the released PolyFact — into one
record form, with options aligned across languages (§6, §8 "Released PolyFact").

The one entry point for `polyfact evaluate mcq`: it reads any accepted layout into validated rows
(`polyfact.evaluate.layouts`), aligns option ids across languages (`polyfact.evaluate.align`) and
reports what it loaded and how well it aligned. Also the option encoders of the `embedding`
alignment (`evaluation.released.align`): the evaluated model's own mean-pooled hidden states (no
download) or a sentence-transformers model such as LaBSE (the authors' choice).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from polyfact.errors import PolyfactError
from polyfact.evaluate.align import PIVOT, Encoder, assign_option_ids
from polyfact.evaluate.layouts import Source, gather, normalise_rows

log = logging.getLogger(__name__)


def load_mcq(
    source: Source,
    languages: Sequence[str],
    *,
    split: str = "test",
    pivot: str = PIVOT,
    encode: Encoder | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of the requested languages in our record form, plus loading statistics.

    Rows come in `languages` order, each language in input order. Row fields (make_record's
    order; optional ones only when the source has them): `fact_id, language, [subject, relation,
    object], question, option_a..option_d, answer_text, answer_index (int 0-3), option_ids (4 str
    or None), [subject_id], property_id (None if absent), [object_id]`. Text is NFC.

    `split` picks the split where a source holds several (a save_to_disk DatasetDict, a Hub
    dataset, `{lang}/{split}.<ext>`). `pivot` is the preferred alignment pivot; a fact without
    it uses the first requested language it has. `encode` (texts -> embeddings) switches the
    alignment from `text` to `embedding`: options that text leaves open are matched by the
    optimal assignment on cosine similarity (`polyfact.evaluate.align`).

    Stats: `source`, `rows` (total), `facts`, `languages` {lang: rows}, `facts_incomplete` (facts
    missing at least one requested language), `missing` {lang: facts without that language},
    `alignment` {`method`: text | embedding, `given_ids`: facts whose rows carried option_ids,
    `aligned_by_text`: facts aligned in every language by gold + exact text + elimination
    (synthetic ids `{fact_id}#{k}`), `aligned_by_embedding`: facts aligned in every language, at
    least one of them with the embedding assignment, `partially_aligned`: facts aligned in some
    languages (the others have option_ids None), `unaligned`: facts with option_ids None
    everywhere, `per_language` {lang: {`rows`, `aligned`: rows with option_ids, so in
    RankC/agreement, `by_embedding`: rows aligned with the embedding assignment}}}.
    """
    languages = list(dict.fromkeys(languages))
    if not languages:
        raise PolyfactError("no languages requested")
    raws = gather(source, languages, split)
    rows = normalise_rows(raws, languages)
    label = _label(source)
    empty = [lang for lang in languages if not any(r["language"] == lang for r in rows)]
    if empty:
        raise PolyfactError(f"{label}: no rows for requested language(s) {', '.join(empty)}")
    alignment = assign_option_ids(rows, languages, pivot, encode)
    per_lang = Counter(r["language"] for r in rows)
    facts: dict[str, set[str]] = {}
    for r in rows:
        facts.setdefault(r["fact_id"], set()).add(r["language"])
    stats = {
        "source": label,
        "rows": len(rows),
        "facts": len(facts),
        "languages": {lang: per_lang[lang] for lang in languages},
        "facts_incomplete": sum(len(langs) < len(languages) for langs in facts.values()),
        "missing": {lang: sum(lang not in langs for langs in facts.values()) for lang in languages},
        "alignment": alignment,
    }
    log.info(
        "%s: %d rows, %d facts (%d incomplete); option ids given %d, aligned by text %d, by embedding %d, "
        "partly %d, unaligned %d (alignment: %s)",
        label,
        stats["rows"],
        stats["facts"],
        stats["facts_incomplete"],
        alignment["given_ids"],
        alignment["aligned_by_text"],
        alignment["aligned_by_embedding"],
        alignment["partially_aligned"],
        alignment["unaligned"],
        alignment["method"],
    )
    _log_per_language(label, alignment["per_language"])
    return rows, stats


def _log_per_language(label: str, per_language: dict[str, dict[str, int]]) -> None:
    """Which languages RankC/agreement will see, and how much of each: a language whose rows
    all lack option ids drops out of them, which must not pass silently."""
    log.info(
        "%s: rows aligned per language (in RankC/agreement): %s",
        label,
        ", ".join(f"{lang} {c['aligned']}/{c['rows']}" for lang, c in per_language.items()),
    )
    left_out = [lang for lang, c in per_language.items() if c["rows"] and not c["aligned"]]
    if left_out:
        log.warning(
            "%s: no fact aligned in %s, so RankC/agreement leave these languages out; "
            "evaluation.released.align: embedding aligns options across scripts",
            label,
            ", ".join(left_out),
        )


# ---------------------------------------------------------------------------------------------
# Option encoders for the `embedding` alignment

MODEL_ENCODER = "model"


def hidden_state_encoder(
    model: Any, tokenizer: Any, layer: int | None = None, batch_size: int = 64, max_length: int = 64
) -> Encoder:
    """Texts -> the model's hidden states at `layer`, averaged over each text's tokens.

    The evaluated model is already loaded, so this needs no download. `layer` indexes
    `hidden_states` (0 = the embeddings, k = the output of decoder layer k, negative from the
    end); None = the middle layer (num_layers // 2), where decoder LMs align languages best
    (the MEXA analysis, §9). The pooling is MEXA's (`polyfact.models.pooling`), one layer only.
    """

    def encode(texts: Sequence[str]) -> np.ndarray:
        from polyfact.models.pooling import mean_pooled_states

        n_states = model.config.num_hidden_layers + 1  # the embeddings and one per layer
        index = _layer_index(layer, n_states) % n_states  # a negative layer counts from the end
        if not texts:
            return np.zeros((0, 0))
        return mean_pooled_states(model, tokenizer, list(texts), batch_size, max_length, slice(index, index + 1))[0]

    return encode


def _layer_index(layer: int | None, n_states: int) -> int:
    """Index into `hidden_states` (embeddings + one per layer) for the configured layer."""
    num_layers = n_states - 1
    if layer is None:
        return num_layers // 2
    if not -n_states <= layer < n_states:
        raise PolyfactError(
            f"evaluation.released.align_layer {layer} is out of range for a model with {num_layers} layers "
            f"(0 = embeddings .. {num_layers}, or negative from the end)"
        )
    return layer


def sentence_encoder(name: str, batch_size: int = 256, setting: str = "evaluation.released.align_encoder") -> Encoder:
    """Texts -> unit-norm embeddings of a sentence-transformers model (e.g.
    sentence-transformers/LaBSE, the authors' aligner): a local directory, or a Hub id that is
    fetched when first used. Only a configured encoder gets here; the default never does."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise PolyfactError(
            f"{setting} {name!r} needs the sentence-transformers package (envs/gpu.yaml); "
            f"install it, or use {MODEL_ENCODER!r} (the model's own hidden states)"
        ) from err
    encoder = None

    def encode(texts: Sequence[str]) -> np.ndarray:
        nonlocal encoder
        if encoder is None:
            log.info("loading option encoder %s", name)
            try:
                encoder = SentenceTransformer(name)
            except (OSError, ValueError) as err:
                raise PolyfactError(f"{setting} {name!r} cannot be loaded: {err}") from err
        return np.asarray(encoder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True))

    return encode


def make_encoder(
    name: str,
    model: Any = None,
    tokenizer: Any = None,
    layer: int | None = None,
    setting: str = "evaluation.released.align_encoder",
) -> Encoder:
    """The encoder a config names (`setting`, for messages): `model` (the model passed in) or a
    sentence-transformers model id / directory."""
    if name == MODEL_ENCODER:
        if model is None or tokenizer is None:
            raise PolyfactError(f"align_encoder {MODEL_ENCODER!r} needs the evaluated model and tokenizer")
        return hidden_state_encoder(model, tokenizer, layer)
    return sentence_encoder(name, setting=setting)


def _label(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return ", ".join(os.fspath(p) for p in source)
