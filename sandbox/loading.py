"""How the sandbox loads a week of lines into Loki: each stream oldest first, in batches.

Loki 2.6's ingester refuses an entry more than half of ingester.max_chunk_age (1 h by default)
older than the newest entry its stream already holds, 'entry too far behind', even with
reject_old_samples false (pkg/ingester/stream.go; capture loki-2.6.1-42). So the scenario's own
lines and the volume's are merged per stream and pushed in time order. A Loki pushed too fast
answers 429 (its ingestion rate limit): the external push backs off as Promtail does and tries
again. With boltdb-shipper a real Loki may accept backfilled entries but not serve them until
their chunks are flushed (real-responses/README.md), so what was pushed is read back.
"""

import bisect
import json
from dataclasses import dataclass, field

import requests

from . import logql

BATCH = 500  # lines per push (Promtail's batches are about this size)
# Promtail's default backoff_config (clients/pkg/promtail/client/config.go): min_period 500ms,
# doubling up to max_period 5m, max_retries 10; the sandbox waits the same, without jitter.
PROMTAIL_BACKOFF = tuple(min(0.5 * 2**n, 300.0) for n in range(10))


class LoadError(Exception):
    pass


def in_push_order(scenario_streams, volume_streams):
    """Yield (labels, [(ns, line), ...]) so that each stream's entries come oldest first.

    `scenario_streams` (a few lines a night) are held and merged into the volume's items of the
    same stream; `volume_streams` (sandbox.volume.streams: each stream's items in time order) is
    consumed as it is generated, so a large volume is never held twice.
    """
    held = {}
    for labels, entries in scenario_streams:
        held.setdefault(logql.labels_key(labels), (labels, []))[1].extend(entries)
    for _, entries in held.values():
        entries.sort(key=lambda entry: entry[0])
    for labels, entries in volume_streams:
        key = logql.labels_key(labels)
        if key not in held:
            yield labels, entries
            continue
        own = held[key][1]
        cut = bisect.bisect_right([ns for ns, _ in own], entries[-1][0])
        if cut:
            entries = sorted(own[:cut] + entries, key=lambda entry: entry[0])
            del own[:cut]
        yield labels, entries
    for labels, entries in held.values():
        if entries:
            yield labels, entries


def batches(streams, size=BATCH):
    """Split [(labels, entries)] into pushes of at most `size` lines each, in the given order."""
    for labels, entries in streams:
        for start in range(0, len(entries), size):
            yield [(labels, entries[start:start + size])]


@dataclass
class Pushed:
    """What went into a Loki, per value of the `by` labels (every stream the sandbox makes has a
    container): lines and the span of their timestamps, enough to ask for them back with one count each."""

    by: tuple = ("container",)
    lines: dict = field(default_factory=dict)  # selector -> [count, first ns, last ns]
    retries: int = 0

    def add(self, labels, entries):
        selector = _selector({name: labels[name] for name in self.by if name in labels} or labels)
        seen = self.lines.setdefault(selector, [0, entries[0][0], entries[-1][0]])
        seen[0] += len(entries)
        seen[1], seen[2] = min(seen[1], entries[0][0]), max(seen[2], entries[-1][0])


def into_store(shipper, streams):
    """Ship `streams` through the sandbox's Promtail into its own Loki; LoadError if refused."""
    for batch in batches(streams):
        status, body = shipper.ship(batch)
        if status != 204:
            raise LoadError(f"the sandbox's own Loki refused the scenario's lines (HTTP {status}): "
                            f"{body.strip()[:500]}")


def into_external(shipper, streams, by=("container",)):
    """Push `streams` into an external Loki (shipper.loki_url), backing off on 429; returns Pushed
    (counted by the `by` labels). LoadError names what Loki refused."""
    pushed = Pushed(by)
    before = shipper.batch_retries
    for batch in batches(streams):
        status, body = shipper.ship(batch, waits=PROMTAIL_BACKOFF)
        if status != 204:
            advice = ""
            if "entry too far behind" in body:
                advice = (" Loki already holds newer lines in that stream, and refuses lines more than "
                          "max_chunk_age/2 older than a stream's newest: push into a Loki without them, or "
                          "with --stream-label to keep the sandbox's streams apart.")
            raise LoadError(f"Loki at {shipper.loki_url} refused the scenario's lines (HTTP {status}): "
                            f"{body.strip()[:500]}{advice}")
        for labels, entries in batch:
            pushed.add(labels, entries)
    pushed.retries = shipper.batch_retries - before
    return pushed


def verify_served(loki_url, pushed):
    """Count, per container, the pushed lines Loki serves back; LoadError if any are missing."""
    missing = []
    for selector, (count, first, last) in pushed.lines.items():
        seconds = (last - first) // logql.SECOND_NS + 2
        query = f"sum(count_over_time({selector}[{seconds}s]))"
        try:
            response = requests.get(loki_url.rstrip("/") + "/loki/api/v1/query",
                                    params={"query": query, "time": str(last + 1)}, timeout=120)
        except requests.RequestException as exc:
            raise LoadError(f"cannot read back the scenario from Loki at {loki_url}: {exc}") from None
        if response.status_code != 200:
            raise LoadError(f"Loki at {loki_url} answered HTTP {response.status_code} to {query}: "
                            f"{response.text.strip()[:500]}")
        result = response.json()["data"]["result"]
        served = int(float(result[0]["value"][1])) if result else 0
        if served < count:
            missing.append(f"{count - served} of {count} in {selector}")
    if missing:
        raise LoadError(
            f"Loki at {loki_url} does not serve every line the sandbox pushed: missing {'; '.join(missing)}. "
            "Loki may not serve backfilled entries until their chunks are flushed "
            "(ingester.query_store_max_look_back_period), or it dropped them.")


def _selector(labels):
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"
