"""The sandbox's production-like volume (sandbox.volume): seeded, inside its days, never a scheduler line."""

import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from sandbox import loading, logql, scenario, volume
from sandbox.loki import LokiStore

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "sandbox" / "provisioning" / "escashop"
ZONE = scenario.load("healthy").zone
DAYS = [date(2026, 11, 27), date(2026, 11, 28)]
LINES = 20_000  # a day: enough for the rarest kinds of line to occur


@pytest.fixture(scope="module")
def generated():
    """Two days of LINES lines a day, by stream key."""
    return volume.generate(DAYS, ZONE, LINES)


def _scheduler_patterns():
    site = yaml.safe_load((ROOT / "sites" / "escashop.yml").read_text(encoding="utf-8"))
    return {name: re.compile(pattern) for name, pattern in site["patterns"].items()}


def _provisioned_filters():
    """The line filters of the alert rules' and the dashboard's LogQL, by where they come from."""
    exprs = {}
    rules = yaml.safe_load((PROVISIONING / "alerting" / "rules.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            for query in rule["data"]:
                if "expr" in query["model"]:
                    exprs[rule["uid"]] = query["model"]["expr"]
    dashboard = json.loads((PROVISIONING / "dashboards" / "midnight-reset-dashboard.json").read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if "expr" in target:
                exprs[f"panel {panel['title']}"] = target["expr"]
    filters = {}
    for where, expr in exprs.items():
        parsed = logql.parse(expr)
        while not isinstance(parsed, logql.LogQuery):
            parsed = parsed.query if isinstance(parsed, logql.RangeAggregation) else parsed.inner
        filters.update({where: f for f in parsed.filters if f.op in ("|=", "|~")})
    return filters


def test_the_same_arguments_give_the_same_lines(generated):
    assert volume.generate(DAYS, ZONE, LINES) == generated
    assert volume.generate(DAYS, ZONE, LINES + 1) != generated


def test_each_day_gets_its_lines_over_the_streams_strictly_inside_it(generated):
    counts = volume.shares(LINES)
    assert sum(counts.values()) == LINES
    assert sorted(generated) == sorted(key for key, *_ in volume.STREAMS)
    for key, entries in generated.items():
        times = [ns for ns, _ in entries]
        assert times == sorted(times), key
        for day in DAYS:
            start, end = volume.day_start_ns(day, ZONE), volume.day_start_ns(day + timedelta(days=1), ZONE)
            inside = [ns for ns in times if start <= ns < end]
            assert len(inside) == counts[key], (key, day)
            assert start < min(inside) and max(inside) < end, (key, day)
    assert sum(len(entries) for entries in generated.values()) == LINES * len(DAYS)


def test_lines_are_spread_over_the_whole_day_not_only_midnight(generated):
    hours = {datetime.fromtimestamp(ns // logql.SECOND_NS, ZONE).hour for ns, _ in generated["backend-stdout"]}
    assert hours == set(range(24))


@pytest.mark.parametrize("event, pattern", sorted(_scheduler_patterns().items()), ids=sorted(_scheduler_patterns()))
def test_no_line_matches_a_scheduler_pattern(generated, event, pattern):
    matching = [line for entries in generated.values() for _, line in entries if pattern.search(line)]
    assert not matching, f"patterns.{event} {pattern.pattern!r} matches {matching[:3]}"


@pytest.mark.parametrize("line_filter", list(_provisioned_filters().values()), ids=list(_provisioned_filters()))
def test_no_line_passes_an_alert_rule_or_dashboard_filter(generated, line_filter):
    [line_filter] = logql._compile_filters(logql.LogQuery((), (line_filter,))).filters
    kept = [line for entries in generated.values() for _, line in entries if line_filter.keeps(line)]
    assert not kept, f"{line_filter} keeps {kept[:3]}"


def test_nothing_later_than_now():
    now = volume.day_start_ns(DAYS[-1], ZONE) + 6 * logql.HOUR_NS
    generated = volume.generate(DAYS, ZONE, 2000, now_ns=now)
    assert max(ns for entries in generated.values() for ns, _ in entries) <= now
    assert 2000 < sum(len(entries) for entries in generated.values()) < 2 * 2000


def test_streams_carry_the_scenarios_labels_and_other_containers_the_same_label_names():
    sc = scenario.load("healthy")
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    streams = list(volume.streams(sc, date(2026, 11, 29), 700, now))
    by_labels = {}
    for labels, entries in streams:
        by_labels.setdefault(tuple(sorted(labels.items())), []).extend(entries)
    assert len(by_labels) == len(volume.STREAMS)
    assert sum(len(entries) for entries in by_labels.values()) == 700 * sc.nights
    names = {tuple(sorted(labels)) for labels in map(dict, by_labels)}
    assert names == {tuple(sorted(sc.labels["stdout"]))}
    assert tuple(sorted(sc.labels["stdout"].items())) in by_labels
    assert tuple(sorted(sc.labels["stderr"].items())) in by_labels
    containers = {dict(labels)["container"] for labels in by_labels}
    assert {sc.container, "escashop-frontend-prod", "escashop-postgres-prod"} <= containers


def test_a_scenario_with_a_label_per_line_gets_it_on_the_backends_volume_too():
    sc = scenario.load("labels-unbounded")
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    backend = [labels for labels, _ in volume.streams(sc, date(2026, 11, 29), 200, now)
               if labels["container"] == sc.container]
    extra = set(sc.promtail.shipping_job(sc.container).line_labels)
    assert extra and all(extra <= set(labels) for labels in backend)
    assert len(backend) > 2


def test_the_week_goes_into_loki_each_stream_oldest_first():
    """Loki refuses a line an hour behind its stream's newest: the scenario's lines and the volume merge."""
    sc = scenario.load("failed-night")
    night, now = date(2026, 11, 29), datetime(2026, 11, 29, 5, 30, tzinfo=timezone.utc)
    own = sc.render(night, now).streams()

    def ingested(streams):
        store = LokiStore(config=sc.loki_config, clock=lambda: scenario.to_ns(now))
        refused = [text for labels, entries in streams if (text := store.ingest(labels, entries))]
        return store, refused

    _, refused = ingested([*own, *volume.streams(sc, night, 300, now)])  # the scenario's week, then the volume
    assert refused and "entry too far behind" in refused[0]
    store, refused = ingested(loading.in_push_order(own, volume.streams(sc, night, 300, now)))
    assert refused == []
    expected = {}
    for labels, entries in [*own, *volume.streams(sc, night, 300, now)]:
        expected.setdefault(logql.labels_key(labels), set()).update(entries)
    assert {logql.labels_key(labels): set(entries) for labels, entries in store.streams()} == expected


def test_pushes_are_batches_of_one_stream_in_the_order_given():
    streams = [({"s": "a"}, [(n, str(n)) for n in range(5)]), ({"s": "b"}, [(9, "9")])]
    assert list(loading.batches(streams, size=2)) == [
        [({"s": "a"}, [(0, "0"), (1, "1")])], [({"s": "a"}, [(2, "2"), (3, "3")])], [({"s": "a"}, [(4, "4")])],
        [({"s": "b"}, [(9, "9")])]]
