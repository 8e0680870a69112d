"""`pytest -m lint --repo DIR` on the stand-in checkout: healthy passes without any live system and writes no
ledger or week1.md; each defect (a copy of the checkout with one small edit) fails exactly its check, with a
message naming the file and the line or key path."""

import re
import shutil
import subprocess
import sys

import pytest

from suite_runs import ROOT, clean_env, start_sandbox

pytestmark = pytest.mark.e2e
CHECKOUT = ROOT / "sandbox" / "escashop-repo"
LOKI = "monitoring/loki/loki-config.yml"
PROMTAIL = "monitoring/promtail/promtail-config.yml"
CONTACTS = "monitoring/grafana/provisioning/alerting/contact-points.yml"
RULES = "monitoring/grafana/provisioning/alerting/rules.yml"
TEMPLATES = "monitoring/grafana/provisioning/alerting/templates.yml"
DASHBOARD = "monitoring/grafana/dashboards/midnight-reset-monitoring.json"


def lint(repo, reports, *args):
    command = [sys.executable, "-m", "pytest", "-m", "lint", f"--repo={repo}", "-p", "no:cacheprovider",
               f"--reports-dir={reports}", "-rfs", "--color=no", *args]
    # Unreachable URLs: the run must not need any live system.
    env = clean_env(**{f"OPSVERIFY_{system}_URL": "http://127.0.0.1:9" for system in ("GRAFANA", "LOKI", "PROMTAIL",
                                                                                      "BACKEND")})
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=120)


def _search(pattern, text):
    """`pattern` (literal text, * for any run of characters) somewhere in `text`."""
    return re.search(".*?".join(re.escape(part) for part in pattern.strip("*").split("*")), text) is not None


def edited(tmp_path, path, old, new):
    repo = tmp_path / "repo"
    shutil.copytree(CHECKOUT, repo)  # symlinks copied as files: the edit never reaches the sandbox's own
    target = repo / path
    text = target.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} not in {path}"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return repo


def test_healthy_checkout_passes_offline_and_leaves_the_week_alone(tmp_path):
    result = lint(CHECKOUT, tmp_path / "reports")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed" not in result.stdout.splitlines()[-1]
    assert "not checked: 3 LogQL queries" in result.stdout  # listed, never passed
    produced = {p.name for p in (tmp_path / "reports").iterdir()}
    assert not produced & {"ledger.json", "ledger-sandbox.json", "week1.md"}, produced
    assert {"report.html", "junit.xml"} <= produced


DEFECTS = {
    "loki-key-from-2.7": (LOKI, "  reject_old_samples: true\n",
                          "  reject_old_samples: true\n", "test_lint_loki_config_keys",
                          [f"{LOKI} line *, query_range.results_cache.cache.embedded_cache: Loki 2.6.1 has no key "
                           "'embedded_cache' (it arrived in Loki 2.7.0)*"]),
    "loki-retention": (LOKI, "retention_period: 672h", "retention_period: 72h", "test_lint_loki_retention",
                       [f"*{LOKI} line 43, limits_config.retention_period: *3 days*"]),
    # (a misspelt noDataState also makes the rule fire on no data: test_lint_rule_quiet_without_data says so)
    "misspelt-key": (CONTACTS, "          singleEmail: false\n        disableResolveMessage: false\n",
                     "          singleEmail: false\n        disableResolveMesage: false\n",
                     "test_lint_grafana_provisioning_keys",
                     [f"*{CONTACTS} line *, contactPoints[0].receivers[0].disableResolveMesage: Grafana does not "
                      "know 'disableResolveMesage'*did you mean 'disableResolveMessage'*"]),
    "email-without-addresses": (CONTACTS, "          addresses: devops@escashop.ph\n", "",
                                "test_lint_contact_points",
                                [f"*{CONTACTS} line 8, contactPoints[0].receivers[0]: 'default-receiver' email: "
                                 "Grafana refuses it (could not find addresses in settings)*"]),
    "threshold-lt-0": (RULES, "            type: gt\n", "            type: lt\n",
                       "test_lint_rule_can_fire[midnight_errors_001]",
                       [f"*{RULES} line *, groups[0].rules[0].condition*B < 0*"]),
    "promtail-path-not-mounted": (PROMTAIL, "__path__: /var/log/app/*.log", "__path__: /srv/escashop/logs/*.log",
                                  "test_lint_promtail_paths_mounted",
                                  [f"*{PROMTAIL} line 29, scrape_configs[1].static_configs[0].labels.__path__: "
                                   "job 'escashop-backend'*/srv/escashop/logs/*.log is in no volume*"]),
    "link-to-unpublished-port": (TEMPLATES, "https://grafana.escashop.ph/d/", "http://localhost:3000/d/",
                                 "test_lint_notification_links",
                                 [f"*{TEMPLATES} line *, templates[0].template links to "
                                  "http://localhost:3000/d/midnight-reset-dashboard*"]),
    "panel-on-missing-datasource": (DASHBOARD, '"uid": "loki"', '"uid": "loki-old"', "test_lint_dashboard_datasources",
                                    [f"*{DASHBOARD} line *, panels[0].datasource: panel 'Resets completed (24h)' "
                                     "uses datasource uid 'loki-old'*"]),
    "grafana-latest": ("docker-compose.yml", "grafana/grafana:10.4.2", "grafana/grafana:latest",
                       "test_lint_images_pinned",
                       ["*docker-compose.yml line *, services.grafana.image: service 'grafana' runs "
                        "grafana/grafana:latest*"]),
    "password-literal": ("docker-compose.yml", "${GF_SECURITY_ADMIN_PASSWORD}", "Adm1n-Pa55-Literal",
                         "test_lint_no_secret_literals",
                         ["*docker-compose.yml line *, services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD: "
                          "'GF_SECURITY_ADMIN_PASSWORD' holds a literal credential (value not shown)*"]),
}
# the Loki defect adds a 2.7 key under a section 2.6 has
DEFECTS["loki-key-from-2.7"] = (LOKI, "analytics:\n", "query_range:\n  results_cache:\n    cache:\n"
                                "      embedded_cache:\n        enabled: true\n\nanalytics:\n",
                                "test_lint_loki_config_keys", DEFECTS["loki-key-from-2.7"][4])


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_fails_exactly_its_check(tmp_path, defect):
    path, old, new, check, lines = DEFECTS[defect]
    repo = edited(tmp_path, path, old, new)
    result = lint(repo, tmp_path / "reports")
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(failed) == 1, "\n".join(failed) or result.stdout
    assert failed[0].startswith(f"FAILED checks/test_lint.py::{check} - "), failed[0]
    for pattern in lines:
        assert _search(pattern, result.stdout), f"{pattern!r} not in:\n{result.stdout}"
    if defect == "password-literal":
        assert "Adm1n-Pa55-Literal" not in result.stdout + (tmp_path / "reports" / "report.html").read_text()


def test_a_real_loki_parses_the_rules_logql(tmp_path, sandboxes):
    """With --loki-url (a CI Loki; here the sandbox's, which parses as Loki 2.6.1 does) every rule's query
    is parsed by Loki: a bad regexp fails the LogQL check, naming the rule's file and key."""
    process, values = start_sandbox(tmp_path, "healthy")
    sandboxes.append(process)
    assert isinstance(values, dict), values
    loki = f"--loki-url={values['OPSVERIFY_LOKI_URL']}"
    result = lint(CHECKOUT, tmp_path / "healthy", loki, "-rA")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED checks/test_lint.py::test_lint_logql" in result.stdout  # parsed, not skipped
    repo = edited(tmp_path, RULES, '|~ "already performed today', '|~ "(?i)(already performed today')
    result = lint(repo, tmp_path / "broken", loki)
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert [f.split(" - ")[0] for f in failed] == ["FAILED checks/test_lint.py::test_lint_logql"], result.stdout
    assert _search(f"*{RULES} * groups[0].rules[2]* rejected the query (*error parsing regexp: missing closing )*",
                   result.stdout), result.stdout
