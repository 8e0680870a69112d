"""Scenarios: a week of the backend's log lines, rendered from data files.

A scenario file (scenarios/NAME.yml) is `base: healthy` plus the keys that make it itself (each replaces
the base's key whole), or a whole scenario as healthy.yml is. It says which template applies to each night;
the templates (scenarios/templates.yml) hold the lines the backend prints, byte
for byte. A scenario also names the Grafana configuration it runs with: a
provisioning directory under sandbox/provisioning/ (default escashop) and,
optionally, a directory of dashboard JSON files there that replaces the
provisioning directory's dashboards; `grafana_alerting` lists alerting files under
sandbox/provisioning/patches/ that Grafana reads after the directory's own (as if they sorted last
in its alerting/ folder; a later `policies` replaces the tree), so a defect is a small file, not a
copy of the directory; `grafana_edits` changes single values of the directory's files as Grafana reads
them ({file, at: a JSON pointer into it, value}), the way most defects are one value;
`grafana_root_url` is that Grafana's [server] root_url.
`loki_config` is a mapping merged over the sandbox's Loki configuration
(sandbox.loki_config: Loki's defaults and EscaShop's file), which the emulated
Loki then enforces and prints at GET /config. `promtail_jobs` and `promtail_files` are Promtail's
scrape jobs and the files inside its container (sandbox.promtail_config; default EscaShop's, as
captures 26 and 27 show); the backend's lines reach Loki through the docker job that discovers
`container`, with that job's `line_labels` added to each line's stream labels.
`promtail_started_hours`: when the Promtail now running started, in hours after the last night's reset
(default: a day before Day 1's reset); its counters count from then. Lines before it were shipped by the
Promtail before it; from it on, a line is shipped only if the docker job meant to ship the container
can reach its engine (not `socket_mounted: false`).
`durations` maps a night's number to its reset's duration in milliseconds (else 1.5-2.5 s, seeded).
`grafana_version` is the Grafana version the scenario needs (python -m sandbox --grafana-version's default;
a key such as keepFiringFor exists only from 12.x). `grafana_folder_parents` maps a rule folder's title
to the titles of the folders it is nested in, root first (Grafana 11's nested folders: someone moved it
there in the UI; provisioning files cannot say so).
`rules_changed_hours`: when Grafana's alert rules were last written (their `updated`, and where the
state history Grafana recorded for them begins), in hours after Day 1's reset; default -48, two
days before the week and its drill.
`ship_drop` and `ship_duplicate` are lists of regular expressions for the live mode's shipping
from the real container to Loki (python -m sandbox --docker --live): lines matching the first are
not shipped (log-shipping loss), lines matching the second are shipped twice. A scenario with either
is live-only. Live, the scenario's resets are at the live reset's time of day (`reset_time`) instead
of 00:00 (render_live).
Rendering a scenario for its last night gives Loki streams
[(labels, [(ns, line), ...])] and the facts the backend stand-in needs: its
last successful reset and its start-up, both instants in UTC.
"""

import random
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from .grafana import VERSIONS, parse_root_url
from .loki_config import LokiConfig, LokiConfigError
from .promtail_config import PromtailConfig, PromtailConfigError

SCENARIO_DIR = Path(__file__).parent / "scenarios"
PROVISIONING_DIR = Path(__file__).resolve().parent / "provisioning"
DEFAULT_PROVISIONING = "escashop"
TEMPLATES_FILE = SCENARIO_DIR / "templates.yml"
SCENARIO_KEYS = {"base", "timezone", "timezone_label", "container", "labels", "recent_traffic_minutes",
                 "nights", "templates", "durations", "rules_changed_hours", "vars", "grafana_provisioning",
                 "grafana_alerting", "grafana_edits", "dashboards", "grafana_root_url", "loki_config", "promtail_jobs",
                 "promtail_files", "ship_drop", "ship_duplicate", "promtail_started_hours",
                 "grafana_folder_parents", "grafana_version"}
LINE_KEYS = {"at", "end", "line", "stream", "event"}
TRAFFIC_KEYS = {"from", "to", "every"}
EVENTS = {"success", "startup", "drill"}
# A drill's lines are pushed with the backend's stderr labels plus this label (its id as value), so that
# they can be told from an incident's (issues 12 and 16).
DRILL_STREAM, DRILL_LABEL = "drill", "opsverify_drill"
# The reset's duration and the night's customer count vary per night, but a
# given night always renders the same (seeded by scenario and date).
DURATION_MS = (1500, 2500)
CUSTOMERS = (38, 82)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


class ScenarioError(Exception):
    pass


def names():
    """The scenarios there are files for."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yml") if p != TEMPLATES_FILE)


def load(name):
    """The scenario NAME, checked against the templates; ScenarioError names the problem."""
    path = SCENARIO_DIR / f"{name}.yml"
    if name not in names():
        raise ScenarioError(f"unknown scenario {name!r}; available: {', '.join(names())}")
    data = _with_base(path, _yaml(path))
    _only_keys(path, "the scenario", data, SCENARIO_KEYS)
    library = _yaml(TEMPLATES_FILE)
    scenario = Scenario(
        name=name,
        zone=ZoneInfo(data["timezone"]),
        zone_label=data["timezone_label"],
        container=data["container"],
        labels=data["labels"],
        nights=int(data["nights"]),
        plan=data["templates"],
        vars=data.get("vars") or {},
        durations=_durations(path, data.get("durations")),
        rules_changed_hours=float(data.get("rules_changed_hours", -48)),
        recent_traffic_minutes=int(data.get("recent_traffic_minutes", 0)),
        templates=library["templates"],
        access_log=library["access_log"],
        requests=library["requests"],
        grafana_provisioning=_provisioning_dir(path, "grafana_provisioning",
                                               data.get("grafana_provisioning", DEFAULT_PROVISIONING)),
        grafana_alerting=tuple(_provisioning_dir(path, "grafana_alerting", name, PROVISIONING_DIR / "patches", "file")
                               for name in data.get("grafana_alerting") or ()),
        grafana_edits=_edits(path, data.get("grafana_edits")),
        dashboards=(_provisioning_dir(path, "dashboards", data["dashboards"])
                    if data.get("dashboards") is not None else None),
        grafana_root_url=_root_url(path, data.get("grafana_root_url")),
        grafana_folder_parents=_folder_parents(path, data.get("grafana_folder_parents")),
        grafana_version=_grafana_version(path, data.get("grafana_version")),
        loki_overrides=data.get("loki_config"),
        loki_config=_loki_config(path, data.get("loki_config")),
        promtail=_promtail_config(path, data.get("promtail_jobs"), data.get("promtail_files")),
        ship_drop=_patterns(path, "ship_drop", data.get("ship_drop")),
        ship_duplicate=_patterns(path, "ship_duplicate", data.get("ship_duplicate")),
        promtail_started_hours=_hours(path, "promtail_started_hours", data.get("promtail_started_hours")),
    )
    scenario.check(path)
    return scenario


def _with_base(path, data, seen=()):
    """A scenario's keys over those of the scenario it names as `base` (a whole key replaces the base's: a
    scenario is its base plus the few keys that make it itself)."""
    base = data.get("base")
    if base is None:
        return data
    if base not in names() or base in seen or base == path.stem:
        raise ScenarioError(f"{path}: base {base!r} is not another scenario (available: {', '.join(names())})")
    base_path = SCENARIO_DIR / f"{base}.yml"
    own = {key: value for key, value in data.items() if key != "base"}
    return {**_with_base(base_path, _yaml(base_path), seen + (path.stem,)), **own}


def _yaml(path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _provisioning_dir(path, key, name, base=PROVISIONING_DIR, kind="directory"):
    """A directory (or file) under `base`, sandbox/provisioning/ by default, named relative to it."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ScenarioError(f"{path}: {key} must name a {kind} under {base}, not {name!r}")
    found = base / name
    if not (found.is_dir() if kind == "directory" else found.is_file()):
        raise ScenarioError(f"{path}: {key}: no {kind} {found}")
    return found


def _edits(path, value):
    """((file, pointer, value), ...) of `grafana_edits`: each a file of the provisioning directory
    (relative), a JSON pointer into it and the value it holds there."""
    edits = []
    for i, item in enumerate(value or ()):
        if not isinstance(item, dict) or set(item) != {"file", "at", "value"}:
            raise ScenarioError(f"{path}: grafana_edits[{i}] must be {{file, at, value}}")
        file, at = item["file"], item["at"]
        if not isinstance(file, str) or Path(file).is_absolute() or ".." in Path(file).parts:
            raise ScenarioError(f"{path}: grafana_edits[{i}].file must be a path inside the provisioning directory")
        if not isinstance(at, str) or not at.startswith("/"):
            raise ScenarioError(f"{path}: grafana_edits[{i}].at must be a JSON pointer such as /groups/0/rules/1")
        edits.append((file, at, item["value"]))
    return tuple(edits)


def _durations(path, value):
    """{night number: milliseconds}: nights whose reset takes that long instead of the usual 1.5-2.5 s."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, int) and isinstance(v, int) and v > 0
                                              for k, v in value.items()):
        raise ScenarioError(f"{path}: durations must map night numbers to milliseconds, e.g. {{5: 720000}}")
    return dict(value)


def _grafana_version(path, value):
    if value is not None and str(value) not in VERSIONS:
        raise ScenarioError(f"{path}: grafana_version {value!r}: the sandbox plays {', '.join(VERSIONS)}")
    return None if value is None else str(value)


def _folder_parents(path, value):
    """{folder title: [parent titles, root first]}."""
    value = value or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, list) and v and
                                              all(isinstance(t, str) and t for t in v) for k, v in value.items()):
        raise ScenarioError(f"{path}: grafana_folder_parents must map a folder title to a list of parent titles, "
                            "e.g. {alerts: [EscaShop]}")
    return {k: list(v) for k, v in value.items()}


def _root_url(path, value):
    if value is None:
        return None
    try:
        parse_root_url(value)
    except ValueError as exc:
        raise ScenarioError(f"{path}: grafana_root_url: {exc}") from None
    return value


def _loki_config(path, overrides):
    try:
        return LokiConfig.site(overrides, where="loki_config")
    except LokiConfigError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _promtail_config(path, jobs, files):
    try:
        return PromtailConfig.site(jobs, files)
    except PromtailConfigError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _hours(path, key, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{path}: {key} must be a number of hours, not {value!r}")
    return float(value)


def _patterns(path, key, values):
    if values is None:
        return []
    if not isinstance(values, list):
        raise ScenarioError(f"{path}: {key} must be a list of regular expressions")
    try:
        return [re.compile(value) for value in values]
    except (re.error, TypeError) as exc:
        raise ScenarioError(f"{path}: {key}: {values!r}: {exc}") from None


def _only_keys(path, what, mapping, allowed):
    unknown = set(mapping) - allowed
    if unknown:
        raise ScenarioError(f"{path}: {what} has keys the sandbox does not understand: {', '.join(sorted(unknown))}")


@dataclass
class Scenario:
    name: str
    zone: ZoneInfo
    zone_label: str
    container: str
    labels: dict  # stream name (stdout/stderr) -> Loki labels
    nights: int
    plan: dict  # night number or "default" -> template names
    vars: dict
    recent_traffic_minutes: int
    templates: dict
    access_log: str
    requests: list
    grafana_provisioning: Path = PROVISIONING_DIR / DEFAULT_PROVISIONING
    durations: dict = field(default_factory=dict)  # night number -> the reset's milliseconds (else seeded)
    rules_changed_hours: float = -48  # when the alert rules were last changed: hours after Day 1's reset
    grafana_alerting: tuple = ()  # alerting files read after the provisioning directory's own
    grafana_edits: tuple = ()  # (file, JSON pointer, value): values changed as Grafana reads the files
    dashboards: Path = None  # None: the provisioning directory's own dashboards
    grafana_root_url: str = None  # None: the CLI's default
    grafana_folder_parents: dict = field(default_factory=dict)  # folder title -> parent titles, root first
    grafana_version: str = None  # the Grafana version it needs (a key of grafana.VERSIONS); None: any
    loki_overrides: dict = None  # the scenario's loki_config mapping, as written
    loki_config: LokiConfig = None  # the configuration the emulated Loki runs with
    promtail: PromtailConfig = None  # the emulated Promtail's jobs and files (None: EscaShop's)
    ship_drop: list = field(default_factory=list)  # compiled regexes: live lines not shipped to Loki
    ship_duplicate: list = field(default_factory=list)  # compiled regexes: live lines shipped twice
    reset_time: time = time(0, 0)  # the resets' local time of day (live mode moves it)
    promtail_started_hours: float = None  # hours after the last night's reset; None: a day before Day 1's

    def rules_updated(self, first_night):
        """When Grafana's alert rules were last written, for the week starting with `first_night`."""
        return self.reset_instant(first_night) + timedelta(hours=self.rules_changed_hours)

    @property
    def live_only(self):
        """Whether the scenario only means something with --live (it shapes the live shipping)."""
        return bool(self.ship_drop or self.ship_duplicate)

    def __post_init__(self):
        if self.promtail is None:
            self.promtail = PromtailConfig.site()

    def check(self, path):
        """Fail at load time, not half-way through a render."""
        try:
            shipping = self.promtail.shipping_job(self.container)
        except PromtailConfigError as exc:
            raise ScenarioError(f"{path}: {exc}") from None
        for stream, labels in self.labels.items():
            clash = sorted(set(shipping.line_labels) & set(labels))
            if clash:
                raise ScenarioError(f"{path}: promtail_jobs ({shipping.job_name}) line_labels {', '.join(clash)} "
                                    f"would replace the {stream} stream's own label")
        if "default" not in self.plan:
            raise ScenarioError(f"{path}: templates needs a 'default' entry")
        for night, names_ in self.plan.items():
            if night != "default" and not (isinstance(night, int) and 1 <= night <= self.nights):
                raise ScenarioError(f"{path}: templates key {night!r} is not 'default' or a night 1..{self.nights}")
            for template in names_:
                if template not in self.templates:
                    raise ScenarioError(f"{path}: night {night}: no template {template!r} in {TEMPLATES_FILE}")
        for name, items in self.templates.items():
            line_items = [item for item in items if "traffic" not in item]
            if line_items and "at" not in line_items[0]:
                raise ScenarioError(f"{TEMPLATES_FILE}: template {name!r}: its first line needs 'at' "
                                    "(it is the reset's start)")
            for item in items:
                if "traffic" in item:
                    _only_keys(TEMPLATES_FILE, f"template {name!r} traffic", item["traffic"], TRAFFIC_KEYS)
                    continue
                _only_keys(TEMPLATES_FILE, f"template {name!r} line", item, LINE_KEYS)
                if ("at" in item) == ("end" in item):
                    raise ScenarioError(f"{TEMPLATES_FILE}: template {name!r}: each line needs exactly one of at/end")
                if item.get("stream", "stdout") not in {**self.labels, DRILL_STREAM: None}:
                    raise ScenarioError(f"{TEMPLATES_FILE}: template {name!r}: no labels for stream {item['stream']!r}")
                if item.get("event", "success") not in EVENTS:
                    raise ScenarioError(f"{TEMPLATES_FILE}: template {name!r}: unknown event {item['event']!r}")

    def stream_labels(self, stream, instant):
        """The Loki labels of a line the container printed on `stream` at `instant` (an aware datetime).

        The stream's labels, plus the shipping docker job's line_labels: `local_time` is the
        line's instant in the scenario's zone to the second, as capture 07's `timestamp` label.
        """
        if stream == DRILL_STREAM:  # pushed by the drill, not shipped by Promtail: no line labels
            return {**self.labels["stderr"], DRILL_LABEL: f"drill-{instant.astimezone(self.zone).date()}"}
        labels = dict(self.labels[stream])
        for name, source in self.promtail.shipping_job(self.container).line_labels.items():
            if source != "local_time":  # PromtailConfig refuses any other; refuse here too rather than guess
                raise ScenarioError(f"line label {name}: unknown source {source!r}")
            labels[name] = instant.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")
        return labels

    def startup_lines(self):
        """What the backend prints when it starts, for its stand-in container: the template line marked
        `startup` and the lines within a second after it, filled in for this scenario's zone."""
        values = {"zone": self.zone_label, **{k: str(v) for k, v in self.vars.items()}}
        for items in self.templates.values():
            timed = [item for item in items if "at" in item]
            for index, item in enumerate(timed):
                if item.get("event") == "startup":
                    return [_fill(later["line"], values) for later in timed[index:]
                            if later["at"] - item["at"] < 1]
        raise ScenarioError(f"{TEMPLATES_FILE}: no template has a line with event: startup")

    def week(self, last_night):
        """The local dates of the week's resets, first to last."""
        return [last_night - timedelta(days=self.nights - 1 - i) for i in range(self.nights)]

    def reset_instant(self, night):
        """The reset (00:00 local unless reset_time moves it) on `night`, in UTC."""
        return datetime.combine(night, self.reset_time, self.zone).astimezone(timezone.utc)

    def default_night(self, now):
        """The most recent local midnight at least 10 minutes before `now` (an aware datetime)."""
        return (now - timedelta(minutes=10)).astimezone(self.zone).date()

    def access_line(self, index, when):
        """The `index`-th request of the rotation as an access log line stamped `when`."""
        request = self.requests[index % len(self.requests)]
        clf = when.astimezone(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        return self.access_log.format(clf=clf, **request)

    def render(self, last_night, now):
        """The week ending with `last_night`, without anything later than `now`."""
        lines = []  # (instant, stream, line, event)
        for number, night in enumerate(self.week(last_night), start=1):
            for template in self.plan.get(number, self.plan["default"]):
                lines.extend(self._night_lines(template, night, number))
        for minute in range(self.recent_traffic_minutes, 0, -1):
            when = now - timedelta(minutes=minute)
            lines.append((when, "stdout", self.access_line(minute, when), None))
        lines = sorted((item for item in lines if item[0] <= now), key=lambda item: item[0])
        return Rendered(self, last_night, lines)

    def render_live(self, reset, horizon, now):
        """The live mode's week: (scenario, rendered, preload, live).

        `reset` (aware, a whole second) is the last night's reset; every night's reset is at its
        local time of day. `preload`: nights 1..N-1 and the recent traffic before `now`, as Loki
        streams. `live`: the last night's lines up to `horizon` seconds after `reset`, as
        [(instant, stream, line)] for the container to print. `rendered` holds both.
        """
        local = reset.astimezone(self.zone)
        live_scenario = replace(self, reset_time=local.time().replace(microsecond=0))
        week = live_scenario.week(local.date())
        earlier, last = [], []
        for number, night in enumerate(week, start=1):
            for template in self.plan.get(number, self.plan["default"]):
                (last if number == len(week) else earlier).extend(live_scenario._night_lines(template, night,
                                                                                             number))
        for minute in range(self.recent_traffic_minutes, 0, -1):
            when = now - timedelta(minutes=minute)
            earlier.append((when, "stdout", self.access_line(minute, when), None))
        earlier = sorted((item for item in earlier if item[0] <= now), key=lambda item: item[0])
        cut = reset + timedelta(seconds=horizon)
        last = sorted((item for item in last if item[0] <= cut), key=lambda item: item[0])
        rendered = Rendered(live_scenario, local.date(), sorted(earlier + last, key=lambda item: item[0]))
        preload = Rendered(live_scenario, local.date(), earlier).streams()
        return live_scenario, rendered, preload, [(when, stream, line) for when, stream, line, _ in last]

    def _night_lines(self, template, night, number):
        reset = self.reset_instant(night)
        rng = random.Random(f"{self.name}:{night.isoformat()}")
        seeded = rng.randint(*DURATION_MS)  # drawn whatever `durations` says: the night's other values stay
        duration = timedelta(milliseconds=self.durations.get(number, seeded))
        values = {
            "date": night.isoformat(),
            "day_before": (night - timedelta(days=1)).isoformat(),
            "duration_ms": str(duration // timedelta(milliseconds=1)),
            "customers": str(rng.randint(*CUSTOMERS)),
            "zone": self.zone_label,
            "drill_error": "connect ECONNREFUSED 127.0.0.1:5432 (alert drill: database stopped on purpose)",
            "reset_clock": self.reset_time.strftime("%H:%M:%S"),
            **{k: str(v) for k, v in self.vars.items()},
        }
        items = self.templates[template]
        start = None
        for item in items:
            if "traffic" in item:
                spec = item["traffic"]
                for i, offset in enumerate(range(spec["from"], spec["to"] + 1, spec["every"])):
                    when = reset + timedelta(seconds=offset, milliseconds=rng.randint(0, 999))
                    yield when, "stdout", self.access_line(i, when), None
                continue
            if "at" in item:
                when = reset + timedelta(seconds=item["at"])
            else:
                when = start + duration + timedelta(seconds=item["end"])
            start = start or when  # the reset's start is the template's first line
            line = _fill(item["line"], {**values, "iso": iso_ms(when)})
            yield when, item.get("stream", "stdout"), line, item.get("event")


def _fill(text, values):
    """Replace {name} placeholders; other braces (Node's object print) stay as they are."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def iso_ms(instant):
    """JavaScript's Date.toISOString(): UTC, milliseconds, Z."""
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def to_ns(instant):
    return int(instant.timestamp()) * 1_000_000_000 + instant.microsecond * 1000


@dataclass
class Rendered:
    scenario: Scenario
    last_night: date
    lines: list  # (instant, stream, line, event), in time order

    @property
    def first_night(self):
        return self.scenario.week(self.last_night)[0]

    @property
    def promtail_started(self):
        """When the Promtail now running started (UTC)."""
        if self.scenario.promtail_started_hours is None:
            return self.scenario.reset_instant(self.first_night) - timedelta(days=1)
        return self.scenario.reset_instant(self.last_night) + timedelta(hours=self.scenario.promtail_started_hours)

    def shipped(self, instant):
        """Whether a line the container printed at `instant` reached Loki: not once the running Promtail,
        started without the socket its docker job needs, was the one to ship it."""
        return instant < self.promtail_started or self.scenario.promtail.shipping_job(
            self.scenario.container).socket_mounted

    def streams(self):
        """[(labels, [(ns, line), ...])], one entry per label set, as Loki takes them: the lines that were
        shipped (a drill's always: the drill pushed them)."""
        by_labels = {}
        for instant, stream, line, _ in self.lines:
            if stream != DRILL_STREAM and not self.shipped(instant):
                continue
            labels = self.scenario.stream_labels(stream, instant)
            by_labels.setdefault(tuple(labels.items()), []).append((to_ns(instant), line))
        return [(dict(key), entries) for key, entries in by_labels.items()]

    def _last(self, event):
        instants = [instant for instant, _, _, e in self.lines if e == event]
        return instants[-1] if instants else None

    @property
    def drills(self):
        """When the week's alert drills began."""
        return [instant for instant, _, _, e in self.lines if e == "drill"]

    @property
    def started(self):
        """The container's last start-up in the logs, or None if it started before them."""
        return self._last("startup")

    @property
    def last_reset(self):
        """The backend's in-memory lastReset: the last success since its last start-up, or None."""
        success = self._last("success")
        if success is None or (self.started is not None and self.started > success):
            return None
        return success
