"""python -m sandbox: the EscaShop stack stand-in, for demos and end-to-end tests.

Starts Loki (unless --external-loki), Grafana, Promtail and the backend on
ephemeral loopback ports, loads a scenario's week of log lines into Loki,
writes the OPSVERIFY_* settings that point at them, then serves until SIGTERM
or SIGINT. Startup errors go to stderr with exit code 2. --volume LINES adds LINES
production-like lines to each day of the week, in several streams (sandbox.volume).
Each stream goes in oldest first, and into an --external-loki with Promtail's backoff on
429, then read back (sandbox.loading); --stream-label NAME=VALUE puts the week in streams
of its own.

Grafana is provisioned from the scenario's directory under sandbox/provisioning/
(--grafana-provisioning and --dashboards override it) and answers with the
scenario's root_url (--grafana-root-url overrides it). Loki runs with the
scenario's configuration (loki_config), which it prints at GET /config; Promtail
with the scenario's scrape jobs and container files (promtail_jobs, promtail_files),
which its /targets, /service-discovery and /metrics show.
With --now ISO8601 the sandbox's clock (sandbox.clock) reads that instant when it starts and runs on
from there: the default night, the week, Loki's retention and push limits, Grafana's evaluations and
the backend's answers all follow it, and the settings carry OPSVERIFY_NOW (the clock's reading when
the sandbox is ready) so that the suite's clock agrees.
--clock-rate N runs that clock N times as fast as the machine's (Date headers, Loki, Grafana's evaluations and its
Alertmanager's timings follow it; the settings then carry SANDBOX_CLOCK_RATE), for alert drills in seconds.
--webhook-receiver runs sandbox.webhook_receiver and gives every contact point a webhook integration posting
there (provisioning/patches/webhook-receivers.yml); SANDBOX_WEBHOOK_RECEIVER_URL/deliveries lists the posts.
--var NAME=VALUE replaces one of the scenario's vars (NAME=@PATH reads it from a file): failed-night's
error text, for instance, to see a hostile or huge failure line.
SANDBOX_GRAFANA_PASSWORD,
SANDBOX_GRAFANA_TOKEN and SANDBOX_BACKEND_TOKEN fix the credentials; with
SANDBOX_GRAFANA_VIEWER_PASSWORD set, Grafana also has a user "viewer" with the
Viewer role (what Grafana refuses a non-admin, e.g. a decrypted contact point export).

With --docker, the backend's container runs for real on the Docker engine at DOCKER_HOST
(default unix:///var/run/docker.sock): the stand-in of sandbox.standin, named as the
scenario's container, healthy before the sandbox is ready, removed when it stops. The
settings then carry DOCKER_HOST. A same-named container the sandbox did not create
(no label opsverify.sandbox=1) is never touched: the sandbox refuses to start.

With --docker --live (sandbox.live), the last night's reset R is --live-lead (3) s from now, rounded up to the
whole second, and every night resets at R's local time of day: nights 1..N-1 are preloaded, the
last night's lines are printed by the container at their offsets from R (those before R at once
when it starts: the past cannot be printed) up to --live-horizon seconds after R, and shipped from
its log into Loki as Promtail's docker discovery does. A scenario whose last night starts the
container before R (restart-in-window) has it restarted 2 s before R. The settings then carry
OPSVERIFY_RESET_TIME and SANDBOX_LIVE_HORIZON, and the sandbox is ready only once R + the horizon
has passed and every line the container printed was shipped. Scenarios with ship_drop or
ship_duplicate are live-only.

Loki as production exposes it (sandbox.loki_access): --loki-tenant T runs Loki with auth_enabled: true (a
request without X-Scope-OrgID gets 401 "no org id"; each tenant's logs are its own) and loads the week under
tenant T; --loki-gateway-user U puts an nginx-like gateway with basic auth in front of it (password:
SANDBOX_LOKI_GATEWAY_PASSWORD, else a random one). Grafana's Loki datasource is then provisioned with the tenant
header and the gateway's basic auth, and the settings carry OPSVERIFY_LOKI_TENANT, OPSVERIFY_LOKI_USER and
OPSVERIFY_LOKI_PASSWORD. Grafana's datasource proxy (/api/datasources/proxy/uid/<uid>/...) always answers:
OPSVERIFY_LOKI_VIA=grafana sends the suite through it.
"""

import argparse
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sys
import tempfile
import threading
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from . import (backend, grafana, grafana_files, grafana_webhook, live, loading, loki_access, promtail, scenario,
               standin, volume, webhook_receiver)
from .clock import Clock, parse_instant
from .httpserver import FAULT_KINDS, RequestLog, Server
from .loki import LokiStore
from .loki import make_app as make_loki_app

SYSTEMS = ("loki", "grafana", "promtail", "backend")
WEBHOOK_PATCH = Path(__file__).parent / "provisioning" / "patches" / "webhook-receivers.yml"
DRILL_OWNER = "sandbox-devops-team"  # who ran the scenario's drills, as the site file would say
GRAFANA_USER = "admin"
GRAFANA_VIEWER = "viewer"  # exists when SANDBOX_GRAFANA_VIEWER_PASSWORD is set


class StartupError(Exception):
    pass


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="healthy", help="scenario name (sandbox/scenarios/NAME.yml)")
    parser.add_argument("--night", type=_date, help="the last night: the local date whose 00:00 reset is the "
                        "scenario's last (default: the most recent local midnight at least 10 minutes ago)")
    parser.add_argument("--now", type=_instant, metavar="ISO8601",
                        help="the sandbox's clock reads this instant when it starts and runs on from there "
                        "(e.g. 2026-11-29T00:30:00+08:00); everything it dates follows it: the week, Loki's "
                        "retention, Grafana's evaluations, the backend's answers (sandbox.clock). Give the suite "
                        "the same --now. Default: the machine's clock")
    parser.add_argument("--clock-rate", type=_rate, default=1.0, metavar="N",
                        help="the sandbox's clock runs N times as fast as the machine's (default: 1): Loki, "
                        "Grafana's rule evaluations, its Alertmanager's group_wait and the Date headers all follow "
                        "it, so that an alert drill of minutes takes seconds. Not with --live")
    parser.add_argument("--webhook-receiver", action="store_true",
                        help="run a webhook receiver (sandbox.webhook_receiver) and give every contact point of "
                        "the policy tree a webhook integration posting there (provisioning/patches/"
                        "webhook-receivers.yml); the settings carry SANDBOX_WEBHOOK_RECEIVER_URL, whose "
                        "/deliveries lists what was posted")
    parser.add_argument("--ping-receiver", action="store_true",
                        help="run a receiver for a dead-man's switch's pings (sandbox.webhook_receiver records every "
                        "POST) and put a ping URL in its convention (<base>/ping/<uuid>, as Healthchecks.io's) into "
                        "the settings, OPSVERIFY_HEARTBEAT_URL; SANDBOX_PING_RECEIVER_URL/deliveries lists the pings")
    parser.add_argument("--var", action="append", type=_var, default=[], metavar="NAME=VALUE",
                        help="replace one of the scenario's vars (e.g. failed-night's error text); NAME=@PATH "
                        "reads the value from a file (UTF-8), for values longer than a command line takes. "
                        "Repeatable")
    parser.add_argument("--env-file", type=Path, help="write the OPSVERIFY_* settings here (atomically)")
    parser.add_argument("--external-loki", metavar="URL", help="push the scenario into this Loki instead of "
                        "running one, and check that it serves every line")
    parser.add_argument("--grafana-provisioning", type=Path, metavar="DIR",
                        help="a Grafana provisioning directory (default: the scenario's, "
                        "sandbox/provisioning/escashop unless it names another)")
    parser.add_argument("--dashboards", type=Path, metavar="DIR",
                        help="a directory of dashboard JSON files, read as Grafana's file dashboard provider "
                        "reads its path; replaces the provisioning directory's dashboards (default: the "
                        "scenario's, if it names one)")
    parser.add_argument("--grafana-root-url", metavar="URL",
                        help="Grafana's [server] root_url, which /api/frontend/settings reports as appUrl (default: "
                        f"the scenario's grafana_root_url, else {grafana.DEFAULT_ROOT_URL})")
    parser.add_argument("--grafana-database-failing", action="store_true",
                        help="Grafana's database ping fails: GET /api/health answers 503 \"database\": \"failing\" "
                        "(the other endpoints answer as before)")
    parser.add_argument("--grafana-history", choices=("annotations", "loki", "prometheus", "off"),
                        default="annotations",
                        help="Grafana's alert state history backend (default: %(default)s, Grafana 11's); off: "
                        "history disabled; prometheus: Grafana 12's, which answers no history queries")
    parser.add_argument("--grafana-version", choices=list(grafana.VERSIONS),
                        help="the Grafana version the sandbox's Grafana plays (default: the scenario's, else 11.3): "
                        "/api/health, the API shapes and behaviours that differ between versions")
    parser.add_argument("--down", action="append", choices=SYSTEMS, default=[], metavar="SYSTEM",
                        help="do not serve SYSTEM (loki|grafana|promtail|backend); its URL points at a "
                        "loopback port where nothing listens. Repeatable.")
    parser.add_argument("--fault", action="append", type=_fault, default=[], metavar="SYSTEM=KIND",
                        help="every request SYSTEM (" + "|".join(SYSTEMS) + ") gets meets the fault KIND ("
                        + "|".join(FAULT_KINDS) + "; sandbox/httpserver.py says what each imitates); "
                        "down is --down. Repeatable, at most one fault a system.")
    parser.add_argument("--slow-seconds", type=float, default=30.0, metavar="S",
                        help="with a slow fault: seconds before the answer (default: %(default)s)")
    parser.add_argument("--request-log", type=Path, metavar="PATH",
                        help="append every request the emulated systems serve to PATH, one JSON object a line "
                        "(system, method, path, params: names only, status, bytes, fault); a down system's "
                        "requests cannot be logged: nothing listens")
    parser.add_argument("--volume", type=int, default=0, metavar="LINES",
                        help="also load LINES production-like lines for each day of the week (backend access and "
                        "application log, other containers; sandbox.volume), matching none of the scheduler's "
                        "patterns (default: %(default)s)")
    parser.add_argument("--stream-label", type=_label, metavar="NAME=VALUE",
                        help="add this label to every stream the sandbox pushes (its own lines, the volume, the "
                        "drills), and to the selector in its settings (OPSVERIFY_LOG_SELECTOR): the week goes "
                        "into streams of its own, e.g. in an --external-loki that already holds the same "
                        "container's lines")
    parser.add_argument("--loki-tenant", metavar="TENANT",
                        help="Loki runs with auth_enabled: true: a query or push without X-Scope-OrgID gets 401 "
                        "'no org id', and each tenant sees only its own logs; the week is loaded under TENANT, "
                        "Grafana's Loki datasource sends it, and the settings carry OPSVERIFY_LOKI_TENANT")
    parser.add_argument("--loki-gateway-user", metavar="USER",
                        help="put a gateway with basic auth (nginx auth_basic) in front of Loki for USER, with the "
                        "password in SANDBOX_LOKI_GATEWAY_PASSWORD (else a random one); Grafana's Loki datasource "
                        "uses them, and the settings carry OPSVERIFY_LOKI_USER and OPSVERIFY_LOKI_PASSWORD")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--docker", action="store_true",
                        help="also run the backend's container (the stand-in) on the Docker engine at DOCKER_HOST "
                        f"(default {standin.DEFAULT_DOCKER_HOST}), with --network none")
    parser.add_argument("--live", action="store_true",
                        help="with --docker: the last night's reset happens --live-lead seconds from now (rounded "
                        "up to the second) and its lines are printed live by the container and shipped from its log")
    parser.add_argument("--live-lead", type=float, default=live.LEAD, metavar="SECONDS",
                        help="with --live: seconds from now to the reset (default: %(default)s); the container "
                        "starts at once, so a longer lead puts its start further before the reset")
    parser.add_argument("--live-horizon", type=float, default=live.DEFAULT_HORIZON, metavar="SECONDS",
                        help="with --live: print the last night's lines up to this many seconds after its reset "
                        "(default: %(default)s; later ones, e.g. a failed night's retry at +300 s, are cut)")
    args = parser.parse_args(argv)
    if args.live and not args.docker:
        parser.error("--live needs --docker (the container prints the last night live)")
    if args.live and args.night:
        parser.error("--live and --night exclude each other (live, the last night is today's)")
    if args.live and args.now:
        parser.error("--live and --now exclude each other (live, the container prints on the Docker engine's "
                     "clock, which the sandbox cannot set)")
    if args.live_horizon < 0:
        parser.error("--live-horizon must not be negative")
    if args.live_lead < live.LEAD:
        parser.error(f"--live-lead must be at least {live.LEAD} s (the container needs that to start)")
    if args.external_loki and "loki" in args.down:
        parser.error("--external-loki and --down loki exclude each other")
    for option, value in (("--loki-tenant", args.loki_tenant), ("--loki-gateway-user", args.loki_gateway_user)):
        if value is not None and (args.external_loki or "loki" in args.down):
            parser.error(f"{option} plays the sandbox's own Loki: not with --external-loki or --down loki")
    if args.loki_tenant is not None and not re.fullmatch(r"[A-Za-z0-9!\-_.*'()]{1,150}", args.loki_tenant) \
            or args.loki_tenant in (".", ".."):
        parser.error("--loki-tenant: a tenant ID of letters, digits and !-_.*'() (at most 150), not . or ..")
    if args.loki_gateway_user is not None and (not args.loki_gateway_user or ":" in args.loki_gateway_user):
        parser.error("--loki-gateway-user: a user name without ':'")
    if args.volume < 0:
        parser.error("--volume must not be negative")
    _check_faults(parser, args)
    return args


def _fault(text):
    system, sep, kind = text.partition("=")
    if not sep or system not in SYSTEMS or kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not SYSTEM=KIND with SYSTEM one of {', '.join(SYSTEMS)} "
                                         f"and KIND one of {', '.join(FAULT_KINDS)}")
    return system, kind


def _check_faults(parser, args):
    """args.faults: system -> kind, one a system; --fault X=down joins --down X."""
    args.faults = {}
    for system, kind in args.fault:
        if system in args.faults or (system in args.down and kind != "down"):
            parser.error(f"--fault {system}={kind}: {system} has a fault already (at most one a system)")
        args.faults[system] = kind
    args.faults.update({system: "down" for system in args.down})
    args.down = [system for system in SYSTEMS if args.faults.get(system) == "down"]
    if args.external_loki and "loki" in args.faults:
        parser.error(f"--external-loki and --fault loki={args.faults['loki']} exclude each other "
                     "(the sandbox does not serve that Loki)")
    if args.slow_seconds < 0:
        parser.error("--slow-seconds must not be negative")


def _date(text):
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-29") from None


def _var(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not NAME=VALUE or NAME=@PATH")
    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text(encoding="utf-8").removesuffix("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise argparse.ArgumentTypeError(f"--var {name}: cannot read {value[1:]}: {exc}") from None
    return name, value


def _label(text):
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) or not value:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not NAME=VALUE with a Loki label name and a value")
    return name, value


def _rate(text):
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate <= 10000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a clock rate: a number above 0, at most 10000")
    return rate


def _instant(text):
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dead_url(host):
    """A URL on a loopback port that was free a moment ago and that nothing listens on."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}"


def _volume(args, sc, night, now):
    """The --volume lines of the week, with the --stream-label on every stream."""
    if not args.volume:
        return ()
    extra = dict([args.stream_label]) if args.stream_label else {}
    return (({**labels, **extra}, entries) for labels, entries in volume.streams(sc, night, args.volume, now))


class _Restarted:
    """Ships the week as a Promtail restarted within it would have (scenario promtail_started_hours): the lines
    before its start through the process before it, whose counters are gone; those after through `current`,
    the one /metrics shows, and only those it can see (Rendered.shipped)."""

    def __init__(self, current, rendered):
        self.current = current
        self.previous = promtail.Shipper(current.loki_url, store=current.store)
        self.start_ns = scenario.to_ns(rendered.promtail_started)
        self.sees = rendered.shipped(rendered.promtail_started)  # whether the running Promtail ships at all

    def ship(self, streams):
        answers = []
        for before in (True, False):
            batch = [(labels, kept) for labels, entries in streams
                     if (kept := [(ns, line) for ns, line in entries
                                  if (ns < self.start_ns) == before and (before or self.sees)])]
            if batch:
                answers.append((self.previous if before else self.current).ship(batch))
        refused = [answer for answer in answers if answer[0] != 204]
        return refused[-1] if refused else (204, "")


def write_env_file(path, values):
    """KEY=VALUE lines, written to a temporary file and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _scenario(args, now):
    """(scenario, night): the scenario with the options' vars and stream label, and the night it ends on."""
    sc = scenario.load(args.scenario)
    unknown = [name for name, _ in args.var if name not in sc.vars]
    if unknown:
        raise StartupError(f"--var {unknown[0]}: scenario {sc.name} has no such var (it has: "
                           f"{', '.join(sorted(sc.vars)) or 'none'})")
    sc = replace(sc, vars={**sc.vars, **dict(args.var)})
    if sc.live_only and not args.live:
        raise StartupError(f"scenario {sc.name} shapes how the container's lines are shipped to Loki (ship_drop/"
                           "ship_duplicate): it only means something live; run it with --docker --live")
    night = args.night or sc.default_night(now)
    if not args.live and sc.reset_instant(night) > now:
        raise StartupError(f"--night {night}: its 00:00 reset ({sc.reset_instant(night):%Y-%m-%d %H:%M} UTC) "
                           "has not happened yet")
    if args.external_loki and sc.loki_overrides is not None:
        raise StartupError(f"scenario {sc.name} configures Loki (loki_config), but --external-loki runs against a "
                           "Loki with its own configuration; run it without --external-loki")
    if args.stream_label:
        sc = replace(sc, labels={stream: {**labels, args.stream_label[0]: args.stream_label[1]}
                                 for stream, labels in sc.labels.items()})
    return sc, night


def _load_week(args, sc, rendered, streams, night, now, shipper, store):
    """The scenario's lines and the volume into Loki: an external one, or the sandbox's own store."""
    week = loading.in_push_order((s for s in streams if scenario.DRILL_LABEL not in s[0]),
                                 _volume(args, sc, night, now))
    drills = [s for s in streams if scenario.DRILL_LABEL in s[0]]
    try:
        if args.external_loki:
            pushed = loading.into_external(shipper, itertools.chain(drills, week),
                                           by=("container", args.stream_label[0]) if args.stream_label
                                           else ("container",))
            loading.verify_served(shipper.loki_url, pushed)
            if pushed.retries:
                print(f"sandbox: Loki at {shipper.loki_url} asked to slow down; {pushed.retries} batch(es) were "
                      "sent again after backing off", file=sys.stderr, flush=True)
        elif store is not None:
            # A drill's lines were pushed into Loki by the drill, not shipped by Promtail (its counters omit them).
            for labels, entries in drills:
                store.ingest(labels, entries)
            loading.into_store(_Restarted(shipper, rendered) if sc.promtail_started_hours is not None else shipper,
                               week)
    except loading.LoadError as exc:
        raise StartupError(str(exc)) from None


def _grafana(args, sc, rendered, loki_url, now, clock, password, token, root_url):
    """The sandbox's Grafana over the scenario's provisioning (its patches and edits go with its own
    directory, not with one --grafana-provisioning gives instead), playing --grafana-version."""
    version = args.grafana_version or sc.grafana_version or "11.3"
    provisioning = grafana.load(args.grafana_provisioning or sc.grafana_provisioning, loki_url,
                                dashboards=args.dashboards or sc.dashboards,
                                alerting_files=() if args.grafana_provisioning else sc.grafana_alerting,
                                edits=() if args.grafana_provisioning else sc.grafana_edits,
                                rules_updated=min(sc.rules_updated(rendered.first_night), now),
                                grafana12=version.startswith("12."))
    provisioning.loaded_at = now.replace(microsecond=0)
    for ignored in provisioning.ignored:  # Grafana logs nothing of these; a person wants to hear of them
        print(f"grafana provisioning: {ignored}", file=sys.stderr, flush=True)
    # An optional non-admin login, for checks of what Grafana refuses a Viewer (e.g. decrypted exports).
    viewer_password = os.environ.get("SANDBOX_GRAFANA_VIEWER_PASSWORD")
    users = {GRAFANA_VIEWER: (viewer_password, grafana.VIEWER)} if viewer_password else {}
    try:
        return grafana.Grafana(
            provisioning, GRAFANA_USER, password, token, users=users, root_url=root_url,
            clock=clock.now, history_backend="" if args.grafana_history == "off" else args.grafana_history,
            database_failing=args.grafana_database_failing, version=grafana.VERSIONS[version],
            folder_parents=sc.grafana_folder_parents)
    except ValueError as exc:
        raise StartupError(f"Grafana {version}: {exc}") from None


def start(args, clock):
    """Start everything on `clock` (sandbox.clock.Clock); returns (settings, servers)."""
    now = clock.now()
    sc, night = _scenario(args, now)
    engine = None
    if args.docker:  # before anything starts: no engine, no image, no sandbox
        try:
            engine = standin.connect()
            standin.ensure_image(engine[0])
        except standin.StandinError as exc:
            raise StartupError(f"--docker: {exc}") from None
    if args.live:
        now = clock.now()  # again: building the stand-in's image above can take a while
        reset = live.reset_instant(now, args.live_lead)
        sc, rendered, streams, live_lines = sc.render_live(reset, args.live_horizon, now)
        night = rendered.last_night
    else:
        rendered = sc.render(night, now)
        streams = rendered.streams()
    root_url = args.grafana_root_url or sc.grafana_root_url or grafana.DEFAULT_ROOT_URL
    try:
        grafana.parse_root_url(root_url)
    except ValueError as exc:
        raise StartupError(f"--grafana-root-url: {exc}") from None
    grafana_password = os.environ.get("SANDBOX_GRAFANA_PASSWORD") or secrets.token_urlsafe(18)
    grafana_token = os.environ.get("SANDBOX_GRAFANA_TOKEN") or "glsa_" + secrets.token_urlsafe(24)
    backend_token = os.environ.get("SANDBOX_BACKEND_TOKEN") or secrets.token_urlsafe(32)
    servers = []
    request_log = RequestLog(args.request_log) if args.request_log else None
    if request_log is not None:
        servers.append(request_log)

    def serve(name, app):
        if name in args.down:
            return _dead_url(args.host)
        server = Server(app, host=args.host, fault=args.faults.get(name), slow_seconds=args.slow_seconds,
                        request_log=request_log, clock=clock.time).start()
        servers.append(server)
        return server.url

    store = None
    gateway_password = os.environ.get("SANDBOX_LOKI_GATEWAY_PASSWORD") or secrets.token_urlsafe(18)
    if args.external_loki:
        loki_url = args.external_loki.rstrip("/")
    elif "loki" in args.down:
        loki_url = _dead_url(args.host)
    else:
        store, loki_app, tenants = _loki(args, sc, clock)
        if args.loki_gateway_user:
            loki_app = loki_access.gateway(loki_app, args.loki_gateway_user, gateway_password)
        loki_url = serve("loki", loki_app)
        listener = urlsplit(loki_url)
        if tenants is not None:
            tenants.config = tenants.config.with_listener(listener.hostname, listener.port)
        else:
            store.config = store.config.with_listener(listener.hostname, listener.port)
    shipper = promtail.Shipper(loki_url, store=store)
    _load_week(args, sc, rendered, streams, night, now, shipper, store)
    receiver_url = None
    if args.webhook_receiver:  # before Grafana: its contact points read the receiver's URL from the environment
        receiver_url = serve("webhook-receiver", webhook_receiver.make_app(webhook_receiver.Receiver(clock.time)))
        os.environ["SANDBOX_WEBHOOK_URL"] = receiver_url
        sc = replace(sc, grafana_alerting=sc.grafana_alerting + (WEBHOOK_PATCH,))
    ping_url = None
    if args.ping_receiver:
        ping_url = serve("ping-receiver", webhook_receiver.make_app(webhook_receiver.Receiver(clock.time)))
    played = _grafana(args, sc, rendered, loki_url, now, clock, grafana_password, grafana_token, root_url)
    grafana_files.loki_access(played.provisioning, tenant=args.loki_tenant or "", user=args.loki_gateway_user or "",
                              password=gateway_password)
    grafana_url = serve("grafana", grafana.make_app(played))
    if receiver_url and "grafana" not in args.down:  # webhooks are posted to the sandbox's receiver, no further
        servers.append(grafana_webhook.Deliverer(played.alertmanager, clock.time, played.version,
                                                 receiver_url).start())
    promtail_started = rendered.promtail_started.timestamp()
    promtail_url = serve("promtail", promtail.make_app(promtail.Promtail(shipper, sc.promtail, promtail_started,
                                                                                 clock=clock.now)))
    backend_url = serve("backend", backend.make_app(backend.Backend(rendered, backend_token, shipper,
                                                                    clock=clock.now)))
    settings = {
        "OPSVERIFY_GRAFANA_URL": grafana_url,
        "OPSVERIFY_GRAFANA_USER": GRAFANA_USER,
        "OPSVERIFY_GRAFANA_PASSWORD": grafana_password,
        "OPSVERIFY_LOKI_URL": loki_url,
        "OPSVERIFY_PROMTAIL_URL": promtail_url,
        "OPSVERIFY_BACKEND_URL": backend_url,
        "OPSVERIFY_BACKEND_TOKEN": backend_token,
        "OPSVERIFY_CONTAINER": sc.container,
        "OPSVERIFY_WEEK_START": rendered.first_night.isoformat(),
        "OPSVERIFY_NIGHT": night.isoformat(),
        "OPSVERIFY_SANDBOX": sc.name,
        **({"SANDBOX_WEBHOOK_RECEIVER_URL": receiver_url} if receiver_url else {}),
        **({"SANDBOX_PING_RECEIVER_URL": ping_url, "OPSVERIFY_HEARTBEAT_URL": f"{ping_url}/ping/{uuid.uuid4()}"}
           if ping_url else {}),
        **({"SANDBOX_CLOCK_RATE": f"{clock.rate:g}"} if clock.rate != 1 else {}),
        # "<at> <owner>" each (opsverify's environment form of grafana.alert_drills)
        "OPSVERIFY_ALERT_DRILLS": ",".join(f"{scenario.iso_ms(d)} {DRILL_OWNER}" for d in rendered.drills),
    }
    if args.loki_tenant:
        settings["OPSVERIFY_LOKI_TENANT"] = args.loki_tenant
    if args.loki_gateway_user:
        settings["OPSVERIFY_LOKI_USER"] = args.loki_gateway_user
        settings["OPSVERIFY_LOKI_PASSWORD"] = gateway_password
    if args.stream_label:
        settings["OPSVERIFY_LOG_SELECTOR"] = '{container="$container", %s=%s}' % (
            args.stream_label[0], json.dumps(args.stream_label[1]))
    if engine is not None and args.live:
        settings["DOCKER_HOST"] = engine[1]
        settings["OPSVERIFY_RESET_TIME"] = sc.reset_time.strftime("%H:%M:%S")
        # Only the last night's lines up to this many seconds after the reset are printed and shipped.
        settings["SANDBOX_LIVE_HORIZON"] = f"{args.live_horizon:g}"
        run_live(args, engine[0], sc, reset, live_lines, shipper, servers)
    elif engine is not None:
        client, docker_host = engine
        try:
            container = standin.run(client, sc.container, sc.startup_lines(), scenario=sc.name,
                                    timezone=sc.zone.key)
        except standin.StandinError as exc:
            raise StartupError(f"--docker: {exc}") from None
        servers.append(standin.Standin(client, container))
        settings["DOCKER_HOST"] = docker_host
    return settings, servers


def _loki(args, sc, clock):
    """(the store the week goes into, the Loki app, its Tenants or None): with --loki-tenant a Loki with
    auth_enabled: true whose tenant --loki-tenant holds the week (sandbox.loki_access), else one store."""
    if args.loki_tenant:
        tenants = loki_access.Tenants(sc.loki_config or LokiStore().config, clock.time_ns)
        return tenants.store(args.loki_tenant), loki_access.make_app(tenants), tenants
    store = LokiStore(config=sc.loki_config, clock=clock.time_ns)
    return store, make_loki_app(store), None


def run_live(args, client, sc, reset, live_lines, shipper, servers):
    """Run the container that prints the last night live, ship its log, and return once R + the
    horizon has passed and every line it printed was shipped (or dropped, as the scenario says)."""
    import time

    # Lines before R (a start-up inside the window): the container starts, then restarts 2 s before
    # R, so that State.StartedAt lies in the night's window, and prints them after that restart.
    startup = set(sc.startup_lines())
    restarted = any(w < reset and text in startup for w, _, text in live_lines)
    restart_at = reset.timestamp() - live.RESTART_BEFORE if restarted else None
    try:
        container = standin.run(client, sc.container, [], scenario=sc.name, timezone=sc.zone.key,
                                script=live.schedule(reset, live_lines), restart_at=restart_at)
    except standin.StandinError as exc:
        raise StartupError(f"--docker --live: {exc}") from None
    servers.append(standin.Standin(client, container))
    follower = live.DockerShipper(container, sc, shipper).start()
    servers.append(follower)
    done = reset.timestamp() + args.live_horizon
    time.sleep(max(0.0, done - time.time()))
    if not follower.wait_for([text for _, _, text in live_lines], done + live.SHIPPED_WITHIN):
        missing = [text for _, _, text in live_lines if text not in follower.seen_texts()]
        raise StartupError(f"--live: the container did not print (or the sandbox did not ship) within "
                           f"{live.SHIPPED_WITHIN} s after the horizon: {missing[:5]}")


def main(argv=None):
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    servers = []
    try:
        if args.live and args.clock_rate != 1:
            raise StartupError("--live and --clock-rate exclude each other (live, the container prints on the "
                               "Docker engine's clock, which runs at the machine's rate)")
        clock = Clock(args.now, rate=args.clock_rate)
        settings, servers = start(args, clock)
        if args.now:  # the suite's --now: the sandbox's clock as it reads when it is ready
            settings["OPSVERIFY_NOW"] = clock.now().isoformat(timespec="milliseconds")
        if args.faults:  # on stderr: stdout is the settings, or the ready line
            slow = f" ({args.slow_seconds:g} s)" if "slow" in args.faults.values() else ""
            print("sandbox faults: " + ", ".join(f"{s}={k}" for s, k in args.faults.items()) + slow,
                  file=sys.stderr, flush=True)
        if args.env_file:
            write_env_file(args.env_file, settings)
            print(f"sandbox ready: {args.env_file}", flush=True)
        else:
            print("".join(f"{key}={value}\n" for key, value in settings.items()), end="", flush=True)
    except (StartupError, scenario.ScenarioError, grafana.ProvisioningError, OSError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr, flush=True)
        stop_all(servers)  # the stand-in container, if it started: the sandbox leaves none behind
        return 2
    stop.wait()
    stop_all(servers)
    return 0


def stop_all(servers):
    """Stop the servers (and the stand-in container) at once: each stop waits out its poll interval."""
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()


if __name__ == "__main__":
    sys.exit(main())
