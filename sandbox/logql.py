"""The LogQL subset of the emulated Loki 2.6.1: a parser and an evaluator.

Supported: stream selectors, chained line filters (|= != |~ !~), the range
aggregations count_over_time, rate, bytes_over_time and bytes_rate, and the
vector aggregations sum, count, max, min and avg with by/without. Any other
LogQL construct raises `Unsupported`: the sandbox refuses rather than answers
approximately.

Error texts are Loki 2.6.1's (pkg/logql/syntax, pkg/logqlmodel), so a client
sees the same 400 and 500 bodies as against the real service.

An independent oracle on purpose: the suite (opsverify) writes LogQL and reads Loki's answers, and
this evaluator shares no code with it (the sandbox never imports opsverify), so code that looks
alike across the two stays apart.
"""

import bisect
import heapq
import itertools
import re
from dataclasses import dataclass, field

from .gotext import go_quote, parse_model_duration

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS

# Loki 2.6 defaults that shape answers: the query-frontend splits metric range
# queries on 30m boundaries (limits_config.split_queries_by_interval), and an
# instant log query looks back 30s (querier.engine.max_look_back_period).
SPLIT_QUERIES_BY_INTERVAL_NS = 30 * MINUTE_NS
INSTANT_LOG_LOOKBACK_NS = 30 * SECOND_NS

SUPPORTED = (
    "the sandbox implements stream selectors, line filters, "
    "count_over_time/rate/bytes_over_time/bytes_rate and sum/count/min/max/avg by/without"
)

RANGE_FUNCTIONS = ("count_over_time", "rate", "bytes_over_time", "bytes_rate")
VECTOR_FUNCTIONS = ("sum", "count", "max", "min", "avg")
# The rest of Loki 2.6's function tokens: valid LogQL the sandbox refuses.
UNSUPPORTED_FUNCTIONS = (
    "avg_over_time", "sum_over_time", "min_over_time", "max_over_time", "stdvar_over_time",
    "stddev_over_time", "quantile_over_time", "first_over_time", "last_over_time",
    "absent_over_time", "rate_counter", "stddev", "stdvar", "bottomk", "topk",
    "label_replace", "bytes", "duration", "duration_seconds", "ip",
)
FUNCTIONS = RANGE_FUNCTIONS + VECTOR_FUNCTIONS + UNSUPPORTED_FUNCTIONS
# Words Loki's lexer always turns into keywords: they cannot be label names.
KEYWORDS = (
    "by", "without", "bool", "json", "regexp", "logfmt", "unpack", "pattern", "line_format",
    "label_format", "unwrap", "offset", "on", "ignoring", "group_left", "group_right",
    "or", "and", "unless",
)
BINARY_OPERATORS = ("+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<=", "or", "and", "unless")
LINE_FILTERS = ("|=", "!=", "|~", "!~")
MATCH_OPERATORS = ("=", "!=", "=~", "!~")
_PUNCTUATION = ("|=", "|~", "!=", "!~", "=~", "==", ">=", "<=") + tuple("{}(),.=|+-*/%^<>")


class LogQLError(Exception):
    """A query Loki refuses: `status` and `text` are what the HTTP layer answers."""

    status = 400

    def __init__(self, text):
        super().__init__(text)
        self.text = text


class ParseError(LogQLError):
    """Loki's ParseError (pkg/logqlmodel/error.go); line 0, col 0 means "no position"."""

    def __init__(self, message, line=0, col=0):
        where = f" at line {line}, col {col}" if line or col else " "
        super().__init__(f"parse error{where}: {message}")


class Unsupported(LogQLError):
    """Valid LogQL outside the sandbox's subset."""

    def __init__(self, construct):
        super().__init__(f"sandbox: unsupported LogQL: {construct} ({SUPPORTED})")


class PipelineError(LogQLError):
    """A line filter the querier cannot build; Loki answers it with a 500 (capture 31)."""

    status = 500

    def __init__(self, stage, message):
        super().__init__(
            f"rpc error: code = Unknown desc = parse error : stage '{stage}' : "
            f"error parsing regexp: {message}"
        )


# --- Go-compatible formatting --------------------------------------------------

def label_string(labels):
    """Prometheus' labels.String(): `{a="1", b="2"}`, sorted by name."""
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


def labels_key(labels):
    """Sort key matching Prometheus' labels.Compare."""
    return tuple(sorted(labels.items()))


# --- Regular expressions: Python's re with RE2's (Go's) acceptance and wording --

_END_OF_TEXT = re.compile(r"\\[\\z]")
_GO_GROUP = re.compile(r"\(\?(?:P<\w+>|[imsU]*(?:-[imsU]*)?[:)])")


def _class_end(pattern, start):
    """Index just past the character class opening at `start` (len if unterminated)."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _re2_rejection(pattern):
    """Go's error for syntax Python's re accepts but RE2 refuses, else None."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped and escaped in "123456789Z":
                return f"invalid escape sequence: `\\{escaped}`"
            i += 2
        elif ch == "[":
            i = _class_end(pattern, i)
        elif pattern.startswith("(?", i) and not _GO_GROUP.match(pattern, i):
            j = i + 2
            while j < len(pattern) and pattern[j] in "imsU-":
                j += 1
            return f"invalid or unsupported Perl syntax: `{pattern[i:j + 1]}`"
        elif ch in "*+?" and pattern.startswith("+", i + 1) and not (i and pattern[i - 1] == "("):
            return f"invalid nested repetition operator: `{ch}+`"
        else:
            i += 1
    return None


def _repeat_operator(pattern, pos):
    """The repetition operator starting at `pos`, with its lazy '?', as Go quotes it."""
    end = pattern.index("}", pos) + 1 if pattern[pos] == "{" else pos + 1
    return pattern[pos : end + 1] if pattern.startswith("?", end) else pattern[pos:end]


def _previous_repeat_start(pattern, pos):
    start = pos - 1
    if pattern[start] == "?" and start > 0 and pattern[start - 1] in "*+?}":
        start -= 1
    return pattern.rindex("{", 0, start) if pattern[start] == "}" else start


def _go_regexp_message(pattern, error):
    """Go's regexp/syntax wording for an error Python's re shares with RE2."""
    message, pos = error.msg, error.pos or 0
    if message == "missing ), unterminated subpattern":
        return f"missing closing ): `{pattern}`"
    if message == "unbalanced parenthesis":
        return f"unexpected ): `{pattern}`"
    if message == "unterminated character set":
        return f"missing closing ]: `{pattern[pos:]}`"
    if message == "nothing to repeat":
        return f"missing argument to repetition operator: `{_repeat_operator(pattern, pos)}`"
    if message == "multiple repeat":
        end = pos + len(_repeat_operator(pattern, pos))
        return f"invalid nested repetition operator: `{pattern[_previous_repeat_start(pattern, pos):end]}`"
    if message == "bad escape (end of pattern)":
        return "trailing backslash at end of expression: ``"
    if message.startswith("bad escape"):
        return f"invalid escape sequence: `{pattern[pos:pos + 2]}`"
    if message.startswith("bad character range"):
        return f"invalid character class range: `{message.rsplit(' ', 1)[-1]}`"
    return f"{message} (sandbox: Python's wording, RE2's may differ)"


def compile_go_regexp(pattern):
    """Compile like Go's regexp.Compile; ValueError carries Go's message."""
    rejection = _re2_rejection(pattern)
    if rejection:
        raise ValueError(rejection)
    try:
        # RE2's \d \w \s \b are ASCII-only; its \z is Python's \Z.
        return re.compile(_END_OF_TEXT.sub(lambda m: m.group().replace("z", "Z"), pattern), re.ASCII)
    except re.error as error:
        raise ValueError(_go_regexp_message(pattern, error)) from None


# --- Expressions -----------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    regex: re.Pattern = field(default=None, compare=False)

    def matches(self, labels):
        value = labels.get(self.name, "")  # an absent label matches as ""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = self.regex.fullmatch(value) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class LineFilter:
    op: str
    text: str
    regex: re.Pattern = field(default=None, compare=False)

    def __str__(self):
        return f"{self.op} {go_quote(self.text)}"

    def keeps(self, line):
        if self.op == "|=":
            return self.text in line
        if self.op == "!=":
            return self.text not in line
        found = self.regex.search(line) is not None
        return found if self.op == "|~" else not found


_REGEX_SYNTAX = set("\\.^$*+?{}[]()")


def _literal_alternatives(pattern):
    """The literal texts of a regex that is only literals joined by top-level '|', else None: it
    matches a line exactly when one of them is in it."""
    if _REGEX_SYNTAX.intersection(pattern):
        return None
    return pattern.split("|")


@dataclass(frozen=True)
class LogQuery:
    matchers: tuple
    filters: tuple = ()

    def selects(self, labels):
        return all(m.matches(labels) for m in self.matchers)

    def keeps(self, line):
        return all(f.keeps(line) for f in self.filters)

    def kept(self, times, lines):
        """The entries of parallel lists `times` and `lines` whose line passes every filter, as the same
        two lists: `keeps` applied in one comprehension per filter rather than a call per line."""
        for line_filter in self.filters:
            op, text = line_filter.op, line_filter.text
            literals = _literal_alternatives(text) if op in ("|~", "!~") else None
            if literals is not None and len(literals) > 1:
                # Like Loki's filter simplification: a|b as "contains a or contains b".
                found = set()
                for literal in literals:
                    found.update([i for i, line in enumerate(lines) if literal in line])
                chosen = sorted(found) if op == "|~" else [i for i in range(len(lines)) if i not in found]
                times, lines = [times[i] for i in chosen], [lines[i] for i in chosen]
                continue
            if literals is not None:
                op, text = ("|=" if op == "|~" else "!="), literals[0]
            if op == "|=":
                pairs = [(ns, line) for ns, line in zip(times, lines) if text in line]
            elif op == "!=":
                pairs = [(ns, line) for ns, line in zip(times, lines) if text not in line]
            elif op == "|~":
                search = line_filter.regex.search
                pairs = [(ns, line) for ns, line in zip(times, lines) if search(line) is not None]
            else:
                search = line_filter.regex.search
                pairs = [(ns, line) for ns, line in zip(times, lines) if search(line) is None]
            times, lines = [ns for ns, _ in pairs], [line for _, line in pairs]
        return times, lines


@dataclass(frozen=True)
class RangeAggregation:
    op: str
    query: LogQuery
    range_ns: int


@dataclass(frozen=True)
class VectorAggregation:
    op: str
    inner: object  # RangeAggregation | VectorAggregation
    grouping: tuple = None  # label names; None when neither by nor without is given
    without: bool = False


# --- Lexer (after pkg/logql/syntax/lex.go) ------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # IDENTIFIER STRING NUMBER DURATION RANGE EOF, or the keyword/punctuation itself
    text: str
    value: object
    line: int
    col: int

    def shown(self):
        """How goyacc names the token in "syntax error: unexpected X"."""
        return "$end" if self.kind == "EOF" else self.kind


_SPACE = re.compile(r"\s*(?:#[^\n]*\s*)*")
_IDENT = re.compile(r"[^\W\d]\w*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_DURATION_TAIL = re.compile(r"[\dnuµmsdhwy.]+")
_GO_STRING_ESCAPE = re.compile(r"\\(?:([abfnrtv\\\"])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


class _Lexer:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def _position(self, offset):
        line = self.text.count("\n", 0, offset) + 1
        return line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1

    def _error(self, message, offset):
        raise ParseError(message, *self._position(offset))

    def next(self):
        self.pos = _SPACE.match(self.text, self.pos).end()
        start = self.pos
        line, col = self._position(start) if self.text else (0, 0)
        kind, value = self._scan(start)
        return Token(kind, self.text[start : self.pos], value, line, col)

    def _scan(self, start):
        text = self.text
        if start == len(text):
            return "EOF", None
        ch = text[start]
        if ch == '"':
            return "STRING", self._double_quoted(start)
        if ch == "`":
            end = text.find("`", start + 1)
            if end < 0:
                self._error("literal not terminated", start)
            self.pos = end + 1
            return "STRING", text[start + 1 : end]
        if ch == "[":
            return "RANGE", self._range(start)
        if ch.isdigit():
            return self._number(start)
        ident = _IDENT.match(text, start)
        if ident:
            self.pos = ident.end()
            return self._word(ident.group().lower()), ident.group()
        for punct in _PUNCTUATION:
            if text.startswith(punct, start):
                self.pos = start + len(punct)
                return punct, punct
        self.pos = start + 1  # Loki's lexer turns an unknown character into an IDENTIFIER
        return "IDENTIFIER", ch

    def _double_quoted(self, start):
        end = start + 1
        while end < len(self.text) and self.text[end] not in '"\n':
            end += 2 if self.text[end] == "\\" else 1
        if end >= len(self.text) or self.text[end] != '"':
            self._error("literal not terminated", start)
        self.pos = end + 1
        body = self.text[start + 1 : end]
        decoded = _GO_STRING_ESCAPE.sub(_unescape, body)
        if "\\" in _GO_STRING_ESCAPE.sub("", body):
            self._error("invalid char escape", start)
        return decoded

    def _range(self, start):
        end = self.text.find("]", start)
        if end < 0:
            self._error("missing closing ']' in duration", start)
        self.pos = end + 1
        try:
            return parse_model_duration(self.text[start + 1 : end])
        except ValueError as error:
            self._error(str(error), start)

    def _number(self, start):
        """Loki's tryScanDuration: a number directly followed by duration units is a DURATION."""
        self.pos = _NUMBER.match(self.text, start).end()
        tail = _DURATION_TAIL.match(self.text, self.pos)
        try:
            duration = parse_model_duration(self.text[start : tail.end()]) if tail else None
        except ValueError:
            duration = None
        if duration is None:
            return "NUMBER", self.text[start : self.pos]
        self.pos = tail.end()
        return "DURATION", duration

    def _word(self, lower):
        if lower in FUNCTIONS and self._before_parenthesis():
            return lower
        if lower in KEYWORDS:
            return lower
        return "IDENTIFIER"

    def _before_parenthesis(self):
        """Loki's isFunction: a function name is followed by '(' or by/without '('."""
        rest = self.text[self.pos :].lstrip()
        grouping = re.match(r"(?i)(?:by|without)\s*\(", rest)
        return rest.startswith("(") or grouping is not None


def _unescape(match):
    simple, hex2, octal, hex4, hex8 = match.groups()
    if simple:
        return _SIMPLE_ESCAPES[simple]
    return chr(int(hex2 or hex4 or hex8, 16) if not octal else int(octal, 8))


# --- Parser (the subset of pkg/logql/syntax/expr.y) -----------------------------------


class _Parser:
    def __init__(self, text):
        self.lexer = _Lexer(text)
        self.token = self.lexer.next()

    def advance(self):
        token, self.token = self.token, self.lexer.next()
        return token

    def accept(self, kind):
        return self.advance() if self.token.kind == kind else None

    def expect(self, kind, expecting=None):
        if self.token.kind != kind:
            self.unexpected(expecting)
        return self.advance()

    def unexpected(self, expecting=None):
        message = f"syntax error: unexpected {self.token.shown()}"
        if expecting:
            message += f", expecting {expecting}"
        raise ParseError(message, self.token.line, self.token.col)

    def refuse_unsupported(self):
        """Refuse a token that continues valid LogQL beyond the subset."""
        kind = self.token.kind
        if kind == "|":
            self.advance()
            raise Unsupported(f"'| {self.token.text}'")
        if kind in BINARY_OPERATORS:
            raise Unsupported(f"'{self.token.text}' (binary operations)")
        if kind in UNSUPPORTED_FUNCTIONS or kind in ("offset", "bool", "on", "ignoring"):
            raise Unsupported(f"'{self.token.text}'")
        if kind in ("NUMBER", "DURATION"):
            raise Unsupported(f"'{self.token.text}' (literal expressions)")

    # expr: a log query or a metric query, possibly in parentheses.
    def expr(self, metric_only=False):
        kind = self.token.kind
        if kind == "(":
            self.advance()
            inner = self.expr(metric_only)
            self.expect(")")
        elif kind == "{" and not metric_only:
            inner = self.log_query()
        elif kind in RANGE_FUNCTIONS:
            inner = self.range_aggregation()
        elif kind in VECTOR_FUNCTIONS:
            inner = self.vector_aggregation()
        else:
            self.refuse_unsupported()
            self.unexpected()
        self.refuse_unsupported()
        return inner

    def selector(self):
        self.expect("{")
        matchers = [self.matcher()]
        while self.accept(","):
            matchers.append(self.matcher())
        self.expect("}")
        return tuple(matchers)

    def matcher(self):
        name = self.expect("IDENTIFIER", expecting="IDENTIFIER").text
        if self.token.kind not in MATCH_OPERATORS:
            self.unexpected()
        op = self.advance().kind
        value = self.expect("STRING", expecting="STRING").value
        return _new_matcher(name, op, value)

    def line_filters(self):
        filters = []
        while self.token.kind in LINE_FILTERS:
            op = self.advance().kind
            filters.append(LineFilter(op, self.expect("STRING").value))
        return tuple(filters)

    def log_query(self):
        return LogQuery(self.selector(), self.line_filters())

    # logRangeExpr: {…}[d] |= …, {…} |= … [d] or ({…} |= …)[d]
    def log_range(self):
        if self.accept("("):
            query = self.log_query()
            self.refuse_unsupported()
            self.expect(")")
            range_ns = self.expect("RANGE").value
        else:
            selector = self.selector()
            range_token = self.accept("RANGE")
            query = LogQuery(selector, self.line_filters())
            self.refuse_unsupported()
            range_ns = range_token.value if range_token else self.expect("RANGE").value
        self.refuse_unsupported()
        return query, range_ns

    def range_aggregation(self):
        op = self.advance().kind
        self.expect("(")
        query, range_ns = self.log_range()
        self.expect(")")
        if self.token.kind in ("by", "without"):
            raise Unsupported(f"'{self.token.text}' on {op} (grouping a range aggregation)")
        return RangeAggregation(op, query, range_ns)

    def vector_aggregation(self):
        op = self.advance().kind
        grouping = self.grouping() if self.token.kind in ("by", "without") else None
        self.expect("(")
        inner = self.expr(metric_only=True)
        self.expect(")")
        if grouping is None and self.token.kind in ("by", "without"):
            grouping = self.grouping()
        labels, without = grouping or (None, False)
        return VectorAggregation(op, inner, labels, without)

    def grouping(self):
        without = self.advance().kind == "without"
        self.expect("(")
        labels = []
        if self.token.kind != ")":
            labels.append(self.expect("IDENTIFIER").text)
            while self.accept(","):
                labels.append(self.expect("IDENTIFIER").text)
        self.expect(")")
        return tuple(labels), without


def _new_matcher(name, op, value):
    """Prometheus' labels.NewMatcher: regexes are anchored, errors quote the anchored text."""
    if op in ("=", "!="):
        return Matcher(name, op, value)
    anchored = f"^(?:{value})$"
    try:
        compile_go_regexp(anchored)
    except ValueError as error:
        raise ParseError(f"error parsing regexp: {error}") from None
    return Matcher(name, op, value, compile_go_regexp(f"(?:{value})"))


def _log_queries(expr):
    if isinstance(expr, LogQuery):
        return [expr]
    if isinstance(expr, RangeAggregation):
        return [expr.query]
    return _log_queries(expr.inner)


def _has_equality_matcher(query):
    """pkg/util.SplitFiltersAndMatchers: a matcher that matches "" does not select streams."""
    return any(not m.matches({}) for m in query.matchers)


def _compile_filters(query):
    """Build the line filters as the querier does, after parsing succeeded."""
    compiled = []
    for line_filter in query.filters:
        if line_filter.op in ("|~", "!~"):
            try:
                line_filter = LineFilter(line_filter.op, line_filter.text, compile_go_regexp(line_filter.text))
            except ValueError as error:
                stage = " ".join(str(f) for f in query.filters)
                raise PipelineError(stage, str(error)) from None
        compiled.append(line_filter)
    return LogQuery(query.matchers, tuple(compiled))


def _with_compiled_filters(expr):
    if isinstance(expr, LogQuery):
        return _compile_filters(expr)
    if isinstance(expr, RangeAggregation):
        return RangeAggregation(expr.op, _compile_filters(expr.query), expr.range_ns)
    return VectorAggregation(expr.op, _with_compiled_filters(expr.inner), expr.grouping, expr.without)


def parse(text):
    """Parse and validate a query as Loki 2.6.1 does: syntax, then matchers, then filters.

    Returns a LogQuery, RangeAggregation or VectorAggregation; raises ParseError (400),
    Unsupported (400) or PipelineError (500).
    """
    parser = _Parser(text)
    expr = parser.expr()
    parser.expect("EOF")
    if not all(_has_equality_matcher(q) for q in _log_queries(expr)):
        raise ParseError(
            "queries require at least one regexp or equality matcher that does not have an "
            'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
            'but app=~".+" will'
        )
    return _with_compiled_filters(expr)


def parse_matchers(text):
    """A `match[]` selector of the series API (Loki's syntax.ParseMatchers)."""
    parser = _Parser(text)
    expr = parser.expr()
    parser.expect("EOF")
    if not isinstance(expr, LogQuery) or expr.filters:
        raise LogQLError("only label matchers is supported")
    return expr.matchers


# --- Evaluation ---------------------------------------------------------------------


@dataclass
class Stats:
    """What a query read, for the `stats` object of the response."""

    lines: int = 0
    bytes: int = 0
    streams: int = 0

    def read(self, entries):
        self.streams += 1
        self.lines += len(entries)
        self.bytes += sum(len(line.encode("utf-8")) for _, line in entries)

    def read_columns(self, count, utf8_bytes):
        self.streams += 1
        self.lines += count
        self.bytes += utf8_bytes


def _scan(source, selects, start_ns, end_ns):
    """[(labels, times, lines, utf8_bytes)] per selected stream with entries in [start, end):
    `source.scan` when the source has it (the store's columns), else from `source.select`."""
    if hasattr(source, "scan"):
        return source.scan(selects, start_ns, end_ns)
    return [(labels, [ns for ns, _ in entries], [line for _, line in entries],
             sum(len(line.encode("utf-8")) for _, line in entries))
            for labels, entries in source.select(selects, start_ns, end_ns)]


def select_logs(query, source, start_ns, end_ns, limit, direction):
    """Entries of `query` with start <= ts < end, the first `limit` in `direction` across streams.

    `source.select(selects, start_ns, end_ns)` yields (labels, [(ns, line), ...]) per stream
    (or `source.scan`, the same as columns; see _scan).
    Returns ([(labels, entries)], Stats), streams in Loki's label-string order.
    """
    stats = Stats()
    candidates = []
    for labels, times, lines, utf8_bytes in _scan(source, query.selects, start_ns, end_ns):
        stats.read_columns(len(times), utf8_bytes)
        key = label_string(labels)
        times, lines = query.kept(times, lines)
        if len(times) > limit:
            # Only a stream's first (last) `limit` entries can be picked, and those at the same
            # instant as the last (first) of them, which the tie-break on the line may prefer.
            if direction == "backward":
                low = bisect.bisect_left(times, times[-limit])
                times, lines = times[low:], lines[low:]
            else:
                high = bisect.bisect_right(times, times[limit - 1])
                times, lines = times[:high], lines[:high]
        candidates += [(ns, key, line, labels) for ns, line in zip(times, lines)]
    pick = heapq.nlargest if direction == "backward" else heapq.nsmallest
    by_stream = {}
    for ns, key, line, labels in pick(limit, candidates, key=lambda c: c[:3]):
        by_stream.setdefault(key, (labels, []))[1].append((ns, line))
    return [by_stream[key] for key in sorted(by_stream)], stats


# How a step's own timestamp counts: the range window is (t-D, t] but the store
# is read on [start-D, end) per (sub)query, so an entry at exactly t is lost
# when t ends a query or a query-frontend split.
CLOSED, OPEN, OPEN_ELSE_CLOSED = "closed", "open", "open-else-closed"


def instant_vector(expr, source, time_ns):
    """Evaluate a metric query at `time_ns`: [(labels, value)], Stats.

    Loki 2.6.1 reads the store on [t-D, t) and its range iterator keeps t-D < ts <= t,
    so an instant query counts t-D < ts < t (fixed only in Loki 3.2, PR #13448).
    """
    stats = Stats()
    [vector] = _evaluate(expr, source, [(time_ns, OPEN)], stats)
    return sorted(vector, key=lambda sample: labels_key(sample[0])), stats


def range_matrix(expr, source, start_ns, end_ns, step_ns):
    """Evaluate a metric query over a range as Loki 2.6.1's frontend and engine do.

    Returns ([(labels, [(t_ns, value), ...])], Stats), steps without samples left out.
    """
    stats = Stats()
    steps = range_steps(start_ns, end_ns, step_ns, _range_of(expr))
    series = {}
    for (t, _), vector in zip(steps, _evaluate(expr, source, steps, stats)):
        for labels, value in vector:
            series.setdefault(labels_key(labels), (labels, []))[1].append((t, value))
    return [series[key] for key in sorted(series)], stats


def range_steps(start_ns, end_ns, step_ns, range_ns):
    """The evaluation steps of a range query, each with how its own timestamp counts.

    The query-frontend (pkg/querier/queryrange/split_by_interval.go, splitMetricByTime)
    rounds start down and end up to the step, then splits on interval boundaries
    (the interval raised to the query's range, PR #5172). A step ending a split is
    open. When step >= interval every step is its own split, overlapping the next
    one on its first step; the merge keeps the earlier split's (open) sample when
    there is one, else the later split's (closed) one.
    """
    start = start_ns - start_ns % step_ns
    end = end_ns + (-end_ns) % step_ns
    interval = max(SPLIT_QUERIES_BY_INTERVAL_NS, range_ns)
    steps = []
    for t in range(start, end + 1, step_ns):
        if t == end:
            mode = OPEN
        elif step_ns >= interval:
            mode = CLOSED if t == start else OPEN_ELSE_CLOSED
        else:
            next_boundary = (t // interval + 1) * interval
            mode = OPEN if end > t + step_ns >= next_boundary else CLOSED
        steps.append((t, mode))
    return steps


def _range_of(expr):
    return expr.range_ns if isinstance(expr, RangeAggregation) else _range_of(expr.inner)


def _evaluate(expr, source, steps, stats):
    if isinstance(expr, VectorAggregation):
        return [_aggregate(expr, vector) for vector in _evaluate(expr.inner, source, steps, stats)]
    return _range_aggregate(expr, source, steps, stats)


def _range_aggregate(expr, source, steps, stats):
    """One vector per step: the range function over each stream's window."""
    first, last = steps[0][0], steps[-1][0]
    series = []
    for labels, times, lines, utf8_bytes in _scan(source, expr.query.selects, first - expr.range_ns, last + 1):
        stats.read_columns(len(times), utf8_bytes)
        times, lines = expr.query.kept(times, lines)
        sizes = None  # the running UTF-8 size, which only the bytes functions read
        if expr.op in ("bytes_over_time", "bytes_rate"):
            sizes = list(itertools.accumulate((len(line.encode("utf-8")) for line in lines), initial=0))
        series.append((labels, times, sizes))
    vectors = []
    for t, mode in steps:
        vector = []
        for labels, times, sizes in series:
            low = bisect.bisect_right(times, t - expr.range_ns)
            high = bisect.bisect_left(times, t)
            if mode == CLOSED or (mode == OPEN_ELSE_CLOSED and high == low):
                high = bisect.bisect_right(times, t)
            if high > low:
                size = sizes[high] - sizes[low] if sizes is not None else None
                vector.append((labels, _range_value(expr, high - low, size)))
        vectors.append(vector)
    return vectors


def _range_value(expr, count, size):
    seconds = expr.range_ns / SECOND_NS
    if expr.op == "count_over_time":
        return count
    if expr.op == "rate":
        return count / seconds
    if expr.op == "bytes_over_time":
        return size
    return size / seconds  # bytes_rate


def _group_labels(expr, labels):
    if expr.grouping is None:
        return {}
    if expr.without:
        return {k: v for k, v in labels.items() if k not in expr.grouping}
    return {k: v for k, v in labels.items() if k in expr.grouping}


def _aggregate(expr, vector):
    groups = {}
    for labels, value in vector:
        grouped = _group_labels(expr, labels)
        groups.setdefault(labels_key(grouped), (grouped, []))[1].append(value)
    return [(labels, _reduce(expr.op, values)) for labels, values in groups.values()]


def _reduce(op, values):
    if op == "sum":
        return sum(values)
    if op == "count":
        return len(values)
    if op == "max":
        return max(values)
    if op == "min":
        return min(values)
    mean = 0.0  # avg: Loki's running mean, for the same rounding
    for n, value in enumerate(values, 1):
        mean += (value - mean) / n
    return mean
