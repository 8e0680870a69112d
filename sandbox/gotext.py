"""How Go programs write durations and quoted strings, for the sandbox's Grafana, Loki and Promtail.

Prometheus' model.ParseDuration / model.Duration.String (prometheus/common/model/time.go: a rule's
`for`, LogQL ranges, Loki's limits), Go's time.ParseDuration / Duration.String (Loki's other
settings), and strconv.Quote (Loki's label values and error texts). Durations are in nanoseconds.
"""

import re

NS = 1
US = 1000
MS = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text):
    """Go's strconv.Quote."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


_MODEL_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_MODEL_UNITS = (("y", 365 * DAY), ("w", 7 * DAY), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND), ("ms", MS))


def parse_model_duration(text):
    """model.ParseDuration: "1w", "168h", "1h30m", "0"; no fractions, no spaces. ValueError with its text."""
    if text == "0":
        return 0
    if text == "":
        raise ValueError("empty duration string")
    match = _MODEL_DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"not a valid duration string: {go_quote(text)}")
    return sum(int(v or 0) * unit for v, (_, unit) in zip(match.groups(), _MODEL_UNITS))


def format_model_duration(ns):
    """model.Duration.String(): years and weeks only when exact, then d, h, m, s, ms."""
    ms = ns // MS
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in _MODEL_UNITS:
        size //= MS
        if unit in ("y", "w") and ms % size:
            continue
        if ms >= size:
            out += f"{ms // size}{unit}"
            ms %= size
    return out


_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": NS, "us": US, "µs": US, "μs": US, "ms": MS, "s": SECOND, "m": MINUTE, "h": HOUR}


def parse_go_duration(text):
    """time.ParseDuration: "24h", "1h30m", "1.5h", "300ms"; no days or weeks."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    position, total = 0, 0.0
    while position < len(body):
        match = _GO_DURATION_PART.match(body, position)
        if not match:
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if not body:
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    return -int(total) if text.startswith("-") else int(total)


def format_go_duration(ns):
    """time.Duration.String(): "0s", "500ms", "1.5s", "10m0s", "168h0m0s"."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < SECOND:
        for unit, size in (("ms", MS), ("µs", US), ("ns", NS)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    seconds = _trim(rest / SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _trim(number):
    return f"{number:.9f}".rstrip("0").rstrip(".")
