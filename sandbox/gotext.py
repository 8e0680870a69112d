"""How Go programs write durations, quoted strings and YAML, for the sandbox's Grafana, Loki and Promtail.

Prometheus' model.ParseDuration / model.Duration.String (prometheus/common/model/time.go: a rule's
`for`, LogQL ranges, Loki's limits), Go's time.ParseDuration / Duration.String (Loki's other
settings), and strconv.Quote (Loki's label values and error texts). Durations are in nanoseconds.
gopkg.in/yaml.v2's Marshal (Loki's /config) and yaml.v3's (Grafana's provisioning exports): one
emitter, with what differs between the two versions in a `_YamlLayout`.
"""

import json
import re
from typing import Callable, NamedTuple

import yaml

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


# --- gopkg.in/yaml.v2's and yaml.v3's Marshal layouts --------------------------------


def go_yaml_v2(value, sort_keys=False):
    """YAML in yaml.v2's layout: two-space indentation, a sequence's dashes at its key's
    column, `{}`/`[]` for empty collections, strings quoted only when they must be.
    `sort_keys`: a Go map (yaml.v2 sorts its keys); structs keep their field order."""
    return _yaml_text(value, _YamlLayout(indent=2, indent_sequences=False, scalar=_v2_scalar, sort_keys=sort_keys))


def go_yaml_v3(value):
    """YAML in the layout of yaml.v3's Marshal, as Grafana's exports look: nested blocks
    4 columns in from their parent block, a sequence item's keys 2 columns after its dash."""
    return _yaml_text(value, _YamlLayout(indent=4, indent_sequences=True, scalar=_v3_scalar, sort_keys=False))


class _YamlLayout(NamedTuple):
    """Where yaml.v2 and yaml.v3 write the same tree differently."""

    indent: int  # how far a nested mapping stands in from its key
    indent_sequences: bool  # a sequence under a key: indented like a mapping (v3), or dashes at the key's column (v2)
    scalar: Callable  # key or value -> its text
    sort_keys: bool


def _yaml_text(value, layout):
    if isinstance(value, dict) and value:
        lines = _yaml_mapping(value, 0, layout.indent, layout)
    elif isinstance(value, list) and value:
        lines = _yaml_sequence(value, 0, layout)
    else:
        lines = [_yaml_inline(value, layout)]
    return "".join(line + "\n" for line in lines)


def _yaml_mapping(mapping, key_col, child_col, layout):
    lines = []
    for key in sorted(mapping) if layout.sort_keys else mapping:
        item = mapping[key]
        head = f"{' ' * key_col}{layout.scalar(str(key))}:"
        if isinstance(item, dict) and item:
            lines += [head] + _yaml_mapping(item, child_col, child_col + layout.indent, layout)
        elif isinstance(item, list) and item:
            lines += [head] + _yaml_sequence(item, child_col if layout.indent_sequences else key_col, layout)
        else:
            lines.append(f"{head} {_yaml_inline(item, layout)}")
    return lines


def _yaml_sequence(items, col, layout):
    """Both versions: an item's keys 2 columns after its dash, what they hold 2 columns further."""
    lines = []
    for item in items:
        if isinstance(item, dict) and item:
            inner = _yaml_mapping(item, col + 2, col + 4, layout)
        elif isinstance(item, list) and item:
            inner = _yaml_sequence(item, col + 2, layout)
        else:
            lines.append(f"{' ' * col}- {_yaml_inline(item, layout)}")
            continue
        lines.append(f"{' ' * col}- {inner[0][col + 2:]}")
        lines += inner[1:]
    return lines


def _yaml_inline(value, layout):
    """A value on its key's or dash's line: a scalar, or an empty collection."""
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if value is None:
        return "null"
    return layout.scalar(value)


def _v2_scalar(value):
    """yaml.v2's encoder: numbers as Go formats them; encoder.stringv double-quotes a string that
    would read back as another type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if value == "" or "\n" in value or _reads_as_other_type(value):
        return json.dumps(value, ensure_ascii=False)
    return _plain_yaml(value)


def _v3_scalar(value):
    """yaml.v3 encodeString: a string that would read back as another type is double-quoted,
    one that cannot be plain is single-quoted (multi-line text is double-quoted here, where
    yaml.v3 would write a literal block: the same string either way)."""
    if isinstance(value, str) and ("\n" in value or _reads_as_other_type(value)):
        return json.dumps(value, ensure_ascii=False)
    return _plain_yaml(value)


def _reads_as_other_type(text):
    return yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False)) != "tag:yaml.org,2002:str"


def _plain_yaml(value):
    """PyYAML's flow form of a scalar (plain, or single-quoted where it must be), without the document end."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, allow_unicode=True)
    return text[:-len("\n...\n")] if text.endswith("\n...\n") else text.rstrip("\n")
