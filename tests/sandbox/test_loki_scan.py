"""The emulated Loki's column scan (LokiStore.scan, LogQuery.kept) answers as the line-by-line evaluation does."""

import heapq

import pytest

from sandbox import logql
from sandbox.loki import LokiStore

S = logql.SECOND_NS
LABELS = {"container": "escashop-backend-prod", "service": "backend", "stream": "stdout"}
OTHER = {"container": "escashop-backend-prod", "service": "backend", "stream": "stderr"}
LINES = [
    "Daily reset failed: boom", "Recovery attempt failed: again", "Customer 1234 joined queue Regular",
    "a|b literal", "Queue position updated: customer 1 is now #2", "ordinary", "₱100.00 via gcash", "",
]


class SelectOnly:
    """A source with only `select`, as logql's evaluation took it before `scan`."""

    def __init__(self, store):
        self.store = store

    def select(self, selects, start_ns, end_ns):
        return self.store.select(selects, start_ns, end_ns)


@pytest.fixture(scope="module")
def store():
    store = LokiStore(clock=lambda: 10_000 * S)
    # Several lines at the same instant, out of time order, so that ties and inserts are exercised.
    store.add(LABELS, [((100 + i // 3) * S, LINES[i % len(LINES)]) for i in reversed(range(60))])
    store.add(OTHER, [((100 + i) * S, LINES[(i * 5) % len(LINES)]) for i in range(40)])
    return store


@pytest.mark.parametrize("filters", [
    '|~ "Daily reset failed|Recovery attempt failed"', '!~ "Daily reset failed|Recovery attempt failed"',
    '|~ "ordinary"', '!~ "ordinary"', '|~ "a\\\\|b"', '|~ "fail(ed)?: "', '|= "queue" != "Regular"',
    '|~ "|"', '|~ "Customer [0-9]+"', '|= "₱"',
], ids=lambda f: f)
def test_kept_is_keeps_line_by_line(filters):
    query = logql.parse('{container="escashop-backend-prod"} ' + filters)
    times = list(range(len(LINES) * 3))
    lines = LINES * 3
    expected = [(t, line) for t, line in zip(times, lines) if query.keeps(line)]
    kept_times, kept_lines = query.kept(times, lines)
    assert list(zip(kept_times, kept_lines)) == expected


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("limit", [1, 4, 5, 100])
def test_select_logs_picks_as_from_every_candidate(store, direction, limit):
    query = logql.parse('{container="escashop-backend-prod"} != "ordinary"')
    streams, stats = logql.select_logs(query, store, 0, 10_000 * S, limit, direction)
    candidates = [(ns, logql.label_string(labels), line)
                  for labels, entries in store.select(query.selects, 0, 10_000 * S)
                  for ns, line in entries if query.keeps(line)]
    pick = heapq.nlargest if direction == "backward" else heapq.nsmallest
    expected = sorted(pick(limit, candidates))
    got = sorted((ns, logql.label_string(labels), line) for labels, entries in streams for ns, line in entries)
    assert got == expected
    assert (stats.lines, stats.streams) == (100, 2)


@pytest.mark.parametrize("expr", [
    'sum(count_over_time({container="escashop-backend-prod"} |~ "failed: " [20s]))',
    'sum by (stream) (bytes_over_time({container="escashop-backend-prod"} |~ "Daily reset failed|₱" [15s]))',
    'bytes_rate({container="escashop-backend-prod"}[10s])',
    'count(rate({container="escashop-backend-prod"} != "queue" [30s]))',
])
def test_metric_queries_answer_as_before(store, expr):
    parsed = logql.parse(expr)
    matrix, stats = logql.range_matrix(parsed, store, 90 * S, 140 * S, 5 * S)
    reference, reference_stats = logql.range_matrix(parsed, SelectOnly(store), 90 * S, 140 * S, 5 * S)
    assert matrix == reference
    assert stats == reference_stats


def test_series_lists_streams_with_an_entry_in_the_range(store):
    assert store.series(100 * S, 100 * S) == [LABELS, OTHER]
    assert store.series(121 * S, 200 * S) == [OTHER]
    assert store.series(200 * S, 300 * S) == []


@pytest.mark.parametrize("direction, picked", [("forward", ["a", "b"]), ("backward", ["b", "c"])])
def test_select_logs_limit_keeps_the_tie_break_on_the_line(direction, picked):
    store = LokiStore(clock=lambda: 10_000 * S)
    store.add(LABELS, [(100 * S, "c"), (100 * S, "b"), (100 * S, "a")])  # stored in this order
    store.add(LABELS, [(99 * S, "z"), (101 * S, "y")])
    query = logql.parse('{container="escashop-backend-prod"} !~ "y|z"')
    streams, _ = logql.select_logs(query, store, 0, 10_000 * S, 2, direction)
    assert sorted(line for _, entries in streams for _, line in entries) == picked
