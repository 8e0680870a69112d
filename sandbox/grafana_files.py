"""Grafana 11's file provisioning, read the way Grafana reads it, kept in its HTTP API shapes.

A provisioning directory has Grafana's layout: datasources/*.yaml|yml,
alerting/*.yaml|yml|json (rule groups, contact points, policies, mute timings,
templates and their delete/reset lists) and dashboards/ (provider files and,
in the sandbox's layout, the dashboard JSON beside them). `load` applies them
in Grafana's order and returns each resource in the shape Grafana's HTTP API
returns it, which differs from the file shape.

Sources, all in grafana/grafana:
- file formats: docs/sources/alerting/set-up/provision-alerting-resources/file-provisioning,
  pkg/services/provisioning/alerting/{file_v1,rules_types,contact_point_types,
  notification_policy_types,mute_times_types,text_templates_types}.go,
  pkg/services/provisioning/datasources/types.go, pkg/services/provisioning/dashboards;
- the order of application: pkg/services/provisioning/alerting/provisioner.go (rules and
  deleteRules per file, then contact points, mute timings, templates, policies, then
  resetPolicies, deleteMuteTimes, deleteContactPoints, deleteTemplates);
- environment interpolation: pkg/services/provisioning/values/values.go (`$VAR`, `${VAR}`,
  `$__env{VAR}`, `$$` for a literal `$`; Go's os.ExpandEnv, so an unset variable is empty)
  and which fields go through it: labels yes, annotations no (PR #54975), query models no
  (rules_types.go uses Model.Raw), contact point settings yes (PR #55666), the whole policy
  tree yes (issue #58550), mute timings and templates no (plain definitions types).

A key Grafana does not know is ignored, as Grafana's readers ignore it (plain yaml.Unmarshal, not
the strict form: config_reader.go), and listed in `Provisioning.ignored` for the sandbox to print:
a misspelt key leaves Grafana's default in force, a defect a person wants to hear of. A documented
feature the sandbox does not emulate (recording rules, other orgs) stops the loader, naming it.
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .gotext import MS, format_model_duration, parse_model_duration

EXPR_UID = "__expr__"  # server-side expressions (reduce, threshold, math, resample, classic_conditions)
ORG_ID = 1  # the sandbox's Grafana has one organisation, "Main Org."
BASE_INTERVAL_S = 10  # [unified_alerting] base interval: group intervals must be multiples of it

DATASOURCE_FILE_KEYS = {"apiVersion", "datasources", "deleteDatasources", "prune"}
DATASOURCE_KEYS = {"orgId", "orgName", "version", "name", "type", "access", "url", "user", "database", "basicAuth",
                   "basicAuthUser", "withCredentials", "isDefault", "correlations", "jsonData", "secureJsonData",
                   "editable", "uid"}
DELETE_DATASOURCE_KEYS = {"orgId", "orgName", "name"}
ALERTING_FILE_KEYS = {"apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints", "policies",
                      "resetPolicies", "muteTimes", "deleteMuteTimes", "templates", "deleteTemplates"}
GROUP_KEYS = {"orgId", "name", "folder", "interval", "rules"}
RULE_KEYS = {"uid", "title", "condition", "data", "dashboardUid", "dasboardUid", "panelId", "noDataState",
             "execErrState", "for", "annotations", "labels", "isPaused", "notification_settings"}
# Keys of newer Grafanas (12.x) or features the sandbox does not emulate: refused, never ignored.
RULE_KEYS_REFUSED = {"record": "recording rules are not emulated",
                     "keepFiringFor": "it is a Grafana 12 key (give the sandbox --grafana-version 12.1)",
                     "missing_series_evals_to_resolve": "it is a Grafana 12 key the sandbox does not emulate"}
# Grafana 12 reads keepFiringFor (AlertRuleV1; the Recovering state holds a resolved alert that long).
RULE_KEYS_12 = RULE_KEYS | {"keepFiringFor"}
RULE_KEYS_REFUSED_12 = {k: v for k, v in RULE_KEYS_REFUSED.items() if k != "keepFiringFor"}
QUERY_KEYS = {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"}
NOTIFICATION_SETTINGS_KEYS = {"receiver", "group_by", "group_wait", "group_interval", "repeat_interval",
                              "mute_time_intervals"}
DELETE_RULE_KEYS = {"orgId", "uid"}
CONTACT_POINT_KEYS = {"orgId", "name", "receivers"}
RECEIVER_KEYS = {"uid", "type", "settings", "disableResolveMessage"}
DELETE_CONTACT_POINT_KEYS = {"orgId", "uid"}
POLICY_KEYS = {"receiver", "group_by", "matchers", "object_matchers", "mute_time_intervals", "active_time_intervals",
               "routes", "continue", "group_wait", "group_interval", "repeat_interval"}
# Alertmanager's deprecated matcher forms, which Grafana's route type still carries: not emulated.
POLICY_KEYS_REFUSED = {key: "a deprecated Alertmanager matcher form the sandbox does not emulate (use matchers "
                            "or object_matchers)" for key in ("match", "match_re")}
MUTE_TIME_KEYS = {"orgId", "name", "time_intervals"}
TIME_INTERVAL_KEYS = {"times", "weekdays", "days_of_month", "months", "years", "location"}
TEMPLATE_KEYS = {"orgId", "orgID", "name", "template"}  # the docs' example spells it orgID
DELETE_BY_NAME_KEYS = {"orgId", "name"}
PROVIDER_FILE_KEYS = {"apiVersion", "providers"}
PROVIDER_KEYS = {"name", "orgId", "folder", "folderUid", "type", "disableDeletion", "allowUiUpdates",
                 "updateIntervalSeconds", "options"}
PROVIDER_OPTION_KEYS = {"path", "foldersFromFilesStructure"}

NO_DATA_STATES = {"Alerting", "NoData", "OK", "KeepLast"}
EXEC_ERR_STATES = {"Alerting", "Error", "OK", "KeepLast"}
# Per notifier: (settings one of which is required, settings Grafana stores encrypted and
# returns as "[REDACTED]"), from the notifier schemas. Other types are refused at load time.
NOTIFIERS = {
    "email": ({"addresses"}, ()),
    "slack": ({"url", "token"}, ("url", "token")),
    "webhook": ({"url"}, ("password", "authorization_credentials")),
    "pagerduty": ({"integrationKey"}, ("integrationKey",)),
}
REDACTED = "[REDACTED]"
# Grafana's default Alertmanager configuration (pkg/setting, alertmanagerDefaultConfiguration):
# one email receiver and a root route to it. File provisioning adds receivers beside it;
# resetPolicies brings the route back.
DEFAULT_RECEIVER = "grafana-default-email"
DEFAULT_CONTACT_POINT = {"uid": "ddefaultemail0", "name": DEFAULT_RECEIVER, "type": "email",
                         "settings": {"addresses": "<example@email.com>"}, "disableResolveMessage": False}
DEFAULT_POLICY = {"receiver": DEFAULT_RECEIVER, "group_by": ["grafana_folder", "alertname"]}

MATCHER = re.compile(r'^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(.*?))\s*$')
RULE_UID = re.compile(r"^[a-zA-Z0-9\-_]{1,40}$")
GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class ProvisioningError(Exception):
    pass


# --- Prometheus durations (model.ParseDuration / model.Duration.String), as Grafana uses them ---

def parse_duration(text, where):
    """In milliseconds."""
    try:
        return parse_model_duration(str(text)) // MS
    except ValueError:
        raise ProvisioningError(f"{where}: {text!r} is not a duration like 30s, 5m or 1h30m") from None


def format_duration(ms):
    return format_model_duration(ms * MS)


# --- environment interpolation (pkg/services/provisioning/values) ---

_EXPANDER = re.compile(r"\$(__\w+)\{([^}]+)\}")
_SHELL_SPECIAL = set("*#$@!?-0123456789")


def interpolate(value, where):
    """values.interpolateValue: split on `$$`, expand `$__env{..}` then Go's os.ExpandEnv, join with `$`."""
    if not isinstance(value, str):
        return value
    return "$".join(_go_expand_env(_expand_vars(part, where)) for part in value.split("$$"))


def _expand_vars(text, where):
    """setting.ExpandVar: `$__env{NAME}`; `$__file{}` and `$__vault{}` are not emulated."""
    def expand(match):
        name, argument = match.groups()
        if name == "__env":
            return os.environ.get(argument, "")
        if name in ("__file", "__vault"):
            raise ProvisioningError(f"{where}: {match.group(0)!r}: the sandbox does not emulate ${name}{{}}")
        return match.group(0)
    return _EXPANDER.sub(expand, text)


def _go_expand_env(s):
    """Go's os.Expand(s, os.Getenv), byte for byte: `$NAME`, `${NAME}`, `$1`; a bad `${` is eaten."""
    out, i, j = None, 0, 0
    while j < len(s):
        if s[j] == "$" and j + 1 < len(s):
            out = out if out is not None else []
            out.append(s[i:j])
            name, width = _shell_name(s[j + 1:])
            if name == "" and width > 0:
                pass  # invalid syntax: eat the characters
            elif name == "":
                out.append("$")
            else:
                out.append(os.environ.get(name, ""))
            j += width
            i = j + 1
        j += 1
    return s if out is None else "".join(out) + s[i:]


def _shell_name(s):
    if s[0] == "{":
        if len(s) > 2 and s[1] in _SHELL_SPECIAL and s[2] == "}":
            return s[1:2], 3
        for k in range(1, len(s)):
            if s[k] == "}":
                return ("", 2) if k == 1 else (s[1:k], k + 1)
        return "", 1
    if s[0] in _SHELL_SPECIAL:
        return s[0:1], 1
    k = 0
    while k < len(s) and (s[k] == "_" or (s[k].isascii() and s[k].isalnum())):
        k += 1
    return s[:k], k


def interpolate_tree(value, where):
    """values.JSONValue: every string in a nested structure goes through interpolation."""
    if isinstance(value, dict):
        return {str(k): interpolate_tree(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_tree(v, where) for v in value]
    return interpolate(value, where)


class _Fields:
    """Typed reads of one mapping of a provisioning file, with Grafana's values.* semantics."""

    def __init__(self, path, where, mapping, allowed, refused=None, interp=True):
        if not isinstance(mapping, dict):
            raise ProvisioningError(f"{path}: {where} must be a mapping")
        for key in mapping:
            if refused and key in refused:
                raise ProvisioningError(f"{path}: {where}: the sandbox's Grafana refuses the key {key!r}: "
                                        f"{refused[key]}")
            if key not in allowed:
                _Fields.ignored.append(f"{path}: {where}: key {key!r} is not one Grafana knows; it ignores it")
        self.path, self.where, self.mapping, self.interp = path, where, mapping, interp

    ignored = []  # what the load in progress ignored (load() gives each load its own list)

    def _interpolate(self, text, key):
        return interpolate(text, self.here(key)) if self.interp else text

    def here(self, key=None):
        return f"{self.path}: {self.where}" + (f".{key}" if key else "")

    def has(self, key):
        return self.mapping.get(key) is not None

    def raw(self, key, default=None):
        value = self.mapping.get(key)
        return default if value is None else value

    def str(self, key, default="", interp=True):
        value = self.mapping.get(key)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise ProvisioningError(f"{self.here(key)}: must be a string")
        value = value if isinstance(value, str) else _yaml_scalar_text(value)
        return self._interpolate(value, key) if interp else value

    def required(self, key, what=None):
        value = self.str(key).strip()
        if not value:
            raise ProvisioningError(f"{self.here()}: {what or key} is required")
        return value

    def int(self, key, default=0):
        value = self.mapping.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise ProvisioningError(f"{self.here(key)}: {value!r} is not an integer")
        text = self._interpolate(str(value), key)
        if text == "":
            return default  # values.Int64Value leaves an empty value unset
        try:
            return int(text)
        except ValueError:
            raise ProvisioningError(f"{self.here(key)}: {text!r} is not an integer") from None

    def bool(self, key, default=False):
        value = self.mapping.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = self._interpolate(str(value), key)  # values.BoolValue: strconv.ParseBool
        if text in GO_TRUE:
            return True
        if text in GO_FALSE:
            return False
        raise ProvisioningError(f"{self.here(key)}: {text!r} is not a boolean")

    def list(self, key):
        value = self.mapping.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ProvisioningError(f"{self.here(key)}: must be a list")
        return value

    def org(self, key="orgId"):
        org = self.int(key, ORG_ID)
        org = org if org >= 1 else ORG_ID  # orgId < 1 means the default organisation
        if org != ORG_ID:
            raise ProvisioningError(f"{self.here(key)}: organisation {org}: the sandbox's Grafana has only org 1")
        return org


def _yaml_scalar_text(value):
    """A non-string YAML scalar as the string Go's yaml decoder gives a string field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the result ---

@dataclass
class Provisioning:
    datasources: dict = field(default_factory=dict)  # uid -> API shape
    datasource_secrets: dict = field(default_factory=dict)  # uid -> its secureJsonData (never in the API shape)
    folders: dict = field(default_factory=dict)  # uid -> title
    groups: list = field(default_factory=list)  # API rule-group shape
    contact_points: list = field(default_factory=lambda: [dict(DEFAULT_CONTACT_POINT)])  # API shape, secrets in clear
    policy: dict = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_POLICY)))  # API shape
    mute_times: list = field(default_factory=list)  # file shape (definitions.MuteTimeInterval)
    templates: list = field(default_factory=list)  # {"name", "template"}
    dashboards: dict = field(default_factory=dict)  # uid -> (dashboard JSON, file name)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))
    rules_updated: datetime = None  # when the rules were last written (their `updated`); load sets it
    grafana12: bool = False  # read and answer as Grafana 12 (keepFiringFor; keep_firing_for in the API)
    ignored: list = field(default_factory=list)  # "<file>: <where>: key ... ignored", for the sandbox to print
    edits: dict = field(default_factory=dict)  # resolved file path -> [(JSON pointer, value)] not yet applied

    @property
    def rules(self):
        return [rule for group in self.groups for rule in group["rules"]]

    def secure_settings(self, notifier_type):
        return NOTIFIERS[notifier_type][1]


def load(directory, loki_url, dashboards=None, alerting_files=(), rules_updated=None, grafana12=False, edits=()):
    """Read a provisioning directory; every datasource of type loki is pointed at `loki_url`.

    `dashboards`, a directory of dashboard JSON files, replaces the dashboards of the
    provisioning directory (it is read as Grafana's file dashboard provider reads its path).
    `alerting_files` are read after the alerting directory's own files, as files sorting last there.
    `rules_updated` (aware) is when the rules were last written: their `updated` (default: now).
    `grafana12`: read rules as Grafana 12 does (keepFiringFor) and give them its API shape.
    `edits`: (file relative to `directory`, JSON pointer, value) each: the value a file holds there as it
    is read (a scenario's defect: the base tree with one value changed); every edit must find its place.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ProvisioningError(f"{root}: not a directory")
    result = Provisioning(grafana12=grafana12)
    result.rules_updated = rules_updated or result.loaded_at
    for file, pointer, value in edits:
        result.edits.setdefault((root / file).resolve(), []).append((pointer, value))
    _Fields.ignored = result.ignored
    for child in sorted(root.iterdir()):
        if child.name not in ("datasources", "alerting", "dashboards"):
            raise ProvisioningError(f"{child}: the sandbox's Grafana provisions only datasources, alerting "
                                    "and dashboards")
    _load_datasources(root / "datasources", loki_url, result)
    _load_alerting(root / "alerting", result, [Path(p) for p in alerting_files])
    if dashboards is not None:
        _load_dashboard_dir(Path(dashboards), result)
    else:
        _load_dashboards(root / "dashboards", result)
    for path, pending in result.edits.items():
        raise ProvisioningError(f"edit of {path} at {pending[0][0]}: the provisioning read no such file")
    return result


def _read(path, result):
    """Grafana decodes .json files with its YAML decoder too. The file's edits are applied as it is read."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ProvisioningError(f"{path}: cannot be read: {exc}") from None
    for pointer, value in result.edits.pop(path.resolve(), ()):
        _put(data, pointer, value, path)
    return data


def _put(data, pointer, value, path):
    """Set the value at a JSON pointer (RFC 6901) whose parent exists: an existing list item, or a key of
    a mapping (a new key too); anything else is refused, so that an edit never lands somewhere unmeant."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]] if pointer else []
    if not pointer.startswith("/") or not tokens:
        raise ProvisioningError(f"edit of {path}: {pointer!r} is not a JSON pointer to a value inside the file")
    parent = data
    for depth, token in enumerate(tokens):
        last = depth == len(tokens) - 1
        if isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
            token = int(token)
        elif not isinstance(parent, dict) or (token not in parent and not last):
            raise ProvisioningError(f"edit of {path}: {pointer} leads nowhere at {'/'.join(tokens[:depth + 1])}")
        if last:
            parent[token] = value
        else:
            parent = parent[token]


def _dir_files(directory):
    return sorted(p for p in directory.iterdir()) if directory.is_dir() else []


# --- datasources (pkg/services/provisioning/datasources) ---

def safe_uid_from_name(name):
    """datasources.safeUIDFromName: a uid for a datasource provisioned without one."""
    return "P" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16].upper()


def _load_datasources(directory, loki_url, result):
    # The datasource reader takes *.yaml and *.yml and skips every other file.
    files = [p for p in _dir_files(directory) if p.is_file() and p.suffix in (".yaml", ".yml")]
    parsed = []
    for path in files:
        data = _Fields(path, "the file", _read(path, result), DATASOURCE_FILE_KEYS)
        entries = [_Fields(path, f"datasources[{i}]", ds, DATASOURCE_KEYS)
                   for i, ds in enumerate(data.list("datasources"))]
        deletes = [_Fields(path, f"deleteDatasources[{i}]", ds, DELETE_DATASOURCE_KEYS)
                   for i, ds in enumerate(data.list("deleteDatasources"))]
        parsed.append((entries, deletes))
    defaults = [ds.here() for entries, _ in parsed for ds in entries if ds.bool("isDefault")]
    if len(defaults) > 1:  # validateDefaultUniqueness
        raise ProvisioningError("datasource.yaml config is invalid. Only one datasource per organization can be "
                                f"marked as default ({', '.join(defaults)})")
    for entries, deletes in parsed:  # per file: its deletions, then its datasources
        for ds in deletes:
            ds.org()
            name = ds.required("name")
            for uid in [uid for uid, dto in result.datasources.items() if dto["name"] == name]:
                del result.datasources[uid]
        for ds in entries:
            _datasource(ds, loki_url, result)


def _datasource(ds, loki_url, result):
    if ds.str("orgName"):
        raise ProvisioningError(f"{ds.here('orgName')}: the sandbox's Grafana has only org 1 (use orgId)")
    org = ds.org()
    name, kind = ds.required("name"), ds.required("type")
    uid = ds.str("uid") or safe_uid_from_name(name)
    json_data = interpolate_tree(ds.raw("jsonData", {}), ds.here("jsonData"))
    secure = interpolate_tree(ds.raw("secureJsonData", {}), ds.here("secureJsonData"))
    if not isinstance(json_data, dict) or not isinstance(secure, dict):
        raise ProvisioningError(f"{ds.here()}: jsonData and secureJsonData must be mappings")
    for existing, dto in list(result.datasources.items()):
        if dto["name"] == name:  # provisioning the same name again updates it
            del result.datasources[existing]
    # The DataSource DTO of GET /api/datasources/uid/{uid} (pkg/api/dtos/datasource.go).
    result.datasources[uid] = {
        "id": len(result.datasources) + 1, "uid": uid, "orgId": org, "name": name, "type": kind,
        "typeLogoUrl": f"public/app/plugins/datasource/{kind}/img/{kind}_icon.svg",
        "access": ds.str("access", "proxy"), "url": loki_url if kind == "loki" else ds.str("url"),
        "user": ds.str("user"), "database": ds.str("database"), "basicAuth": ds.bool("basicAuth"),
        "basicAuthUser": ds.str("basicAuthUser"), "withCredentials": ds.bool("withCredentials"),
        "isDefault": ds.bool("isDefault"), "jsonData": json_data,
        "secureJsonFields": {key: True for key in secure},
        "version": ds.int("version", 1) or 1, "readOnly": not ds.bool("editable"),
    }
    result.datasource_secrets[uid] = {str(k): str(v) for k, v in secure.items()}


def loki_access(result, tenant="", user="", password=""):
    """Every Loki datasource as an operator provisions it for a Loki with auth_enabled (`tenant`: the HTTP header
    X-Scope-OrgID, jsonData.httpHeaderNameN with secureJsonData.httpHeaderValueN, as Grafana's Loki datasource
    documentation sets up multi-tenancy) and/or behind a gateway with basic auth (basicAuth: true, basicAuthUser,
    secureJsonData.basicAuthPassword). The API shape shows which secure fields are set, never their values."""
    for uid, ds in result.datasources.items():
        if ds["type"] != "loki":
            continue
        secrets = result.datasource_secrets.setdefault(uid, {})
        json_data = ds["jsonData"]
        if tenant:
            index = 1
            while json_data.get(f"httpHeaderName{index}") not in (None, "", "X-Scope-OrgID"):
                index += 1
            json_data[f"httpHeaderName{index}"] = "X-Scope-OrgID"
            secrets[f"httpHeaderValue{index}"] = tenant
        if user:
            ds.update(basicAuth=True, basicAuthUser=user)
            secrets["basicAuthPassword"] = password
        ds["secureJsonFields"] = {key: True for key in secrets}


# --- alerting (pkg/services/provisioning/alerting) ---

def _load_alerting(directory, result, extra=()):
    files = []
    for path in _dir_files(directory) + list(extra):
        if not path.is_file() or path.suffix not in (".yaml", ".yml", ".json"):
            # rulesConfigReader.readConfig refuses the whole directory then.
            raise ProvisioningError(f"{path}: file has invalid suffix '{path.name}' (.yaml,.yml,.json accepted)")
        files.append((path, _Fields(path, "the file", _read(path, result), ALERTING_FILE_KEYS)))
    state = _AlertingState(result)
    for path, data in files:  # AlertRuleProvisioner: per file, its groups, then its deleteRules
        for i, group in enumerate(data.list("groups")):
            state.group(_Fields(path, f"groups[{i}]", group, GROUP_KEYS))
        for i, entry in enumerate(data.list("deleteRules")):
            state.delete_rule(_Fields(path, f"deleteRules[{i}]", entry, DELETE_RULE_KEYS))
    # Then the other provisioners in Grafana's order, each over every file in turn.
    for key, keys, apply in (("contactPoints", CONTACT_POINT_KEYS, state.contact_point),
                             ("muteTimes", MUTE_TIME_KEYS, state.mute_time),
                             ("templates", TEMPLATE_KEYS, state.template),
                             ("policies", POLICY_KEYS | {"orgId"}, state.policy),
                             ("resetPolicies", None, state.reset_policy),
                             ("deleteMuteTimes", DELETE_BY_NAME_KEYS, state.delete_mute_time),
                             ("deleteContactPoints", DELETE_CONTACT_POINT_KEYS, state.delete_contact_point),
                             ("deleteTemplates", DELETE_BY_NAME_KEYS, state.delete_template)):
        for path, data in files:
            for i, item in enumerate(data.list(key)):
                if keys is None:  # an org id, not a mapping
                    apply(path, f"{key}[{i}]", item)
                else:
                    apply(_Fields(path, f"{key}[{i}]", item, keys))
    state.finish()


def folder_uid(title):
    """A stable uid in the shape of Grafana's generated ones (14 characters, a letter first)."""
    return "f" + hashlib.sha1(f"folder:{title}".encode("utf-8")).hexdigest()[:13]


class _AlertingState:
    def __init__(self, result):
        self.result = result
        self.next_rule_id = 1
        self.policy_where = None  # where the current policy tree came from, for error messages

    # rules

    def group(self, g):
        g.org()
        name = g.required("name", "the rule group's name")
        folder = g.required("folder", "the rule group's folder")
        interval_ms = parse_duration(g.required("interval"), g.here("interval"))
        if interval_ms <= 0 or interval_ms % (BASE_INTERVAL_S * 1000):
            raise ProvisioningError(f"{g.here('interval')}: interval ({format_duration(interval_ms)}) should be "
                                    f"non-zero and divided exactly by scheduler interval: {BASE_INTERVAL_S}s")
        uid = folder_uid(folder)
        self.result.folders[uid] = folder
        api_group = next((x for x in self.result.groups if x["folderUid"] == uid and x["title"] == name), None)
        if api_group is None:  # a group named again (in another file) gets the later rules and interval
            api_group = {"title": name, "folderUid": uid, "interval": 0, "rules": []}
            self.result.groups.append(api_group)
        api_group["interval"] = interval_ms // 1000
        for j, rule in enumerate(g.list("rules")):
            fields = _Fields(g.path, f"{g.where}.rules[{j}]", rule, *((RULE_KEYS_12, RULE_KEYS_REFUSED_12)
                                                                       if self.result.grafana12
                                                                       else (RULE_KEYS, RULE_KEYS_REFUSED)))
            api_rule = self.rule(fields, uid, name)
            for other in self.result.groups:  # provisioning a known uid again moves and updates the rule
                other["rules"] = [r for r in other["rules"] if r["uid"] != api_rule["uid"]]
            api_group["rules"].append(api_rule)

    def rule(self, r, folder, group):
        title = r.str("title")
        if not title:
            raise ProvisioningError(f"{r.here()}: rule has no title set")
        uid = r.str("uid")
        if not uid:
            raise ProvisioningError(f"{r.here()}: rule '{title}' failed to parse: no UID set")
        if not RULE_UID.match(uid):
            raise ProvisioningError(f"{r.here('uid')}: {uid!r}: a rule UID has at most 40 of [a-zA-Z0-9-_]")
        data = []
        for k, query in enumerate(r.list("data")):
            q = _Fields(r.path, f"{r.where}.data[{k}]", query, QUERY_KEYS)
            span = q.raw("relativeTimeRange", {})  # models.RelativeTimeRange: not interpolated
            if not isinstance(span, dict) or set(span) - {"from", "to"}:
                raise ProvisioningError(f"{q.here('relativeTimeRange')}: must be {{from, to}} in seconds")
            model = q.raw("model", {})  # Model.Raw: never interpolated (it keeps $__interval, $B, ...)
            if not isinstance(model, dict):
                raise ProvisioningError(f"{q.here('model')}: must be a mapping")
            # AlertQuery.PreSave fills these model defaults before Grafana stores a rule.
            model = {"intervalMs": 1000, "maxDataPoints": 43200, **model}
            data.append({"refId": q.required("refId"), "queryType": q.str("queryType"),
                         "relativeTimeRange": {"from": int(span.get("from", 0)), "to": int(span.get("to", 0))},
                         "datasourceUid": q.required("datasourceUid"),
                         "model": json.loads(json.dumps(model, sort_keys=True))})  # stored as Go maps: sorted
        if not data:
            raise ProvisioningError(f"{r.here()}: rule '{title}' failed to parse: no data set")
        condition = r.str("condition")
        if not condition:
            raise ProvisioningError(f"{r.here()}: rule '{title}' failed to parse: no condition set")
        refs = [q["refId"] for q in data]
        if condition not in refs:
            raise ProvisioningError(f"{r.here('condition')}: condition {condition} does not exist, must be one of "
                                    f"[{' '.join(refs)}]")
        no_data = r.str("noDataState").strip() or "NoData"
        exec_err = r.str("execErrState").strip() or "Alerting"
        if no_data not in NO_DATA_STATES:
            raise ProvisioningError(f"{r.here('noDataState')}: rule '{title}' failed to parse: unknown NoData "
                                    f"state option {no_data}")
        if exec_err not in EXEC_ERR_STATES:
            raise ProvisioningError(f"{r.here('execErrState')}: rule '{title}' failed to parse: unknown Error "
                                    f"state option {exec_err}")
        for_ms = parse_duration(r.str("for"), r.here("for")) if r.str("for") else 0
        annotations = r.raw("annotations", {})  # not interpolated since Grafana 9.1 (PR #54975)
        labels = r.raw("labels", {})
        if not isinstance(annotations, dict) or not isinstance(labels, dict):
            raise ProvisioningError(f"{r.here()}: labels and annotations must be mappings of strings")
        labels = {str(k): interpolate(_yaml_scalar_text(v), r.here(f"labels.{k}")) for k, v in labels.items()}
        annotations = {str(k): _yaml_scalar_text(v) for k, v in annotations.items()}
        r.str("dashboardUid"), r.str("dasboardUid"), r.int("panelId")  # linked panel: not part of the API shape
        # ProvisionedAlertRule (ngalert api/tooling/definitions/provisioning_alert_rules.go), field order kept.
        api_rule = {
            "id": self.next_rule_id, "uid": uid, "orgID": ORG_ID, "folderUID": folder, "ruleGroup": group,
            "title": title, "condition": condition, "data": data,
            "updated": self.result.rules_updated.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "noDataState": no_data, "execErrState": exec_err, "for": format_duration(for_ms),
        }
        if self.result.grafana12:  # ProvisionedAlertRule.KeepFiringFor, json "keep_firing_for" (not omitempty)
            keep_ms = parse_duration(r.str("keepFiringFor"), r.here("keepFiringFor")) if r.str("keepFiringFor") else 0
            api_rule["keep_firing_for"] = format_duration(keep_ms)
        self.next_rule_id += 1
        if annotations:  # omitempty
            api_rule["annotations"] = annotations
        if labels:  # omitempty
            api_rule["labels"] = labels
        api_rule.update({"provenance": "file", "isPaused": r.bool("isPaused"),
                         "notification_settings": self.notification_settings(r), "record": None})
        return api_rule

    def notification_settings(self, r):
        if not r.has("notification_settings"):
            return None
        ns = _Fields(r.path, f"{r.where}.notification_settings", r.raw("notification_settings"),
                     NOTIFICATION_SETTINGS_KEYS)
        receiver = ns.str("receiver")
        if not receiver:
            raise ProvisioningError(f"{ns.here()}: receiver must not be empty")
        out = {"receiver": receiver}
        group_by = [interpolate(str(v), ns.here("group_by")) for v in ns.list("group_by")]
        group_by = [v for v in group_by if v]
        if group_by:
            if "..." not in group_by and not {"alertname", "grafana_folder"} <= set(group_by):
                raise ProvisioningError(f"{ns.here('group_by')}: group by override must contain two required "
                                        "labels: 'alertname' and 'grafana_folder'")
            out["group_by"] = group_by
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if ns.str(key):
                out[key] = format_duration(parse_duration(ns.str(key), ns.here(key)))
        mute = [v for v in (interpolate(str(v), ns.here("mute_time_intervals"))
                            for v in ns.list("mute_time_intervals")) if v]
        if mute:
            out["mute_time_intervals"] = mute
        return out

    def delete_rule(self, d):
        d.org()
        uid = d.required("uid")
        for group in self.result.groups:
            group["rules"] = [r for r in group["rules"] if r["uid"] != uid]
        self.result.groups = [g for g in self.result.groups if g["rules"]]

    # contact points

    def contact_point(self, cp):
        cp.org()
        name = cp.str("name").strip()
        if not name:
            raise ProvisioningError(f"{cp.here()}: failure parsing contact points: no name is set")
        for j, receiver in enumerate(cp.list("receivers")):
            rcv = _Fields(cp.path, f"{cp.where}.receivers[{j}]", receiver, RECEIVER_KEYS)
            uid = rcv.str("uid").strip()
            kind = rcv.str("type").strip()
            if not uid:
                raise ProvisioningError(f"{rcv.here()}: {name}: no uid is set")
            if not kind:
                raise ProvisioningError(f"{rcv.here()}: {name}: no type is set")
            if kind not in NOTIFIERS:
                raise ProvisioningError(f"{rcv.here('type')}: the sandbox's Grafana does not support contact point "
                                        f"type {kind!r} (it knows {', '.join(NOTIFIERS)})")
            settings = interpolate_tree(rcv.raw("settings", {}), rcv.here("settings"))
            if not isinstance(settings, dict) or not settings:
                raise ProvisioningError(f"{rcv.here()}: {name}: no settings are set")
            self._validate_receiver(rcv, name, uid, kind, settings)
            # EmbeddedContactPoint (ngalert definitions), as GET /api/v1/provisioning/contact-points returns it.
            entry = {"uid": uid, "name": name, "type": kind, "settings": settings,
                     "disableResolveMessage": rcv.bool("disableResolveMessage"), "provenance": "file"}
            points = self.result.contact_points
            self.result.contact_points = [p for p in points if p["uid"] != uid] + [entry]

    @staticmethod
    def _validate_receiver(rcv, name, uid, kind, settings):
        """The notifier's own validation (EmbeddedContactPoint.Valid), which file provisioning runs; a failure
        stops provisioning and Grafana does not start (grafana-facts.md)."""
        required, _ = NOTIFIERS[kind]
        # Settings are decoded into the notifier's Go struct (grafana/alerting receivers/email: addresses is a
        # string, "," ";" or newline separated); a YAML list there fails json.Unmarshal, and the error is an
        # IntegrationValidationError naming the contact point and the integration.
        for key, value in settings.items():
            if isinstance(value, (list, dict)) and (kind, key) == ("email", "addresses"):
                shape = "array" if isinstance(value, list) else "object"
                raise ProvisioningError(
                    f"{rcv.here('settings')}: failed to validate integration {json.dumps(name)} (UID {uid}) of type "
                    f"\"email\": "
                    f"failed to unmarshal settings: json: cannot unmarshal {shape} into Go struct field "
                    f"emailSettingsRaw.addresses of type string")
            if isinstance(value, (list, dict)) and key in required:
                raise ProvisioningError(f"{rcv.here('settings')}.{key}: a {type(value).__name__}: the sandbox does "
                                        f"not emulate what Grafana says of that in a {kind} integration")
        if not any(str(settings.get(key) or "").strip() for key in required):
            raise ProvisioningError(f"{rcv.here('settings')}: a {kind} contact point needs "
                                    f"{' or '.join(sorted(required))}")
        if kind == "slack" and not settings.get("url") and not settings.get("recipient"):
            raise ProvisioningError(f"{rcv.here('settings')}: recipient must be specified when using the Slack "
                                    "chat API")

    def delete_contact_point(self, d):
        d.org()
        uid = d.required("uid")
        gone = [p for p in self.result.contact_points if p["uid"] == uid]
        self.result.contact_points = [p for p in self.result.contact_points if p["uid"] != uid]
        for point in gone:
            if not any(p["name"] == point["name"] for p in self.result.contact_points):
                used = _route_receivers(self.result.policy)
                if point["name"] in used:
                    raise ProvisioningError(f"{d.here()}: contact point {point['name']!r} is used by the "
                                            "notification policy tree; Grafana refuses to delete it")

    # mute timings and templates

    def mute_time(self, mt):
        mt.org()
        name = mt.raw("name")  # definitions.MuteTimeInterval: plain strings, not interpolated
        if not isinstance(name, str) or not name.strip():
            raise ProvisioningError(f"{mt.here()}: a mute timing needs a name")
        intervals = [_time_interval(_Fields(mt.path, f"{mt.where}.time_intervals[{k}]", interval, TIME_INTERVAL_KEYS,
                                            interp=False))
                     for k, interval in enumerate(mt.list("time_intervals"))]
        entry = {"name": name, "time_intervals": intervals}
        self.result.mute_times = [m for m in self.result.mute_times if m["name"] != name] + [entry]

    def delete_mute_time(self, d):
        d.org()
        name = d.required("name")
        if name in _route_mute_times(self.result.policy):
            raise ProvisioningError(f"{d.here()}: mute timing {name!r} is used by the notification policy tree; "
                                    "Grafana refuses to delete it")
        self.result.mute_times = [m for m in self.result.mute_times if m["name"] != name]

    def template(self, t):
        t.org("orgId" if t.has("orgId") else "orgID")
        name, content = t.raw("name"), t.raw("template")  # definitions.MessageTemplate: not interpolated
        if not isinstance(name, str) or not name.strip() or not isinstance(content, str):
            raise ProvisioningError(f"{t.here()}: a template needs a name and a template text")
        if not content:
            raise ProvisioningError(f"{t.here()}: template must have content")
        self.result.templates = [x for x in self.result.templates if x["name"] != name] + [
            {"name": name, "template": _stored_template(name, content)}]

    def delete_template(self, d):
        d.org()
        name = d.required("name")
        self.result.templates = [x for x in self.result.templates if x["name"] != name]

    # policies

    def policy(self, p):
        p.org()
        tree = interpolate_tree({k: v for k, v in p.mapping.items() if k != "orgId"}, p.here())
        self.result.policy = _route(p.path, p.where, tree, root=True)
        self.result.policy["provenance"] = "file"
        self.policy_where = p.here()

    def reset_policy(self, path, where, org):
        org = _Fields(path, where, {"orgId": org}, {"orgId"}).org()
        if org == ORG_ID:
            self.result.policy = json.loads(json.dumps(DEFAULT_POLICY))
            self.policy_where = None

    def finish(self):
        """Groups exist through their rules; the Alertmanager configuration must stay valid."""
        self.result.groups = [g for g in self.result.groups if g["rules"]]
        names = {p["name"] for p in self.result.contact_points}
        where = self.policy_where or "the default notification policy"
        for receiver in sorted(_route_receivers(self.result.policy) - names):
            raise ProvisioningError(f"{where}: failed to validate: receiver {receiver!r} does not exist")
        timings = {m["name"] for m in self.result.mute_times}
        for name in sorted(_route_mute_times(self.result.policy) - timings):
            raise ProvisioningError(f"{where}: failed to validate: mute time interval {name!r} does not exist")
        for rule in self.result.rules:
            settings = rule["notification_settings"]
            if settings and settings["receiver"] not in names:
                raise ProvisioningError(f"rule {rule['uid']}: notification_settings: receiver "
                                        f"{settings['receiver']!r} does not exist")


WEEKDAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
               "november", "december")
CLOCK_TIME = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")


def _time_interval(f):
    """One time interval of a mute timing, decoded as Alertmanager's timeinterval package does (its
    UnmarshalYAML methods and their messages; a failure stops provisioning) and given back as its JSON
    marshalling does: times "HH:MM", weekdays by name, the other ranges by number ("1:5" or "3")."""
    out = {}
    times = []
    for item in f.list("times"):
        item = item if isinstance(item, dict) else {}
        start, end = str(item.get("start_time") or ""), str(item.get("end_time") or "")
        if not start or not end:
            raise ProvisioningError(f"{f.here('times')}: both start and end times must be provided")
        minutes = []
        for text in (start, end):
            if not CLOCK_TIME.match(text):
                raise ProvisioningError(f"{f.here('times')}: couldn't parse timestamp {text}, invalid format")
            minutes.append(int(text[:2]) * 60 + int(text[3:]))
        if minutes[0] >= minutes[1]:
            raise ProvisioningError(f"{f.here('times')}: start time cannot be equal or greater than end time")
        times.append({"start_time": start, "end_time": end})
    if times:
        out["times"] = times
    for key, member, named in (("weekdays", _weekday_member, True), ("days_of_month", _int_member, False),
                               ("months", _month_member, False), ("years", _int_member, False)):
        ranges = []
        for value in f.list(key):
            text = str(value).lower()
            parts = text.split(":")
            if len(parts) > 2:
                raise ProvisioningError(f"{f.here(key)}: couldn't parse range {text}, invalid format")
            begin, end = (member(p, f.here(key)) for p in (parts[0], parts[-1]))
            _check_range(key, begin, end, text, f.here(key))
            shown = (WEEKDAY_NAMES[begin], WEEKDAY_NAMES[end]) if named else (str(begin), str(end))
            ranges.append(shown[0] if begin == end else f"{shown[0]}:{shown[1]}")
        if ranges:
            out[key] = ranges
    if f.str("location"):
        try:
            ZoneInfo(f.str("location"))
        except (ZoneInfoNotFoundError, ValueError):
            raise ProvisioningError(f"{f.here('location')}: unknown time zone {f.str('location')}") from None
        out["location"] = f.str("location")
    return out


def _weekday_member(text, where):
    if text not in WEEKDAY_NAMES:
        raise ProvisioningError(f"{where}: {text} is not a valid weekday")
    return WEEKDAY_NAMES.index(text)


def _month_member(text, where):
    if text in MONTH_NAMES:
        return MONTH_NAMES.index(text) + 1
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ProvisioningError(f"{where}: {text} is not a valid month")
    return int(text)


def _int_member(text, where):
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ProvisioningError(f'{where}: strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _check_range(key, begin, end, text, where):
    if key == "weekdays" and begin > end:
        raise ProvisioningError(f"{where}: start day cannot be before end day")
    if key == "days_of_month":
        for day in (begin, end):
            if day == 0 or not -31 <= day <= 31:
                raise ProvisioningError(f"{where}: {day} is not a valid day of the month: out of range")
        if begin < 0 < end:
            raise ProvisioningError(f"{where}: end day must be negative if start day is negative")
        if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
            raise ProvisioningError(f"{where}: end day {end} is always before start day {begin}")
    if key == "months" and begin > end:
        raise ProvisioningError(f"{where}: end month {MONTH_NAMES[end - 1] if 1 <= end <= 12 else end} is before "
                                f"start month {MONTH_NAMES[begin - 1] if 1 <= begin <= 12 else begin}")
    if key == "years" and begin > end:
        raise ProvisioningError(f"{where}: end year {end} is before start year {begin}")


def _stored_template(name, content):
    """NotificationTemplate.Validate, which TemplateService.SetTemplate (and so file provisioning)
    runs before storing: the content is trimmed, and wrapped in {{ define "<name>" }} ... {{ end }}
    with each line indented by two spaces when it defines no template itself. (Validate then parses
    it with Go's text and html templates; the sandbox does not emulate that parse.)"""
    content = content.strip()
    if not re.search(r"\{\{\s*define", content):
        content = "\n".join("  " + line for line in content.split("\n"))
        content = f'{{{{ define "{name}" }}}}\n{content}\n{{{{ end }}}}'
    return content


def _route(path, where, route, root=False):
    """A policy route as GET /api/v1/provisioning/policies returns it (definitions.Route).

    Grafana keeps both matcher forms as given: `matchers` (config.Matchers, each
    marshalled with labels.Matcher.String(): name, operator, quoted value) and
    `object_matchers` ([name, op, value]); it does not convert one into the other.
    """
    f = _Fields(path, where, route, POLICY_KEYS, POLICY_KEYS_REFUSED, interp=False)  # interpolated already
    if root:
        for key in ("matchers", "object_matchers", "mute_time_intervals", "active_time_intervals", "continue"):
            if f.has(key) and f.raw(key) not in ([], False):
                raise ProvisioningError(f"{f.here(key)}: the root route must not have {key}")
        if not f.str("receiver"):
            raise ProvisioningError(f"{f.here()}: the root route must specify a default receiver")
    out = {}
    if f.str("receiver"):
        out["receiver"] = f.str("receiver")
    group_by = [str(v) for v in f.list("group_by")]
    if group_by:
        if "..." in group_by and len(group_by) > 1:
            raise ProvisioningError(f"{f.here('group_by')}: cannot have wildcard group_by (`...`) and other labels "
                                    "at the same time")
        out["group_by"] = group_by
    if f.list("object_matchers"):
        matchers = []
        for matcher in f.list("object_matchers"):
            if not isinstance(matcher, list) or len(matcher) != 3 or matcher[1] not in ("=", "!=", "=~", "!~"):
                raise ProvisioningError(f"{f.here('object_matchers')}: {matcher!r} is not [name, op, value]")
            matchers.append([_yaml_scalar_text(part) for part in matcher])
        out["object_matchers"] = matchers
    if f.list("matchers"):
        parsed = []
        for text in f.list("matchers"):
            match = MATCHER.match(str(text))
            if not match:
                raise ProvisioningError(f"{f.here('matchers')}: {text!r} is not a matcher like 'team = devops'")
            name, op, quoted, plain = match.groups()
            value = json.loads(f'"{quoted}"') if quoted is not None else plain
            parsed.append(f"{name}{op}{json.dumps(value, ensure_ascii=False)}")
        out["matchers"] = parsed
    for key in ("mute_time_intervals", "active_time_intervals"):
        if f.list(key):
            out[key] = [str(v) for v in f.list(key)]
    if f.bool("continue"):
        out["continue"] = True
    if f.list("routes"):
        out["routes"] = [_route(path, f"{where}.routes[{i}]", child) for i, child in enumerate(f.list("routes"))]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if f.has(key):
            out[key] = format_duration(parse_duration(f.str(key), f.here(key)))
    return out


def _route_receivers(route):
    found = {route["receiver"]} if route.get("receiver") else set()
    for child in route.get("routes", []):
        found |= _route_receivers(child)
    return found


def _route_mute_times(route):
    found = set(route.get("mute_time_intervals", [])) | set(route.get("active_time_intervals", []))
    for child in route.get("routes", []):
        found |= _route_mute_times(child)
    return found


# --- dashboards (pkg/services/provisioning/dashboards) ---

def _load_dashboards(directory, result):
    """The sandbox's layout: provider files (*.yaml|yml) with the dashboard JSON beside them."""
    for path in _dir_files(directory):
        if path.is_file() and path.suffix == ".json":
            _add_dashboard(path, path.name, result)
        elif path.is_file() and path.suffix in (".yaml", ".yml"):
            _check_providers(path, result)
        else:
            raise ProvisioningError(f"{path}: the sandbox reads provider files (.yaml, .yml) and dashboard JSON "
                                    "(.json) here")


def _check_providers(path, result):
    data = _Fields(path, "the file", _read(path, result), PROVIDER_FILE_KEYS)
    for index, provider in enumerate(data.list("providers")):
        p = _Fields(path, f"providers[{index}]", provider, PROVIDER_KEYS)
        p.org()
        if p.str("type", "file") != "file" or p.str("folder") or p.str("folderUid"):
            raise ProvisioningError(f"{p.here()}: the sandbox supports only file providers into the General folder")
        options = _Fields(path, f"providers[{index}].options", p.raw("options", {}), PROVIDER_OPTION_KEYS)
        if options.bool("foldersFromFilesStructure"):
            raise ProvisioningError(f"{options.here('foldersFromFilesStructure')}: folders are not emulated")


def _load_dashboard_dir(directory, result):
    """FileReader: every *.json file under the provider's path, recursively; other files are skipped."""
    if not directory.is_dir():
        raise ProvisioningError(f"{directory}: not a directory of dashboards")
    for path in sorted(directory.rglob("*.json")):
        if path.is_file():
            _add_dashboard(path, str(path.relative_to(directory)), result)


def _add_dashboard(path, external_id, result):
    dashboard = _read(path, result)
    if not isinstance(dashboard, dict) or not dashboard.get("title"):
        raise ProvisioningError(f"{path}: Dashboard title cannot be empty")
    if not dashboard.get("uid"):
        raise ProvisioningError(f"{path}: the sandbox needs a uid in each dashboard (Grafana would make one up)")
    if dashboard["uid"] in result.dashboards:
        raise ProvisioningError(f"{path}: the same UID is used more than once ({dashboard['uid']!r}, also in "
                                f"{result.dashboards[dashboard['uid']][1]})")
    result.dashboards[dashboard["uid"]] = (dashboard, external_id)
