"""The `wikidata-sparql` source: small custom extractions from the Wikidata Query Service.

Three kinds of query, all built deterministically so the response cache is reusable:

1. per relation, the single-valued (subject, object) pairs on truthy (best-rank) `wdt:`
   statements whose subject and object are both items (Q-ids);
2. batched `rdfs:label` look-ups (VALUES over at most `batch_size` ids) in every Wikidata
   language key the requested languages may fall back to (`label_keys`);
3. batched `wdt:P31` (instance of) look-ups for the types.

`SparqlClient` is polite to the public endpoint: a User-Agent naming the tool (WDQS
rejects anonymous clients), a minimum interval between live requests, retries with
exponential backoff on HTTP 429/5xx and connection errors (honouring Retry-After), and a
local on-disk cache keyed by sha256 of (endpoint, query) so reruns make no requests.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from polyfact import __version__
from polyfact.errors import PolyfactError
from polyfact.facts import Fact
from polyfact.io import atomic_path
from polyfact.languages import label_for, label_keys

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://query.wikidata.org/sparql"
DEFAULT_USER_AGENT = (
    f"polyfact/{__version__} (PolyFact cross-lingual factual consistency research pipeline) "
    f"python-requests/{requests.__version__}"
)
SPARQL_JSON = "application/sparql-results+json"
ENTITY_PREFIX = "http://www.wikidata.org/entity/"

_QID = re.compile(r"Q[1-9][0-9]*")
_PID = re.compile(r"P[1-9][0-9]*")
_LANG_KEY = re.compile(r"[a-z]{2,3}(-[a-z0-9]+)*")


class SparqlError(PolyfactError):
    """A SPARQL request failed for good (client error, retries exhausted, bad response)."""


def _snippet(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), if usable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class SparqlClient:
    """A polite, caching, retrying client for a SPARQL endpoint returning SPARQL JSON results.

    `max_retries` is the number of retries after the first attempt. The wait before retry
    `i` (0-based) is `backoff_base_s * 2**i`, or the server's Retry-After when it sends
    one; either is capped at `max_wait_s`. `sleep` and `clock` are injectable for tests.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        cache_dir: str | Path | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        min_interval_s: float = 1.0,
        max_retries: int = 5,
        backoff_base_s: float = 2.0,
        timeout_s: float = 120.0,
        session: requests.Session | None = None,
        *,
        max_wait_s: float = 300.0,
        max_get_length: int = 1500,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not user_agent or not user_agent.strip():
            raise ValueError("a User-Agent identifying the tool is required by WDQS")
        if max_retries < 0 or min_interval_s < 0 or backoff_base_s < 0 or timeout_s <= 0:
            raise ValueError("max_retries, min_interval_s and backoff_base_s must be >= 0, timeout_s > 0")
        self.endpoint = endpoint
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.user_agent = user_agent
        self.min_interval_s = min_interval_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.timeout_s = timeout_s
        self.session = session if session is not None else requests.Session()
        self.max_wait_s = max_wait_s
        self.max_get_length = max_get_length
        self._sleep = sleep
        self._clock = clock
        self._last_request: float | None = None
        # counters, for logs and tests
        self.requests_made = 0
        self.cache_hits = 0

    # -- cache ---------------------------------------------------------------------------
    def cache_key(self, sparql: str) -> str:
        return hashlib.sha256(f"{self.endpoint}\n{sparql}".encode()).hexdigest()

    def _cache_path(self, sparql: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = self.cache_key(sparql)
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cache_read(self, path: Path) -> dict | None:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            result = entry["result"]
            _check_result(result)
            return result
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, SparqlError) as err:
            log.warning("ignoring unreadable SPARQL cache entry %s: %s", path, err)
            return None

    def _cache_write(self, path: Path, sparql: str, result: dict) -> None:
        entry = {"endpoint": self.endpoint, "query": sparql, "result": result}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")

    # -- requests ------------------------------------------------------------------------
    def _wait_turn(self) -> None:
        if self._last_request is not None and self.min_interval_s > 0:
            wait = self._last_request + self.min_interval_s - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_request = self._clock()

    def _send(self, sparql: str) -> requests.Response:
        headers = {"User-Agent": self.user_agent, "Accept": SPARQL_JSON}
        self._wait_turn()
        self.requests_made += 1
        if len(urlencode({"query": sparql})) <= self.max_get_length:
            return self.session.get(self.endpoint, params={"query": sparql}, headers=headers, timeout=self.timeout_s)
        return self.session.post(self.endpoint, data={"query": sparql}, headers=headers, timeout=self.timeout_s)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = retry_after if retry_after is not None else self.backoff_base_s * (2**attempt)
        return min(wait, self.max_wait_s)

    def query(self, sparql: str) -> dict:
        """Run a SELECT/ASK query and return its SPARQL JSON results (from the cache if there)."""
        path = self._cache_path(sparql)
        if path is not None:
            cached = self._cache_read(path)
            if cached is not None:
                self.cache_hits += 1
                return cached

        last_problem = ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                resp = self._send(sparql)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
                last_problem = f"{type(err).__name__}: {err}"
            else:
                status = resp.status_code
                if status == 200:
                    result = _parse_result(resp)
                    if path is not None:
                        self._cache_write(path, sparql, result)
                    return result
                if status == 429 or 500 <= status < 600:
                    retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
                    last_problem = f"HTTP {status}: {_snippet(resp.text)}"
                else:
                    raise SparqlError(f"SPARQL query rejected by {self.endpoint}: HTTP {status}: {_snippet(resp.text)}")
            if attempt < self.max_retries:
                wait = self._backoff(attempt, retry_after)
                log.warning(
                    "SPARQL request failed (%s); retry %d/%d in %.1fs",
                    last_problem,
                    attempt + 1,
                    self.max_retries,
                    wait,
                )
                self._sleep(wait)
        raise SparqlError(
            f"SPARQL query to {self.endpoint} failed after {self.max_retries + 1} attempts: {last_problem}"
        )


def _check_result(result: Any) -> None:
    if not isinstance(result, dict):
        raise SparqlError("SPARQL response is not a JSON object")
    if "boolean" in result:
        return
    bindings = result.get("results", {}).get("bindings") if isinstance(result.get("results"), dict) else None
    if not isinstance(bindings, list):
        raise SparqlError("SPARQL response has no results.bindings list")


def _parse_result(resp: requests.Response) -> dict:
    try:
        result = json.loads(resp.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise SparqlError(
            f"malformed SPARQL JSON response ({resp.headers.get('Content-Type', 'no content type')}): "
            f"{err}; body starts {_snippet(resp.text, 200)!r}"
        ) from None
    try:
        _check_result(result)
    except SparqlError as err:
        raise SparqlError(f"malformed SPARQL JSON response: {err}") from None
    return result


# -- query building ----------------------------------------------------------------------


def _check_pid(pid: str) -> str:
    if not _PID.fullmatch(pid):
        raise ValueError(f"not a Wikidata property id: {pid!r}")
    return pid


def pairs_query(pid: str, limit: int) -> str:
    """Single-valued (subject, object) item pairs of `pid` on truthy statements."""
    _check_pid(pid)
    return (
        "SELECT ?s (SAMPLE(?o) AS ?obj) WHERE {\n"
        f"  ?s wdt:{pid} ?o .\n"
        "  FILTER(isIRI(?o))\n"
        f'  FILTER(STRSTARTS(STR(?s), "{ENTITY_PREFIX}Q"))\n'
        f'  FILTER(STRSTARTS(STR(?o), "{ENTITY_PREFIX}Q"))\n'
        "}\n"
        "GROUP BY ?s\n"
        "HAVING (COUNT(DISTINCT ?o) = 1)\n"
        "ORDER BY ?s\n"
        f"LIMIT {int(limit)}"
    )


def _values(ids: Sequence[str]) -> str:
    for q in ids:
        if not _QID.fullmatch(q):
            raise ValueError(f"not a Wikidata item id: {q!r}")
    return " ".join(f"wd:{q}" for q in ids)


def labels_query(ids: Sequence[str], lang_keys: Sequence[str]) -> str:
    """`rdfs:label` of the items in any of `lang_keys`."""
    for key in lang_keys:
        if not _LANG_KEY.fullmatch(key):
            raise ValueError(f"not a Wikidata language key: {key!r}")
    langs = ", ".join(f'"{k}"' for k in lang_keys)
    return (
        "SELECT ?item ?label WHERE {\n"
        f"  VALUES ?item {{ {_values(ids)} }}\n"
        "  ?item rdfs:label ?label .\n"
        f"  FILTER(LANG(?label) IN ({langs}))\n"
        "}"
    )


def types_query(ids: Sequence[str]) -> str:
    """`wdt:P31` (instance of) item values of the items."""
    return (
        "SELECT ?item ?type WHERE {\n"
        f"  VALUES ?item {{ {_values(ids)} }}\n"
        "  ?item wdt:P31 ?type .\n"
        f'  FILTER(STRSTARTS(STR(?type), "{ENTITY_PREFIX}Q"))\n'
        "}"
    )


# -- result parsing ----------------------------------------------------------------------


def _bindings(result: dict) -> list[dict]:
    return result["results"]["bindings"]


def _qid(binding: dict | None) -> str | None:
    """The Q-id of a `uri` binding, or None for anything else (literals, blank nodes, ...)."""
    if not isinstance(binding, dict) or binding.get("type") != "uri":
        return None
    value = binding.get("value", "")
    if not value.startswith(ENTITY_PREFIX):
        return None
    qid = value[len(ENTITY_PREFIX) :]
    return qid if _QID.fullmatch(qid) else None


def _qid_order(qid: str) -> int:
    return int(qid[1:])


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def fetch_pairs(client: SparqlClient, pid: str, limit: int) -> list[tuple[str, str]]:
    """Single-valued (subject, object) pairs of one relation, sorted."""
    objects: dict[str, set[str]] = {}
    for b in _bindings(client.query(pairs_query(pid, limit))):
        s, o = _qid(b.get("s")), _qid(b.get("obj"))
        if s is not None and o is not None:
            objects.setdefault(s, set()).add(o)
    # the query already groups by subject; guard against a subject repeated anyway
    return sorted((s, next(iter(os_))) for s, os_ in objects.items() if len(os_) == 1)


def fetch_labels(
    client: SparqlClient, ids: Sequence[str], lang_keys: Sequence[str], batch_size: int
) -> dict[str, dict[str, str]]:
    """{item: {wikidata-language-key: label}} for the items, `batch_size` ids per query."""
    wanted = set(lang_keys)
    out: dict[str, dict[str, str]] = {}
    for batch in _batches(ids, batch_size):
        for b in _bindings(client.query(labels_query(batch, lang_keys))):
            item, label = _qid(b.get("item")), b.get("label")
            if item is None or not isinstance(label, dict) or label.get("type") != "literal":
                continue
            key, text = label.get("xml:lang"), label.get("value")
            if key not in wanted or not text:
                continue
            labels = out.setdefault(item, {})
            # one label per language in Wikidata; keep the smallest if ever not (deterministic)
            if key not in labels or text < labels[key]:
                labels[key] = text
    return out


def fetch_types(client: SparqlClient, ids: Sequence[str], batch_size: int) -> dict[str, set[str]]:
    """{item: {P31 type ids}} for the items, `batch_size` ids per query."""
    out: dict[str, set[str]] = {}
    for batch in _batches(ids, batch_size):
        for b in _bindings(client.query(types_query(batch))):
            item, typ = _qid(b.get("item")), _qid(b.get("type"))
            if item is not None and typ is not None:
                out.setdefault(item, set()).add(typ)
    return out


def extract_sparql(
    relations: Sequence[str],
    languages: Sequence[str],
    min_label_langs: int = 1,
    *,
    client: SparqlClient,
    limit_per_relation: int = 1000,
    batch_size: int = 200,
) -> list[Fact]:
    """Facts of `relations` from the live query service, labelled in `languages`.

    Keeps (subject, property) pairs with exactly one item object (truthy statements), and
    facts whose subject and object both have labels in at least `min_label_langs` of the
    languages. Returns Facts sorted by (subject, property, object).
    """
    if limit_per_relation < 1:
        raise ValueError("limit_per_relation must be >= 1")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if not languages:
        raise ValueError("no languages given")
    if not 0 <= min_label_langs <= len(languages):
        raise ValueError(f"min_label_langs must be between 0 and {len(languages)}, got {min_label_langs}")

    pairs: list[tuple[str, str, str]] = []
    for pid in dict.fromkeys(relations):
        found = fetch_pairs(client, pid, limit_per_relation)
        log.info("wikidata-sparql: %s: %d single-valued pairs", pid, len(found))
        if len(found) >= limit_per_relation:
            log.info("wikidata-sparql: %s hit limit_per_relation=%d", pid, limit_per_relation)
        pairs.extend((s, pid, o) for s, o in found)

    ids = sorted({q for s, _, o in pairs for q in (s, o)}, key=_qid_order)
    lang_keys = list(dict.fromkeys(k for lang in languages for k in label_keys(lang)))
    n_batches = math.ceil(len(ids) / batch_size) if ids else 0
    log.info("wikidata-sparql: labels and types of %d entities in %d batches", len(ids), n_batches)
    raw_labels = fetch_labels(client, ids, lang_keys, batch_size)
    types = fetch_types(client, ids, batch_size)

    labels: dict[str, dict[str, str | None]] = {
        q: {lang: label_for(raw_labels.get(q, {}), lang) for lang in languages} for q in ids
    }

    def enough(q: str) -> bool:
        return sum(1 for v in labels[q].values() if v) >= min_label_langs

    facts = [
        Fact(
            subject_id=s,
            property_id=pid,
            object_id=o,
            subject_labels=dict(labels[s]),
            object_labels=dict(labels[o]),
            subject_types=tuple(sorted(types.get(s, ()), key=_qid_order)),
            object_types=tuple(sorted(types.get(o, ()), key=_qid_order)),
        )
        for s, pid, o in pairs
        if enough(s) and enough(o)
    ]
    facts.sort(key=lambda f: (f.subject_id, f.property_id, f.object_id))
    log.info("wikidata-sparql: %d facts kept of %d pairs", len(facts), len(pairs))
    return facts
