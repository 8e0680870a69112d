"""Volume benchmark (make bench): does the nightly suite cost the same however much Loki holds?

For each volume -- LINES production-like log lines a night (--lines, default 50,000), then
--factor (10) times as many -- it starts the sandbox with the suite's own runner (opsverify.sandboxrun)

    python -m sandbox --scenario healthy --volume LINES --night YESTERDAY --request-log LOG --env-file ENV

(sandbox.volume adds LINES lines to each local day of the week, in several streams, besides
the scenario's own; --night is yesterday in the scenario's zone so that every day of the week,
the last one included, is loaded whole), waits for "sandbox ready:" on its stdout, asks Loki
once how many lines it holds, then runs the full nightly suite as cron does on Day 7

    python -m pytest -m nightly -p no:cacheprovider -q --reports-dir=TMP --week
        --update-doc=TMP/escashop-repo/STEP8_LESSONS_LEARNED.md

(a copy of the stand-in checkout sandbox/escashop-repo, filled as `make demo` fills it)

from the project root with the environment the env file gives (the caller's OPSVERIFY_* and
PYTEST_* variables removed first), exactly as the suite reads production settings; --week
backfills the six earlier nights from Loki's history and the completion criteria join the run.
It measures the suite's wall time, then stops the sandbox.

The sandbox's request log (one JSON line per request served: system, method, path, status,
response body bytes, the client's product) gives the HTTP requests and bytes per system. Only the
suite's requests count: the log is read from where it ended when the suite started, and what the
sandbox's Grafana asks its Loki (client "Grafana": evaluations, state history) is left out, and so is the
benchmark's own count of the lines (client "Python-urllib").

With --loki-url URL (make bench LOKI_URL=URL) the week goes into that Loki instead of the sandbox's
own (python -m sandbox --external-loki URL, each stream oldest first, backing off when it answers
429), in streams of the run's own: every line carries opsverify_bench=<run> (--stream-label), and
the suite's selector asks for it, so neither volume nor an earlier run is behind another's lines
(Loki refuses a line an hour behind its stream's newest) and nothing mixes with what the Loki
already holds. The suite reaches that Loki through a loopback proxy that logs its requests as
the sandbox's own Loki does. The Loki must take lines eight days old (the drill the afternoon
before Day 1): limits_config.reject_old_samples false, or reject_old_samples_max_age 192h or more;
and it must serve backfilled lines at once (boltdb-shipper:
ingester.query_store_max_look_back_period -1), or the sandbox stops, saying which it did not serve.

With --loki-via-grafana the suite reaches Loki only through Grafana's datasource proxy (OPSVERIFY_LOKI_VIA=grafana,
/api/datasources/proxy/uid/loki/...): each of its Loki requests is then one request to Grafana, counted under
grafana, and Grafana's own request to Loki is left out with the rest of the Grafana client's; the totals are to
hold as they do direct.

It prints a table (volume, lines in Loki, sandbox load time and peak memory, the suite's wall
time, requests and bytes per system and in total, and the ratio of the larger volume to the
smaller), then whether total requests and total bytes at the larger volume are within 10% of
the smaller. Exit status 1 when they are not, or when a suite run did not pass (its tail is
printed); 2 when the sandbox did not start.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

import requests

from opsverify.sandboxrun import Sandbox, SandboxError
from sandbox.httpserver import App, RequestLog, Response, Server

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "healthy"
CHECKOUT = ROOT / "sandbox" / "escashop-repo"
SYSTEMS = ("loki", "grafana", "promtail", "backend")
TOLERANCE = 0.10
# Every stream the sandbox loads, over more than the week (the drill the afternoon before Day 1,
# the recent traffic up to now).
LINES_QUERY = 'sum(count_over_time({container=~".+"}[14d]))'
BENCH_LABEL = "opsverify_bench"  # with --loki-url: the label of the run's own streams


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000, metavar="N",
                        help="production-like lines a night at the first volume (default: %(default)s)")
    parser.add_argument("--factor", type=int, default=10, metavar="F",
                        help="the second volume is F times the first (default: %(default)s)")
    parser.add_argument("--startup-timeout", type=float, default=600, metavar="S",
                        help="seconds to wait for the sandbox to be ready (default: %(default)s)")
    parser.add_argument("--loki-via-grafana", action="store_true",
                        help="the suite reaches Loki through Grafana's datasource proxy (OPSVERIFY_LOKI_VIA=grafana)")
    parser.add_argument("--loki-url", metavar="URL",
                        help="load the week into this Loki (e.g. a Loki 2.6.1 under test) instead of the sandbox's "
                        "own, each run in streams of its own (label opsverify_bench)")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.factor < 2:
        parser.error("--lines must be at least 1 and --factor at least 2")
    return args


def clean_environ():
    """The caller's environment without the settings the suite or pytest would read from it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPSVERIFY_", "PYTEST_"))}


def last_night():
    """Yesterday in the scenario's zone: the week's last day is then over and loaded whole."""
    scenario = yaml.safe_load((ROOT / "sandbox" / "scenarios" / f"{SCENARIO}.yml").read_text(encoding="utf-8"))
    return datetime.now(ZoneInfo(scenario["timezone"])).date() - timedelta(days=1)


def peak_rss_mb(pid):
    """A process's peak resident memory (Linux's VmHWM), or None where /proc has none."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def lines_in_loki(loki_url, query=LINES_QUERY):
    """How many lines Loki holds (one instant query, made before the suite starts)."""
    query = urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(f"{loki_url}/loki/api/v1/query?{query}", timeout=600) as response:
        result = json.load(response)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def run_suite(settings, workdir):
    """The nightly suite with `settings` as its environment: (exit code, wall seconds, output)."""
    checkout = workdir / "escashop-repo"
    shutil.copytree(CHECKOUT, checkout)  # symlinks copied as the files they point at
    command = [sys.executable, "-m", "pytest", "-m", "nightly", "-p", "no:cacheprovider", "-q",
               f"--reports-dir={workdir / 'reports'}", "--week",
               f"--update-doc={checkout / 'STEP8_LESSONS_LEARNED.md'}"]
    env = {**clean_environ(), **settings}
    began = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8")
    return result.returncode, time.perf_counter() - began, result.stdout + result.stderr


def count_requests(log, offset):
    """Requests and response bytes per system in the request log from byte `offset` on."""
    requests = dict.fromkeys(SYSTEMS, 0)
    sent = dict.fromkeys(SYSTEMS, 0)
    with open(log, "rb") as handle:
        handle.seek(offset)
        for raw in handle:
            entry = json.loads(raw)
            if entry.get("agent") == "Grafana":
                continue  # the sandbox's Grafana asking its Loki, not the suite
            if entry.get("agent") == "Python-urllib":
                continue  # lines_in_loki's own query: the log line may land after the offset was read
            requests[entry["system"]] = requests.get(entry["system"], 0) + 1
            sent[entry["system"]] = sent.get(entry["system"], 0) + (entry["bytes"] or 0)
    return requests, sent


def logging_proxy(loki_url, request_log):
    """A loopback server that forwards every request to `loki_url` and logs it as the sandbox's own
    Loki would (system "loki"): the external Loki's requests are counted like the sandbox's."""
    app = App("loki")

    def forward(request):
        headers = {name: request.headers[name] for name in ("content-type", "user-agent") if name in request.headers}
        answer = requests.request(request.method, loki_url.rstrip("/") + request.path, params=request.query,
                                  data=request.body or None, headers=headers, timeout=600)
        return Response(answer.status_code, answer.content, answer.headers.get("Content-Type", ""))

    for method in ("GET", "POST"):
        app.route(method, r"/.*")(forward)
    return Server(app, request_log=RequestLog(request_log)).start()


def measure(lines, night, timeout, loki_url=None, via_grafana=False):
    """One volume: start the sandbox, count Loki's lines, run the suite, stop; a dict of the figures."""
    with tempfile.TemporaryDirectory(prefix="opsverify-bench-") as tmp:
        workdir = Path(tmp)
        request_log = workdir / "requests.jsonl"
        options, query, proxy = ["--volume", lines, "--request-log", request_log], LINES_QUERY, None
        if loki_url:
            run = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{lines}"
            options += ["--external-loki", loki_url, "--stream-label", f"{BENCH_LABEL}={run}"]
            query = f'sum(count_over_time({{{BENCH_LABEL}="{run}"}}[14d]))'
        # The suite's own sandbox runner, as `pytest --sandbox` starts it, plus the volume and the log.
        sandbox = Sandbox(SCENARIO, night, options=options, startup_seconds=timeout)
        began = time.monotonic()
        settings = sandbox.start()
        load_seconds = time.monotonic() - began
        try:
            held = lines_in_loki(settings["OPSVERIFY_LOKI_URL"], query)
            if loki_url:
                proxy = logging_proxy(loki_url, request_log)
                settings["OPSVERIFY_LOKI_URL"] = proxy.url
            if via_grafana:
                settings["OPSVERIFY_LOKI_VIA"] = "grafana"
            offset = request_log.stat().st_size  # the suite's requests are the ones after this
            code, wall, output = run_suite(settings, workdir)
            peak = peak_rss_mb(sandbox.process.pid)
        finally:
            sandbox.stop()
            if proxy is not None:
                proxy.stop()
        served, sent = count_requests(request_log, offset)
    return {"lines": lines, "held": held, "load": load_seconds, "peak_mb": peak, "wall": wall,
            "code": code, "output": output, "requests": served, "bytes": sent}


def ratio(large, small):
    return large / small if small else float("inf") if large else 1.0


def within(value):
    return abs(value - 1) <= TOLERANCE


def table(runs, factor):
    """The benchmark's table as text lines."""
    small, large = runs

    def row(name, a, b, shown="{:,}", compared="{:.3f}"):
        return name, shown.format(a), shown.format(b), compared.format(ratio(b, a)) if compared else ""

    head = ("", "1x", f"{factor}x", f"{factor}x/1x")
    rows = [
        row("lines a night (--volume)", small["lines"], large["lines"], compared=""),
        row("lines in Loki (the week)", small["held"], large["held"], compared="{:.2f}"),
        row("sandbox load (s)", small["load"], large["load"], shown="{:.1f}", compared=""),
        ("sandbox peak RSS (MB)", _mb(small["peak_mb"]), _mb(large["peak_mb"]), ""),
        row("suite wall time (s)", small["wall"], large["wall"], shown="{:.1f}", compared="{:.2f}"),
    ]
    for what in ("requests", "bytes"):
        rows += [row(f"{what} {system}", small[what][system], large[what][system]) for system in SYSTEMS]
        rows.append(row(f"{what} total", sum(small[what].values()), sum(large[what].values())))
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(4)]
    lines = []
    for n, row in enumerate((head, *rows)):
        lines.append("  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _mb(value):
    return "n/a" if value is None else f"{value:,.0f}"


def main(argv=None):
    args = parse_args(argv)
    night = last_night()
    volumes = (args.lines, args.lines * args.factor)
    print(f"volume benchmark: scenario {SCENARIO}, night {night} (Day 7; the week {night - timedelta(days=6)} "
          f"to {night}), {os.cpu_count()} cores, Python {sys.version.split()[0]}"
          + (f", Loki at {args.loki_url}" if args.loki_url else "")
          + (", Loki through Grafana's datasource proxy" if args.loki_via_grafana else ""), flush=True)
    runs = []
    for lines in volumes:
        print(f"  {lines:,} lines a night: loading the sandbox, running the suite ...", flush=True)
        try:
            runs.append(measure(lines, night, args.startup_timeout, args.loki_url, args.loki_via_grafana))
        except SandboxError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
    print()
    print("\n".join(table(runs, args.factor)))
    failed = False
    for run in runs:
        if run["code"] != 0:
            failed = True
            tail = "\n".join(run["output"].rstrip().splitlines()[-40:])
            print(f"\nFAIL: the suite at {run['lines']:,} lines a night exited with {run['code']}; its tail:\n{tail}")
    small, large = runs
    print()
    for what in ("requests", "bytes"):
        r = ratio(sum(large[what].values()), sum(small[what].values()))
        verdict = "PASS" if within(r) else "FAIL"
        failed |= verdict == "FAIL"
        print(f"{verdict}: {what} at {args.factor}x the volume are {r:.3f}x those at 1x "
              f"(within {TOLERANCE:.0%}: {within(r)})")
    print(f"finished {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
