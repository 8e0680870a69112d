"""The emulated Loki 2.6.1's running configuration: what GET /config prints and what LokiStore enforces.

The configuration is Loki's built-in defaults (`defaults()`), overlaid with the
site's config file as the sandbox models EscaShop's (`ESCASHOP_FILE`), overlaid
with a scenario's `loki_config:` mapping. The store reads its push limits and its
retention from the same object the handler prints, so /config never describes a
Loki other than the one answering.

Only a subset of Loki's configuration is modelled (a real /config prints hundreds
of keys). Each key here has Loki 2.6's name, place and YAML form; a key the
sandbox serves but does not act on cannot be changed by a scenario, and any key
it does not serve is refused, never ignored.

Sources (grafana/loki unless noted):
- pkg/loki/config_handler.go (2.x): `configHandler` marshals the config with
  gopkg.in/yaml.v2 and answers `Content-Type: text/plain; charset=utf-8`;
  `?mode=diff` prints only what differs from the defaults (a Go map, so keys
  sorted), `?mode=defaults` the defaults; any other value prints the config.
- docs/sources/api/_index.md: "GET /config ... The optional mode query parameter
  ... diff ... defaults".
- pkg/loki/loki.go: `AuthEnabled bool yaml:"auth_enabled,omitempty"`, so
  `auth_enabled: false` is not printed at all (the default, true, is).
- prometheus/common model/time.go: model.Duration marshals as Duration.String(),
  e.g. 168h -> "1w", 672h -> "4w", 72h -> "3d", 744h -> "31d", 0 -> "0s".
  validation.Limits uses it for reject_old_samples_max_age, creation_grace_period
  and retention_period; PeriodicTableConfig.MarshalYAML for the index period
  (24h -> "1d"); table_manager.retention_period likewise. time.Duration fields
  print as Go's Duration.String() ("10m0s", "2h0m0s", "24h0m0s").
- pkg/storage/config DayTime.MarshalYAML: "2006-01-02" (a string yaml.v2 quotes,
  since it would read back as a timestamp).
- pkg/storage/stores/shipper/compactor/compactor.go (2.5/2.6): the compactor's
  keys and flag defaults (compaction_interval 10m, retention_delete_delay 2h,
  retention_delete_worker_count 150, delete_request_cancel_period 24h, ...);
  retention is applied only with retention_enabled.
- docs/sources/operations/storage/retention.md and a Loki 2.7.4 /config capture
  (grafana/loki issue #8981): limits_config.retention_period defaults to 744h,
  printed "31d"; it deletes nothing unless compactor.retention_enabled is true.
"""

import copy
import datetime

import yaml

from .gotext import (DAY, HOUR, MINUTE, format_go_duration, format_model_duration, go_yaml_v2,
                     parse_go_duration, parse_model_duration)


class LokiConfigError(ValueError):
    """A configuration Loki would refuse, or one the sandbox does not emulate."""


# --- value kinds -------------------------------------------------------------------

class _Kind:
    name = ""

    def parse(self, value, where):
        raise NotImplementedError

    def render(self, value):
        return value


class _Str(_Kind):
    name = "a string"

    def parse(self, value, where):
        if isinstance(value, bool) or isinstance(value, (dict, list)) or value is None:
            raise LokiConfigError(f"{where}: {value!r} is not {self.name}")
        return str(value)


class _Bool(_Kind):
    name = "a boolean"

    def parse(self, value, where):
        if not isinstance(value, bool):
            raise LokiConfigError(f"{where}: {value!r} is not {self.name} (true or false)")
        return value


class _Int(_Kind):
    name = "an integer"

    def parse(self, value, where):
        if isinstance(value, bool) or not isinstance(value, int):
            raise LokiConfigError(f"{where}: {value!r} is not {self.name}")
        return value


class _Float(_Kind):
    name = "a number"

    def parse(self, value, where):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LokiConfigError(f"{where}: {value!r} is not {self.name}")
        return float(value)

    def render(self, value):
        return value


class _Duration(_Kind):
    """A duration written as a string, held in nanoseconds: model.Duration or time.Duration, by
    the Go parser and formatter it is given (sandbox.gotext)."""

    def __init__(self, name, parse, render):
        self.name, self._parse, self._render = name, parse, render

    def parse(self, value, where):
        if not isinstance(value, str):
            raise LokiConfigError(f"{where}: {value!r} is not {self.name}; give it as a string")
        try:
            return self._parse(value)
        except ValueError as exc:
            raise LokiConfigError(f"{where}: {exc}") from None

    def render(self, value):
        return self._render(value)


class _Day(_Kind):
    name = "a day like 2020-10-24"

    def parse(self, value, where):
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return value.isoformat()
        try:
            return datetime.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise LokiConfigError(f"{where}: {value!r} is not {self.name}") from None


class _Tags(_Kind):
    name = "a mapping of strings"

    def parse(self, value, where):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise LokiConfigError(f"{where}: {value!r} is not {self.name}")
        return {str(k): v for k, v in value.items()}

    def render(self, value):
        return dict(value)


STR, BOOL, INT, FLOAT, DAY_KIND, TAGS = _Str(), _Bool(), _Int(), _Float(), _Day(), _Tags()
MDUR = _Duration("a duration like 168h or 1w (model.Duration)", parse_model_duration, format_model_duration)
TDUR = _Duration("a duration like 10m or 2h (time.Duration)", parse_go_duration, format_go_duration)


class Field:
    """One key: its kind, Loki's built-in default, whether a scenario may change it, and
    whether yaml.v2 leaves it out when it is the zero value (`omitempty`)."""

    def __init__(self, kind, default, settable=False, omitempty=False):
        self.kind, self.default, self.settable, self.omitempty = kind, default, settable, omitempty


# The schema_config.configs entries (PeriodConfig) and their table configs, in struct order.
TABLE_FIELDS = {"prefix": Field(STR, ""), "period": Field(MDUR, 0), "tags": Field(TAGS, {})}
PERIOD_FIELDS = {"from": Field(DAY_KIND, None), "store": Field(STR, ""), "object_store": Field(STR, ""),
                 "schema": Field(STR, ""), "index": TABLE_FIELDS, "chunks": TABLE_FIELDS,
                 "row_shards": Field(INT, 0)}
PERIODS = "periods"  # the kind of schema_config.configs

# Loki 2.6's configuration as the sandbox models it: sections in the order of Loki's root
# Config struct, keys in the order of their structs, values Loki's built-in (flag) defaults.
# settable: a scenario may change it, because the sandbox acts on it.
SCHEMA = {
    "target": Field(STR, "all"),
    "auth_enabled": Field(BOOL, True, omitempty=True),
    "http_prefix": Field(STR, ""),
    "server": {
        "http_listen_network": Field(STR, "tcp"),
        "http_listen_address": Field(STR, ""),
        "http_listen_port": Field(INT, 80),
        "log_level": Field(STR, "info"),
    },
    "querier": {
        "query_ingesters_within": Field(TDUR, 3 * HOUR),
        "max_concurrent": Field(INT, 10),
    },
    "query_range": {
        "align_queries_with_step": Field(BOOL, False),
        "max_retries": Field(INT, 5),
        "cache_results": Field(BOOL, False),
    },
    "ingester": {
        "chunk_idle_period": Field(TDUR, 30 * MINUTE),
        "max_chunk_age": Field(TDUR, 2 * HOUR, settable=True),
    },
    "storage_config": {
        "boltdb_shipper": {
            "active_index_directory": Field(STR, ""),
            "shared_store": Field(STR, ""),
            "shared_store_key_prefix": Field(STR, "index/"),
            "cache_location": Field(STR, ""),
            "cache_ttl": Field(TDUR, 24 * HOUR),
            "resync_interval": Field(TDUR, 5 * MINUTE),
        },
        "filesystem": {
            "directory": Field(STR, ""),
        },
    },
    "chunk_store_config": {
        "max_look_back_period": Field(MDUR, 0),
    },
    "schema_config": {
        "configs": Field(PERIODS, []),
    },
    "compactor": {
        "working_directory": Field(STR, "", settable=True),
        "shared_store": Field(STR, "", settable=True),
        "shared_store_key_prefix": Field(STR, "index/"),
        "compaction_interval": Field(TDUR, 10 * MINUTE),
        "apply_retention_interval": Field(TDUR, 0),
        "retention_enabled": Field(BOOL, False, settable=True),
        "retention_delete_delay": Field(TDUR, 2 * HOUR),
        "retention_delete_worker_count": Field(INT, 150),
        "delete_request_cancel_period": Field(TDUR, 24 * HOUR),
        "max_compaction_parallelism": Field(INT, 1),
    },
    "limits_config": {
        "ingestion_rate_mb": Field(FLOAT, 4.0, settable=True),
        "ingestion_burst_size_mb": Field(FLOAT, 6.0, settable=True),
        "max_label_name_length": Field(INT, 1024),
        "max_label_value_length": Field(INT, 2048),
        "max_label_names_per_series": Field(INT, 30),
        "reject_old_samples": Field(BOOL, True, settable=True),
        "reject_old_samples_max_age": Field(MDUR, 7 * DAY, settable=True),
        "creation_grace_period": Field(MDUR, 10 * MINUTE, settable=True),
        "enforce_metric_name": Field(BOOL, False),
        "max_entries_limit_per_query": Field(INT, 5000, settable=True),
        "retention_period": Field(MDUR, 744 * HOUR, settable=True),
    },
    "table_manager": {
        "throughput_updates_disabled": Field(BOOL, False),
        "retention_deletes_enabled": Field(BOOL, False, settable=True),
        "retention_period": Field(MDUR, 0, settable=True),
        "poll_interval": Field(TDUR, 2 * MINUTE),
        "creation_grace_period": Field(TDUR, 10 * MINUTE),
    },
}

# EscaShop's loki-config.yaml as the sandbox models it (production intent: 28 days of
# logs, deleted by the compactor; pushes up to a week old accepted). A scenario's
# loki_config is merged over it.
ESCASHOP_FILE = {
    "auth_enabled": False,
    "server": {"http_listen_port": 3100},
    "schema_config": {"configs": [{
        "from": "2020-10-24", "store": "boltdb-shipper", "object_store": "filesystem", "schema": "v11",
        "index": {"prefix": "index_", "period": "24h"},
    }]},
    "storage_config": {
        "boltdb_shipper": {"active_index_directory": "/loki/boltdb-shipper-active",
                           "cache_location": "/loki/boltdb-shipper-cache", "cache_ttl": "24h",
                           "shared_store": "filesystem"},
        "filesystem": {"directory": "/loki/chunks"},
    },
    "compactor": {"working_directory": "/loki/boltdb-shipper-compactor", "shared_store": "filesystem",
                  "retention_enabled": True},
    "limits_config": {"reject_old_samples": True, "reject_old_samples_max_age": "168h",
                      "retention_period": "672h"},
    "table_manager": {"retention_deletes_enabled": False, "retention_period": "0s"},
}


# --- building a configuration -------------------------------------------------------

def _defaults(schema):
    out = {}
    for key, field in schema.items():
        out[key] = _defaults(field) if isinstance(field, dict) else copy.deepcopy(field.default)
    return out


def _merge(values, overrides, schema, where, settable_only):
    """Overlay `overrides` (a YAML mapping) on `values`, checking every key against `schema`."""
    if not isinstance(overrides, dict):
        raise LokiConfigError(f"{where}: must be a mapping")
    for key, value in overrides.items():
        here = f"{where}.{key}" if where else str(key)
        field = schema.get(key)
        if field is None:
            what = "section" if schema is SCHEMA else "key"
            raise LokiConfigError(f"{here}: the sandbox's Loki has no {what} {key!r} (it models "
                                  f"{', '.join(schema)})")
        if isinstance(field, dict):
            _merge(values[key], value, field, here, settable_only)
            continue
        if settable_only and not field.settable:
            raise LokiConfigError(f"{here}: the sandbox serves this key but does not act on it, so a scenario "
                                  "cannot change it")
        values[key] = _periods(value, here) if field.kind == PERIODS else field.kind.parse(value, here)


def _periods(value, where):
    if not isinstance(value, list):
        raise LokiConfigError(f"{where}: must be a list of period configs")
    periods = []
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        period = _defaults(PERIOD_FIELDS)
        _merge(period, entry, PERIOD_FIELDS, here, settable_only=False)
        if period["from"] is None:
            raise LokiConfigError(f"{here}.from: a period config needs its first day")
        if period["row_shards"] == 0 and period["schema"] not in ("v1", "v2", "v3", "v4", "v5", "v6", "v9"):
            period["row_shards"] = 16  # PeriodConfig.applyDefaults
        periods.append(period)
    return periods


class LokiConfig:
    """A validated configuration: a nested mapping of internal values (durations in ns)."""

    def __init__(self, values):
        self.values = values

    @classmethod
    def site(cls, overrides=None, where="loki_config"):
        """Loki's defaults, then EscaShop's file, then a scenario's `overrides`; checked."""
        values = _defaults(SCHEMA)
        _merge(values, ESCASHOP_FILE, SCHEMA, "", settable_only=False)
        if overrides is not None:
            _merge(values, overrides, SCHEMA, where, settable_only=True)
        config = cls(values)
        config.check(where)
        return config

    def get(self, path):
        value = self.values
        for part in path.split("."):
            value = value[part]
        return value

    def with_listener(self, host, port):
        """The same configuration, as it reads once the HTTP server has bound host:port."""
        values = copy.deepcopy(self.values)
        values["server"]["http_listen_address"] = host
        values["server"]["http_listen_port"] = port
        return LokiConfig(values)

    def with_auth(self):
        """The same configuration with auth_enabled: true (python -m sandbox --loki-tenant): every query and push
        names its tenant (X-Scope-OrgID), and each tenant's logs are its own (sandbox.loki_access)."""
        values = copy.deepcopy(self.values)
        values["auth_enabled"] = True
        return LokiConfig(values)

    @property
    def auth_enabled(self):
        return self.get("auth_enabled")

    def check(self, where="loki_config"):
        """What Loki 2.6 refuses at start-up, and what the sandbox does not emulate, named."""
        periods = self.get("schema_config.configs")
        if len(periods) != 1 or (periods[0]["store"], periods[0]["object_store"], periods[0]["index"]["period"]) \
                != ("boltdb-shipper", "filesystem", DAY):
            raise LokiConfigError(f"{where}: the sandbox emulates one schema period with store boltdb-shipper, "
                                  "object_store filesystem and a 24h index period, nothing else")
        if self.get("table_manager.retention_deletes_enabled"):
            raise LokiConfigError(f"{where}: table_manager.retention_deletes_enabled: true is not emulated (the "
                                  "sandbox applies retention the way the compactor does, and only that)")
        if self.get("compactor.retention_enabled"):
            if not self.get("compactor.shared_store"):
                raise LokiConfigError(f"{where}: compactor.retention_enabled needs compactor.shared_store (the "
                                      "sandbox does not emulate Loki's dynamic default for it)")
            if not self.get("compactor.working_directory"):
                raise LokiConfigError(f"{where}: compactor.working_directory is empty; Loki's compactor cannot "
                                      "start without it")
            period = self.get("limits_config.retention_period")
            if 0 < period < DAY:
                raise LokiConfigError(f"{where}: limits_config.retention_period "
                                      f"{format_model_duration(period)} is below 24h; the sandbox does not emulate "
                                      "retention shorter than one index table")
        if self.get("ingester.max_chunk_age") <= 0:
            raise LokiConfigError(f"{where}: ingester.max_chunk_age must be positive")
        if self.get("limits_config.ingestion_rate_mb") <= 0 or self.get("limits_config.ingestion_burst_size_mb") <= 0:
            raise LokiConfigError(f"{where}: the sandbox emulates a positive ingestion_rate_mb and "
                                  "ingestion_burst_size_mb only")
        if self.get("limits_config.max_entries_limit_per_query") <= 0:
            raise LokiConfigError(f"{where}: limits_config.max_entries_limit_per_query must be positive in the "
                                  "sandbox (it does not emulate an unlimited query)")

    # What the store enforces.

    @property
    def reject_old_samples_max_age_ns(self):
        """How old a pushed entry may be, or None when old samples are not rejected."""
        if not self.get("limits_config.reject_old_samples"):
            return None
        return self.get("limits_config.reject_old_samples_max_age")

    @property
    def creation_grace_period_ns(self):
        return self.get("limits_config.creation_grace_period")

    @property
    def retention_ns(self):
        """How long entries are kept, or None: retention_period applies only when the compactor
        applies it (compactor.retention_enabled); 0s keeps everything."""
        if not self.get("compactor.retention_enabled"):
            return None
        return self.get("limits_config.retention_period") or None

    @property
    def out_of_order_window_ns(self):
        """How far behind its stream's newest entry an entry may be: half of ingester.max_chunk_age
        (pkg/ingester/stream.go, unordered writes, the 2.6 default)."""
        return self.get("ingester.max_chunk_age") // 2

    @property
    def ingestion_rate(self):
        """(bytes a second, burst bytes) of the distributor's rate limiter (limits_config, MB = 2^20 bytes)."""
        return (self.get("limits_config.ingestion_rate_mb") * 2**20,
                self.get("limits_config.ingestion_burst_size_mb") * 2**20)

    @property
    def max_entries_limit_per_query(self):
        return self.get("limits_config.max_entries_limit_per_query")

    # What /config prints.

    def document(self):
        """The configuration as yaml.v2 sees it: an ordered tree of YAML scalars."""
        return _document(self.values, SCHEMA)

    def render(self):
        return go_yaml_v2(self.document())


def defaults():
    """Loki's built-in defaults (newDefaultConfig: flag defaults, no file)."""
    return LokiConfig(_defaults(SCHEMA))


def _document(values, schema):
    out = {}
    for key, field in schema.items():
        value = values[key]
        if isinstance(field, dict):
            out[key] = _document(value, field)
        elif field.omitempty and not value:
            continue
        elif field.kind == PERIODS:
            out[key] = [_document(period, PERIOD_FIELDS) for period in value]
        else:
            out[key] = field.kind.render(value)
    return out


def diff_document(actual, default):
    """pkg/loki/config_handler.go diffConfig over the marshalled-then-unmarshalled configs:
    keys of `actual` whose value differs from `default`; nested maps recursively."""
    out = {}
    for key, value in actual.items():
        if key not in default:
            out[key] = value
            continue
        base = default[key]
        if isinstance(value, dict):
            nested = diff_document(value, base if isinstance(base, dict) else {})
            if nested:
                out[key] = nested
        elif type(value) is not type(base) or value != base:
            out[key] = value
    return out


def roundtrip(document):
    """yamlMarshalUnmarshal: what the handler's map holds after yaml.v2 marshals and reads it back."""
    return yaml.safe_load(go_yaml_v2(document))

