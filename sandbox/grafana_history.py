"""Alert state history as Grafana's historian would have recorded it, had the sandbox's
Grafana been evaluating its rules since `since` (grafana/grafana pkg/services/ngalert/state: the
state manager's transitions; historian/annotation.go and historian/loki.go: what each backend
records and how it answers; the no-op historian's empty frame when history is off).

The sandbox does not run a scheduler. Asked for a rule's history, it finds the evaluation ticks at
which the rule's Loki queries have data (one range query per query, in windows Loki's 11,000-point
limit allows), evaluates the whole rule there (Grafana.evaluate), takes one evaluation at a tick
without data as the result of every such tick, and runs the state machine over all ticks in order.
A rule is one alert instance here (the EscaShop rules reduce to one series).

State machine (state/state.go resultNormal / resultAlerting / resultNoData / resultError): a true
condition makes Normal Pending (`for` > 0) or Alerting, and Pending Alerting once it has held `for`;
a false one makes any state Normal. No data and errors follow noDataState / execErrState:
Alerting (through Pending, reason NoData/Error), NoData or Error (their own state), OK (Normal with
the reason), KeepLast (the state stays). A transition is recorded when the formatted state changes
("Normal", "Pending", "Alerting", "Alerting (NoData)", "Normal (Error)", ...), starting from Normal.
"""

from datetime import datetime, timezone
from urllib.parse import urlencode

import requests

MAX_POINTS = 11000  # Loki: "exceeded maximum resolution of 11,000 points per time series"
TIMEOUT = 30


def ticks(start, end, interval):
    """The evaluation instants (unix seconds) in [start, end]: multiples of the group's interval."""
    first = -(-int(start) // interval) * interval
    return list(range(first, int(end) + 1, interval))


def candidate_ticks(rule, datasources, start, end, interval, headers_for):
    """The ticks at which any Loki query of the rule can see data: a sample within its relative time
    range before the tick. One query_range per query and window of at most MAX_POINTS steps."""
    found = set()
    all_ticks = ticks(start, end, interval)
    for query in rule["data"]:
        ds = datasources.get(query["datasourceUid"])
        if ds is None or ds["type"] != "loki":
            continue
        lookback = max(query["relativeTimeRange"].get("from", 0), interval)
        size = MAX_POINTS - 2 - lookback // interval  # the steps of a chunk, its lookback included
        for chunk in range(0, len(all_ticks), size):
            part = all_ticks[chunk:chunk + size]
            for sample in _samples(ds["url"], query["model"]["expr"], part[0] - lookback, part[-1], interval,
                                   headers_for(ds)):
                first = -(-sample // interval) * interval
                found.update(t for t in range(first, sample + lookback + 1, interval)
                             if all_ticks[0] <= t <= all_ticks[-1])
    return sorted(found)


def _samples(base_url, expr, start, end, step, headers):
    """The instants at which `expr` has a non-zero sample (GET /loki/api/v1/query_range)."""
    params = {"query": expr, "start": str(int(start)), "end": str(int(end)), "step": str(step)}
    response = requests.get(base_url.rstrip("/") + "/loki/api/v1/query_range?" + urlencode(params), timeout=TIMEOUT,
                            headers=headers)
    if response.status_code == 400 or "parse error" in response.text:
        return []  # an invalid query: every evaluation errs alike, which the quiet result carries
    if response.status_code != 200:
        raise RuntimeError(f"the sandbox's Grafana could not read Loki for the state history: "
                           f"{response.status_code} {response.text[:200]}")
    data = response.json()["data"]
    if data["resultType"] != "matrix":
        return []
    return sorted({int(float(t)) for series in data["result"] for t, v in series["values"] if float(v) != 0})


def outcome(evaluation):
    """Grafana.evaluate's (health, error, firing) as an evaluation result: Alerting, Normal, NoData, Error."""
    health, _, firing = evaluation
    if health == "error":
        return "Error"
    if health == "nodata":
        return "NoData"
    return "Alerting" if firing else "Normal"


def transitions(results, for_s, no_data_state, exec_err_state, keep_firing_for_s=0):
    """[(tick, previous, current)] of the formatted state, from [(tick, result)] in time order."""
    return run(results, for_s, no_data_state, exec_err_state, keep_firing_for_s)[0]


def run(results, for_s, no_data_state, exec_err_state, keep_firing_for_s=0):
    """The state machine over [(tick, result)]: (transitions, (state, reason, since)) where the second is
    where it ended and since when (State.StartsAt: set when Pending, Alerting, Recovering, NoData or Error
    begins). keep_firing_for (Grafana 12): a false condition turns Alerting into Recovering, which turns
    Normal once it has lasted that long, or Alerting again (without Pending) when the condition holds."""
    state, reason, since = "Normal", "", None
    recorded = []
    for tick, result in results:
        before = _formatted(state, reason)
        if result in ("NoData", "Error"):
            mode = no_data_state if result == "NoData" else exec_err_state
            if mode == "KeepLast":
                continue
            if mode == "Alerting":
                result, why = "Alerting", result
            elif mode == "OK":
                result, why = "Normal", result
            else:
                if state != result:
                    since = tick
                state, reason = result, ""
                result = None
        else:
            why = ""
        if result == "Normal":
            if state == "Recovering":
                if tick - since >= keep_firing_for_s:
                    state, reason, since = "Normal", why, tick
            elif state == "Alerting" and keep_firing_for_s > 0:
                state, reason, since = "Recovering", why, tick
            else:
                state, reason = "Normal", why
        elif result == "Alerting":
            if state == "Alerting":
                reason = why
            elif state == "Pending":
                if tick - since >= for_s:
                    state, reason, since = "Alerting", why, tick
            elif for_s > 0 and state != "Recovering":
                state, reason, since = "Pending", why, tick
            else:
                state, reason, since = "Alerting", why, tick
        after = _formatted(state, reason)
        if after != before:
            recorded.append((tick, before, after))
    return recorded, (state, reason, since)


def _formatted(state, reason):
    return f"{state} ({reason})" if reason else state


def frame(rule, changes, labels, limit):
    """historian/annotation.go QueryStates: the frame "states" with fields time, text, prev, next, data,
    newest first (the annotation store's order), at most `limit` rows; times in epoch milliseconds."""
    rows = sorted(changes, key=lambda change: change[0], reverse=True)[:limit]
    label_text = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    field_labels = {"from": "state-history", "ruleUID": rule["uid"]}
    columns = [("time", "time", "time.Time"), ("text", "string", "string"), ("prev", "string", "string"),
               ("next", "string", "string"), ("data", "string", "string")]
    values = [[tick * 1000 for tick, _, _ in rows],
              [f"{rule['title']} {{{label_text}}} - {_value_text(after)}" for _, _, after in rows],
              [before for _, before, _ in rows], [after for _, _, after in rows],
              [_data(after) for _, _, after in rows]]
    return {"schema": {"name": "states", "fields": [
        {"name": name, "type": kind, "typeInfo": {"frame": frame_type}, "labels": field_labels}
        for name, kind, frame_type in columns]}, "data": {"values": values}}


def loki_frame(rule, changes, labels, limit):
    """historian/loki.go Query and merge: the frame "states" with fields time, line (the LokiEntry JSON
    object) and labels (its stream's labels), oldest first, at most `limit` rows."""
    rows = sorted(changes, key=lambda change: change[0])[-limit:] if limit else sorted(changes)
    stream = {"folderUID": rule["folderUID"], "from": "state-history", "group": rule["ruleGroup"], "orgID": "1"}
    lines = [{"schemaVersion": 1, "previous": before, "current": after, "values": {}, "condition": rule["condition"],
              "dashboardUID": "", "panelID": 0, "fingerprint": "", "ruleTitle": rule["title"], "ruleID": rule["id"],
              "ruleUID": rule["uid"], "labels": labels} for _, before, after in rows]
    columns = [("time", "time", "time.Time"), ("line", "other", "json.RawMessage"),
               ("labels", "other", "json.RawMessage")]
    return {"schema": {"name": "states", "fields": [
        {"name": name, "type": kind, "typeInfo": {"frame": frame_type}} for name, kind, frame_type in columns]},
        "data": {"values": [[tick * 1000 for tick, _, _ in rows], lines, [stream] * len(rows)]}}


def empty_frame():
    """The no-op historian's answer when state history is off: the frame "states" without fields."""
    return {"schema": {"name": "states", "fields": []}, "data": {"values": []}}


def _value_text(state):
    if state.startswith("Error") or "(Error)" in state:
        return "Error"
    if state.startswith("NoData") or "(NoData)" in state:
        return "No data"
    return ""


def _data(state):
    if "NoData" in state:
        return '{"noData":true}'
    if "Error" in state:
        return '{"error":null}'
    return '{"values":null}'


def history(rule, datasources, evaluate, since, until, interval, for_s, headers_for, keep_firing_for_s=0):
    """(transitions, now): the rule's recorded transitions [(tick, previous, current)] from `since` to `until`
    (unix seconds), and where the machine stands at the last tick: (state, reason, since, last tick), None
    when it never evaluated. `evaluate(rule, instant)` is Grafana.evaluate; `headers_for(datasource)` gives what
    goes to Loki with each request (Grafana.datasource_headers)."""
    all_ticks = ticks(since, until, interval)
    if rule["isPaused"] or not all_ticks:
        return [], None
    candidates = set(candidate_ticks(rule, datasources, since, until, interval, headers_for))
    evaluated = {t: outcome(evaluate(rule, _utc(t))) for t in sorted(candidates)}
    quiet_tick = next((t for t in all_ticks if t not in candidates), None)
    quiet = outcome(evaluate(rule, _utc(quiet_tick))) if quiet_tick is not None else None
    results = [(t, evaluated.get(t, quiet)) for t in all_ticks]
    recorded, end = run(results, for_s, rule["noDataState"], rule["execErrState"], keep_firing_for_s)
    return recorded, (*end, all_ticks[-1])


def _utc(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc)
