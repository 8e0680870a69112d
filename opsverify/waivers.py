"""Known exceptions, agreed by a person until a date: a waived failure makes the night ⚠️, never ✅.

The file is a YAML list:

    - check: "test_rule_can_fire[midnight_queue_anomaly_003]"   # a check id; * and ? are wildcards
      justification: the anomaly rule is being rewritten in TICKET-42
      approver: DevOps Lead
      expires: 2026-12-15                                         # the last night it applies to
      counts_for_signoff: false   # optional: true lets a waived critical failure count as a successful
                                  # night for the completion criteria (the approver signs for that too)
"""

import re
from dataclasses import dataclass
from datetime import date

import yaml

from opsverify import yamlsafe

KEYS = ("check", "justification", "approver", "expires")
OPTIONAL = ("counts_for_signoff",)


class WaiverError(Exception):
    """The waiver file cannot be used; the text names the line at fault."""


@dataclass(frozen=True)
class Waiver:
    check: str
    justification: str
    approver: str
    expires: date
    line: int
    counts_for_signoff: bool = False  # a waived critical failure still blocks the sign-off unless this says so

    def covers(self, check_id):
        """The id matches; `*` and `?` are wildcards, brackets are literal (test ids carry them)."""
        pattern = re.escape(self.check).replace(r"\*", ".*").replace(r"\?", ".")
        return re.fullmatch(pattern, check_id) is not None

    def describe(self):
        return f"{self.justification} (approved by {self.approver}, until {self.expires.isoformat()})"


def load_waivers(path):
    """The waivers of the file at `path`."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as exc:
        raise WaiverError(f"waiver file {path}: cannot be read ({exc.strerror})") from None
    try:
        document = yamlsafe.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise WaiverError(f"waiver file {path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if document is None:
        return []
    if not isinstance(document, yaml.SequenceNode):
        raise WaiverError(f"waiver file {path}, line {document.start_mark.line + 1}: expected a list of waivers")
    return [_waiver(path, item) for item in document.value]


def _waiver(path, node):
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise WaiverError(f"waiver file {path}, line {line}: a waiver is a mapping of {', '.join(KEYS)}")
    values = {key.value: value for key, value in node.value}
    for key, value in values.items():
        if key in KEYS + OPTIONAL and not isinstance(value, yaml.ScalarNode):
            kind = "a list" if isinstance(value, yaml.SequenceNode) else "a mapping"
            raise WaiverError(f"waiver file {path}, line {value.start_mark.line + 1}: {key} must be one text "
                              f"value, not {kind} (one waiver per check; * and ? are wildcards)")
    missing = [k for k in KEYS if not str(getattr(values.get(k), "value", "") or "").strip()]
    unknown = sorted(set(values) - set(KEYS) - set(OPTIONAL))
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown key {', '.join(unknown)}"
        raise WaiverError(f"waiver file {path}, line {line}: {problem} (a waiver has {', '.join(KEYS)})")
    try:
        expires = date.fromisoformat(str(values["expires"].value))
    except ValueError:
        raise WaiverError(f"waiver file {path}, line {values['expires'].start_mark.line + 1}: expires "
                          f"{values['expires'].value!r} is not a date YYYY-MM-DD") from None
    counts = values.get("counts_for_signoff")
    if counts is not None and counts.value not in ("true", "false"):
        raise WaiverError(f"waiver file {path}, line {counts.start_mark.line + 1}: counts_for_signoff must be true "
                          f"or false")
    return Waiver(values["check"].value, values["justification"].value, values["approver"].value, expires, line,
                  counts_for_signoff=counts is not None and counts.value == "true")


def find_waiver(waivers, check_id, night):
    """(the waiver that applies to `check_id` on `night`, a waiver of it that has expired), either None."""
    matching = [w for w in waivers if w.covers(check_id)]
    active = next((w for w in matching if night <= w.expires), None)
    expired = None if active else next((w for w in matching), None)
    return active, expired
