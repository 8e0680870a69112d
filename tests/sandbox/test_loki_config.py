"""The emulated Loki's configuration: what GET /config prints, what the store enforces, what scenarios merge."""

import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import yaml

from sandbox import __main__ as cli
from sandbox import gotext, loki_config, scenario
from sandbox.clock import Clock
from sandbox.loki import LokiStore, make_app
from sandbox.gotext import DAY, HOUR, MINUTE, SECOND
from sandbox.loki_config import LokiConfig, LokiConfigError

ROOT = Path(__file__).resolve().parents[2]
NIGHT = date(2026, 11, 29)
TEXT = "text/plain; charset=utf-8"
LABELS = {"container": "escashop-backend-prod", "service": "backend", "stream": "stdout"}


def config_of(loki, **params):
    response = requests.get(loki + "/config", params=params)
    assert response.status_code == 200 and response.headers["Content-Type"] == TEXT
    return response.text


@pytest.fixture(scope="module")
def healthy_loki(serve):
    return serve(make_app(LokiStore()))


# --- GET /config ---

def test_config_prints_the_running_configuration_as_loki_does(healthy_loki):
    text = config_of(healthy_loki)
    assert text == LokiConfig.site().render() and text.endswith("\n")
    doc = yaml.safe_load(text)
    assert list(doc) == ["target", "http_prefix", "server", "querier", "query_range", "ingester", "storage_config",
                         "chunk_store_config", "schema_config", "compactor", "limits_config", "table_manager"]
    assert doc["target"] == "all" and "auth_enabled" not in doc  # false is omitempty
    limits = doc["limits_config"]
    assert (limits["reject_old_samples"], limits["reject_old_samples_max_age"], limits["creation_grace_period"],
            limits["retention_period"], limits["max_entries_limit_per_query"]) == (True, "1w", "10m", "4w", 5000)
    assert doc["compactor"]["retention_enabled"] is True and doc["compactor"]["shared_store"] == "filesystem"
    assert doc["compactor"]["working_directory"] == "/loki/boltdb-shipper-compactor"
    assert (doc["compactor"]["compaction_interval"], doc["compactor"]["retention_delete_delay"]) == ("10m0s", "2h0m0s")
    assert doc["table_manager"] == {"throughput_updates_disabled": False, "retention_deletes_enabled": False,
                                    "retention_period": "0s", "poll_interval": "2m0s",
                                    "creation_grace_period": "10m0s"}
    assert doc["schema_config"] == {"configs": [{
        "from": "2020-10-24", "store": "boltdb-shipper", "object_store": "filesystem", "schema": "v11",
        "index": {"prefix": "index_", "period": "1d", "tags": {}},
        "chunks": {"prefix": "", "period": "0s", "tags": {}}, "row_shards": 16}]}
    assert doc["storage_config"]["boltdb_shipper"]["cache_ttl"] == "24h0m0s"
    # yaml.v2's layout: two-space indent, a sequence's dash at its key's column, a day quoted.
    assert "\nschema_config:\n  configs:\n  - from: \"2020-10-24\"\n    store: boltdb-shipper\n" in text
    assert "\n    index:\n      prefix: index_\n      period: 1d\n      tags: {}\n" in text
    assert '\nhttp_prefix: ""\n' in text
    # Loki's handler ignores a mode it does not know, and every other parameter.
    assert config_of(healthy_loki, mode="everything", q="limits_config") == text
    assert requests.post(healthy_loki + "/config").text == text


def test_config_mode_diff_fails_on_2_6_as_capture_40_shows(healthy_loki):
    response = requests.get(healthy_loki + "/config", params={"mode": "diff"})
    assert (response.status_code, response.text) == (500, "unsupported type <nil>\n")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_config_modes_defaults_and_diff(serve):
    healthy_loki = serve(make_app(LokiStore(), version="2.7.0"))  # a version whose diff works
    defaults = yaml.safe_load(config_of(healthy_loki, mode="defaults"))
    assert defaults["auth_enabled"] is True and defaults["server"]["http_listen_port"] == 80
    assert defaults["limits_config"]["retention_period"] == "31d"  # 744h, Loki 2.x's default
    assert defaults["compactor"]["retention_enabled"] is False and defaults["compactor"]["working_directory"] == ""
    assert defaults["schema_config"] == {"configs": []}
    text = config_of(healthy_loki, mode="diff")
    diff = yaml.safe_load(text)
    assert list(diff) == sorted(diff)  # a Go map: yaml.v2 sorts its keys
    assert diff["limits_config"] == {"retention_period": "4w"}
    assert diff["compactor"] == {"retention_enabled": True, "shared_store": "filesystem",
                                 "working_directory": "/loki/boltdb-shipper-compactor"}
    assert diff["server"] == {"http_listen_port": 3100}
    assert "auth_enabled" not in diff and "table_manager" not in diff  # diffConfig walks the actual keys only
    assert text.startswith("compactor:\n  retention_enabled: true\n")
    assert "\n  - chunks:\n      period: 0s\n" in text  # the period config became a map too: sorted
    short = LokiStore(config=scenario.load("loki-short-retention").loki_config)
    assert loki_config.diff_document(loki_config.roundtrip(short.config.document()),
                                     loki_config.roundtrip(loki_config.defaults().document()))["limits_config"] == {
        "retention_period": "3d"}


@pytest.mark.parametrize("ns, model, go", [
    (0, "0s", "0s"), (168 * HOUR, "1w", "168h0m0s"), (672 * HOUR, "4w", "672h0m0s"), (72 * HOUR, "3d", "72h0m0s"),
    (744 * HOUR, "31d", "744h0m0s"), (DAY, "1d", "24h0m0s"), (10 * MINUTE, "10m", "10m0s"),
    (90 * MINUTE, "1h30m", "1h30m0s"), (1500 * 1_000_000, "1s500ms", "1.5s"), (365 * DAY, "1y", "8760h0m0s"),
    (400 * DAY, "400d", "9600h0m0s"),
])
def test_duration_formats(ns, model, go):
    assert gotext.format_model_duration(ns) == model and gotext.format_go_duration(ns) == go
    assert gotext.parse_model_duration(model) == ns and gotext.parse_go_duration(go) == ns


def test_config_reports_the_listener_the_cli_bound(sandboxes):
    box = sandboxes("--scenario", "loki-short-retention", "--grafana-root-url", "http://ops.example:3000")
    try:
        loki = box.env["OPSVERIFY_LOKI_URL"]
        doc = yaml.safe_load(config_of(loki))
        host, port = loki.rsplit("//", 1)[1].split(":")
        assert doc["server"]["http_listen_address"] == host and doc["server"]["http_listen_port"] == int(port)
        assert doc["limits_config"]["retention_period"] == "3d"
        settings = requests.get(box.env["OPSVERIFY_GRAFANA_URL"] + "/api/frontend/settings",
                                auth=("admin", box.env["OPSVERIFY_GRAFANA_PASSWORD"])).json()
        assert settings["appUrl"] == "http://ops.example:3000/"  # the CLI beats the scenario's root_url
    finally:
        assert box.stop() == 0


def test_cli_refuses_a_loki_scenario_against_an_external_loki():
    args = cli.parse_args(["--scenario", "loki-retention-ignored", "--external-loki", "http://127.0.0.1:9"])
    with pytest.raises(cli.StartupError, match="configures Loki"):
        cli.start(args, Clock())
    args = cli.parse_args(["--scenario", "healthy", "--grafana-root-url", "ftp://grafana"])
    with pytest.raises(cli.StartupError, match="absolute http or https URL"):
        cli.start(args, Clock())


# --- the store enforces the configuration it prints ---

def push(loki, entries):
    body = {"streams": [{"stream": LABELS, "values": [[str(ns), line] for ns, line in entries]}]}
    return requests.post(loki + "/loki/api/v1/push", data=json.dumps(body),
                         headers={"Content-Type": "application/json"})


def test_pushes_are_judged_by_the_configured_max_age(serve):
    now = 1795930315 * SECOND
    config = LokiConfig.site({"limits_config": {"reject_old_samples_max_age": "72h"}})
    loki = serve(make_app(LokiStore(config=config, clock=lambda: now)))
    assert yaml.safe_load(config_of(loki))["limits_config"]["reject_old_samples_max_age"] == "3d"
    assert push(loki, [(now - 71 * HOUR, "fresh enough")]).status_code == 204
    old = push(loki, [(now - 73 * HOUR, "too old for 72h")])
    oldest = datetime.fromtimestamp((now - 72 * HOUR) // SECOND, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert old.status_code == 400 and old.text.endswith(f"oldest acceptable timestamp is: {oldest}\n")
    # The default week: 73h is fine, 169h is not.
    week = serve(make_app(LokiStore(clock=lambda: now)))
    assert push(week, [(now - 73 * HOUR, "a")]).status_code == 204
    assert push(week, [(now - 169 * HOUR, "b")]).status_code == 400
    # reject_old_samples: false accepts anything old (too new is still refused).
    lax = serve(make_app(LokiStore(config=LokiConfig.site({"limits_config": {"reject_old_samples": False}}),
                                   clock=lambda: now)))
    assert push(lax, [(now - 900 * HOUR, "ancient")]).status_code == 204
    assert push(lax, [(now + HOUR, "future")]).status_code == 400
    assert "reject_old_samples_max_age" in yaml.safe_load(config_of(lax))["limits_config"]


def test_max_entries_limit_comes_from_the_configuration(serve):
    config = LokiConfig.site({"limits_config": {"max_entries_limit_per_query": 100}})
    loki = serve(make_app(LokiStore(config=config)))
    refused = requests.get(loki + "/loki/api/v1/query_range", params={"query": "{container=\"x\"}", "limit": "101"})
    assert refused.status_code == 400
    assert refused.text == "max entries limit per query exceeded, limit > max_entries_limit (101 > 100)"


def week_loki(serve, name):
    sc = scenario.load(name)
    now = sc.reset_instant(NIGHT) + timedelta(minutes=3)
    store = LokiStore(config=sc.loki_config, clock=lambda: scenario.to_ns(now))
    for labels, entries in sc.render(NIGHT, now).streams():
        store.add(labels, entries)
    return serve(make_app(store)), sc, now


def nights_served(loki, sc, now):
    """The local dates whose reset start line Loki returns over the 7-day look-back."""
    response = requests.get(loki + "/loki/api/v1/query_range", params={
        "query": '{container="escashop-backend-prod"} |= "Starting daily queue reset at"',
        "start": str(scenario.to_ns(now - timedelta(days=7, hours=1))), "end": str(scenario.to_ns(now)),
        "limit": "1000"})
    assert response.status_code == 200
    lines = [line for stream in response.json()["data"]["result"] for _, line in stream["values"]]
    return sorted(line.split(" at ")[1][:10] for line in lines)


def test_short_retention_deletes_what_is_older_than_three_days(serve):
    week = [(NIGHT - timedelta(days=6 - i)).isoformat() for i in range(7)]
    healthy = nights_served(*week_loki(serve, "healthy"))
    assert healthy == week
    short = nights_served(*week_loki(serve, "loki-short-retention"))
    assert short == week[-3:]  # nights 5, 6 and 7: the rest is past 72h
    ignored = nights_served(*week_loki(serve, "loki-retention-ignored"))
    assert ignored == week  # configured, but nothing applies it
    loki, sc, now = week_loki(serve, "loki-retention-ignored")
    doc = yaml.safe_load(config_of(loki))
    assert doc["limits_config"]["retention_period"] == "4w" and doc["compactor"]["retention_enabled"] is False
    assert doc["table_manager"]["retention_deletes_enabled"] is False
    # Labels and series lose what retention deleted as well.
    loki, sc, now = week_loki(serve, "loki-short-retention")
    old = requests.get(loki + "/loki/api/v1/series", params={
        "match[]": '{container="escashop-backend-prod"}', "start": str(scenario.to_ns(now - timedelta(days=6))),
        "end": str(scenario.to_ns(now - timedelta(days=4)))}).json()
    assert old == {"status": "success", "data": []}


# --- scenarios' loki_config ---

def test_loki_config_is_merged_over_the_sites_and_checked():
    config = LokiConfig.site({"limits_config": {"retention_period": "336h"}, "compactor": {"retention_enabled": False}})
    assert config.get("limits_config.retention_period") == 14 * DAY
    assert config.get("limits_config.reject_old_samples_max_age") == 7 * DAY  # the rest of the section stays
    assert config.get("compactor.working_directory") == "/loki/boltdb-shipper-compactor"
    assert config.retention_ns is None and LokiConfig.site().retention_ns == 28 * DAY
    assert LokiConfig.site({"limits_config": {"retention_period": "0s"}}).retention_ns is None  # keep forever
    cases = [
        ({"limits": {"retention_period": "72h"}}, r"loki_config\.limits: the sandbox's Loki has no section 'limits'"),
        ({"limits_config": {"retention": "72h"}}, r"loki_config\.limits_config\.retention: .*no key 'retention'"),
        ({"limits_config": {"retention_period": "3 days"}}, r"retention_period: not a valid duration string"),
        ({"limits_config": {"retention_period": 72}}, r"retention_period: 72 is not a duration"),
        ({"limits_config": {"reject_old_samples": "yes"}}, r"reject_old_samples: 'yes' is not a boolean"),
        ({"limits_config": {"max_label_name_length": 8}}, r"max_label_name_length: the sandbox serves this key but"),
        ({"limits_config": {"ingestion_rate_mb": 0}}, r"a positive ingestion_rate_mb and ingestion_burst_size_mb"),
        ({"ingester": {"max_chunk_age": "0s"}}, r"ingester\.max_chunk_age must be positive"),
        ({"server": {"http_listen_port": 3101}}, r"http_listen_port: the sandbox serves this key but does not act"),
        ({"auth_enabled": True}, r"auth_enabled: the sandbox serves this key but does not act on it"),
        ({"table_manager": {"retention_deletes_enabled": True}}, r"retention_deletes_enabled: true is not emulated"),
        ({"limits_config": {"retention_period": "12h"}}, r"retention_period 12h is below 24h"),
        ({"compactor": {"shared_store": ""}}, r"compactor\.retention_enabled needs compactor\.shared_store"),
        ({"compactor": "off"}, r"loki_config\.compactor: must be a mapping"),
        ({"limits_config": {"max_entries_limit_per_query": 0}}, r"max_entries_limit_per_query must be positive"),
    ]
    for overrides, message in cases:
        with pytest.raises(LokiConfigError, match=message):
            LokiConfig.site(overrides)


def test_scenario_loki_config_errors_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(scenario, "SCENARIO_DIR", tmp_path)
    monkeypatch.setattr(scenario, "TEMPLATES_FILE", tmp_path / "templates.yml")
    shutil.copy(ROOT / "sandbox" / "scenarios" / "templates.yml", tmp_path / "templates.yml")
    healthy = (ROOT / "sandbox" / "scenarios" / "healthy.yml").read_text(encoding="utf-8")
    (tmp_path / "typo.yml").write_text(healthy + "loki_config:\n  limit_config:\n    retention_period: 72h\n",
                                       encoding="utf-8")
    (tmp_path / "week.yml").write_text(healthy + "loki_config:\n  limits_config:\n"
                                       "    reject_old_samples_max_age: 2w\n", encoding="utf-8")
    (tmp_path / "badurl.yml").write_text(healthy.replace("https://grafana.escashop.ph/", "grafana.escashop.ph"),
                                         encoding="utf-8")
    with pytest.raises(scenario.ScenarioError, match=r"typo\.yml: loki_config\.limit_config: .*no section"):
        scenario.load("typo")
    assert scenario.load("week").loki_config.reject_old_samples_max_age_ns == 14 * DAY
    assert LokiStore(config=scenario.load("week").loki_config).reject_old_samples_max_age_ns == 14 * DAY
    with pytest.raises(scenario.ScenarioError, match=r"badurl\.yml: grafana_root_url: .*absolute http or https"):
        scenario.load("badurl")
