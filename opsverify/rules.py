"""Alert-rule analysis, pure: the expression pipeline as Grafana evaluates it, whether any
value of the query can satisfy the condition, what no data and errors do, and where the
rule's alerts are routed.

Grafana-managed rules are a chain of nodes: queries (here LogQL on Loki) feed server-side
expressions (reduce, resample, math, threshold, classic_conditions); the node named by
`condition` decides. Grafana docs: "Queries and conditions", "Configure no data and error
handling"; Alertmanager docs: "Routing tree".
"""

import bisect
import math
import re
from dataclasses import dataclass, field

EXPR_UID = "__expr__"
INF = math.inf

# States that notify someone. NoData and Error raise DatasourceNoData / DatasourceError alerts
# that go through the notification policies like the rule's own (Grafana docs, "no data and error handling").
NOISY_NO_DATA = {"Alerting": "fires the rule", "NoData": "raises a DatasourceNoData alert"}
NOISY_EXEC_ERR = {"Alerting": "fires the rule", "Error": "raises a DatasourceError alert"}


class AnalysisError(ValueError):
    """A pipeline this module cannot reason about; the text says what."""


# --- what a LogQL query can return ---


@dataclass(frozen=True)
class Domain:
    """The values a node can take when it has data: [low, high], integers or reals."""

    low: float
    high: float
    integer: bool = False
    why: str = ""

    def describe(self):
        low = "(-∞" if self.low == -INF else f"[{self.low:g}"
        high = "∞)" if self.high == INF else f"{self.high:g}]"
        kind = "whole numbers" if self.integer else "values"
        return f"{kind} in {low}, {high}" + (f" ({self.why})" if self.why else "")


ANY = Domain(-INF, INF, why="not a query whose values opsverify can bound")
RANGE_FUNCTION = re.compile(r"\b(count_over_time|rate|bytes_over_time|bytes_rate|sum_over_time|avg_over_time|"
                            r"max_over_time|min_over_time|absent_over_time)\s*\(")
RANGE = re.compile(r"\[\s*(\d+(?:\.\d+)?)(ms|s|m|h|d|w)\s*\]")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ARITHMETIC = re.compile(r"\)\s*[-+*/%^]|[-+*/%^]\s*\(|\b(or|unless|vector|label_replace)\b")


def query_domain(expr):
    """The values a LogQL metric query can return when it returns any.

    Loki returns no series at all when no line matched: count_over_time is
    then absent (no data), never 0. So a count is a whole number >= 1.
    """
    functions = set(RANGE_FUNCTION.findall(expr))
    if not functions:
        return Domain(-INF, INF, why="a log query, not a metric query")
    if ARITHMETIC.search(_strip_strings(expr)) or functions - {"count_over_time", "rate", "bytes_over_time",
                                                                 "bytes_rate"}:
        return ANY
    if functions <= {"count_over_time", "bytes_over_time"}:
        name = "count_over_time" if functions == {"count_over_time"} else "bytes_over_time"
        return Domain(1, INF, integer=True, why=f"{name} is absent, not 0, when nothing matched")
    return Domain(0, INF, why="a rate is positive when anything matched")


GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def duration_seconds(text):
    """A Go/Prometheus duration ('5m', '1h30m', '0s') in seconds."""
    text = str(text or "0s").strip()
    if text == "0":
        return 0.0
    parts = GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise AnalysisError(f"{text!r} is not a duration such as 5m or 1h30m")
    return sum(float(n) * UNIT_SECONDS[u] for n, u in parts)


def range_seconds(expr):
    """The [range] of a LogQL metric query, in seconds (None for log queries)."""
    match = RANGE.search(_strip_strings(expr))
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)] if match else None


STRING = re.compile(r'"(?:\\.|[^"\\])*"|`[^`]*`')


def _strip_strings(expr):
    """The query without its string literals (a regex may hold brackets)."""
    return STRING.sub('""', expr)


def one_minute_ranges(expr):
    """The query with each range selector ([24h]) made [1m], its string literals untouched: Loki parses
    it and builds the same pipeline, without scanning the panel's whole range."""
    out, at = [], 0
    for literal in STRING.finditer(expr):
        out += [RANGE.sub("[1m]", expr[at:literal.start()]), literal.group()]
        at = literal.end()
    return "".join(out) + RANGE.sub("[1m]", expr[at:])


# Grafana's built-in interval variables, with values typical of a dashboard's last hour.
BUILTIN_VARIABLES = {"$__interval": "1m", "${__interval}": "1m", "$__range": "1h", "${__range}": "1h",
                     "$__auto": "1m", "${__auto}": "1m", "$__rate_interval": "1m", "${__rate_interval}": "1m"}


def expand_dashboard_variables(expr):
    """A panel's LogQL with Grafana's built-in variables filled; None when it uses the dashboard's own."""
    for name, value in BUILTIN_VARIABLES.items():
        expr = expr.replace(name, value)
    return None if "$" in _strip_strings(expr) else expr


# --- the pipeline ---


@dataclass(frozen=True)
class Node:
    ref_id: str
    kind: str  # query | reduce | resample | threshold | math | classic_conditions | <other expression type>
    datasource_uid: str
    model: dict
    relative_from: int = 0  # seconds before the evaluation time
    relative_to: int = 0

    @property
    def expr(self):
        return self.model.get("expr", "")

    @property
    def source(self):
        """The refId this expression reads (reduce, resample, threshold)."""
        return str(self.model.get("expression", "")).lstrip("$")


def nodes(rule):
    """The rule's data entries as Nodes, by refId (an AlertRule from the provisioning API)."""
    found = {}
    for item in rule.data:
        model = item.get("model") or {}
        uid = item.get("datasourceUid", "")
        kind = model.get("type", "") if uid == EXPR_UID else "query"
        span = item.get("relativeTimeRange") or {}
        found[item["refId"]] = Node(item["refId"], kind, uid, model, int(span.get("from") or 0),
                                    int(span.get("to") or 0))
    return found


def queries(rule, datasource_uid=None):
    """The rule's datasource queries (not expressions), optionally only those on one datasource."""
    return [n for n in nodes(rule).values()
            if n.kind == "query" and datasource_uid in (None, n.datasource_uid)]


def domain_of(ref, graph, seen=()):
    """The values node `ref` can take when it has data."""
    if ref in seen:
        raise AnalysisError(f"expression {ref} refers to itself")
    node = graph.get(ref)
    if node is None:
        raise AnalysisError(f"no node {ref!r} in the rule's data")
    if node.kind == "query":
        return query_domain(node.expr)
    if node.kind == "resample":
        return domain_of(node.source, graph, seen + (ref,))
    if node.kind == "reduce":
        inner = domain_of(node.source, graph, seen + (ref,))
        reducer = node.model.get("reducer", "last")
        if reducer == "count":
            return Domain(1, INF, integer=True, why="a count of points")
        if reducer in ("last", "min", "max", "median"):
            return Domain(inner.low, inner.high, inner.integer, f"{reducer} of {inner.why or 'the query'}")
        if reducer == "mean":
            return Domain(inner.low, inner.high, False, f"mean of {inner.why or 'the query'}")
        if reducer == "sum":
            return Domain(inner.low if inner.low >= 0 else -INF, INF, inner.integer,
                          f"sum of {inner.why or 'the query'}")
        raise AnalysisError(f"reducer {reducer!r} of {ref} is not analysed")
    raise AnalysisError(f"{ref} is a {node.kind or 'untyped'} expression, which opsverify does not analyse")


# --- can the condition be true? ---

COMPARE = {
    "gt": lambda v, p: v > p[0], "lt": lambda v, p: v < p[0], "gte": lambda v, p: v >= p[0],
    "lte": lambda v, p: v <= p[0], "eq": lambda v, p: v == p[0], "ne": lambda v, p: v != p[0],
    "within_range": lambda v, p: min(p) < v < max(p), "outside_range": lambda v, p: v < min(p) or v > max(p),
    "within_range_included": lambda v, p: min(p) <= v <= max(p),
    "outside_range_included": lambda v, p: v <= min(p) or v >= max(p),
}
SYMBOL = {"gt": ">", "lt": "<", "gte": ">=", "lte": "<=", "eq": "==", "ne": "!="}


def _candidates(domain, params):
    """Values worth trying: the domain's ends and each side of every threshold, inside the domain."""
    step = 1 if domain.integer else 0.5
    raw = {domain.low, domain.high}
    for p in params:
        raw |= {p, p - step, p + step, math.floor(p), math.ceil(p)}
    values = set()
    for v in raw:
        if math.isinf(v):
            continue
        v = float(math.ceil(v)) if domain.integer else v
        if domain.low <= v <= domain.high:
            values.add(v)
    if domain.high == INF:
        values.add(max([domain.low if not math.isinf(domain.low) else 0] + list(params)) + 10 * step)
    if domain.low == -INF:
        values.add(min([0] + list(params)) - 10 * step)
    return sorted(values)


def witness(domain, evaluator_type, params):
    """A value of `domain` that satisfies the evaluator, or None."""
    test = COMPARE.get(evaluator_type)
    if test is None:
        raise AnalysisError(f"evaluator {evaluator_type!r} is not analysed")
    params = [float(p) for p in params]
    return next((v for v in _candidates(domain, params) if test(v, params)), None)


def describe_evaluator(source, evaluator_type, params):
    if evaluator_type in SYMBOL:
        return f"{source} {SYMBOL[evaluator_type]} {params[0]:g}"
    return f"{source} {evaluator_type.replace('_', ' ')} {[float(p) for p in params]}"


@dataclass(frozen=True)
class FireVerdict:
    can_fire: bool
    condition: str  # the condition, as people write it
    domain: str  # what the query can return
    example: object = None  # a value that fires it
    why: str = ""

    def evidence(self):
        """The analysis as a check's evidence shows it."""
        return {"condition": self.condition, "query values": self.domain, "fires for": self.example}


MATH_COMPARISON = re.compile(r"^\s*\$\{?([A-Za-z0-9_]+)\}?\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
MATH_OPERATOR = {">": "gt", "<": "lt", ">=": "gte", "<=": "lte", "==": "eq", "!=": "ne"}
CLASSIC_REDUCER = {"avg": "mean"}


@dataclass(frozen=True)
class Clause:
    """One comparison of the condition: `source` (a refId) compared by `evaluator` with `params`.

    Classic conditions reduce a query themselves: then `reducer` is applied to `source` first.
    """

    source: str
    evaluator: str
    params: tuple
    reducer: str = ""

    @property
    def name(self):
        return f"{self.reducer}({self.source})" if self.reducer else self.source


def condition_clauses(rule):
    """The condition as clauses and how they combine (all / any)."""
    graph = nodes(rule)
    condition = graph.get(rule.condition)
    if condition is None:
        raise AnalysisError(f"the condition {rule.condition!r} is not one of the rule's refIds {sorted(graph)}")
    if condition.kind == "threshold":
        evaluator = (condition.model.get("conditions") or [{}])[0].get("evaluator") or {}
        return [_clause(condition.source, evaluator)], all
    if condition.kind == "math":
        expression = condition.model.get("expression", "")
        if "&&" in expression and "||" in expression:
            raise AnalysisError(f"math expression {expression!r} mixes && and ||")
        clauses = []
        for part in re.split(r"&&|\|\|", expression):
            match = MATH_COMPARISON.match(part.strip().strip("()"))
            if not match:
                raise AnalysisError(f"math expression {expression!r} is not a comparison opsverify analyses "
                                    f"($REF op number, joined by && or ||)")
            clauses.append(Clause(match.group(1), MATH_OPERATOR[match.group(2)], (float(match.group(3)),)))
        return clauses, all if "&&" in expression else any
    if condition.kind == "classic_conditions":
        clauses, operators = [], []
        for item in condition.model.get("conditions") or ():
            ref = ((item.get("query") or {}).get("params") or [""])[0]
            reducer = (item.get("reducer") or {}).get("type", "last")
            clauses.append(_clause(ref, item.get("evaluator") or {}, CLASSIC_REDUCER.get(reducer, reducer)))
            operators.append((item.get("operator") or {}).get("type", "and"))
        return clauses, any if "or" in operators[1:] else all
    raise AnalysisError(f"the condition {rule.condition} is a {condition.kind or 'query'} node; opsverify "
                        f"analyses threshold, math and classic_conditions conditions")


def _clause(source, evaluator, reducer=""):
    kind = evaluator.get("type")
    if kind not in COMPARE:
        raise AnalysisError(f"evaluator {kind!r} is not analysed")
    return Clause(source, kind, tuple(float(p) for p in evaluator.get("params") or [0]), reducer)


def clause_domain(clause, graph):
    """The values a clause compares."""
    if not clause.reducer:
        return domain_of(clause.source, graph)
    reduced = Node(clause.name, "reduce", EXPR_UID, {"expression": clause.source, "reducer": clause.reducer})
    return domain_of(clause.name, {**graph, clause.name: reduced})


def can_fire(rule):
    """Whether some value of the rule's queries makes its condition true, and one such value."""
    clauses, combine = condition_clauses(rule)
    graph = nodes(rule)
    described, domains, examples = [], [], {}
    for clause in clauses:
        domain = clause_domain(clause, graph)
        described.append(describe_evaluator(clause.name, clause.evaluator, clause.params))
        domains.append(f"{clause.name}: {domain.describe()}")
        value = witness(domain, clause.evaluator, clause.params)
        if value is not None:
            examples[clause.name] = value
    fired = combine(c.name in examples for c in clauses)
    why = "" if fired else "no value the query can return satisfies it (nothing matched is no data, not 0)"
    joiner = " AND " if combine is all else " OR "
    return FireVerdict(fired, joiner.join(described), "; ".join(domains), examples if fired else None, why)


# --- no data ---


def no_data_count(eval_times, sample_times, lookback_seconds):
    """Of the evaluations at `eval_times` (unix s), how many see no sample in (t - lookback, t]."""
    samples = sorted(sample_times)
    return sum(1 for t in eval_times
               if bisect.bisect_right(samples, t) == bisect.bisect_right(samples, t - lookback_seconds))


# --- routing (Alertmanager's routing tree, as Grafana runs it) ---


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels):
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None  # Alertmanager anchors regex matchers
        return found if self.op == "=~" else not found

    def __str__(self):
        return f'{self.name}{self.op}"{self.value}"'


STRING_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


def parse_matcher(item):
    """A matcher from either form: [name, op, value] (object_matchers) or 'name = value' (matchers)."""
    if isinstance(item, (list, tuple)) and len(item) == 3:
        return Matcher(str(item[0]), str(item[1]), str(item[2]))
    match = STRING_MATCHER.match(str(item))
    if not match or match.group(2) not in ("=", "!=", "=~", "!~"):
        raise AnalysisError(f"cannot read the matcher {item!r}")
    value = match.group(3)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].replace('\\"', '"')
    return Matcher(match.group(1), match.group(2), value)


def route_matchers(route):
    found = [parse_matcher(m) for m in route.get("object_matchers") or ()]
    found += [parse_matcher(m) for m in route.get("matchers") or ()]
    found += [Matcher(k, "=", str(v)) for k, v in (route.get("match") or {}).items()]
    found += [Matcher(k, "=~", str(v)) for k, v in (route.get("match_re") or {}).items()]
    return found


DEFAULT_GROUP_WAIT = "30s"  # Grafana's root policy when it sets none (Alertmanager's default too)


@dataclass(frozen=True)
class Delivery:
    receiver: str
    path: tuple  # the routes walked, e.g. ('root', 'routes[0] severity="critical", process="midnight_reset"')
    mute: tuple = ()  # the delivering route's own mute_time_intervals (names; not inherited)
    active: tuple = ()  # ... and active_time_intervals
    group_wait: str = DEFAULT_GROUP_WAIT  # how long its group waits before the first notification (inherited)


def route(tree, labels):
    """The receivers an alert with `labels` reaches, with the path to each (Alertmanager semantics:
    depth first, first matching child wins unless it has `continue`, a node without a matching child
    delivers to its own receiver, receivers and group_wait are inherited)."""
    return _walk(tree, labels, tree.get("receiver", ""), ("root",), DEFAULT_GROUP_WAIT)


def _walk(node, labels, inherited, path, group_wait):
    receiver = node.get("receiver") or inherited
    group_wait = str(node.get("group_wait") or group_wait)
    deliveries = []
    for index, child in enumerate(node.get("routes") or ()):
        matchers = route_matchers(child)
        if all(m.matches(labels) for m in matchers):
            step = f"routes[{index}] " + (", ".join(str(m) for m in matchers) or "(matches all)")
            deliveries += _walk(child, labels, receiver, path + (step,), group_wait)
            if not child.get("continue", False):
                break
    return deliveries or [Delivery(receiver, path, tuple(node.get("mute_time_intervals") or ()),
                                   tuple(node.get("active_time_intervals") or ()), group_wait)]


def states_by_uid(states, alert_rules):
    """The rules API's states by rule uid: by uid where Grafana gives it, else by the title in its folder
    (never by the `file` text: from 11.x that is the folder's full path)."""
    by_key = {(rule.folder_uid, rule.title): uid for uid, rule in alert_rules.items()}
    # With no folder uid either, a title names one rule only if no other rule has it.
    titles = [rule.title for rule in alert_rules.values()]
    by_title = {rule.title: uid for uid, rule in alert_rules.items() if titles.count(rule.title) == 1}
    found = {}
    for state in states:
        uid = state.uid or by_key.get((state.folder_uid, state.name)) or (
            by_title.get(state.name) if not state.folder_uid else None)
        if uid:
            found[uid] = state
    return found


def alert_labels(rule, folder_title=""):
    """The labels Grafana puts on the rule's alerts: its own, alertname and grafana_folder."""
    labels = dict(rule.labels)
    labels["alertname"] = rule.title
    if folder_title:
        labels["grafana_folder"] = folder_title
    return labels


# --- contact points ---

PLACEHOLDER = re.compile(r"YOUR[/_-]|\byour[-_]|example\.(com|org|net)|changeme|change[-_]me|x{3,}|<[^>]*>|"
                         r"TODO|REPLACE", re.I)
EMAIL = re.compile(r"^[^@\s<>;,]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
URL_SETTINGS = {"slack": "url", "webhook": "url", "teams": "url", "discord": "url", "googlechat": "url",
                "mattermost": "url"}
REQUIRED_SETTINGS = {"email": ("addresses",), "pagerduty": ("integrationKey",), "opsgenie": ("apiKey",),
                     "telegram": ("bottoken", "chatid")}
REDACTED = "[REDACTED]"


def mask_url(url):
    """scheme://host/*** : enough to recognise a webhook, never the secret path."""
    match = re.match(r"^([a-z][a-z0-9+.-]*://[^/?#]+)", url or "", re.I)
    return f"{match.group(1)}/***" if match else "***"


def email_addresses(settings):
    text = str(settings.get("addresses") or "")
    return [a.strip() for a in re.split(r"[;,\n]", text) if a.strip()]


@dataclass
class IntegrationReport:
    kind: str
    problems: list = field(default_factory=list)
    shown: dict = field(default_factory=dict)  # what may be shown: masked URLs, addresses


def inspect_integration(integration):
    """Problems with one integration of a contact point (API or export shape)."""
    kind = integration.get("type", "")
    settings = integration.get("settings") or {}
    secure = set(integration.get("secureFields") or ())
    report = IntegrationReport(kind)
    if kind in URL_SETTINGS:
        name = URL_SETTINGS[kind]
        url = settings.get(name)
        if kind == "slack" and not url and settings.get("token"):
            if not settings.get("recipient"):
                report.problems.append("a Slack token without a recipient channel")
            report.shown["recipient"] = settings.get("recipient", "")
            return report
        if url == REDACTED or (not url and name in secure):
            report.shown[name] = "(set; redacted by Grafana)"
        elif not url:
            report.problems.append(f"no {name}: the {kind} integration cannot deliver")
        else:
            report.shown[name] = mask_url(url)
            if PLACEHOLDER.search(url):
                report.problems.append(f"the {name} is a placeholder ({mask_url(url)} with a placeholder path)")
            elif not re.match(r"^https?://[^/\s]+", url):
                report.problems.append(f"the {name} is not an http(s) URL")
    for name in REQUIRED_SETTINGS.get(kind, ()):
        if not settings.get(name) and name not in secure:
            report.problems.append(f"no {name}")
    if kind == "email":
        addresses = email_addresses(settings)
        report.shown["addresses"] = addresses
        for address in addresses:
            if not EMAIL.match(address):
                report.problems.append(f"{address!r} is not an email address")
            elif PLACEHOLDER.search(address):
                report.problems.append(f"{address!r} is a placeholder address")
    return report


# --- links in notifications ---

URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>)|}]+")
GRAFANA_PATH = re.compile(r"^/(d|d-solo|alerting|explore|goto|dashboards|playlists)(/|\?|$)")


def foreign_grafana_links(texts, allowed_hosts):
    """(where, url) of links to a Grafana page on a host other than `allowed_hosts` (host[:port])."""
    found = []
    for where, text in texts:
        for url in URL_IN_TEXT.findall(str(text)):
            match = re.match(r"^https?://([^/?#]+)(.*)$", url)
            host, path = match.group(1).lower(), match.group(2) or "/"
            if GRAFANA_PATH.match(path) and host not in allowed_hosts:
                found.append((where, url))
    return found


def host_of(url):
    """host[:port] of a URL, lower-cased ('' when it has none)."""
    match = re.match(r"^[a-z][a-z0-9+.-]*://([^/?#]+)", url or "", re.I)
    return match.group(1).lower() if match else ""
