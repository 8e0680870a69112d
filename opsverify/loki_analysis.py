"""Does Loki keep what the week's sign-off needs, and are its streams sane? Pure analysis of Loki's
running configuration and of the labels of the streams it holds.

Loki 2.x deletes old logs only through the compactor (`compactor.retention_enabled`, boltdb-shipper
or tsdb stores) or the table manager (`table_manager.retention_deletes_enabled`); a retention
period set without either is ignored (Loki docs, "Retention"). Lines older than
`reject_old_samples_max_age` are refused at push, so a shipper catching up loses them.
"""

from datetime import timedelta

from opsverify.rules import AnalysisError, duration_seconds

WEEK = timedelta(days=7)
KEEP = timedelta(days=8)  # what Loki must keep: the week's seven nights and the day the sign-off reads them


def _get(config, *path, default=None):
    for key in path:
        if not isinstance(config, dict) or key not in config:
            return default
        config = config[key]
    return config


def _seconds(value):
    try:
        return duration_seconds(value if value not in (None, "") else "0s")
    except AnalysisError:
        raise AnalysisError(f"cannot read the duration {value!r} in Loki's configuration") from None


def _days(seconds):
    return f"{seconds / 86400:g} days"


def retention_seconds(config):
    """How long Loki keeps logs: the shortest retention that deletes them, or None when nothing does."""
    periods = []
    if _get(config, "compactor", "retention_enabled", default=False):
        periods.append(_seconds(_get(config, "limits_config", "retention_period")))
    if _get(config, "table_manager", "retention_deletes_enabled", default=False):
        periods.append(_seconds(_get(config, "table_manager", "retention_period")))
    periods = [p for p in periods if p > 0]
    return min(periods) if periods else None


def differing(config, defaults):
    """What of `config` differs from `defaults` (nested mappings), as GET /config?mode=diff would print it.
    Loki 2.6.1 answers mode=diff with a 500 ("unsupported type <nil>"), so the suite works it out from the
    running configuration and mode=defaults. A value set to its default is not told from one left alone."""
    found = {}
    for key, value in (config or {}).items():
        default = (defaults or {}).get(key) if isinstance(defaults, dict) else None
        if isinstance(value, dict) and isinstance(default, dict):
            nested = differing(value, default)
            if nested:
                found[key] = nested
        elif value != default:
            found[key] = value
    return found


def retention_problems(config, keep, explicit):
    """What stops Loki from keeping `keep` (a timedelta) of logs, with the settings at fault.

    `config` is the running configuration, `explicit` what differs from Loki's defaults (differing):
    Loki's own default retention_period (31d) is not a retention anyone configured.
    """
    problems, needed = [], keep.total_seconds()
    compactor = bool(_get(config, "compactor", "retention_enabled", default=False))
    table_manager = bool(_get(config, "table_manager", "retention_deletes_enabled", default=False))
    limits_period = _seconds(_get(config, "limits_config", "retention_period"))
    table_period = _seconds(_get(config, "table_manager", "retention_period"))
    if compactor and 0 < limits_period < needed:
        problems.append(f"limits_config.retention_period is {_days(limits_period)} with the compactor's "
                        f"retention enabled: logs are deleted before the {_days(needed)} the sign-off reads")
    if compactor:
        for stream in _get(config, "limits_config", "retention_stream", default=None) or ():
            period = _seconds(stream.get("period"))
            if 0 < period < needed:
                problems.append(f"limits_config.retention_stream {stream.get('selector')} keeps only "
                                f"{_days(period)}")
    if table_manager and 0 < table_period < needed:
        problems.append(f"table_manager.retention_period is {_days(table_period)}: tables are deleted before "
                        f"the {_days(needed)} the sign-off reads")
    configured = [(section, period) for section, period in (("limits_config", limits_period),
                                                             ("table_manager", table_period))
                  if period and _get(explicit, section, "retention_period") is not None]
    if not compactor and not table_manager and configured:
        section, period = configured[0]
        problems.append(f"{section}.retention_period is set ({_days(period)}) but neither "
                        f"compactor.retention_enabled nor table_manager.retention_deletes_enabled is true: "
                        f"Loki ignores it and never deletes anything")
    if _get(config, "limits_config", "reject_old_samples", default=False):
        max_age = _seconds(_get(config, "limits_config", "reject_old_samples_max_age", default="168h"))
        if max_age < WEEK.total_seconds():
            problems.append(f"limits_config.reject_old_samples_max_age is {_days(max_age)}: lines shipped late "
                            f"(after a Promtail outage) older than that are refused")
    return problems


MIN_VALUES_FOR_RATIO = 10  # below this, a label with one value per line is just a quiet night


def unbounded_label(values, lines, maximum):
    """A label is unbounded when it has more than `maximum` values in a night, or a value for
    (nearly) every other line: a timestamp or an id promoted to a label, one stream per line."""
    return values > maximum or (values >= MIN_VALUES_FOR_RATIO and values * 2 >= lines)
