"""The emulated Loki 2.6.1 answers as the captures of a real one do.

Capture numbers refer to /work/shared/reference/real-responses/loki-promtail-2.6.1-NN-*.txt.
The store is seeded so that the captured queries give the captured values. One
server serves the module (stopping one costs half a second); tests that add
data use stream labels of their own.
"""

import json

import pytest
import requests

from sandbox import logql, loki_config
from sandbox.httpserver import Server
from sandbox.loki import LokiStore, TokenBucket, make_app, parse_timestamp

S = logql.SECOND_NS
NOW = 1795930315_963_000_000  # the instant of capture 09
BACKEND = {"container": "escashop-backend-prod", "filename": "/var/log/app/backend.log", "job": "escashop-backend"}
PUSH_TEST = {"container": "escashop-backend-prod", "job": "push-test"}
DOCKER = {"container": "escashop-backend-prod", "service": "backend", "stream": "stdout"}
JSON_UTF8 = "application/json; charset=UTF-8"
PARSE_ERROR_30 = "parse error at line 1, col 63: syntax error: unexpected )"
PARSE_ERROR_32 = "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"


def seed(store):
    store.add(PUSH_TEST, [
        (1795930180 * S, "push-test run=1795930308 queue processed; reset completed successfully"),
        (1795930190 * S, "push-test run=1795930308 queue processed; reset completed successfully"),
    ])
    store.add(BACKEND, [
        (1795930195 * S, "INFO [scheduler] Midnight reset completed successfully (item 1)"),
        (1795930199 * S, "INFO [scheduler] Midnight reset completed successfully (item 2)"),
        *[((1795930300 + i) * S, f"INFO [scheduler] Midnight reset completed successfully (item {i + 3})") for i in range(4)],
        (1795930305 * S, "ERROR [queue] queue processing error: connection reset"),
    ])
    store.add(DOCKER, [((1795930301 + 5 * i) * S, f"tick {i}") for i in range(3)])


@pytest.fixture(scope="module")
def store():
    store = LokiStore(clock=lambda: NOW)
    seed(store)
    return store


@pytest.fixture(scope="module")
def loki(store):
    server = Server(make_app(store)).start()
    yield server.url
    server.stop()


def query(loki, q, **params):
    return requests.get(f"{loki}/loki/api/v1/query", params={"query": q, **params})


def query_range(loki, q, **params):
    return requests.get(f"{loki}/loki/api/v1/query_range", params={"query": q, **params})


def push(loki, body, content_type="application/json"):
    data = body if isinstance(body, str) else json.dumps(body)
    return requests.post(f"{loki}/loki/api/v1/push", data=data, headers={"Content-Type": content_type})


def result_json(response):
    """The raw `"result":[...]` text, to compare with a capture byte for byte."""
    body = response.text
    return body[body.index('"result":') : body.index(',"stats":')]


# --- Status endpoints --------------------------------------------------------------


def test_ready_and_buildinfo_as_captured(loki):  # captures 01, 03
    ready = requests.get(f"{loki}/ready")
    assert (ready.status_code, ready.text, ready.headers["Content-Type"]) == (200, "ready\n", "text/plain; charset=utf-8")
    info = requests.get(f"{loki}/loki/api/v1/status/buildinfo")
    assert info.headers["Content-Type"] == "application/json"
    assert list(info.json()) == ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"]
    assert info.json()["version"] == "2.6.1"


# --- Metric queries -----------------------------------------------------------------


def test_instant_count_over_time_is_one_series_per_stream(loki):  # capture 09
    response = query(loki, 'count_over_time({container="escashop-backend-prod"} |= "completed successfully" [5m])')
    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/json")
    assert result_json(response) == (
        '"result":[{"metric":{"container":"escashop-backend-prod","filename":"/var/log/app/backend.log",'
        '"job":"escashop-backend"},"value":[1795930315.963,"6"]},'
        '{"metric":{"container":"escashop-backend-prod","job":"push-test"},"value":[1795930315.963,"2"]}]'
    )
    body = response.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "vector"
    assert set(body["data"]["stats"]) == {"summary", "querier", "ingester"}
    assert body["data"]["stats"]["summary"]["totalEntriesReturned"] == 2
    assert not response.text.endswith("\n")


def test_instant_sum_at_a_float_time(loki):  # capture 10
    response = query(
        loki, 'sum(count_over_time({container="escashop-backend-prod"} |= "completed successfully" [5m]))',
        time="1795930315.979",
    )
    assert result_json(response) == '"result":[{"metric":{},"value":[1795930315.979,"8"]}]'


def test_range_sum_is_step_aligned_and_omits_empty_steps(loki):  # capture 11
    response = query_range(
        loki, 'sum(count_over_time({container="escashop-backend-prod"} |= "completed successfully" [5m]))',
        start="1795930008000000000", end="1795930315992219176", step="60",
    )
    assert response.headers["Content-Type"] == "application/json"
    assert result_json(response) == '"result":[{"metric":{},"values":[[1795930200,"4"],[1795930260,"4"],[1795930320,"8"]]}]'


def test_no_match_is_an_empty_success(loki):  # capture 33
    response = query(
        loki, 'sum by (container) (count_over_time({container=~"escashop-backend.*"} |~ "(?i)reset.*failed" [5m]))'
    )
    assert response.status_code == 200
    assert response.json()["status"] == "success"
    assert result_json(response) == '"result":[]'


def test_grouping_before_or_after_and_other_aggregations(loki):
    by_job = 'count_over_time({container="escashop-backend-prod"} |= "reset" [5m])'
    before = query(loki, f"sum by (job) ({by_job})").json()["data"]["result"]
    after = query(loki, f"sum({by_job}) by (job)").json()["data"]["result"]
    assert before == after == [
        {"metric": {"job": "escashop-backend"}, "value": [1795930315.963, "7"]},
        {"metric": {"job": "push-test"}, "value": [1795930315.963, "2"]},
    ]
    values = {op: query(loki, f"{op}({by_job})").json()["data"]["result"][0]["value"][1]
              for op in ("count", "max", "min", "avg")}
    assert values == {"count": "2", "max": "7", "min": "2", "avg": "4.5"}
    without = query(loki, f"sum without (filename, job) ({by_job})").json()["data"]["result"]
    assert without == [{"metric": {"container": "escashop-backend-prod"}, "value": [1795930315.963, "9"]}]


def test_rate_and_bytes(loki):
    selector = '{job="push-test"}'
    rate = query(loki, f"rate({selector}[5m])").json()["data"]["result"][0]["value"][1]
    size = query(loki, f"bytes_over_time({selector}[5m])").json()["data"]["result"][0]["value"][1]
    bytes_rate = query(loki, f"bytes_rate({selector}[10m])").json()["data"]["result"][0]["value"][1]
    assert rate == "0.006666666666666667"  # 2 lines / 300 s, Go's shortest formatting
    assert size == "140" and bytes_rate == "0.23333333333333334"


def test_instant_window_excludes_both_ends(store, loki):
    """Loki 2.6.1 reads [t-D, t) and keeps t-D < ts <= t: t-D < ts < t (inclusive end came in 3.2)."""
    t = 1795930000 * S
    store.add({"job": "edges"}, [(t - 60 * S, "at t-D"), (t - 60 * S + 1, "just after t-D"), (t - 1, "just before t"), (t, "at t")])
    response = query(loki, 'count_over_time({job="edges"}[1m])', time=str(t))
    assert response.json()["data"]["result"][0]["value"] == [1795930000, "2"]


def test_range_step_counts_its_own_timestamp_unless_it_ends_a_split(store, loki):
    """The frontend splits on 30m boundaries; the last step of each split, and of the query, is open."""
    boundary = 1795930200 * S  # a multiple of 30 minutes
    steps = [boundary - 120 * S, boundary - 60 * S, boundary, boundary + 60 * S]
    store.add({"job": "steps"}, [(t, f"line at {t}") for t in steps])
    response = query_range(
        loki, 'count_over_time({job="steps"}[1m])', start=str(steps[0]), end=str(steps[-1]), step="60s"
    )
    [series] = response.json()["data"]["result"]
    assert series["values"] == [
        [1795930080, "1"],  # inside a split: (t-1m, t] keeps the entry at t
        # 1795930140 ends the split before the boundary: (t-1m, t) keeps nothing, the step is omitted
        [1795930200, "1"],  # first step of the next split: closed again
        # 1795930260 ends the query: open, nothing, omitted
    ]


# --- Log queries --------------------------------------------------------------------


def test_log_query_limit_applies_across_streams_newest_first(loki):
    response = query_range(loki, '{container="escashop-backend-prod"}', start=str(1795930000 * S), limit="3")
    assert response.headers["Content-Type"] == JSON_UTF8  # no line filter: the frontend's limited path
    assert response.text.endswith("\n")
    result = response.json()["data"]["result"]
    assert [(r["stream"], [v[0] for v in r["values"]]) for r in result] == [
        (BACKEND, ["1795930305000000000"]),
        (DOCKER, ["1795930311000000000", "1795930306000000000"]),
    ]
    assert response.json()["data"]["stats"]["summary"]["totalEntriesReturned"] == 3


def test_log_query_forward_keeps_the_oldest(loki):
    response = query_range(
        loki, '{container="escashop-backend-prod"} |= "reset"', start=str(1795930000 * S), limit="3", direction="forward"
    )
    assert response.headers["Content-Type"] == "application/json"
    result = response.json()["data"]["result"]
    assert [r["stream"]["job"] for r in result] == ["escashop-backend", "push-test"]
    assert [v[0] for v in result[1]["values"]] == ["1795930180000000000", "1795930190000000000"]
    assert [v[0] for v in result[0]["values"]] == ["1795930195000000000"]


def test_log_query_start_is_inclusive_end_exclusive(loki):
    response = query_range(loki, '{job="push-test"}', start=str(1795930180 * S), end=str(1795930190 * S))
    assert response.json()["data"]["result"][0]["values"] == [
        ["1795930180000000000", "push-test run=1795930308 queue processed; reset completed successfully"]
    ]
    empty = query_range(loki, '{job="push-test"}', start=str(1795930191 * S), end=str(1795930200 * S))
    assert empty.json()["data"]["result"] == []


def test_instant_log_query_looks_back_30_seconds(loki):
    response = query(loki, '{container="escashop-backend-prod", stream="stdout"}', time=str(1795930312 * S))
    assert response.headers["Content-Type"] == JSON_UTF8  # as capture 34
    assert [v[1] for v in response.json()["data"]["result"][0]["values"]] == ["tick 2", "tick 1", "tick 0"]
    later = query(loki, '{container="escashop-backend-prod", stream="stdout"}', time=str(1795930340 * S))
    assert [v[1] for v in later.json()["data"]["result"][0]["values"]] == ["tick 2"]


# --- Errors ---------------------------------------------------------------------


@pytest.mark.parametrize("q, body", [
    ('count_over_time({container="escashop-backend-prod"} |= "reset")', PARSE_ERROR_30),  # capture 30
    ('countover_time({container="escashop-backend-prod"}[5m])', PARSE_ERROR_32),  # capture 32
    ("{}", "parse error at line 1, col 2: syntax error: unexpected }, expecting IDENTIFIER"),
    ('{job=~".*"}', 'parse error : queries require at least one regexp or equality matcher that does not have an '
                    'empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will'),
    ('{job=~"(x"}', "parse error : error parsing regexp: missing closing ): `^(?:(x)$`"),
    ('rate({job="x"}[5x])', 'parse error at line 1, col 15: not a valid duration string: "5x"'),
])
def test_parse_errors_are_400_plain_text_labelled_json(loki, q, body):
    response = query(loki, q)
    assert (response.status_code, response.text) == (400, body)
    assert response.headers["Content-Type"] == JSON_UTF8


def test_bad_line_filter_regexp_is_a_500(loki):  # capture 31
    response = query(loki, '{container=~"escashop-backend.*"} |~ "(?i)(reset"')
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == (
        "rpc error: code = Unknown desc = parse error : stage '|~ \"(?i)(reset\"' : "
        "error parsing regexp: missing closing ): `(?i)(reset`\n"
    )


@pytest.mark.parametrize("q, construct", [
    ('{container="escashop-backend-prod"} | json | level="error"', "'| json'"),  # capture 34's query
    ('{job="x"} | logfmt', "'| logfmt'"),
    ('{job="x"} | line_format "{{.msg}}"', "'| line_format'"),
    ('{job="x"} | level="error"', "'| level'"),
    ('sum_over_time({job="x"} | unwrap latency [5m])', "'sum_over_time'"),
    ('topk(3, count_over_time({job="x"}[5m]))', "'topk'"),
    ('count_over_time({job="x"}[5m]) > 1', "'>' (binary operations)"),
    ('count_over_time({job="x"}[5m] offset 1h)', "'offset'"),
    ('count_over_time({job="x"}[5m]) by (job)', "'by' on count_over_time"),
    ("1", "'1' (literal expressions)"),
])
def test_unsupported_logql_is_refused_loudly(loki, q, construct):
    response = query(loki, q)
    assert response.status_code == 400
    assert response.text.startswith(f"sandbox: unsupported LogQL: {construct}")


@pytest.mark.parametrize("params, body", [
    ({"start": "yesterday"}, 'strconv.ParseInt: parsing "yesterday": invalid syntax'),
    ({"start": "1795930315", "end": "1795930000"}, "end timestamp must not be before or equal to start time"),
    ({"limit": "0"}, "limit must be a positive value"),
    ({"direction": "sideways"}, "invalid direction 'sideways'"),
    ({"step": "soon"}, 'cannot parse "soon" to a valid duration'),
    ({"limit": "5001"}, "max entries limit per query exceeded, limit > max_entries_limit (5001 > 5000)"),
])
def test_bad_parameters_are_400(loki, params, body):
    response = query_range(loki, '{job="push-test"}', **params)
    assert (response.status_code, response.text) == (400, body)


def test_timestamps_are_accepted_in_lokis_formats():
    assert parse_timestamp("1795930315", 0) == 1795930315 * S
    assert parse_timestamp("1795930315.9634", 0) == 1795930315_963_000_000
    assert parse_timestamp("1795930315963000000", 0) == 1795930315_963_000_000
    assert parse_timestamp("2026-11-29T05:31:55.963Z", 0) == 1795930315_963_000_000
    assert parse_timestamp("2026-11-29T13:31:55+08:00", 0) == 1795930315 * S
    assert parse_timestamp("", 42) == 42


# --- Labels and series ----------------------------------------------------------


def test_labels_values_and_series(loki):  # captures 17, 18, 19
    start = {"start": "1795926708000000000"}
    labels = requests.get(f"{loki}/loki/api/v1/labels", params=start)
    assert labels.json() == {
        "status": "success", "data": ["container", "filename", "job", "service", "stream"]
    }
    assert labels.text.endswith("]}\n")
    values = requests.get(f"{loki}/loki/api/v1/label/container/values", params=start)
    assert values.text == '{"status":"success","data":["escashop-backend-prod"]}\n'
    unknown = requests.get(f"{loki}/loki/api/v1/label/nope/values", params=start)
    assert unknown.json() == {"status": "success"}
    series = requests.get(
        f"{loki}/loki/api/v1/series", params={"match[]": '{container=~"escashop-backend.*"}', **start}
    )
    assert series.json()["data"] == [BACKEND, PUSH_TEST, DOCKER]


# --- Push -------------------------------------------------------------------------


def test_push_is_204_and_queryable(loki):  # captures 04, 05
    line = "push-test run=1795930316 queue processed; reset completed successfully"
    response = push(loki, {"streams": [{"stream": {"job": "push-new"}, "values": [[str(NOW - S), line]]}]})
    assert (response.status_code, response.content) == (204, b"")
    found = query_range(loki, '{job="push-new"} |= "run=1795930316"', start=str(NOW - 60 * S))
    assert found.json()["data"]["result"] == [{"stream": {"job": "push-new"}, "values": [[str(NOW - S), line]]}]


def test_push_too_old_and_too_new_as_captured(store, loki, monkeypatch):  # captures 20, 23
    monkeypatch.setattr(store, "clock", lambda: 1795930316_500_000_000)
    old = push(loki, '{"streams":[{"stream":{"job":"push-old"},"values":[["1795210316000000000","200h old line"]]}]}')
    assert (old.status_code, old.headers["Content-Type"]) == (400, "text/plain; charset=utf-8")
    assert old.text == (
        "entry for stream '{job=\"push-old\"}' has timestamp too old: 2026-11-20T21:31:56Z, "
        "oldest acceptable timestamp is: 2026-11-22T05:31:56Z\n"
    )
    new = push(loki, '{"streams":[{"stream":{"job":"push-future"},"values":[["1795933918000000000","future"]]}]}')
    assert (new.status_code, new.text) == (
        400, "entry for stream '{job=\"push-future\"}' has timestamp too new: 2026-11-29T06:31:58Z\n"
    )


def test_mixed_push_stores_the_new_entries_and_still_answers_400(store, loki, monkeypatch):  # captures 21, 22
    monkeypatch.setattr(store, "clock", lambda: 1795930316_500_000_000)
    body = ('{"streams":[{"stream":{"job":"push-mixed"},"values":[["1795210316000000000","old line run=1795930308"],'
            '["1795930316119936550","new line run=1795930308"]]}]}')
    response = push(loki, body)
    assert response.status_code == 400
    assert response.text.startswith("entry for stream '{job=\"push-mixed\"}' has timestamp too old")
    found = query_range(loki, '{job=~"push-old|push-mixed"} |= "run=1795930308"',
                        start="1795210315000000000", end="1795930317131831136", limit="10")
    assert found.json()["data"]["result"] == [
        {"stream": {"job": "push-mixed"}, "values": [["1795930316119936550", "new line run=1795930308"]]}
    ]


def test_push_too_far_behind_its_streams_newest_as_captured(store, loki, monkeypatch):  # capture 42
    monkeypatch.setattr(store, "clock", lambda: 1795930316_500_000_000)
    labels = {"capture": "behind", "container": "escashop-backend-prod", "stream": "stdout"}
    newest, hour = 1795930315_761172575, 3600 * S

    def entry_at(ns):
        return push(loki, {"streams": [{"stream": labels, "values": [[str(ns), f"line at {ns}"]]}]})

    assert entry_at(newest).status_code == 204
    behind = entry_at(newest - 2 * hour)
    assert (behind.status_code, behind.headers["Content-Type"]) == (400, "text/plain; charset=utf-8")
    assert behind.text == (
        "entry with timestamp 2026-11-29 03:31:55.761172575 +0000 UTC ignored, reason: 'entry too far behind' for "
        'stream: {capture="behind", container="escashop-backend-prod", stream="stdout"},\ntotal ignored: 1 out of 1\n')
    assert entry_at(newest - hour // 2).status_code == 204
    assert entry_at(newest - hour).status_code == 204  # exactly max_chunk_age/2 behind is still inside
    kept = query(loki, 'count_over_time({capture="behind"}[3h])', time=str(newest + 1)).json()["data"]["result"]
    assert [sample["value"][1] for sample in kept] == ["3"]


def test_the_window_is_half_of_max_chunk_age_and_only_ingested_entries_move_it():
    minute = 60 * S
    store = LokiStore(config=loki_config.LokiConfig.site({"ingester": {"max_chunk_age": "30m"}}),
                      clock=lambda: 700 * minute)
    store.add({"job": "w"}, [(600 * minute, "preloaded, as if flushed long ago")])
    assert store.ingest({"job": "w"}, [(300 * minute, "behind the preload only: accepted")]) is None
    refused = store.ingest({"job": "w"}, [(320 * minute, "20 min later"), (300 * minute + S, "20 min behind it")])
    assert refused.endswith("reason: 'entry too far behind' for stream: {job=\"w\"},\ntotal ignored: 1 out of 2")
    assert refused.startswith("entry with timestamp 1970-01-01 05:00:01 +0000 UTC ignored")
    assert store.ingest({"job": "w"}, [(310 * minute, "10 min behind: inside 15 min")]) is None
    assert [line for _, line in store.streams()[0][1]] == [
        "behind the preload only: accepted", "10 min behind: inside 15 min", "20 min later",
        "preloaded, as if flushed long ago"]


def test_a_push_over_the_ingestion_rate_is_429_and_stores_nothing(serve):
    store = LokiStore(config=loki_config.LokiConfig.site(
        {"limits_config": {"ingestion_rate_mb": 0.001, "ingestion_burst_size_mb": 0.001}}), clock=lambda: NOW)
    url = serve(make_app(store))
    big = push(url, {"streams": [{"stream": {"job": "rate"}, "values": [[str(NOW), "x" * 2000]]}]})
    assert (big.status_code, big.text) == (429, (
        "Ingestion rate limit exceeded for user fake (limit: 1048 bytes/sec) while attempting to ingest '1' lines "
        "totaling '2000' bytes, reduce log volume or contact your Loki administrator to see if the limit can be "
        "increased\n"))
    assert store.streams() == []
    assert push(url, {"streams": [{"stream": {"job": "rate"}, "values": [[str(NOW), "x" * 900]]}]}).status_code == 204


def test_token_bucket_allows_the_rate_up_to_the_burst():
    now = [0.0]
    bucket = TokenBucket(rate=100, burst=200, clock=lambda: now[0])
    assert bucket.allow(150) and not bucket.allow(100)  # 50 left
    now[0] = 0.5
    assert bucket.allow(100) and not bucket.allow(1)
    now[0] = 100.0
    assert not bucket.allow(201) and bucket.allow(200)  # never more than the burst at once


def test_malformed_push_as_captured(loki):  # capture 24
    response = push(loki, '{"streams":[{"stream":{"job":"x"},"values":[["notanumber","x"]]}]}')
    assert response.status_code == 400
    assert response.text == (
        "loghttp.PushRequest.Streams: []*loghttp.Stream: unmarshalerDecoder: Value looks like Number/Boolean/None, "
        "but can't find its end: ',' or '}' symbol, error found in #10 byte of ...|er\",\"x\"]]}]}|..., "
        "bigger context ...|stream\":{\"job\":\"x\"},\"values\":[[\"notanumber\",\"x\"]]}]}|...\n"
    )


def test_protobuf_push_is_refused_loudly(loki):
    response = push(loki, b"\x0a\x00".decode(), content_type="application/x-protobuf")
    assert response.status_code == 415
    assert response.text.startswith("sandbox: the emulated Loki accepts only JSON pushes")


# --- LogQL details ----------------------------------------------------------------


@pytest.mark.parametrize("pattern, message", [
    ("(?i)(reset", "missing closing ): `(?i)(reset`"),
    ("a)", "unexpected ): `a)`"),
    ("a[b", "missing closing ]: `[b`"),
    ("*a", "missing argument to repetition operator: `*`"),
    ("a**", "invalid nested repetition operator: `**`"),
    ("a\\q", "invalid escape sequence: `\\q`"),
    ("(?=x)", "invalid or unsupported Perl syntax: `(?=`"),
    ("(a)\\1", "invalid escape sequence: `\\1`"),
])
def test_regexp_errors_use_gos_wording(pattern, message):
    with pytest.raises(ValueError) as error:
        logql.compile_go_regexp(pattern)
    assert str(error.value) == message


def test_strings_accept_go_escapes_and_raw_backticks():
    [matcher] = logql.parse('{job="a\\"b\\\\c\\n"}').matchers
    assert matcher.value == 'a"b\\c\n'
    [line_filter] = logql.parse('{job="x"} |~ `\\d+ ms`').filters
    assert line_filter.keeps("took 12 ms") and not line_filter.keeps("took ms")


def test_range_steps_when_each_step_is_its_own_split():
    hour = logql.HOUR_NS
    steps = logql.range_steps(10 * hour + 1, 13 * hour, hour, 5 * logql.MINUTE_NS)
    assert steps == [
        (10 * hour, logql.CLOSED),  # rounded down; only the first split starts here
        (11 * hour, logql.OPEN_ELSE_CLOSED),  # ends one split and starts the next
        (12 * hour, logql.OPEN_ELSE_CLOSED),
        (13 * hour, logql.OPEN),  # the query's end
    ]
