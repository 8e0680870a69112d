"""The state of one run, shared by the plugin and the fixtures: settings, night, clients, and the
facts checks record beside their verdicts (declared here, and only here)."""

from dataclasses import dataclass, field, fields
from datetime import timedelta

from opsverify.clients.backend import BackendClient
from opsverify.clients.docker import DockerClient
from opsverify.clients.grafana import GrafanaClient
from opsverify.clients.http import ClientError, Deadline, Journal
from opsverify.clients.loki import LokiClient
from opsverify.clients.promtail import PromtailClient
from opsverify.clock import RunClock
from opsverify.night import night_window


def night_of(settings, local_date):
    """The Night of `local_date` as the site defines its window."""
    return night_window(local_date, settings.reset_time, settings.timezone, grace=settings.grace,
                        before=timedelta(minutes=settings.window_before_minutes),
                        after=timedelta(minutes=settings.window_after_minutes))


class FactError(Exception):
    pass


class _Facts:
    def record(self, name, value):
        """Set the declared fact `name`; a mapping fact takes `value`'s items beside those it holds."""
        declared = [f.name for f in fields(self)]
        if name not in declared:
            raise FactError(f"'{name}' is not a fact a check may record of {self.OF} (declared in "
                            f"opsverify/runstate.py {type(self).__name__}: {', '.join(declared)})")
        if isinstance(getattr(self, name), dict):
            getattr(self, name).update(value)
        else:
            setattr(self, name, value)


@dataclass
class NightFacts(_Facts):
    """What checks learn of a night beside their verdicts; its ledger record keeps them."""

    OF = "a night"
    reset: str = ""  # the reset's outcome read from the night's lines (fixtures/reset.py)
    reset_duration_ms: int = None  # the completion line's duration
    alerts: dict = field(default_factory=dict)  # rule uid -> the replay's verdict and timeline
    promtail: dict = field(default_factory=dict)  # Promtail's counters as the run's own night read them


@dataclass
class WeekFacts(_Facts):
    """What the completion criteria measure of the week beside their verdicts."""

    OF = "the week"
    response_minutes: list = None  # fired -> resolved of each alert in Grafana's state history; None: not read
    document_updated: bool = False  # the criteria filled the sign-off document (--update-doc) before reading it


@dataclass
class DrillFacts(_Facts):
    """What an alert drill (pytest -m drill --drill) did and saw; the ledger keeps it as a drill record."""

    OF = "the drill"
    id: str = ""  # the value of its lines' opsverify_drill label
    at: str = ""  # when its lines were pushed (ISO 8601, Loki's clock)
    owner: str = ""  # who ran it
    writes: list = field(default_factory=list)  # what it wrote to production, one line each
    rules: dict = field(default_factory=dict)  # rule uid -> its verdict, stage, latencies, receivers


@dataclass
class RunState:
    settings: object
    night: object  # opsverify.night.Night
    day: int
    week_start: object
    target: str  # "production" or "sandbox: <scenario>"
    deadline: Deadline
    previous: object = None  # the ledger's record of the night before, if any
    waivers: list = field(default_factory=list)  # opsverify.waivers.Waiver
    nights: dict = field(default_factory=dict)  # date -> Night: this night, and with --week the ones backfilled
    journal: Journal = field(default_factory=Journal)
    night_facts: dict = field(default_factory=dict)  # date -> NightFacts
    week_facts: WeekFacts = field(default_factory=WeekFacts)
    drill_facts: DrillFacts = field(default_factory=DrillFacts)
    found_secrets: set = field(default_factory=set)  # secrets read during the run (decrypted webhook URLs)
    ticket: str = ""
    run_id: str = ""  # names this run in the records it changes
    night_reason: str = ""  # why this night: given, or the latest reset settled before the run's now
    ledger: object = None  # opsverify.week.Ledger: the nights' records and the week, shared by runs
    clock: RunClock = field(default_factory=RunClock)  # the machine's, or --now's against a sandbox
    _clients: dict = field(default_factory=dict)

    def __post_init__(self):
        self.nights = {self.night.date: self.night, **self.nights}

    @property
    def is_sandbox(self):
        return self.target != "production"

    @property
    def facts(self):
        """What checks learnt about the run's own night."""
        return self.facts_of(self.night)

    def facts_of(self, night):
        """The NightFacts of `night` (a Night)."""
        return self.night_facts.setdefault(night.date, NightFacts())

    def secrets(self):
        """Every value no output may show: the credentials, the heartbeat URL (its path is the switch's key)
        and what the run decrypted."""
        found = self.found_secrets | ({self.settings.heartbeat_url} if self.settings.heartbeat_url else set())
        return self.settings.credentials.values() + sorted(found, key=len, reverse=True)

    def client(self, system):
        """The one client of `system` for the run (loki, grafana, promtail, backend)."""
        if system not in self._clients:
            s, creds = self.settings, self.settings.credentials
            common = dict(deadline=self.deadline, journal=self.journal, retries=s.retries,
                          connect_timeout=s.connect_timeout_seconds, read_timeout=s.read_timeout_seconds)
            factories = {
                "loki": lambda: LokiClient(s.loki_endpoint, tenant=s.loki_tenant, **self._loki_access(), **common),
                "grafana": lambda: GrafanaClient(s.grafana_url, user=creds.grafana_user,
                                                 password=creds.grafana_password,
                                                 token=creds.grafana_token, **common),
                "promtail": lambda: PromtailClient(s.promtail_url, **common),
                "backend": lambda: BackendClient(s.backend_url, token=creds.backend_token, **common),
                "docker": lambda: DockerClient(s.docker_host, timeout=s.read_timeout_seconds),
            }
            self._clients[system] = factories[system]()
        return self._clients[system]

    def _loki_access(self):
        """How the Loki client authenticates: with loki.via: grafana as Grafana's client does (Grafana's datasource
        adds Loki's own credentials), else with the Loki gateway's credentials and TLS settings."""
        s, creds = self.settings, self.settings.credentials
        if s.loki_via == "grafana":
            return dict(user=creds.grafana_user, password=creds.grafana_password, token=creds.grafana_token,
                        via_grafana=s.datasource_uid)
        return dict(user=creds.loki_user, password=creds.loki_password, token=creds.loki_token,
                    verify=s.loki_ca_bundle or s.loki_verify)

    def versions(self):
        """Versions read from the systems for the report header; 'unknown (...)' where they did not say."""
        found = {}
        readers = {
            "Grafana": lambda: self.client("grafana").health().get("version", "unknown"),
            "Loki": lambda: self.client("loki").buildinfo().get("version", "unknown"),
            "Promtail": self._promtail_version,
        }
        for name, read in readers.items():
            try:
                found[name] = str(read())
            except ClientError as exc:
                found[name] = f"unknown ({exc.problem})"
        return found

    def _promtail_version(self):
        metrics = self.client("promtail").metrics()
        for name, labels, _ in metrics.samples:
            if name == "promtail_build_info" and labels.get("version"):
                return labels["version"]
        return "unknown (no promtail_build_info metric)"
