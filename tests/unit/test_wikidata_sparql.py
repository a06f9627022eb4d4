"""The wikidata-sparql source against a loopback HTTP server replaying recorded WDQS results.

The server (tests/fixtures/sparql/*.json, real WDQS SPARQL JSON format and real entities)
answers the three kinds of query the source sends, routed on what the query asks:
single-valued pairs (`wdt:Pxx` + GROUP BY), labels (`rdfs:label`, filtered to the VALUES
ids and requested language keys) and types (`wdt:P31` + VALUES). Error responses are
scripted per test. Sleeps go through a fake clock, so retries and rate limits cost nothing.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from polyfact.facts import facts_frame, label_column
from polyfact.languages import DEFAULT_LANGUAGES
from polyfact.wikidata.sparql import (
    SPARQL_JSON,
    SparqlClient,
    SparqlError,
    _retry_after_seconds,
    extract_sparql,
    labels_query,
    pairs_query,
    types_query,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sparql"
LANGS = list(DEFAULT_LANGUAGES)  # en de fr es pt ru zh ja ar bn id sw
P30_SUBJECTS = {"Q142", "Q183", "Q17", "Q155", "Q79", "Q114", "Q30", "Q96"}
P30_ENTITIES = P30_SUBJECTS | {"Q46", "Q48", "Q18", "Q15", "Q49"}  # 13


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _ids_in_values(query: str) -> set[str]:
    m = re.search(r"VALUES \?item \{([^}]*)\}", query)
    assert m, query
    return set(re.findall(r"wd:(Q\d+)", m.group(1)))


class FakeWdqs:
    """Routes a SPARQL query to a recorded response; serves scripted responses first."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict[str, str], str]] = []
        self.dropped_labels: set[tuple[str, str]] = set()  # (qid, language key)
        self.lock = threading.Lock()

    def kinds(self, kind: str) -> list[dict]:
        return [r for r in self.requests if r["kind"] == kind]

    @staticmethod
    def kind_of(query: str) -> str:
        if "rdfs:label" in query:
            return "labels"
        if "wdt:P31" in query and "VALUES" in query:
            return "types"
        if re.search(r"wdt:P\d+", query) and "GROUP BY" in query:
            return "pairs"
        return "other"

    def answer(self, query: str) -> tuple[int, dict[str, str], str]:
        kind = self.kind_of(query)
        if kind == "labels":
            ids = _ids_in_values(query)
            keys = set(re.findall(r'"([a-z-]+)"', query.split("IN (", 1)[1]))
            data = _load("labels.json")
            data["results"]["bindings"] = [
                b
                for b in data["results"]["bindings"]
                if (q := b["item"]["value"].rsplit("/", 1)[1]) in ids
                and b["label"]["xml:lang"] in keys
                and (q, b["label"]["xml:lang"]) not in self.dropped_labels
            ]
        elif kind == "types":
            ids = _ids_in_values(query)
            data = _load("types.json")
            data["results"]["bindings"] = [
                b for b in data["results"]["bindings"] if b["item"]["value"].rsplit("/", 1)[1] in ids
            ]
        elif kind == "pairs":
            pid = re.search(r"wdt:(P\d+)", query).group(1)
            path = FIXTURES / f"pairs_{pid}.json"
            data = _load(path.name) if path.exists() else {"head": {"vars": ["s", "obj"]}, "results": {"bindings": []}}
            limit = int(re.search(r"LIMIT (\d+)", query).group(1))
            data["results"]["bindings"] = data["results"]["bindings"][:limit]
        else:
            return 400, {"Content-Type": "text/plain"}, "MalformedQueryException: unsupported query"
        return 200, {"Content-Type": SPARQL_JSON + ";charset=utf-8"}, json.dumps(data, ensure_ascii=False)

    def handle(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, str]:
        if method == "GET":
            params = parse_qs(urlsplit(path).query)
        else:
            params = parse_qs(body.decode("utf-8"))
        query = params.get("query", [""])[0]
        with self.lock:
            self.requests.append({"method": method, "query": query, "headers": headers, "kind": self.kind_of(query)})
            if self.script:
                return self.script.pop(0)
        return self.answer(query)


@pytest.fixture
def wdqs() -> Iterator[tuple[FakeWdqs, str]]:
    fake = FakeWdqs()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, text = fake.handle(method, self.path, body, dict(self.headers))
            payload = text.encode("utf-8")
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/sparql"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class FakeTime:
    """A clock that only moves when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


@pytest.fixture
def ftime() -> FakeTime:
    return FakeTime()


def make_client(endpoint: str, ftime: FakeTime, cache_dir: Path | None, **kw) -> SparqlClient:
    opts = dict(min_interval_s=0.0, max_retries=3, backoff_base_s=0.01, timeout_s=5)
    opts.update(kw)
    return SparqlClient(endpoint, cache_dir=cache_dir, sleep=ftime.sleep, clock=ftime.clock, **opts)


def by_id(facts):
    return {(f.subject_id, f.property_id, f.object_id): f for f in facts}


# -- extraction ---------------------------------------------------------------------------


def test_extract_builds_facts_labels_and_types(wdqs, ftime, tmp_path):
    fake, url = wdqs
    client = make_client(url, ftime, tmp_path / "cache")
    facts = extract_sparql(["P30", "P37"], LANGS, client=client)

    assert len(facts) == 12
    keys = [(f.subject_id, f.property_id, f.object_id) for f in facts]
    assert keys == sorted(keys)
    got = by_id(facts)
    fr = got[("Q142", "P30", "Q46")]
    assert fr.subject_labels == {
        "en": "France",
        "de": "Frankreich",
        "fr": "France",
        "es": "Francia",
        "pt": "França",
        "ru": "Франция",
        "zh": "法国",
        "ja": "フランス",
        "ar": "فرنسا",
        "bn": "ফ্রান্স",
        "id": "Prancis",
        "sw": "Ufaransa",
    }
    assert fr.object_labels["de"] == "Europa" and fr.object_labels["sw"] == "Ulaya"
    assert fr.subject_types == ("Q6256", "Q3624078")
    assert fr.object_types == ("Q5107",)
    assert got[("Q17", "P30", "Q48")].subject_types == ("Q6256", "Q112099", "Q3624078")
    lang = got[("Q183", "P37", "Q188")]
    assert lang.object_labels["en"] == "German" and lang.object_labels["ja"] == "ドイツ語"
    assert got[("Q155", "P37", "Q5146")].object_labels["pt"] == "português"
    # Kenya has a `pt` label and a `pt-br` one: `pt` wins
    assert got[("Q114", "P30", "Q15")].subject_labels["pt"] == "Quénia"

    # one pairs query per relation, one label and one type query for the 17 entities
    assert len(fake.kinds("pairs")) == 2 and len(fake.kinds("labels")) == 1 and len(fake.kinds("types")) == 1
    # the facts table accepts them
    df = facts_frame(facts, LANGS)
    assert list(df["fact_id"])[:2] == ["Q114|P30|Q15", "Q142|P30|Q46"]
    assert df.loc[df["fact_id"] == "Q142|P37|Q150", label_column("object", "fr")].item() == "français"


def test_zh_hans_preferred_over_traditional(wdqs, ftime, tmp_path):
    fake, url = wdqs
    facts = by_id(extract_sparql(["P30"], LANGS, client=make_client(url, ftime, tmp_path)))
    # Kenya: zh-hans 肯尼亚; zh-hant 肯亞 would convert to 肯亚, a different name
    assert facts[("Q114", "P30", "Q15")].subject_labels["zh"] == "肯尼亚"
    assert facts[("Q142", "P30", "Q46")].object_labels["zh"] == "欧洲"


def test_traditional_only_label_is_converted_to_simplified(wdqs, ftime, tmp_path):
    fake, url = wdqs
    fake.dropped_labels |= {("Q183", "zh-hans"), ("Q183", "zh"), ("Q48", "zh-hans"), ("Q48", "zh")}
    facts = by_id(extract_sparql(["P30"], LANGS, client=make_client(url, ftime, tmp_path)))
    assert facts[("Q183", "P30", "Q46")].subject_labels["zh"] == "德国"  # from zh-hant 德國
    assert facts[("Q17", "P30", "Q48")].object_labels["zh"] == "亚洲"  # from zh-hant 亞洲


def test_label_query_asks_for_all_fallback_keys(wdqs, ftime, tmp_path):
    fake, url = wdqs
    extract_sparql(["P30"], ["zh", "pt"], client=make_client(url, ftime, tmp_path))
    (req,) = fake.kinds("labels")
    for key in ("zh-hans", "zh-cn", "zh", "zh-hant", "zh-tw", "pt", "pt-br", "mul"):
        assert f'"{key}"' in req["query"]
    assert '"en"' not in req["query"]


@pytest.mark.parametrize("batch_size", [1, 4, 5, 13, 200])
def test_label_and_type_queries_are_batched(wdqs, ftime, tmp_path, batch_size):
    fake, url = wdqs
    facts = extract_sparql(["P30"], LANGS, client=make_client(url, ftime, None), batch_size=batch_size)
    assert len(facts) == 8
    expected = math.ceil(len(P30_ENTITIES) / batch_size)
    for kind in ("labels", "types"):
        reqs = fake.kinds(kind)
        assert len(reqs) == expected
        batches = [_ids_in_values(r["query"]) for r in reqs]
        assert all(len(b) <= batch_size for b in batches)
        assert set().union(*batches) == P30_ENTITIES
        assert sum(len(b) for b in batches) == len(P30_ENTITIES)  # no id asked twice
    # labels identical whatever the batching
    assert by_id(facts)[("Q96", "P30", "Q49")].object_labels["es"] == "América del Norte"


def test_limit_per_relation_is_sent_and_respected(wdqs, ftime, tmp_path):
    fake, url = wdqs
    facts = extract_sparql(["P30"], LANGS, client=make_client(url, ftime, tmp_path), limit_per_relation=3)
    assert len(facts) == 3
    assert "LIMIT 3" in fake.kinds("pairs")[0]["query"]


def test_min_label_langs_filter(wdqs, ftime, tmp_path):
    fake, url = wdqs
    # Japan keeps labels only in en and ja
    fake.dropped_labels |= {
        ("Q17", k) for k in ("de", "fr", "es", "pt", "ru", "zh", "zh-hans", "zh-hant", "ar", "bn", "id", "sw")
    }
    client = make_client(url, ftime, None)
    two = by_id(extract_sparql(["P30", "P37"], LANGS, 2, client=client))
    assert ("Q17", "P30", "Q48") in two and ("Q17", "P37", "Q5287") in two
    assert two[("Q17", "P30", "Q48")].subject_labels["de"] is None
    three = by_id(extract_sparql(["P30", "P37"], LANGS, 3, client=client))
    assert not any(k[0] == "Q17" for k in three)
    assert len(three) == len(two) - 2
    # object side too: Asia (object of Japan) needs labels
    fake.dropped_labels |= {("Q46", k) for k in LANGS + ["zh-hans", "zh-hant"]}
    none_eu = extract_sparql(["P30"], LANGS, 1, client=client)
    assert not any(f.object_id == "Q46" for f in none_eu)
    with pytest.raises(ValueError):
        extract_sparql(["P30"], ["en"], 2, client=client)


def test_unknown_relation_yields_nothing_and_no_label_queries(wdqs, ftime, tmp_path):
    fake, url = wdqs
    assert extract_sparql(["P61"], LANGS, client=make_client(url, ftime, tmp_path)) == []
    assert len(fake.requests) == 1
    with pytest.raises(ValueError):
        extract_sparql(["P30 } DELETE"], LANGS, client=make_client(url, ftime, tmp_path))


# -- client: cache ------------------------------------------------------------------------


def test_cache_hit_makes_no_request(wdqs, ftime, tmp_path):
    fake, url = wdqs
    cache = tmp_path / "cache"
    first = extract_sparql(["P30", "P37"], LANGS, client=make_client(url, ftime, cache), batch_size=5)
    n = len(fake.requests)
    assert n > 0
    client2 = make_client(url, ftime, cache)
    second = extract_sparql(["P30", "P37"], LANGS, client=client2, batch_size=5)
    assert len(fake.requests) == n
    assert client2.requests_made == 0 and client2.cache_hits == n
    assert second == first
    assert not list(cache.rglob("*.partial"))
    # a different endpoint is a different cache key
    other = SparqlClient(url + "?x=1", cache_dir=cache)
    assert other.cache_key("SELECT 1") != client2.cache_key("SELECT 1")


def test_corrupt_cache_entry_is_refetched(wdqs, ftime, tmp_path):
    fake, url = wdqs
    client = make_client(url, ftime, tmp_path)
    q = pairs_query("P30", 10)
    first = client.query(q)
    (entry,) = list(tmp_path.rglob("*.json"))
    entry.write_text("{trunc", encoding="utf-8")
    assert client.query(q) == first
    assert len(fake.requests) == 2
    assert client.query(q) == first
    assert len(fake.requests) == 2


# -- client: retries and errors -----------------------------------------------------------


def test_429_with_retry_after_then_success(wdqs, ftime, tmp_path):
    fake, url = wdqs
    fake.script = [(429, {"Retry-After": "2", "Content-Type": "text/plain"}, "Too Many Requests")]
    client = make_client(url, ftime, tmp_path)
    result = client.query(pairs_query("P30", 1000))
    assert len(result["results"]["bindings"]) == 8
    assert len(fake.requests) == 2
    assert ftime.sleeps == [2.0]  # honoured Retry-After, not the tiny backoff


def test_503_twice_then_success_backs_off_exponentially(wdqs, ftime, tmp_path):
    fake, url = wdqs
    fake.script = [(503, {}, "Service Unavailable")] * 2
    client = make_client(url, ftime, tmp_path, backoff_base_s=0.01)
    facts = extract_sparql(["P37"], LANGS, client=client)
    assert len(facts) == 4
    assert ftime.sleeps == pytest.approx([0.01, 0.02])


def test_persistent_500_raises_after_max_retries(wdqs, ftime, tmp_path):
    fake, url = wdqs
    fake.script = [(500, {}, "java.util.concurrent.TimeoutException")] * 10
    client = make_client(url, ftime, tmp_path, max_retries=3)
    with pytest.raises(SparqlError, match=r"after 4 attempts: HTTP 500: java.util.concurrent.TimeoutException"):
        client.query(pairs_query("P30", 1000))
    assert len(fake.requests) == 4
    assert len(ftime.sleeps) == 3
    assert not list(tmp_path.rglob("*.json"))  # nothing cached


def test_400_raises_immediately(wdqs, ftime, tmp_path):
    fake, url = wdqs
    fake.script = [(400, {"Content-Type": "text/plain"}, 'MalformedQueryException: Encountered " "}" at line 1')]
    client = make_client(url, ftime, tmp_path)
    with pytest.raises(SparqlError, match=r"HTTP 400: MalformedQueryException"):
        client.query("SELECT ?x WHERE { }")
    assert len(fake.requests) == 1 and ftime.sleeps == []


def test_malformed_json_raises(wdqs, ftime, tmp_path):
    fake, url = wdqs
    fake.script = [(200, {"Content-Type": SPARQL_JSON}, '{"head": {"vars": ["s"]}, "results": {"bindings": [{"s": ')]
    client = make_client(url, ftime, tmp_path)
    with pytest.raises(SparqlError, match="malformed SPARQL JSON"):
        client.query(pairs_query("P30", 1000))
    fake.script = [(200, {"Content-Type": SPARQL_JSON}, '{"head": {"vars": []}}')]
    with pytest.raises(SparqlError, match="malformed SPARQL JSON"):
        client.query(pairs_query("P30", 1000))
    assert not list(tmp_path.rglob("*.json"))
    # the next (good) answer works and is cached
    assert len(client.query(pairs_query("P30", 1000))["results"]["bindings"]) == 8


def test_connection_errors_are_retried_then_raise(ftime, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/sparql", ftime, tmp_path, max_retries=2, timeout_s=2)
    with pytest.raises(SparqlError, match="after 3 attempts: ConnectionError"):
        client.query("SELECT * WHERE { ?s ?p ?o } LIMIT 1")
    assert client.requests_made == 3 and len(ftime.sleeps) == 2


# -- client: politeness -------------------------------------------------------------------


def test_headers_and_get_or_post(wdqs, ftime, tmp_path):
    fake, url = wdqs
    client = make_client(url, ftime, None, user_agent="polyfact-test/1.0 (test@example.org)", max_get_length=500)
    extract_sparql(["P30"], LANGS, client=client, batch_size=200)
    for r in fake.requests:
        assert r["headers"]["User-Agent"] == "polyfact-test/1.0 (test@example.org)"
        assert r["headers"]["Accept"] == SPARQL_JSON
    for r in fake.requests:  # GET up to 500 url-encoded characters, POST beyond
        assert r["method"] == ("GET" if len(urlencode({"query": r["query"]})) <= 500 else "POST")
    assert fake.kinds("pairs")[0]["method"] == "GET"
    assert fake.kinds("labels")[0]["method"] == "POST"
    assert fake.kinds("labels")[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    default = SparqlClient()
    assert default.user_agent.startswith("polyfact/")
    with pytest.raises(ValueError):
        SparqlClient(user_agent=" ")


def test_min_interval_between_live_requests(wdqs, ftime, tmp_path):
    fake, url = wdqs
    client = make_client(url, ftime, tmp_path, min_interval_s=0.5)
    client.query(pairs_query("P30", 5))
    assert ftime.sleeps == []
    client.query(pairs_query("P37", 5))
    assert ftime.sleeps == [0.5]
    ftime.now += 10  # long enough since: no wait
    client.query(pairs_query("P30", 6))
    assert ftime.sleeps == [0.5]
    client.query(pairs_query("P30", 5))  # cache hit: no wait, no request
    assert ftime.sleeps == [0.5] and len(fake.requests) == 3


# -- pieces -------------------------------------------------------------------------------


def test_query_text():
    q = pairs_query("P30", 1000)
    for part in (
        "?s wdt:P30 ?o",
        "FILTER(isIRI(?o))",
        "SAMPLE(?o)",
        "GROUP BY ?s",
        "HAVING (COUNT(DISTINCT ?o) = 1)",
        "ORDER BY ?s",
        "LIMIT 1000",
    ):
        assert part in q
    assert "VALUES ?item { wd:Q1 wd:Q2 }" in labels_query(["Q1", "Q2"], ["en", "zh-hans"])
    assert 'IN ("en", "zh-hans")' in labels_query(["Q1"], ["en", "zh-hans"])
    assert "wdt:P31" in types_query(["Q1"])
    for bad in (lambda: pairs_query("30", 1), lambda: types_query(["Q1 }"]), lambda: labels_query(["Q1"], ['en"'])):
        with pytest.raises(ValueError):
            bad()


def test_retry_after_parsing():
    assert _retry_after_seconds("7") == 7.0
    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("soon") is None
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
