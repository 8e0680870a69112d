"""Replay of a Grafana-managed rule over a night, pure: the rule's expression pipeline applied to
what Loki answered at each evaluation, with `for`, noDataState and execErrState, as Grafana's
scheduler runs it (Grafana docs: "Alert rule evaluation", "State and health of alert rules",
"Configure no data and error handling").

Simplifications, said in the evidence: every series of a query is one alert instance and the rule's
state is the most severe instance's; a range-type query sees the points of its relative time range
at the evaluation interval's resolution.
"""

from dataclasses import dataclass

from opsverify.rules import COMPARE, AnalysisError, condition_clauses, nodes

NORMAL, PENDING, FIRING = "normal", "pending", "firing"
NODATA_ALERT, ERROR_ALERT = "nodata", "error"  # DatasourceNoData / DatasourceError alerts: they notify too
NOTIFYING = (FIRING, NODATA_ALERT, ERROR_ALERT)
REDUCERS = {
    "last": lambda v: v[-1], "min": min, "max": max, "sum": sum, "count": len,
    "mean": lambda v: sum(v) / len(v), "median": lambda v: sorted(v)[len(v) // 2],
}


@dataclass(frozen=True)
class Step:
    at: int  # unix seconds
    state: str
    detail: str  # why: "B=2", "no data", Loki's error
    cause: str = "condition"  # condition | nodata | error: what decided the state


@dataclass(frozen=True)
class Replay:
    uid: str
    interval: int
    steps: tuple

    @property
    def notified(self):
        """Whether anyone would have been notified during the window."""
        return any(step.state in NOTIFYING for step in self.steps)

    def spans(self, state):
        """[(start, end)] unix-second spans in `state` (end = the last evaluation in it)."""
        found, start, last = [], None, None
        for step in self.steps:
            if step.state == state and start is None:
                start = step.at
            if step.state != state and start is not None:
                found.append((start, last))
                start = None
            last = step.at
        if start is not None:
            found.append((start, last))
        return found


class QueryFailed(Exception):
    """Loki rejected one of the rule's queries: the evaluation is an error."""


def evaluation_times(start, end, interval):
    """Evaluation instants (unix s) in (start, end], aligned to the interval as Grafana's ticker is."""
    first = (int(start) // interval + 1) * interval
    return list(range(first, int(end) + 1, interval))


def series_at(points_by_series, t, lookback):
    """{labels: [values in (t - lookback, t]]} for the series that have any."""
    found = {}
    for labels, points in points_by_series.items():
        values = [v for ts, v in points if t - lookback < ts <= t]
        if values:
            found[labels] = values
    return found


def condition_at(rule, data, t, interval):
    """Whether the rule's condition holds at `t`: (True|False|None for no data, detail).

    `data` maps each query refId to {labels (a frozenset of items): [(ts, value)]}, or to an
    Exception text when Loki rejected the query.
    """
    graph = nodes(rule)
    errors = {ref: value for ref, value in data.items() if isinstance(value, str)}
    if errors:
        raise QueryFailed("; ".join(f"{ref}: {text}" for ref, text in errors.items()))
    lookbacks = {ref: max(interval, node.relative_from if node.model.get("queryType") == "range" else interval)
                 for ref, node in graph.items() if node.kind == "query"}
    cache = {}

    def values(ref):
        """{labels: number} for an expression ref, or {labels: [numbers]} for a query ref."""
        if ref in cache:
            return cache[ref]
        node = graph.get(ref)
        if node is None:
            raise AnalysisError(f"no node {ref!r} in the rule's data")
        if node.kind == "query":
            result = series_at(data.get(ref, {}), t, lookbacks[ref])
        elif node.kind == "reduce":
            reducer = REDUCERS.get(node.model.get("reducer", "last"))
            if reducer is None:
                raise AnalysisError(f"reducer {node.model.get('reducer')!r} is not replayed")
            result = {labels: reducer(_list(v)) for labels, v in values(node.source).items()}
        elif node.kind == "resample":
            result = values(node.source)
        else:
            raise AnalysisError(f"{ref} is a {node.kind} expression, which is not replayed")
        cache[ref] = result
        return result

    clauses, combine = condition_clauses(rule)
    outcomes, details = [], []
    for clause in clauses:
        found = values(clause.source)
        if clause.reducer:  # classic conditions reduce every series of the query, then test any of them
            found = {labels: REDUCERS[clause.reducer](_list(v)) for labels, v in found.items()}
        if not found:
            outcomes.append(None)
            details.append(f"{clause.name}: no data")
            continue
        test = COMPARE[clause.evaluator]
        hits = [v for v in (_number(x) for x in found.values()) if test(v, clause.params)]
        outcomes.append(bool(hits))
        shown = hits[0] if hits else _number(next(iter(found.values())))
        details.append(f"{clause.name}={shown:g}")
    if all(o is None for o in outcomes):
        return None, "; ".join(details)
    return combine(bool(o) for o in outcomes), "; ".join(details)


def replay(rule, data, times, interval, for_seconds):
    """The rule's state at each of `times` (unix s)."""
    steps, since = [], None
    for t in times:
        cause = "condition"
        try:
            holds, detail = condition_at(rule, data, t, interval)
        except QueryFailed as exc:
            holds, detail, cause = "error", str(exc), "error"
        if holds is None:
            cause = "nodata"
            holds = {"Alerting": True, "NoData": NODATA_ALERT, "KeepLast": "keep"}.get(rule.no_data_state, False)
            detail = f"no data ({detail}); noDataState {rule.no_data_state}"
        elif holds == "error":
            holds = {"Alerting": True, "Error": ERROR_ALERT, "KeepLast": "keep"}.get(rule.exec_err_state, False)
            detail = f"query error: {detail}; execErrState {rule.exec_err_state}"
        if holds == "keep":
            holds = steps[-1].state in (PENDING, FIRING) if steps else False
        if holds in (NODATA_ALERT, ERROR_ALERT):
            steps.append(Step(t, holds, detail, cause))
            since = None
            continue
        if holds:
            since = t if since is None else since
            state = FIRING if t - since >= for_seconds else PENDING
        else:
            since, state = None, NORMAL
        steps.append(Step(t, state, detail, cause))
    return steps


def classify(notified, outcome, fires_on):
    """True/false positive/negative of a rule that exists to report the outcomes `fires_on`, on a night
    whose reset `outcome` is known. A failure that recovered may or may not be worth an alert unless the
    rule says so: then either answer is right."""
    if outcome in fires_on:
        should = True
    else:
        should = None if outcome == "recovered" else False
    if notified:
        return "false positive" if should is False else "true positive"
    return "false negative" if should else "true negative"


def _list(value):
    return value if isinstance(value, list) else [value]


def _number(value):
    return float(value[-1] if isinstance(value, list) else value)
