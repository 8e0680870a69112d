"""Site configuration: precedence file < environment < command line, and errors that say what to fix."""

import json
from urllib.parse import quote, quote_plus

import pytest

from opsverify.config import ConfigError, load_settings, parse_set_options

SITE = """\
site: testsite
timezone: Asia/Manila
reset_time: "00:00"
grace_minutes: 5
settle_minutes: 10
window_before_minutes: 15
window_after_minutes: 30
max_reset_seconds: 60
grafana:
  url: http://grafana.file:3002
  datasource_uid: loki
  dashboard_uid: dash
  rule_folder: alerts
  rule_group: group
  rules:
    - {uid: r1, title: Rule One, severity: critical, receivers: [pager]}
  required_labels: [severity]
  required_annotations: [summary]
  receivers: {pager: {integrations: [email], emails: ["oncall@"]}}
loki: {url: "http://loki.file:3100", selector: '{container="$container"}', max_label_values: 30}
promtail: {url: "http://promtail.file:9080", jobs: [app]}
backend: {url: "http://backend.file:5000", container: app-file, docker_host: "", container_user: node,
          app_dir: /app, min_free_mb: 100, max_clock_skew_seconds: 5}
patterns:
  start: start
  completed: 'done in (?P<ms>[0-9]+)ms'
  failed: failed
  skipped: skipped
  recovery_ok: recovered
  recovery_failed: recovery failed
  startup: startup
http: {connect_timeout_seconds: 1, read_timeout_seconds: 2, retries: 1, run_deadline_seconds: 30}
reports_dir: reports
"""


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text(SITE)
    return path


def test_site_file_values_are_used(site):
    s = load_settings(environ={}, site_file=str(site))
    assert s.grafana_url == "http://grafana.file:3002"
    assert s.selector == '{container="app-file"}'
    assert s.rules[0].uid == "r1" and s.rules[0].severity == "critical"
    assert s.sources["loki_url"] == f"site file {site}"


def test_environment_overrides_the_file_and_the_command_line_overrides_both(site):
    env = {"OPSVERIFY_LOKI_URL": "http://loki.env:3100", "OPSVERIFY_CONTAINER": "app-env",
           "OPSVERIFY_GRACE_MINUTES": "7"}
    s = load_settings({"loki_url": "http://loki.cli:3100"}, environ=env, site_file=str(site))
    assert s.loki_url == "http://loki.cli:3100" and s.sources["loki_url"] == "command line"
    assert s.container == "app-env" and s.sources["container"] == "environment"
    assert s.grace_minutes == 7
    assert s.promtail_url == "http://promtail.file:9080"


def test_the_site_file_comes_from_opsverify_site(site):
    assert load_settings(environ={"OPSVERIFY_SITE": str(site)}).site_name == "testsite"


def test_the_bundled_site_file_is_escashop():
    s = load_settings(environ={})
    assert (s.site_name, s.timezone, s.container) == ("escashop", "Asia/Manila", "escashop-backend-prod")
    assert [r.uid for r in s.rules] == ["midnight_errors_001", "midnight_reset_failure_002",
                                        "midnight_queue_anomaly_003"]


def test_credentials_come_from_the_environment_and_never_show(site):
    env = {"OPSVERIFY_GRAFANA_USER": "admin", "OPSVERIFY_GRAFANA_PASSWORD": "pw-SEKRIT-1",
           "OPSVERIFY_BACKEND_TOKEN": "tok-SEKRIT-2"}
    s = load_settings(environ=env, site_file=str(site))
    assert s.credentials.grafana_password.reveal() == "pw-SEKRIT-1"
    assert "SEKRIT" not in repr(s) and "SEKRIT" not in str(s.credentials)
    # The Basic auth header's encoding of admin:pw-SEKRIT-1 is a secret too.
    assert sorted(s.credentials.values()) == ["YWRtaW46cHctU0VLUklULTE=", "pw-SEKRIT-1", "tok-SEKRIT-2"]


@pytest.mark.parametrize("value, said", [
    ("glsa_SEKRIT\r", "contains a carriage return (\\r: the env file has Windows line ends? run dos2unix on it)"),
    ("glsa_SEK\x1bRIT", "contains the control character U+001B"),
    (" glsa_SEKRIT", "starts or ends with a space"),
])
def test_a_credential_with_whitespace_or_control_characters_is_refused_unechoed(site, value, said):
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"OPSVERIFY_GRAFANA_TOKEN": value}, site_file=str(site))
    assert str(err.value).startswith(f"OPSVERIFY_GRAFANA_TOKEN {said}") and "SEKRIT" not in str(err.value)


def test_scrub_finds_a_secret_in_every_form_an_error_text_holds_it():
    from opsverify.evidence import scrub

    secret = "glsa_SEKRIT/+\r"
    text = (f"InvalidHeader: {{'Authorization': {('Bearer ' + secret)!r}}} {json.dumps(secret)} "
            f"{quote(secret, safe='')} {quote_plus(secret)} {secret}")
    assert "SEKRIT" not in scrub(text, [secret]), scrub(text, [secret])


def test_a_credential_in_the_site_file_is_refused(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text(SITE.replace("  datasource_uid: loki", "  password: hunter2\n  datasource_uid: loki"))
    with pytest.raises(ConfigError, match=r"'grafana.password' looks like a credential.*OPSVERIFY_GRAFANA_PASSWORD") as err:
        load_settings(environ={}, site_file=str(path))
    assert "hunter2" not in str(err.value)


def test_an_unknown_key_names_the_key_and_the_known_ones(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text(SITE.replace("grace_minutes: 5", "grace_minutse: 5"))
    with pytest.raises(ConfigError, match=r"unknown key 'grace_minutse'\. Known keys here: .*grace_minutes"):
        load_settings(environ={}, site_file=str(path))


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text("site: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2"):
        load_settings(environ={}, site_file=str(path))


@pytest.mark.parametrize("env, message", [
    ({"OPSVERIFY_GRAFANA_URL": "localhost:3002"},
     "setting 'grafana_url' from the environment: is not an http(s) URL such as http://localhost:3100. "
     "Fix OPSVERIFY_GRAFANA_URL."),
    ({"OPSVERIFY_TIMEZONE": "Asia/Manilla"},
     "setting 'timezone' from the environment: 'Asia/Manilla' is not a known IANA time zone such as "
     "Asia/Manila. Fix OPSVERIFY_TIMEZONE."),
    ({"OPSVERIFY_NIGHT": "2026-02-30"},
     "setting 'night' from the environment: '2026-02-30' is not a date in the form YYYY-MM-DD. "
     "Fix OPSVERIFY_NIGHT."),
    ({"OPSVERIFY_GRACE_MINUTES": "five"},
     "setting 'grace_minutes' from the environment: 'five' is not a whole number. Fix OPSVERIFY_GRACE_MINUTES."),
    ({"OPSVERIFY_ALERT_DRILLS": "2026-11-22T14:00"},
     "setting 'alert_drills' from the environment: '2026-11-22T14:00' has no UTC offset: write it as "
     "2026-11-21T14:00+08:00. Fix OPSVERIFY_ALERT_DRILLS."),
    ({"OPSVERIFY_ALERT_DRILLS": "yesterday"},
     "setting 'alert_drills' from the environment: 'yesterday' is not a date and time such as "
     "2026-11-21T14:00+08:00. Fix OPSVERIFY_ALERT_DRILLS."),
])
def test_bad_values_name_the_setting_its_source_and_the_fix(site, env, message):
    with pytest.raises(ConfigError) as err:
        load_settings(environ=env, site_file=str(site))
    assert str(err.value) == message


def test_a_url_with_credentials_is_refused_without_echoing_them(site):
    with pytest.raises(ConfigError, match="has credentials in it") as err:
        load_settings({"loki_url": "http://bob:s3cr3t@loki:3100"}, environ={}, site_file=str(site))
    assert "s3cr3t" not in str(err.value)
    assert "Fix --loki-url." in str(err.value)


@pytest.mark.parametrize("url", ["http://loki:3100/?api_key=s3cr3t", "http://loki:3100#s3cr3t"])
def test_a_url_with_a_query_or_fragment_is_refused_without_echoing_it(site, url):
    with pytest.raises(ConfigError, match="has a query string or fragment") as err:
        load_settings(environ={"OPSVERIFY_LOKI_URL": url}, site_file=str(site))
    assert "s3cr3t" not in str(err.value) and "Fix OPSVERIFY_LOKI_URL." in str(err.value)


def test_set_overrides_any_key_and_refuses_unknown_ones(site):
    s = load_settings(parse_set_options(["max_reset_seconds=90"]), environ={}, site_file=str(site))
    assert s.max_reset_seconds == 90
    with pytest.raises(ConfigError, match="--set: unknown setting 'nope'"):
        load_settings(parse_set_options(["nope=1"]), environ={}, site_file=str(site))
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_set_options(["grace_minutes"])


def test_a_missing_site_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read.*OPSVERIFY_SITE or --site"):
        load_settings(environ={}, site_file=str(tmp_path / "nope.yml"))


def test_the_week_settings_may_be_left_out(site):
    settings = load_settings(environ={}, site_file=str(site))
    assert (settings.on_call, settings.escalation, settings.alert_drills, settings.signoff_doc,
            settings.documents) == ((), (), (), "", ())
    assert "Technical Insights" in settings.lessons_sections


def test_alert_drills_are_instants_in_utc_with_their_owners(site, tmp_path):
    from datetime import datetime, timezone

    from opsverify.config import Drill

    env = {"OPSVERIFY_ALERT_DRILLS": "2026-11-22T14:00+08:00 Jane Cruz (DevOps), 2026-11-20T06:00:00.000Z"}
    assert load_settings(environ=env, site_file=str(site)).alert_drills == (
        Drill(datetime(2026, 11, 20, 6, tzinfo=timezone.utc), ""),
        Drill(datetime(2026, 11, 22, 6, tzinfo=timezone.utc), "Jane Cruz (DevOps)"))
    text = site.read_text(encoding="utf-8").replace(
        "grafana:\n", "grafana:\n  alert_drills:\n    - {at: '2026-11-22T14:00+08:00', owner: Jane Cruz}\n")
    assert text != site.read_text(encoding="utf-8")
    site.write_text(text, encoding="utf-8")
    assert load_settings(environ={}, site_file=str(site)).alert_drills == (
        Drill(datetime(2026, 11, 22, 6, tzinfo=timezone.utc), "Jane Cruz"),)
    site.write_text(text.replace("owner: Jane Cruz", "who: Jane Cruz"), encoding="utf-8")
    with pytest.raises(ConfigError, match="a drill has the keys at and owner, not 'at, who'"):
        load_settings(environ={}, site_file=str(site))


@pytest.mark.parametrize("url", ["http://169.254.169.254", "http://[fd00:ec2::254]/", "http://[fe80::1]:3100",
                                 "http://metadata.google.internal"])
def test_a_link_local_or_metadata_address_is_refused(site, url):
    with pytest.raises(ConfigError, match="a link-local or cloud metadata address"):
        load_settings({"loki_url": url}, environ={}, site_file=str(site))


BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def test_an_alias_bomb_in_the_site_file_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text(SITE + BOMB.replace("a:", "bomb_a:"), encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML: its aliases expand to more than 200,000 values"):
        load_settings(environ={}, site_file=str(path))


def test_an_alias_bomb_in_a_waiver_file_is_refused(tmp_path):
    from opsverify.waivers import WaiverError, load_waivers

    path = tmp_path / "waivers.yml"
    path.write_text(BOMB, encoding="utf-8")
    with pytest.raises(WaiverError, match="its aliases expand to more than 200,000 values"):
        load_waivers(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "99999999999"])
@pytest.mark.parametrize("variable, setting", [("OPSVERIFY_GRACE_MINUTES", "grace_minutes"),
                                               ("OPSVERIFY_WINDOW_BEFORE_MINUTES", "window_before_minutes")])
def test_a_number_that_is_not_finite_or_absurd_names_its_setting(site, value, variable, setting):
    with pytest.raises(ConfigError, match=rf"setting '{setting}' from the environment: '{value}' is .*Fix {variable}"):
        load_settings(environ={variable: value}, site_file=str(site))


def test_a_huge_value_is_not_echoed_whole(site):
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"OPSVERIFY_GRACE_MINUTES": "x" * 100_000}, site_file=str(site))
    assert len(str(err.value)) < 400


@pytest.mark.parametrize("name", ['escashop"} |= "x', "escashop\nprod", "esca shop"])
def test_a_container_name_that_would_break_the_logql_is_refused(site, name):
    with pytest.raises(ConfigError, match="is not a Docker container name"):
        load_settings({"container": name}, environ={}, site_file=str(site))
