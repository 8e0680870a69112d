"""The lint analyses on small files: Loki keys by version, Grafana's ignored keys and validation, one rule
analysis for files and API, Promtail mounts, pinned images, secrets, Grafana's published hosts."""

import copy
from pathlib import Path

import pytest
import yaml

from opsverify.clients.grafana import AlertRule
from opsverify.lint import LintError, load_document
from opsverify.lint import grafana as lint_grafana
from opsverify.lint.loki import unknown_keys
from opsverify.lint.loki_keys import first_version_with, known_keys
from opsverify.lint.promtail import glob_base, path_findings
from opsverify.lint.repo import Checkout, split_image
from opsverify.lint.stack import grafana_hosts, secret_literals, unpinned_images
from opsverify.rules import NOISY_NO_DATA, can_fire

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "sandbox" / "provisioning" / "escashop" / "alerting" / "rules.yml"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_document(path, tmp_path)


def test_loki_key_from_a_later_version_is_named_with_its_version(tmp_path):
    doc = write(tmp_path, "loki.yml", "server:\n  http_listen_port: 3100\nquery_range:\n  results_cache:\n"
                                      "    cache:\n      embedded_cache:\n        enabled: true\n")
    [finding] = unknown_keys(doc, "2.6.1")
    assert finding.where == "line 6, query_range.results_cache.cache.embedded_cache"
    assert "it arrived in Loki 2.7.0" in finding.problem
    assert first_version_with("embedded_cache") == "2.7.0"


def test_loki_version_without_a_table_is_not_judged(tmp_path):
    doc = write(tmp_path, "loki.yml", "anything: 1\n")
    assert unknown_keys(doc, "3.0.0") is None and known_keys("3.0") is None


def test_loki_table_knows_the_keys_of_the_escashop_config():
    doc = load_document(ROOT / "sandbox" / "escashop-repo" / "monitoring" / "loki" / "loki-config.yml", ROOT)
    assert unknown_keys(doc, "2.6.1") == []


def test_misspelt_provisioning_key_is_reported_with_the_likely_key(tmp_path):
    text = RULES.read_text(encoding="utf-8").replace("noDataState: OK", "nodatastate: OK", 1)
    doc = write(tmp_path, "rules.yml", text)
    [finding] = lint_grafana.ignored_keys(doc, "alerting")
    assert finding.where.startswith("line ") and "groups[0].rules[0].nodatastate" in finding.where
    assert "did you mean 'noDataState'" in finding.problem


def test_policy_keys_are_read_as_routes(tmp_path):
    doc = write(tmp_path, "policies.yml", "apiVersion: 1\npolicies:\n  - orgId: 1\n    receiver: a\n"
                                          "    routes:\n      - receiver: b\n        object_matcher: [[a, '=', b]]\n")
    [finding] = lint_grafana.ignored_keys(doc, "alerting")
    assert "policies[0].routes[0].object_matcher" in finding.where and "object_matchers" in finding.problem


@pytest.mark.parametrize("kind, settings, reason", [
    ("email", {"singleEmail": True}, "could not find addresses in settings"),
    ("email", {"addresses": ["a@b.ph"]}, "failed to unmarshal settings"),
    ("slack", {"title": "x"}, "recipient must be specified when using the Slack chat API"),
    ("slack", {"recipient": "#a"}, "token must be specified when using the Slack chat API"),
    ("webhook", {"httpMethod": "POST"}, "required field 'url' is not specified"),
])
def test_contact_point_refused_with_grafanas_reason(kind, settings, reason):
    assert reason in lint_grafana.grafana_validation({"uid": "u", "type": kind, "settings": settings})


def test_contact_point_accepted():
    assert lint_grafana.grafana_validation({"uid": "u", "type": "email", "settings": {"addresses": "a@b.ph"}}) == ""


def api_shape(item, group):
    """The provisioning API's JSON of a rule provisioned from `item` (grafana-facts: for as a duration,
    isPaused always present, folderUID instead of the folder's title)."""
    return {**copy.deepcopy(item), "folderUID": "aa11", "ruleGroup": group["name"], "orgID": 1,
            "isPaused": item.get("isPaused", False), "notification_settings": None, "record": None,
            "updated": "2026-11-20T10:00:00Z"}


@pytest.mark.parametrize("threshold", ["gt", "lt"])
def test_file_and_api_give_the_same_verdict(threshold):
    group = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"][0]
    item = copy.deepcopy(group["rules"][0])
    item["data"][2]["model"]["conditions"][0]["evaluator"]["type"] = threshold
    from_file, from_api = AlertRule.from_file(item, group), AlertRule.from_api(api_shape(item, group))
    assert can_fire(from_file) == can_fire(from_api)
    assert can_fire(from_file).can_fire is (threshold == "gt")
    assert (from_file.no_data_state, from_file.exec_err_state) == (from_api.no_data_state, from_api.exec_err_state)


def test_file_rule_without_no_data_state_takes_grafanas_default():
    group = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"][0]
    item = {k: v for k, v in group["rules"][0].items() if k not in ("noDataState", "execErrState")}
    rule = AlertRule.from_file(item, group)
    assert (rule.no_data_state, rule.exec_err_state) == ("NoData", "Alerting")
    assert rule.no_data_state in NOISY_NO_DATA


COMPOSE = """services:
  promtail:
    image: grafana/promtail:2.6.1
    volumes:
      - ./promtail.yml:/etc/promtail/config.yml:ro
      - /var/log:/var/log:ro
  grafana:
    image: grafana/grafana
    ports: ["3002:3000"]
    environment:
      GF_SERVER_ROOT_URL: https://grafana.example.ph/
      GF_SECURITY_ADMIN_PASSWORD: hunter2-literal
      GF_SECURITY_ADMIN_USER: ${ADMIN}
"""
PROMTAIL = """scrape_configs:
  - job_name: files
    static_configs:
      - labels: {__path__: /var/log/app/*.log}
  - job_name: elsewhere
    static_configs:
      - labels: {__path__: /srv/logs/*.log}
  - job_name: docker
    docker_sd_configs:
      - host: unix:///var/run/docker.sock
"""


def test_compose_view_promtail_mounts_images_secrets_and_hosts(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(COMPOSE, encoding="utf-8")
    promtail_doc = write(tmp_path, "promtail.yml", PROMTAIL)
    checkout = Checkout(tmp_path)
    assert checkout.config_file("promtail", ("nothing",)) == tmp_path / "promtail.yml"
    findings = path_findings(promtail_doc, checkout.service("promtail"))
    assert [f.where for f in findings] == ["line 7, scrape_configs[1].static_configs[0].labels.__path__",
                                           "line 10, scrape_configs[2].docker_sd_configs[0].host"]
    [unpinned] = unpinned_images(checkout.services.values())
    assert unpinned.where == "line 8, services.grafana.image"
    [secret] = secret_literals(checkout.compose_files)
    assert secret.where == "line 12, services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD"
    assert "hunter2" not in str(secret)
    assert grafana_hosts(checkout.service("grafana")) == {"grafana.example.ph", "localhost:3002", "127.0.0.1:3002"}


def test_image_and_glob_parts():
    assert split_image("grafana/loki:2.6.1") == ("grafana/loki", "2.6.1")
    assert split_image("registry:5000/grafana/loki") == ("registry:5000/grafana/loki", "")
    assert glob_base("/var/log/app/*.log") == "/var/log/app"


def test_a_file_that_does_not_parse_is_named_with_its_line_never_echoed(tmp_path):
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  grafana:\n    environment:\n      GF_SECURITY_ADMIN_PASSWORD: Adm1n-Pa55: x\n",
                       encoding="utf-8")
    with pytest.raises(LintError) as err:
        load_document(compose, tmp_path)
    assert str(err.value).startswith("docker-compose.yml: not valid YAML/JSON at line 4, column ")
    assert "Adm1n-Pa55" not in str(err.value)
