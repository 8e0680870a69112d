"""Grafana's server-side expressions (pkg/expr), for the sandbox's alert rule evaluation.

A result maps a label tuple to a value: a float (mathexp.Number; None for a
null) or a list of (unix seconds, float or None) points (mathexp.Series). An
empty result is NoData. Implemented: reduce, threshold, math, resample and
classic_conditions, following pkg/expr/commands.go, pkg/expr/mathexp
(resample.go, union, the bosun-derived parser) and pkg/expr/classic. What is
outside that raises Unsupported, which the caller reports as an evaluation
error that names the sandbox: never a made-up value.

Written apart from opsverify's own pipeline (opsverify.rules, opsverify.replay) on purpose: the
sandbox is the suite's independent oracle and never imports opsverify, so a mistake shared by the
two cannot make them agree. Code that looks alike across the two stays apart.
"""

import math
import re
import statistics

from .grafana_files import parse_duration


class ExprError(Exception):
    """An error Grafana's expression engine raises too (its text is Grafana's)."""


class Unsupported(Exception):
    """Something the sandbox's expression engine does not emulate."""


def evaluate(ref, model, frames, span, now_s):
    """Run the expression `model` (refId `ref`) over the results so far; `span` is its relative time range."""
    kind = model.get("type")
    if kind == "reduce":
        return _reduce_command(ref, model, _input(ref, model, frames))
    if kind == "threshold":
        return _threshold_command(model, _input(ref, model, frames))
    if kind == "math":
        return Math(model.get("expression", "")).run(frames, ref)
    if kind == "resample":
        return _resample_command(model, _input(ref, model, frames), span, now_s)
    if kind == "classic_conditions":
        return _classic(model, frames, ref)
    raise Unsupported(f"the sandbox's Grafana does not evaluate {kind!r} expressions")


def _input(ref, model, frames):
    name = str(model.get("expression", "")).strip()
    name = name[2:-1] if name.startswith("${") and name.endswith("}") else name.lstrip("$")
    if name not in frames:
        raise ExprError(f"[sse.dependencyError] did not execute expression [{ref}]: missing {name}")
    return frames[name]


def is_series(value):
    return isinstance(value, list)


def _nan(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- reduce (commands.go ReduceCommand, mathexp/reduce.go) ---

REDUCERS = {
    "sum": lambda v: math.fsum(v),
    "mean": lambda v: math.fsum(v) / len(v) if v else math.nan,
    "min": lambda v: min(v) if v else math.nan,
    "max": lambda v: max(v) if v else math.nan,
    "count": lambda v: float(len(v)),
    "last": lambda v: v[-1] if v else math.nan,
    "median": lambda v: statistics.median(v) if v else math.nan,
}


def _reduce_command(ref, model, source):
    reducer = model.get("reducer")
    if reducer not in REDUCERS:
        raise Unsupported(f"the sandbox's Grafana does not emulate the reducer {reducer!r} [{ref}]")
    settings = model.get("settings") or {}
    mode = settings.get("mode", "")
    out = {}
    for labels, value in source.items():
        if not is_series(value):  # a number passes through a reduction unchanged
            out[labels] = value
            continue
        values = [v for _, v in value]
        if mode == "dropNN":
            values = [v for v in values if not _nan(v)]
        elif mode == "replaceNN":
            values = [float(settings.get("replaceWithValue", 0)) if _nan(v) else v for v in values]
        elif mode not in ("", "strict"):
            raise Unsupported(f"the sandbox's Grafana does not emulate reduce mode {mode!r} [{ref}]")
        elif any(_nan(v) for v in values):
            out[labels] = math.nan
            continue
        out[labels] = float(REDUCERS[reducer](values))
    return out


# --- threshold (commands.go ThresholdCommand) ---

def _compare(kind, value, params):
    if _nan(value):
        return 0.0
    checks = {"gt": lambda: value > params[0], "lt": lambda: value < params[0],
              "within_range": lambda: params[0] < value < params[1],
              "outside_range": lambda: value < params[0] or value > params[1]}
    if kind not in checks:
        raise Unsupported(f"the sandbox's Grafana does not emulate the threshold type {kind!r}")
    return 1.0 if checks[kind]() else 0.0


def _threshold_command(model, source):
    if model.get("unloadEvaluator"):
        raise Unsupported("the sandbox's Grafana does not emulate recovery thresholds (unloadEvaluator)")
    evaluator = model["conditions"][0]["evaluator"]
    params = [float(p) for p in (evaluator.get("params") or [0, 0])] + [0.0, 0.0]
    out = {}
    for labels, value in source.items():
        if is_series(value):
            out[labels] = [(t, _compare(evaluator["type"], v, params)) for t, v in value]
        else:
            out[labels] = _compare(evaluator["type"], value, params)
    return out


# --- resample (mathexp/resample.go Series.Resample) ---

DOWNSAMPLERS = {"sum": math.fsum, "mean": lambda v: math.fsum(v) / len(v), "min": min, "max": max,
                "last": lambda v: v[-1]}


def _resample_command(model, source, span, now_s):
    window = parse_duration(model.get("window", ""), "resample window") / 1000
    down, up = model.get("downsampler"), model.get("upsampler")
    start, end = now_s - span.get("from", 0), now_s - span.get("to", 0)
    length = int((end - start) / window) if window > 0 else 0
    if length <= 0:
        raise ExprError("the series cannot be sampled further; the time range is shorter than the interval")
    if down not in DOWNSAMPLERS:
        raise ExprError(f"downsampling {down} not implemented")
    if up not in ("pad", "backfilling", "fillna"):
        raise ExprError(f"upsampling {up} not implemented")
    out = {}
    for labels, series in source.items():
        if not is_series(series):
            raise ExprError("can only resample type series, got type number")
        points, bookmark, last_seen, resampled = sorted(series), 0, None, []
        for idx in range(length + 1):
            t = start + idx * window
            if t > end:
                break
            bucket = []
            while bookmark < len(points) and points[bookmark][0] <= t:
                last_seen = points[bookmark][1]
                bucket.append(last_seen)
                bookmark += 1
            if bucket:
                present = [v for v in bucket if v is not None]
                value = DOWNSAMPLERS[down](present) if present else None
            elif up == "pad":
                value = last_seen
            elif up == "backfilling":
                value = points[bookmark][1] if bookmark < len(points) else None
            else:
                value = None
            resampled.append((t, value))
        out[labels] = resampled
    return out


# --- classic conditions (pkg/expr/classic) ---

def _classic_reduce(kind, values):
    present = [v for v in values if not _nan(v)]
    if kind == "count":
        return float(len(values))
    if kind == "count_non_null":
        return float(len(present)) if present else None
    if not present:
        return None
    first, last = present[0], present[-1]
    reducers = {
        "avg": lambda: math.fsum(present) / len(present), "sum": lambda: math.fsum(present),
        "min": lambda: min(present), "max": lambda: max(present), "last": lambda: last,
        "median": lambda: statistics.median(present), "diff": lambda: last - first,
        "diff_abs": lambda: abs(last - first),
        "percent_diff": lambda: (last - first) / abs(first) * 100 if first else math.nan,
        "percent_diff_abs": lambda: abs((last - first) / first * 100) if first else math.nan,
    }
    if kind not in reducers:
        raise Unsupported(f"the sandbox's Grafana does not emulate the classic reducer {kind!r}")
    return float(reducers[kind]())


def _classic_evaluate(evaluator, value):
    kind = evaluator.get("type")
    params = [float(p) for p in (evaluator.get("params") or [])] + [0.0, 0.0]
    if kind == "no_value":
        return value is None
    if value is None or math.isnan(value):
        return False
    if kind in ("gt", "lt", "within_range", "outside_range"):
        return bool(_compare(kind, value, params))
    raise Unsupported(f"the sandbox's Grafana does not emulate the classic evaluator {kind!r}")


def _classic(model, frames, ref):
    firing = no_data = None
    for i, condition in enumerate(model.get("conditions") or []):
        source_ref = ((condition.get("query") or {}).get("params") or [None])[0]
        if source_ref not in frames:
            raise ExprError(f"[sse.dependencyError] did not execute expression [{ref}]: missing {source_ref}")
        reducer = (condition.get("reducer") or {}).get("type", "last")
        values = list(frames[source_ref].values())
        reduced = [_classic_reduce(reducer, [v for _, v in value]) if is_series(value) else value
                   for value in values]
        fires = any(_classic_evaluate(condition.get("evaluator") or {}, v) for v in reduced)
        if not values and (condition.get("evaluator") or {}).get("type") == "no_value":
            fires = True
        cond_no_data = all(v is None for v in reduced)  # also when the query returned no series
        operator = (condition.get("operator") or {}).get("type", "and")
        if operator not in ("and", "or"):
            raise Unsupported(f"the sandbox's Grafana does not emulate the classic operator {operator!r}")
        if i == 0:
            firing, no_data = fires, cond_no_data
        elif operator == "or":
            firing, no_data = firing or fires, no_data or cond_no_data
        else:
            firing, no_data = firing and fires, no_data and cond_no_data
    if firing is None:
        raise ExprError(f"[{ref}] classic condition has no conditions")
    if no_data and not firing:
        return {}
    return {(): 1.0 if firing else 0.0}


# --- math (mathexp: the parser from bosun, union of label sets) ---

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
                    r"|(?P<var>\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<func>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|&&|\|\||==|!=|>=|<=|[-+*/%<>!()]))")
_BINARY = {"||": 1, "&&": 2, "==": 3, "!=": 3, ">": 3, ">=": 3, "<": 3, "<=": 3,
           "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "**": 6}
_FUNCTIONS = {"abs": abs, "ceil": math.ceil, "floor": math.floor, "round": round,
              "log": lambda v: math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan),
              "is_nan": lambda v: float(isinstance(v, float) and math.isnan(v)),
              "is_inf": lambda v: float(isinstance(v, float) and math.isinf(v)),
              "is_number": lambda v: float(not (math.isnan(v) or math.isinf(v)))}


class Math:
    def __init__(self, text):
        self.text = text
        self.tokens, position = [], 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ExprError(f"failed to parse expression '{self.text}': unexpected {text[position:]!r}")
            kind = match.lastgroup
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.pos = 0

    def run(self, frames, ref):
        self.pos = 0
        tree = self._expr(0)
        if self.pos != len(self.tokens):
            raise ExprError(f"failed to parse expression '{self.text}': unexpected {self.tokens[self.pos][1]!r}")
        return math_results(self._eval(tree, frames, ref))

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def _expr(self, min_prec):
        left = self._unary()
        while True:
            kind, op = self._peek()
            if kind != "op" or op not in _BINARY or _BINARY[op] < min_prec:
                return left
            prec = _BINARY[op]
            self.pos += 1
            right = self._expr(prec if op == "**" else prec + 1)
            left = ("bin", op, left, right)

    def _unary(self):
        kind, value = self._peek()
        if kind == "op" and value in ("-", "!"):
            self.pos += 1
            return ("un", value, self._unary())
        if kind == "op" and value == "(":
            self.pos += 1
            inner = self._expr(0)
            self._expect(")")
            return inner
        if kind == "num":
            self.pos += 1
            return ("num", float(value))
        if kind == "var":
            self.pos += 1
            return ("var", value[2:-1] if value.startswith("${") else value[1:])
        if kind == "func":
            self.pos += 1
            if value not in _FUNCTIONS:
                raise Unsupported(f"the sandbox's Grafana does not emulate the math function {value!r}")
            self._expect("(")
            argument = self._expr(0)
            self._expect(")")
            return ("fn", value, argument)
        raise ExprError(f"failed to parse expression '{self.text}': unexpected end or {value!r}")

    def _expect(self, op):
        kind, value = self._peek()
        if kind != "op" or value != op:
            raise ExprError(f"failed to parse expression '{self.text}': expected {op!r}")
        self.pos += 1

    def _eval(self, node, frames, ref):
        """Each node evaluates to ("scalar", float) or ("results", {labels: value})."""
        kind = node[0]
        if kind == "num":
            return ("scalar", node[1])
        if kind == "var":
            if node[1] not in frames:
                raise ExprError(f"[sse.dependencyError] did not execute expression [{ref}]: missing {node[1]}")
            return ("results", frames[node[1]])
        if kind in ("un", "fn"):
            inner = self._eval(node[2], frames, ref)
            fn = _FUNCTIONS[node[1]] if kind == "fn" else (
                (lambda v: -v) if node[1] == "-" else (lambda v: float(v == 0)))
            return _map(inner, lambda v: None if v is None else float(fn(v)))
        return _binary(node[1], self._eval(node[2], frames, ref), self._eval(node[3], frames, ref))


def _map(node, fn):
    kind, value = node
    if kind == "scalar":
        return ("scalar", fn(value))
    return ("results", {labels: ([(t, fn(v)) for t, v in item] if is_series(item) else fn(item))
                        for labels, item in value.items()})


def _apply(op, a, b):
    if a is None or b is None:
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b else (math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * (
                math.copysign(1, b)))
        if op == "%":
            return math.fmod(a, b) if b else math.nan
        if op == "**":
            return math.pow(a, b)
    except (OverflowError, ValueError):
        return math.nan
    return float({"==": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b,
                  "&&": a != 0 and b != 0, "||": a != 0 or b != 0}[op])


def _combine(op, x, y):
    if is_series(x) and is_series(y):
        right = dict(y)
        return [(t, _apply(op, v, right[t])) for t, v in x if t in right]
    if is_series(x):
        return [(t, _apply(op, v, y)) for t, v in x]
    if is_series(y):
        return [(t, _apply(op, x, v)) for t, v in y]
    return _apply(op, x, y)


def _binary(op, left, right):
    (lk, lv), (rk, rv) = left, right
    if lk == "scalar" and rk == "scalar":
        return ("scalar", _apply(op, lv, rv))
    if lk == "scalar":
        return ("results", {labels: _combine(op, lv, item) for labels, item in rv.items()})
    if rk == "scalar":
        return ("results", {labels: _combine(op, item, rv) for labels, item in lv.items()})
    out = {}
    for la, a in lv.items():  # union: label sets where one holds the other
        for lb, b in rv.items():
            sa, sb = set(la), set(lb)
            if sa <= sb or sb <= sa:
                out[tuple(sorted(sa | sb))] = _combine(op, a, b)
    if not out and len(lv) == 1 and len(rv) == 1:  # one value each side: combined whatever the labels
        (la, a), (lb, b) = next(iter(lv.items())), next(iter(rv.items()))
        out[la if len(la) >= len(lb) else lb] = _combine(op, a, b)
    return ("results", out)


def math_results(node):
    """A math expression's value as a result: a bare number has no labels."""
    kind, value = node
    return {(): value} if kind == "scalar" else value
