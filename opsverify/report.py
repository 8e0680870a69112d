"""Rendering: the Week 1 table and the run header, as HTML fragments for pytest-html and as Markdown."""

from html import escape

from opsverify.markdown import escape as escape_md
from opsverify.night import clock_text
from opsverify.signoff_fill import VERDICTS
from opsverify.status import GLYPHS, WORDS, label
from opsverify.week import markdown_table, streak

STYLE = """<style>
#night-facts th { text-align: left; padding-right: 1em; }
#week1 { border-collapse: collapse; margin-bottom: 0.5em; }
#week1 th, #week1 td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
#week1 td:nth-child(-n+3) { white-space: nowrap; }
#week1 ul { margin: 0; padding-left: 1.2em; }
.week-row.status-passed td:nth-child(3) { background: #e6f4ea; }
.week-row.status-warning td:nth-child(3) { background: #fff4d6; }
.week-row.status-failed td:nth-child(3) { background: #fde7e9; }
#alert-replay td { padding: 2px 8px; vertical-align: middle; }
.timeline { display: flex; gap: 1px; }
.timeline span { display: inline-block; width: 8px; height: 14px; background: #cfe8d4; }
.timeline span.pending { background: #ffd966; }
.timeline span.firing { background: #e06666; }
.timeline span.nodata, .timeline span.error { background: #9999cc; }
.verdict-false { color: #b00020; font-weight: bold; }
#week-metrics th, #criteria th { text-align: left; padding-right: 1em; }
#criteria td { padding: 2px 8px; vertical-align: top; }
.criterion-passed td:first-child { color: #1e7e34; }
.criterion-failed td:first-child, .criterion-error td:first-child { color: #b00020; font-weight: bold; }
#drill td { padding: 2px 8px; vertical-align: top; }
.drill-failed td:last-child { color: #b00020; font-weight: bold; }
.col-result.not-applicable { font-size: 0; }
.col-result.not-applicable::after { content: "n/a"; font-size: 12px; }
.sandbox-banner { background: #fff4d6; border: 1px solid #e0b400; padding: 6px 10px; }
</style>"""
CRITERION_MARKS = {"passed": "✅", "failed": "❌", "error": "❌", "skipped": "⏳"}
LEGEND = [f"- {GLYPHS[s]} {WORDS[s]}" for s in ("passed", "warning", "failed", "pending")]


def html_header(run, status, versions):
    """The run's facts: night, Day N, status, endpoints (no credentials), versions; a banner for the sandbox."""
    night = run.night
    rows = [
        ("Site", run.settings.site_name),
        ("Night", f"{night.date.isoformat()} (reset {clock_text(night.local(night.reset_at))} = "
                  f"{night.reset_at:%Y-%m-%d %H:%M} UTC)"),
        ("Which night", run.night_reason),
        ("Day", f"Day {run.day} (Day 1 = {run.week_start.isoformat()})"),
        ("Night status", label(status)),
        ("Window searched (UTC)", f"{night.window_start:%Y-%m-%d %H:%M} – {night.window_end:%Y-%m-%d %H:%M}"),
    ]
    rows += [(f"{name} endpoint", url) for name, url in run.settings.endpoints().items()]
    rows += [(f"{name} version", version) for name, version in versions.items()]
    rows.append(("Target", run.target))
    parts = [STYLE]
    if run.is_sandbox:
        parts.append(f'<p id="sandbox-banner" class="sandbox-banner"><strong>Sandbox run ({escape(run.target)}): '
                     "this is not production evidence.</strong></p>")
    parts.append('<table id="night-facts">' + "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows) + "</table>")
    return "".join(parts)


def html_week_table(rows):
    head = "".join(f"<th>{h}</th>" for h in ("Day", "Date", "Midnight Reset Status", "Issues Detected",
                                           "Actions Taken"))
    body = []
    for row in rows:
        issues = "".join(f"<li>{escape(i)}</li>" for i in row.issues)
        basis = "<br><small>from Loki's history</small>" if row.basis == "history" else ""
        body.append(
            f'<tr class="week-row status-{row.status}"><td>Day {row.day}</td><td>{row.date.isoformat()}</td>'
            f"<td>{escape(label(row.status))}{basis}</td><td>{'<ul>' + issues + '</ul>' if issues else ''}</td>"
            f"<td>{escape(row.actions)}</td></tr>"
        )
    return (f'<h2>Week 1 Monitoring Schedule</h2><table id="week1"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
            f"<p>Consecutive successful resets so far: {streak(rows)} of 7.</p>")


def html_alert_replay(alerts):
    """Per rule: what replay says it would have done over the night's window, as a small timeline."""
    if not alerts:
        return ""
    rows = []
    for uid, found in sorted(alerts.items()):
        cells = "".join(f'<span class="{escape(state)}" title="{escape(at)} {escape(state)}"></span>'
                        for at, state in found.get("timeline", ()))
        first, last = (found["timeline"][0][0], found["timeline"][-1][0]) if found.get("timeline") else ("", "")
        verdict = found.get("classification", "")
        rows.append(
            f'<tr data-rule="{escape(uid)}"><td>{escape(found.get("title", uid))}<br><small>{escape(uid)}</small></td>'
            f'<td class="verdict{"-false" if verdict.startswith("false") else ""}">{escape(verdict)}</td>'
            f'<td><small>{escape(first)}</small><div class="timeline">{cells}</div><small>{escape(last)}</small></td>'
            "</tr>")
    outcome = next(iter(alerts.values())).get("outcome", "")
    return (f"<h2>Alert replay</h2><p>The night's reset {escape(outcome)}. Each cell is one evaluation: "
            "green quiet, yellow pending, red firing, blue a no-data or error alert.</p>"
            f'<table id="alert-replay">{"".join(rows)}</table>')


def metric_items(metrics):
    """(label, value) of the week's success metrics, as the report and week1.md show them."""
    def seconds(value):
        return "not measured" if value is None else f"{value:.1f} s"

    response = metrics.average_response_minutes
    return [
        ("Successful resets", f"{metrics.successful}/{metrics.nights}"),
        ("Average reset duration", seconds(metrics.average_seconds)),
        ("Longest reset duration", seconds(metrics.longest_seconds)),
        ("Zero downtime", "Yes" if not metrics.downtime else f"No ({'; '.join(metrics.downtime)})"),
        ("Alert response time", "not measured (no fired-to-resolved alert in Grafana's state history)"
         if response is None else f"{response:.1f} min average over {len(metrics.response_minutes)} alert(s)"),
        ("Alerts fired (replay)", f"{metrics.alerts_fired}: {metrics.true_positives} true and "
                                  f"{metrics.false_positives} false positive(s), {metrics.false_negatives} "
                                  f"false negative(s)"),
    ]


def html_week_metrics(metrics):
    """The week's success metrics and each rule's replay verdicts over the nights."""
    if metrics is None:
        return ""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in metric_items(metrics))
    head = "".join(f"<th>{escape(v)}</th>" for v in ("Rule",) + VERDICTS)
    per_rule = "".join(f'<tr data-rule="{escape(uid)}"><td>{escape(uid)}</td>'
                       + "".join(f"<td>{counts[v]}</td>" for v in VERDICTS) + "</tr>"
                       for uid, counts in sorted(metrics.per_rule.items()))
    table = (f'<h3>Alert effectiveness (nights replayed)</h3><table id="alert-effectiveness">'
             f"<thead><tr>{head}</tr></thead><tbody>{per_rule}</tbody></table>") if per_rule else ""
    return f'<h2>Success metrics</h2><table id="week-metrics">{rows}</table>{table}'


def html_criteria(criteria):
    """The completion criteria this run decided."""
    if not criteria:
        return ""
    rows = "".join(f'<tr class="criterion-{escape(o.outcome)}" data-criterion="{escape(o.name)}">'
                   f"<td>{CRITERION_MARKS.get(o.outcome, '?')} {escape(o.outcome)}</td>"
                   f"<td>{escape(o.name)}</td><td>{escape(o.reason)}</td></tr>" for o in criteria)
    return f'<h2>Week 1 Completion Criteria</h2><table id="criteria">{rows}</table>'


def html_drill(drill):
    """The drill's timeline per rule: when it went Pending, Firing and reached its receivers (seconds after
    the line's push, by the systems' clocks), and its verdict."""
    if not drill:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("Rule", "Pending", "Firing", "At its receivers", "Receivers",
                                           "Budget", "Verdict"))
    rows = []
    for uid, found in sorted(drill["rules"].items()):
        seen = found["latencies_s"]
        cells = [uid, *(f"{seen[s]:g} s" if s in seen else "—" for s in ("pending", "firing", "routed")),
                 ", ".join(found["receivers"]) or "—", f"{found['budget_s']:g} s", found["message"]]
        rows.append(f'<tr class="drill-{"ok" if found["ok"] else "failed"}" data-rule="{escape(uid)}">'
                    + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    writes = "".join(f"<li>{escape(w)}</li>" for w in drill["writes"]) or "<li>nothing</li>"
    return (f'<h2>Alert fire drill {escape(drill["id"])}</h2><p>Run by {escape(drill["owner"])}; its lines pushed '
            f'at {escape(drill["at"])} (Loki\'s clock). What it wrote:</p><ul id="drill-writes">{writes}</ul>'
            f'<table id="drill"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def markdown_page(run, rows, metrics=None, criteria=()):
    """reports/week1.md: the table in the sign-off document's format, with its legend, the week's
    metrics and the completion criteria decided."""
    note = "\n> Sandbox run: not production evidence.\n" if run.is_sandbox else ""
    parts = [f"## Week 1 Monitoring Schedule\n{note}\n{markdown_table(rows)}\n"
             f"**Status Legend:**\n" + "\n".join(LEGEND) + "\n\n"
             f"Consecutive successful resets so far: {streak(rows)} of 7.\n"]
    if metrics is not None:
        parts.append("\n### Success Metrics\n" + "".join(f"- **{k}:** {v}\n" for k, v in metric_items(metrics)))
    if criteria:
        parts.append("\n### Week 1 Completion Criteria\n" + "".join(
            f"- [{'x' if o.outcome == 'passed' else ' '}] {o.name}" + (f": {escape_md(o.reason)}" if o.reason else "")
            + "\n"
            for o in criteria))
    return "".join(parts)
