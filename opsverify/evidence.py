"""What a check looked at, attached to its report; and the wording of its failures."""

import json
from urllib.parse import quote, quote_plus

import pytest

from opsverify.text import visible

MAX_TEXT_CHARS = 20_000
SEEN_CHARS = 2_000  # what a failure message quotes of what it saw (a log line can be 256 KB)
STRING_CHARS = 4_000  # any one string inside a JSON evidence item


def bounded(value, limit=STRING_CHARS):
    """A JSON-able value with every string in it made `visible` and cut to `limit`."""
    if isinstance(value, str):
        return visible(value, limit)
    if isinstance(value, dict):
        return {key: bounded(item, limit) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [bounded(item, limit) for item in value]
    return value


class Evidence:
    """Named items a check attaches: dicts and lists as JSON, anything else as text."""

    def __init__(self):
        self.items = []  # (name, value)

    def add(self, name, value):
        value = bounded(value) if isinstance(value, (dict, list)) else visible(value, MAX_TEXT_CHARS)
        self.items.append((name, value))
        return value


def problem(system, where, expected, seen, todo):
    """A failure message for a tired on-call engineer: which system, where, expected, seen, what to do."""
    return f"{system} ({where}): expected {expected}; saw {visible(seen, SEEN_CHARS)}. What to do: {todo}"


def require(condition, system, where, expected, seen, todo):
    """Fail the check with `problem(...)` unless `condition`; no traceback, just the message."""
    __tracebackhide__ = True
    if not condition:
        pytest.fail(problem(system, where, expected, seen, todo), pytrace=False)


NOT_APPLICABLE = "n/a: "


def not_applicable(reason):
    """Skip a check that does not apply here (no healthcheck defined, reported by the check that owns
    the cause): unlike a check that could not see, it does not make the night a warning."""
    __tracebackhide__ = True
    pytest.skip(NOT_APPLICABLE + reason)


def scrub(text, secrets):
    """`text` with every secret value replaced by ***, in every form an error text may hold it: as it is,
    as Python's or JSON's escaped repr (a trailing \\r shows as `\\r`), URL-encoded."""
    for form in sorted({f for secret in secrets if secret for f in _forms(secret)}, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _forms(secret):
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote_plus(secret)}
    return {secret} | {f for f in forms if len(f) >= 3}  # a short escape alone would blot out ordinary text


def scrub_value(value, secrets):
    """A JSON-able value with every secret value replaced, at any depth."""
    return json.loads(scrub(json.dumps(value, ensure_ascii=False, default=str), secrets))
