"""Site configuration: built-in default < site file < environment < command line.

Every setting has a key (`grafana_url`), a place in the site file
(`grafana: {url: ...}`), an environment variable (`OPSVERIFY_GRAFANA_URL`) and
can be set on the command line (`--grafana-url`, or `--set grafana_url=...`
for any key). Credentials are read from the environment only. Everything is
validated before the first check runs; a bad value raises ConfigError naming
the setting, where it came from and how to fix it.
"""

import ipaddress
import math
import os
import re
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from string import Template
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from opsverify import yamlsafe
from opsverify.night import parse_clock, parse_date
from opsverify.project import PROJECT

DEFAULT_SITE = PROJECT / "sites" / "escashop.yml"
SEVERITIES = ("critical", "warning")
MAX_NUMBER = 1_000_000  # no count, minute or second of a setting is larger: nan, inf or 1e400 is a typo
OUTCOMES = ("failed", "missing", "recovered")  # what a night's reset can do that a rule may exist to report
CREDENTIAL_ENV = {
    "grafana_user": "OPSVERIFY_GRAFANA_USER",
    "grafana_password": "OPSVERIFY_GRAFANA_PASSWORD",
    "grafana_token": "OPSVERIFY_GRAFANA_TOKEN",
    "backend_token": "OPSVERIFY_BACKEND_TOKEN",
    "loki_user": "OPSVERIFY_LOKI_USER",
    "loki_password": "OPSVERIFY_LOKI_PASSWORD",
    "loki_token": "OPSVERIFY_LOKI_TOKEN",
}
CREDENTIAL_WORDS = ("password", "token", "user", "secret", "api_key")


class ConfigError(Exception):
    """A setting that cannot be used; the text says which, from where, and what to do."""


class Secret:
    """A credential. Its repr and str never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value or ""

    def reveal(self):
        return self._value

    def __bool__(self):
        return bool(self._value)

    def __repr__(self):
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class RuleSpec:
    uid: str
    title: str
    severity: str
    receivers: tuple = ()  # the contact points its alerts must reach
    fires_on: tuple = ("failed", "missing")  # the night outcomes it exists to report


@dataclass(frozen=True, order=True)
class Drill:
    """An alert drill the site file lists: when it began (UTC) and who ran it."""
    at: datetime
    owner: str = ""


@dataclass(frozen=True)
class ReceiverSpec:
    name: str
    integrations: tuple = ()  # integration types it must have: slack, email, ...
    emails: tuple = ()  # addresses (or prefixes such as "oncall@") its email integrations must include


@dataclass(frozen=True)
class Credentials:
    grafana_user: str = ""
    grafana_password: Secret = field(default_factory=Secret)
    grafana_token: Secret = field(default_factory=Secret)
    backend_token: Secret = field(default_factory=Secret)
    loki_user: str = ""  # basic auth of a gateway in front of Loki
    loki_password: Secret = field(default_factory=Secret)
    loki_token: Secret = field(default_factory=Secret)  # a bearer token for that gateway instead

    def values(self):
        """The secret values, for scrubbing outputs (the Basic auth headers' encoding of the passwords too)."""
        found = [s.reveal() for s in (self.grafana_password, self.grafana_token, self.backend_token,
                                      self.loki_password, self.loki_token) if s]
        for user, password in ((self.grafana_user, self.grafana_password), (self.loki_user, self.loki_password)):
            if password:
                found.append(b64encode(f"{user}:{password.reveal()}".encode()).decode())
        return found


# --- parsers: each takes a value from YAML (typed) or the environment / CLI (text) ---


def _shown(value, limit=80):
    """A value as an error message quotes it: its repr, cut (a huge value must not make a huge message)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _text(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{_shown(value)} is not a non-empty string")
    return value.strip()


def _url(value):
    text = _text(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http(s) URL such as http://localhost:3100")
    if parts.username or parts.password:
        # Never echo it: the URL holds a credential.
        raise ValueError("has credentials in it; put them in the environment variables instead")
    if parts.query or parts.fragment:
        # A token pasted into a URL would reach every error message and report: refuse it, unechoed.
        raise ValueError("has a query string or fragment (a token?); a base URL takes none: credentials go in "
                         "the environment variables")
    try:
        parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if _is_metadata_address(parts.hostname):
        raise ValueError(f"points at {parts.hostname}, a link-local or cloud metadata address: no monitoring "
                         "system answers there, and what does must not reach a report")
    return text.rstrip("/")


METADATA_HOSTS = ("metadata.google.internal", "metadata.goog", "fd00:ec2::254")


def _is_metadata_address(host):
    """169.254.0.0/16 and fe80::/10 (link-local, where cloud metadata services answer) and their names."""
    if host.lower().rstrip(".") in METADATA_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_link_local
    except ValueError:
        return False


def _container(value):
    """A Docker container name (the daemon's own rule): it goes into LogQL and docker commands as it is."""
    text = _text(value)
    if not re.fullmatch(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]*", text):
        raise ValueError(f"{_shown(text)} is not a Docker container name (letters, digits, '_', '.', '-')")
    return text


def _text_or_empty(value):
    if value is None or value == "":
        return ""
    return _text(value)


def _int(value):
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: .inf in YAML
        raise ValueError(f"{_shown(value)} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{_shown(value)} is negative")
    if number > MAX_NUMBER:
        raise ValueError(f"{_shown(value)} is larger than {MAX_NUMBER:,}")
    return number


def _quantity(value, unit, zero_ok):
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{_shown(value)} is not a number of {unit}") from None
    if not math.isfinite(number) or number > MAX_NUMBER:
        raise ValueError(f"{_shown(value)} is not a number of {unit} up to {MAX_NUMBER:,}")
    if number < 0 or (number == 0 and not zero_ok):
        raise ValueError(f"{_shown(value)} is not a {'non-negative' if zero_ok else 'positive'} number of {unit}")
    return number


def _minutes(value):
    return _quantity(value, "minutes", zero_ok=True)


def _seconds(value):
    return _quantity(value, "seconds", zero_ok=False)


def _zone(value):
    text = _text(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{_shown(text)} is not a known IANA time zone such as Asia/Manila") from None
    return text


def _clock(value):
    return parse_clock(value)


def _date(value):
    if value is None or value == "":
        return None
    return parse_date(str(value))


def _regex(value):
    text = _text(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"{_shown(text)} is not a valid regular expression: {exc}") from None
    return text


def _selector(value):
    text = _text(value)
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"{_shown(text)} is not a LogQL stream selector such as {{container=\"$container\"}}")
    return text


def _yaml_text(value, what):
    if isinstance(value, str):
        try:
            return yamlsafe.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"is not YAML: {what}") from None
    return value


def _names(value):
    value = _yaml_text(value, "a list of names")
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("is not a list of names")
    return tuple(value)


def _heartbeat_url(value):
    """A dead-man's switch's ping URL (Healthchecks.io, Uptime Kuma, Cronitor); "" for none."""
    return _url(value) if _text_or_empty(value) else ""


def _drill_lines(value):
    """The failure lines a drill may push: one line each, with {id} where the drill's id goes."""
    lines = _names(value)
    for line in lines:
        if "{id}" not in line or "\n" in line or len(line) > 500:
            raise ValueError(f"{_shown(line)}: a drill line is one line of at most 500 characters with {{id}} in "
                             "it (the drill's id, so that the line names its drill)")
    return lines


def _rules(value):
    value = _yaml_text(value, "a list of {uid, title, severity, receivers}")
    if not isinstance(value, list) or not value:
        raise ValueError("is not a non-empty list of {uid, title, severity, receivers}")
    rules = []
    for index, item in enumerate(value, 1):
        if not isinstance(item, dict) or not {"uid", "title", "severity"} <= set(item) \
                or not set(item) <= {"uid", "title", "severity", "receivers", "fires_on"}:
            raise ValueError(f"item {index} must have the keys uid, title, severity and may have receivers "
                             f"and fires_on")
        if item["severity"] not in SEVERITIES:
            raise ValueError(f"item {index}: severity {_shown(item['severity'])} is not one of {', '.join(SEVERITIES)}")
        receivers = _names(item.get("receivers") or [])
        fires_on = _names(item.get("fires_on") or list(RuleSpec.fires_on))
        unknown = set(fires_on) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"item {index}: fires_on {sorted(unknown)} is not among {', '.join(OUTCOMES)}")
        rules.append(RuleSpec(_text(item["uid"]), _text(item["title"]), item["severity"], receivers, fires_on))
    return tuple(rules)


def _names_or_empty(value):
    return () if value is None or value == "" else _names(value)


def _instant(value):
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{_shown(value)} is not a date and time such as 2026-11-21T14:00+08:00") from None
    if moment.tzinfo is None:
        raise ValueError(f"{_shown(value)} has no UTC offset: write it as 2026-11-21T14:00+08:00")
    return moment.astimezone(timezone.utc)


def _drills(value):
    """Each drill as {at, owner}; the environment's form is comma-separated "<at> <owner>". A bare time is
    read (owner empty) so that the criteria can say what it lacks rather than the run stopping."""
    if isinstance(value, str):
        value = [dict(zip(("at", "owner"), v.strip().split(None, 1))) for v in value.split(",") if v.strip()]
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("is not a list of drills such as [{at: 2026-11-21T14:00+08:00, owner: Jane Cruz}]")
    drills = []
    for item in value:
        item = item if isinstance(item, dict) else {"at": item}
        if not set(item) <= {"at", "owner"} or "at" not in item:
            raise ValueError(f"a drill has the keys at and owner, not {_shown(', '.join(map(str, item)))}")
        owner = item.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise ValueError(f"a drill's owner is a name, not {_shown(owner)}")
        drills.append(Drill(_instant(item["at"]), _owner(owner or "")))
    return tuple(sorted(drills))


def _owner(text):
    if any(ord(c) < 32 or ord(c) == 127 for c in text) or len(text) > 200:
        raise ValueError("a drill's owner must be one line of at most 200 characters")
    return text.strip()


def _receivers(value):
    value = _yaml_text(value, "a mapping of contact point name to {integrations, emails}")
    if not isinstance(value, dict):
        raise ValueError("is not a mapping of contact point name to {integrations, emails}")
    specs = {}
    for name, item in value.items():
        item = item or {}
        if not isinstance(item, dict) or not set(item) <= {"integrations", "emails"}:
            raise ValueError(f"'{name}' may only have the keys integrations and emails")
        specs[str(name)] = ReceiverSpec(str(name), _names(item.get("integrations") or []),
                                        _names(item.get("emails") or []))
    return specs


def _tenant(value):
    """A Loki tenant (X-Scope-OrgID) as Loki's tenant resolver takes it (dskit tenant.ValidTenantID: letters,
    digits and !-_.*'(), at most 150 characters; not . or ..); "" for none."""
    text = _text_or_empty(value)
    if text and (len(text) > 150 or text in (".", "..") or not re.fullmatch(r"[A-Za-z0-9!\-_.*'()]+", text)):
        raise ValueError(f"{_shown(text)} is not a Loki tenant ID (one tenant: letters, digits and !-_.*'() only, "
                         "at most 150 characters)")
    return text


def _ca_bundle(value):
    """A PEM file of the CAs that sign Loki's TLS certificate; "" for the system's own."""
    text = _text_or_empty(value)
    if text and not Path(text).expanduser().is_file():
        raise ValueError(f"{_shown(text)} is not a readable file (a PEM bundle of CA certificates)")
    return str(Path(text).expanduser()) if text else ""


def _switch(value):
    """YAML's true/false, or the environment's true/false/yes/no/1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"{_shown(value)} is not true or false")


def _via(value):
    text = _text(value).lower()
    if text not in LOKI_VIA:
        raise ValueError(f"{_shown(value)} is not one of {', '.join(LOKI_VIA)} (direct: Loki's own URL, loki.url; "
                         "grafana: Grafana's datasource proxy for grafana.datasource_uid)")
    return text


LOKI_VIA = ("direct", "grafana")


@dataclass(frozen=True)
class Field:
    key: str
    path: tuple  # where it lives in the site file; () for settings that are not kept in a site file
    parse: object
    cli: str = ""  # a dedicated command-line option, besides --set

    @property
    def env(self):
        return "OPSVERIFY_" + self.key.upper()

    @property
    def where(self):
        return ".".join(self.path) if self.path else ""


FIELDS = (
    Field("site_name", ("site",), _text),  # OPSVERIFY_SITE names the site file, not this
    Field("timezone", ("timezone",), _zone),
    Field("reset_time", ("reset_time",), _clock),
    Field("grace_minutes", ("grace_minutes",), _int),
    Field("settle_minutes", ("settle_minutes",), _int),
    Field("window_before_minutes", ("window_before_minutes",), _minutes),
    Field("window_after_minutes", ("window_after_minutes",), _minutes),
    Field("max_reset_seconds", ("max_reset_seconds",), _seconds),
    Field("week_start", ("week_start",), _date, "--week-start"),
    Field("night", (), _date, "--night"),
    Field("grafana_url", ("grafana", "url"), _url, "--grafana-url"),
    Field("datasource_uid", ("grafana", "datasource_uid"), _text),
    Field("dashboard_uid", ("grafana", "dashboard_uid"), _text),
    Field("rule_folder", ("grafana", "rule_folder"), _text),
    Field("rule_group", ("grafana", "rule_group"), _text),
    Field("rules", ("grafana", "rules"), _rules),
    Field("required_labels", ("grafana", "required_labels"), _names),
    Field("required_annotations", ("grafana", "required_annotations"), _names),
    Field("receivers", ("grafana", "receivers"), _receivers),
    Field("on_call", ("grafana", "on_call"), _names_or_empty),
    Field("escalation", ("grafana", "escalation"), _names_or_empty),
    Field("alert_drills", ("grafana", "alert_drills"), _drills),
    Field("loki_url", ("loki", "url"), _url, "--loki-url"),
    Field("log_selector", ("loki", "selector"), _selector),
    Field("max_label_values", ("loki", "max_label_values"), _int),
    Field("loki_tenant", ("loki", "tenant"), _tenant),
    Field("loki_ca_bundle", ("loki", "ca_bundle"), _ca_bundle),
    Field("loki_verify", ("loki", "verify"), _switch),
    Field("loki_via", ("loki", "via"), _via),
    Field("promtail_url", ("promtail", "url"), _url, "--promtail-url"),
    Field("promtail_jobs", ("promtail", "jobs"), _names),
    Field("backend_url", ("backend", "url"), _url, "--backend-url"),
    Field("container", ("backend", "container"), _container, "--container"),
    Field("docker_host", ("backend", "docker_host"), _text_or_empty),
    Field("container_user", ("backend", "container_user"), _text),
    Field("app_dir", ("backend", "app_dir"), _text),
    Field("min_free_mb", ("backend", "min_free_mb"), _int),
    Field("max_clock_skew_seconds", ("backend", "max_clock_skew_seconds"), _seconds),
    Field("pattern_start", ("patterns", "start"), _regex),
    Field("pattern_completed", ("patterns", "completed"), _regex),
    Field("pattern_failed", ("patterns", "failed"), _regex),
    Field("pattern_skipped", ("patterns", "skipped"), _regex),
    Field("pattern_recovery_ok", ("patterns", "recovery_ok"), _regex),
    Field("pattern_recovery_failed", ("patterns", "recovery_failed"), _regex),
    Field("pattern_startup", ("patterns", "startup"), _regex),
    Field("connect_timeout_seconds", ("http", "connect_timeout_seconds"), _seconds),
    Field("read_timeout_seconds", ("http", "read_timeout_seconds"), _seconds),
    Field("retries", ("http", "retries"), _int),
    Field("run_deadline_seconds", ("http", "run_deadline_seconds"), _seconds),
    Field("reports_dir", ("reports_dir",), _text, "--reports-dir"),
    Field("signoff_doc", ("signoff", "document"), _text_or_empty, "--signoff-doc"),
    Field("documents", ("signoff", "documents"), _names_or_empty),
    Field("lessons_sections", ("signoff", "lessons_learned_sections"), _names),
    Field("heartbeat_url", ("heartbeat_url",), _heartbeat_url),
    Field("drill_lines", ("drill", "lines"), _drill_lines),
    Field("drill_margin_seconds", ("drill", "margin_seconds"), _seconds),
    # -m lint: where the checkout keeps its monitoring config (relative to --repo; empty: found by name)
    Field("lint_compose", ("lint", "compose"), _text_or_empty),
    Field("lint_grafana_provisioning", ("lint", "grafana_provisioning"), _text_or_empty),
    Field("lint_dashboards", ("lint", "dashboards"), _text_or_empty),
    Field("lint_loki_config", ("lint", "loki_config"), _text_or_empty),
    Field("lint_promtail_config", ("lint", "promtail_config"), _text_or_empty),
    Field("lint_loki_version", ("lint", "loki_version"), _text_or_empty),
)
FIELDS_BY_KEY = {f.key: f for f in FIELDS}
# Settings a site file may leave out, and what they are then.
OPTIONAL = {"week_start": None, "night": None, "on_call": (), "escalation": (), "alert_drills": (),
            "signoff_doc": "", "documents": (), "drill_margin_seconds": 60.0, "heartbeat_url": "",
            "loki_tenant": "", "loki_ca_bundle": "", "loki_verify": True, "loki_via": "direct",
            "lint_compose": "", "lint_grafana_provisioning": "", "lint_dashboards": "", "lint_loki_config": "",
            "lint_promtail_config": "", "lint_loki_version": "",
            "drill_lines": ("❌ Daily reset failed: alert drill {id} (opsverify), no reset was attempted",
                            "Daily queue reset failed: alert drill {id} (opsverify), no reset was attempted"),
            "lessons_sections": ("Monitoring Results", "Alert Effectiveness Analysis", "Technical Insights",
                                 "Process Improvements Identified", "Deployment Quality Assessment",
                                 "Recommendations for Future Deployments")}


@dataclass(frozen=True)
class Settings:
    site_name: str
    timezone: str
    reset_time: object
    grace_minutes: int
    settle_minutes: int
    window_before_minutes: float
    window_after_minutes: float
    max_reset_seconds: float
    week_start: object
    night: object
    grafana_url: str
    datasource_uid: str
    dashboard_uid: str
    rule_folder: str
    rule_group: str
    rules: tuple
    required_labels: tuple
    required_annotations: tuple
    receivers: dict
    on_call: tuple
    escalation: tuple
    alert_drills: tuple
    loki_url: str
    log_selector: str
    max_label_values: int
    loki_tenant: str
    loki_ca_bundle: str
    loki_verify: bool
    loki_via: str
    promtail_url: str
    promtail_jobs: tuple
    backend_url: str
    container: str
    docker_host: str
    container_user: str
    app_dir: str
    min_free_mb: int
    max_clock_skew_seconds: float
    pattern_start: str
    pattern_completed: str
    pattern_failed: str
    pattern_skipped: str
    pattern_recovery_ok: str
    pattern_recovery_failed: str
    pattern_startup: str
    connect_timeout_seconds: float
    read_timeout_seconds: float
    retries: int
    run_deadline_seconds: float
    reports_dir: str
    signoff_doc: str
    documents: tuple
    lessons_sections: tuple
    heartbeat_url: str
    drill_lines: tuple
    drill_margin_seconds: float
    lint_compose: str
    lint_grafana_provisioning: str
    lint_dashboards: str
    lint_loki_config: str
    lint_promtail_config: str
    lint_loki_version: str
    site_file: str = ""
    sources: dict = field(default_factory=dict, compare=False)  # key -> where its value came from
    credentials: Credentials = field(default_factory=Credentials)

    @property
    def selector(self):
        """The LogQL stream selector of the backend's log, with the container filled in."""
        return Template(self.log_selector).safe_substitute(container=self.container)

    @property
    def grace(self):
        return timedelta(minutes=self.grace_minutes)

    @property
    def settle(self):
        return timedelta(minutes=self.settle_minutes)

    @property
    def loki_endpoint(self):
        """Where Loki's API is reached: loki.url, or with loki.via: grafana Grafana's datasource proxy for the
        Loki datasource (GET/POST {grafana}/api/datasources/proxy/uid/{uid}/<Loki path>)."""
        if self.loki_via == "grafana":
            return f"{self.grafana_url}/api/datasources/proxy/uid/{self.datasource_uid}"
        return self.loki_url

    def endpoints(self):
        """The systems' base URLs (never with credentials), for report headers."""
        return {
            "Grafana": self.grafana_url,
            "Loki": self.loki_endpoint,
            "Promtail": self.promtail_url,
            "Backend": self.backend_url,
        }


def _flatten(document, site_file):
    """Site-file mapping -> {key: value}, refusing unknown keys and credentials."""
    by_path = {f.path: f for f in FIELDS if f.path}
    sections = {f.path[0] for f in FIELDS if len(f.path) == 2}
    values = {}

    def unknown(path):
        name = ".".join(path)
        if any(word in path[-1].lower() for word in CREDENTIAL_WORDS):
            return ConfigError(
                f"site file {site_file}: '{name}' looks like a credential; credentials come only from "
                f"the environment ({', '.join(CREDENTIAL_ENV.values())}). Remove it from the file."
            )
        siblings = sorted(".".join(p) for p in by_path if p[:-1] == path[:-1])
        return ConfigError(
            f"site file {site_file}: unknown key '{name}'. Known keys here: {', '.join(siblings)}."
        )

    for name, value in document.items():
        name = str(name)
        if name in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"site file {site_file}: '{name}' must be a mapping of settings")
            for sub, subvalue in value.items():
                path = (name, str(sub))
                if path not in by_path:
                    raise unknown(path)
                values[by_path[path].key] = subvalue
        elif (name,) in by_path:
            values[by_path[(name,)].key] = value
        else:
            raise unknown((name,))
    return values


def read_site_file(path):
    """The site file as {key: raw value}."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"site file {path}: cannot be read ({exc.strerror}). Set OPSVERIFY_SITE or --site to a site file."
        ) from None
    try:
        document = yamlsafe.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"site file {path}: not valid YAML{where}: {problem}. Fix the file.") from None
    if not isinstance(document, dict):
        raise ConfigError(f"site file {path}: must be a YAML mapping of settings, got {type(document).__name__}")
    return _flatten(document, path)


def load_settings(cli=None, environ=None, site_file=None):
    """Resolve every setting: built-in defaults < site file < environment < CLI.

    `cli` maps keys to command-line values (None = not given); `site_file`
    is the path given on the command line, else OPSVERIFY_SITE, else the
    bundled EscaShop site file.
    """
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    unknown = sorted(set(cli) - set(FIELDS_BY_KEY))
    if unknown:
        raise ConfigError(f"--set: unknown setting '{unknown[0]}'. Known settings: {', '.join(FIELDS_BY_KEY)}.")
    site_path = site_file or environ.get("OPSVERIFY_SITE") or str(DEFAULT_SITE)
    layers = [
        (f"site file {site_path}", read_site_file(site_path)),
        ("environment", {f.key: environ[f.env] for f in FIELDS if environ.get(f.env, "") != ""}),
        ("command line", cli),
    ]
    values, sources = {}, {}
    for f in FIELDS:
        raw, source = None, None
        for name, layer in layers:
            if f.key in layer:
                raw, source = layer[f.key], name
        if raw is None:
            if f.key in OPTIONAL:
                values[f.key] = OPTIONAL[f.key]
                continue
            raise ConfigError(
                f"setting '{f.key}' is not set: add '{f.where}' to the site file {site_path} or set {f.env}."
            )
        try:
            values[f.key] = f.parse(raw)
        except ValueError as exc:
            how = {"environment": f.env, "command line": f.cli or f"--set {f.key}=..."}.get(source, f"'{f.where}'")
            raise ConfigError(f"setting '{f.key}' from the {source}: {exc}. Fix {how}.") from None
        sources[f.key] = source
    for key, variable in CREDENTIAL_ENV.items():
        _check_credential(variable, environ.get(variable, ""))
    credentials = Credentials(
        grafana_user=environ.get(CREDENTIAL_ENV["grafana_user"], ""),
        grafana_password=Secret(environ.get(CREDENTIAL_ENV["grafana_password"])),
        grafana_token=Secret(environ.get(CREDENTIAL_ENV["grafana_token"])),
        backend_token=Secret(environ.get(CREDENTIAL_ENV["backend_token"])),
        loki_user=environ.get(CREDENTIAL_ENV["loki_user"], ""),
        loki_password=Secret(environ.get(CREDENTIAL_ENV["loki_password"])),
        loki_token=Secret(environ.get(CREDENTIAL_ENV["loki_token"])),
    )
    if credentials.grafana_password and not credentials.grafana_user:
        raise ConfigError("OPSVERIFY_GRAFANA_PASSWORD is set but OPSVERIFY_GRAFANA_USER is not: set both, or use "
                          "OPSVERIFY_GRAFANA_TOKEN.")
    _check_loki_access(values, credentials)
    return Settings(**values, site_file=str(site_path), sources=sources, credentials=credentials)


def _check_loki_access(values, credentials):
    """How Loki is reached must be one way: a token or a user, TLS verified against a CA bundle or not at all,
    directly or through Grafana (whose datasource then holds Loki's credentials and TLS settings)."""
    user, password, token = credentials.loki_user, credentials.loki_password, credentials.loki_token
    if token and (user or password):
        raise ConfigError("OPSVERIFY_LOKI_TOKEN and OPSVERIFY_LOKI_USER/OPSVERIFY_LOKI_PASSWORD are both set: Loki's "
                          "gateway gets one Authorization header, a bearer token or basic auth. Unset one of them.")
    if password and not user:
        raise ConfigError("OPSVERIFY_LOKI_PASSWORD is set but OPSVERIFY_LOKI_USER is not: set both (basic auth), or "
                          "use OPSVERIFY_LOKI_TOKEN.")
    if user and not password:
        raise ConfigError("OPSVERIFY_LOKI_USER is set but OPSVERIFY_LOKI_PASSWORD is not: set both (basic auth).")
    if values["loki_ca_bundle"] and not values["loki_verify"]:
        raise ConfigError("setting 'loki_ca_bundle' (loki.ca_bundle, OPSVERIFY_LOKI_CA_BUNDLE) is set but "
                          "'loki_verify' (loki.verify, OPSVERIFY_LOKI_VERIFY) is false: verify Loki's certificate "
                          "against the bundle, or not at all. Unset one of them.")
    if values["loki_via"] != "grafana":
        return
    if user or token:
        raise ConfigError("setting 'loki_via' (loki.via, OPSVERIFY_LOKI_VIA) is grafana: Loki is asked through "
                          "Grafana's datasource proxy with the Grafana credentials (OPSVERIFY_GRAFANA_TOKEN or "
                          "OPSVERIFY_GRAFANA_USER/PASSWORD), and Grafana's datasource adds Loki's own. "
                          "OPSVERIFY_LOKI_USER/PASSWORD/TOKEN would never be sent: unset them, or set loki.via: "
                          "direct.")
    if values["loki_ca_bundle"] or not values["loki_verify"]:
        raise ConfigError("setting 'loki_via' (loki.via, OPSVERIFY_LOKI_VIA) is grafana, but loki.ca_bundle or "
                          "loki.verify (OPSVERIFY_LOKI_CA_BUNDLE, OPSVERIFY_LOKI_VERIFY) is set: they apply to a "
                          "direct connection to Loki; through Grafana, its datasource holds Loki's TLS settings. "
                          "Unset them, or set loki.via: direct.")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", values["datasource_uid"]):
        raise ConfigError(f"setting 'datasource_uid' (grafana.datasource_uid, OPSVERIFY_DATASOURCE_UID) "
                          f"{_shown(values['datasource_uid'])} is not a Grafana uid (letters, digits, - and _, at most "
                          "40): loki.via: grafana reaches Loki at /api/datasources/proxy/uid/<it>. Fix it.")


def _check_credential(variable, value):
    """A credential with surrounding whitespace or a control character (an env file saved with CRLF line
    ends leaves a \\r) would be sent as it is, refused by the HTTP library, and echoed in its error:
    refuse it here, without showing it."""
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        name = {"\r": "a carriage return (\\r: the env file has Windows line ends? run dos2unix on it)",
                "\n": "a line feed (\\n)", "\t": "a tab"}.get(bad, f"the control character U+{ord(bad):04X}")
        raise ConfigError(f"{variable} contains {name}; its value is not shown. Set it again without it.")
    if value != value.strip():
        raise ConfigError(f"{variable} starts or ends with a space; its value is not shown. Set it again without "
                          f"the space (quote the value in the env file if it has spaces inside).")


def parse_set_options(items):
    """`--set key=value` options to {key: value}."""
    result = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {_shown(item)}: expected KEY=VALUE, e.g. --set grace_minutes=10")
        result[key.strip()] = value
    return result
