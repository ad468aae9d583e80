"""The Grafana dashboard in deploy/grafana/ queries only metrics the daemon exports.

Every panel's PromQL (and the template variable's `label_values` query) is parsed by a small
PromQL parser below (selectors, functions, aggregations with by/without, binary operators with
on/ignoring/group_left, ranges, subqueries, offset); the metric names it selects are checked
against the names `dialer.metrics.Metrics` can expose, suffixes included (`_total`, `_bucket`,
`_sum`, `_count`). A renamed metric or a typo in a panel fails here, not on a blank graph.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dialer.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "dialer.json"

# -- a PromQL parser (enough of the grammar to find every selector) ---------------------------

FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "count_over_time", "day_of_month", "day_of_week", "day_of_year",
    "days_in_month", "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_sum", "holt_winters", "hour",
    "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
    "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute", "month",
    "predict_linear", "present_over_time", "quantile_over_time", "rate", "resets", "round",
    "scalar", "sgn", "sort", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
    "sum_over_time", "time", "timestamp", "vector", "year",
}  # fmt: skip
AGGREGATIONS = {
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "count_values", "limitk", "limit_ratio",
}  # fmt: skip
SET_OPS = {"and", "or", "unless"}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
PRECEDENCE = [{"or"}, {"and", "unless"}, COMPARISONS, {"+", "-"}, {"*", "/", "%", "atan2"}]
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+|[Ii]nf|NaN)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|==|!=|>=|<=|[-+*/%^<>=,(){}\[\]:@])
    """,
    re.VERBOSE,
)


class PromQLError(ValueError):
    pass


def tokenize(expr: str) -> list[tuple[str, str]]:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise PromQLError(f"unexpected {expr[pos : pos + 10]!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append((kind, m.group()))
    return tokens


@dataclass
class Parser:
    tokens: list[tuple[str, str]]
    pos: int = 0
    metrics: set[str] = field(default_factory=set)

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind):
            raise PromQLError(f"expected {value or kind}, got {v or 'the end'!r}")
        self.pos += 1
        return v

    def accept(self, value: str) -> bool:
        if self.peek()[1] == value and self.peek()[0] in ("op", "ident"):
            self.pos += 1
            return True
        return False

    def parse(self) -> set[str]:
        self.expr()
        if self.peek()[0] != "eof":
            raise PromQLError(f"unexpected {self.peek()[1]!r} after the expression")
        return self.metrics

    def expr(self, level: int = 0) -> None:
        if level == len(PRECEDENCE):
            self.power()
            return
        self.expr(level + 1)
        while self.peek()[1] in PRECEDENCE[level] and self.peek()[0] in ("op", "ident"):
            self.pos += 1
            self.accept("bool")
            if self.peek()[1] in ("on", "ignoring"):
                self.pos += 1
                self.labels()
                if self.peek()[1] in ("group_left", "group_right"):
                    self.pos += 1
                    if self.peek()[1] == "(":
                        self.labels()
            self.expr(level + 1)

    def power(self) -> None:
        self.unary()
        if self.accept("^"):
            self.power()  # right-associative

    def unary(self) -> None:
        if self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            self.pos += 1
            self.unary()
            return
        self.postfix()

    def postfix(self) -> None:
        self.primary()
        while True:
            if self.accept("["):
                self.take(kind="duration")
                if self.accept(":") and self.peek()[0] == "duration":
                    self.take(kind="duration")
                self.take("]")
            elif self.peek() == ("ident", "offset"):
                self.pos += 1
                self.accept("-")
                self.take(kind="duration")
            elif self.accept("@"):
                if self.peek()[0] == "number":
                    self.pos += 1
                else:
                    self.take(kind="ident")  # start() / end()
                    self.take("(")
                    self.take(")")
            else:
                return

    def primary(self) -> None:
        kind, value = self.peek()
        if kind in ("number", "string"):
            self.pos += 1
        elif value == "(":
            self.pos += 1
            self.expr()
            self.take(")")
        elif value == "{":
            self.matchers()
        elif (
            kind == "ident" and value in AGGREGATIONS and self.peek(1)[1] in ("(", "by", "without")
        ):
            self.aggregation()
        elif kind == "ident" and self.peek(1)[1] == "(":
            if value not in FUNCTIONS:
                raise PromQLError(f"unknown function {value!r}")
            self.pos += 1
            self.call_args()
        elif kind == "ident":
            if value in SET_OPS or value in ("by", "without", "on", "ignoring", "bool", "offset"):
                raise PromQLError(f"keyword {value!r} where a selector was expected")
            self.pos += 1
            self.metrics.add(value)
            if self.peek()[1] == "{":
                self.matchers()
        else:
            raise PromQLError(f"unexpected {value or 'end of the expression'!r}")

    def aggregation(self) -> None:
        self.pos += 1
        if self.peek()[1] in ("by", "without"):
            self.pos += 1
            self.labels()
        self.call_args()
        if self.peek()[1] in ("by", "without"):
            self.pos += 1
            self.labels()

    def call_args(self) -> None:
        self.take("(")
        if self.accept(")"):
            return
        self.expr()
        while self.accept(","):
            self.expr()
        self.take(")")

    def labels(self) -> None:
        self.take("(")
        while not self.accept(")"):
            self.take(kind="ident")
            if not self.accept(","):
                self.take(")")
                return

    def matchers(self) -> None:
        self.take("{")
        while not self.accept("}"):
            name = self.take(kind="ident")
            op = self.take(kind="op")
            if op not in ("=", "!=", "=~", "!~"):
                raise PromQLError(f"bad label matcher operator {op!r}")
            text = self.take(kind="string")
            if name == "__name__" and op == "=":
                self.metrics.add(text[1:-1])
            if not self.accept(","):
                self.take("}")
                return


def selected_metrics(expr: str) -> set[str]:
    """The metric names an expression selects; raises PromQLError if it does not parse."""
    return Parser(tokenize(expr)).parse()


# -- the parser itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "metrics"),
    [
        ("up", {"up"}),
        ('sum by (le) (rate(x_bucket{a="b", c=~"d|e"}[5m]))', {"x_bucket"}),
        (
            "histogram_quantile(0.95, sum(rate(h_bucket[$__rate_interval])) by (le, op))",
            {"h_bucket"},
        ),
        ("sum(rate(a_sum[5m])) / sum(rate(a_count[5m]))", {"a_sum", "a_count"}),
        ("a > bool 0.5 or on(instance) group_left(x) b", {"a", "b"}),
        ("-max_over_time(g[1h:1m] offset 5m) ^ 2", {"g"}),
        ('{__name__="named"}', {"named"}),
        ("topk(3, c_total) unless ignoring(x) d", {"c_total", "d"}),
    ],
)
def test_the_parser_finds_every_selector(expr: str, metrics: set[str]) -> None:
    assert selected_metrics(expr) == metrics


@pytest.mark.parametrize(
    "expr",
    [
        "rate(x_total[5m]",  # unbalanced
        "rates(x_total[5m])",  # no such function
        "sum by le (x)",  # by needs a list
        'x{a="b}',  # unterminated string
        "x[5]",  # a range needs a unit
        "x y",  # two selectors
        "$campaign_total",  # a Grafana variable outside a string
    ],
)
def test_the_parser_rejects_broken_queries(expr: str) -> None:
    with pytest.raises(PromQLError):
        selected_metrics(expr)


# -- the dashboard --------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in board["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # panels inside collapsed rows
    return out


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    out = []
    for p in panels(board):
        for t in p.get("targets", []):
            out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q.strip())
        assert m is not None, f"variable {var['name']}: unsupported query {q!r}"
        out.append((f"variable {var['name']!r}", m.group(1)))
    return out


def test_every_panel_queries_only_exported_metrics() -> None:
    exported = Metrics().exported_names()
    board = dashboard()
    used: set[str] = set()
    for where, expr in queries(board):
        try:
            names = selected_metrics(expr)
        except PromQLError as exc:
            pytest.fail(f"{where}: {exc}: {expr}")
        assert names, f"{where} selects no metric: {expr}"
        unknown = names - exported
        assert not unknown, f"{where} queries {sorted(unknown)}, not exported by the daemon"
        used |= names
    # The dashboard shows what the issue asks for.
    for name in (
        "dialer_call_attempts_total",
        "dialer_calls_answered_total",
        "dialer_calls_abandoned_total",
        "dialer_abandonment_ratio",
        "dialer_abandonment_uk_ratio",
        "dialer_agents",
        "dialer_answer_to_agent_seconds_bucket",
        "dialer_dial_level",
        "dialer_calls_in_flight",
        "dialer_pbx_up",
        "dialer_db_write_duration_seconds_bucket",
    ):
        assert name in used, f"no panel shows {name}"


def test_abandonment_rate_panels_show_percent_and_the_3_percent_line() -> None:
    """Every time series of an abandonment rate (US or UK) reads in percent, with 3 % dashed."""
    board = dashboard()
    rate_panels = [
        p
        for p in panels(board)
        if p["type"] == "timeseries"
        and any(
            name.startswith("dialer_abandonment_") and name.endswith("_ratio")
            for t in p.get("targets", [])
            for name in selected_metrics(t["expr"])
        )
    ]
    shown = {
        name for p in rate_panels for t in p["targets"] for name in selected_metrics(t["expr"])
    }
    assert {"dialer_abandonment_ratio", "dialer_abandonment_uk_ratio"} <= shown
    for p in rate_panels:
        defaults = p["fieldConfig"]["defaults"]
        assert defaults["unit"] == "percentunit", p["title"]
        steps = defaults["thresholds"]["steps"]
        assert any(s["value"] == 0.03 and s["color"] == "red" for s in steps), p["title"]
        assert defaults["custom"]["thresholdsStyle"]["mode"] != "off", p["title"]


def test_dashboard_layout_and_data_source() -> None:
    board = dashboard()
    assert board["uid"] == "dialer-overview"
    assert board["title"]
    all_panels = panels(board)
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    for p in all_panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & occupied, f"panel {p['title']!r} overlaps another"
        occupied |= cells
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"], f"panel {p['title']!r} has no query"
            assert p.get("description"), f"panel {p['title']!r} has no description"
    names = {v["name"] for v in board["templating"]["list"]}
    assert names == {"datasource", "campaign"}
    for where, expr in queries(board):
        if "campaign" in expr:
            assert '$campaign"' in expr or expr.startswith("dialer_calls_originated_total"), where


def test_provisioning_files() -> None:
    providers = (GRAFANA / "provisioning" / "dashboards" / "dialer.yaml").read_text()
    sources = (GRAFANA / "provisioning" / "datasources" / "dialer-prometheus.yaml").read_text()
    readme = (GRAFANA / "README.md").read_text()
    for text in (providers, sources):
        assert re.search(r"^apiVersion: 1$", text, re.M)
    path = re.search(r"^\s+path: (\S+)$", providers, re.M)
    assert path is not None
    assert path.group(1) in readme, "the README must say where the dashboards go"
    assert re.search(r"^\s+type: file$", providers, re.M)
    assert re.search(r"^\s+type: prometheus$", sources, re.M)
    uid = re.search(r"^\s+uid: (\S+)$", sources, re.M)
    assert uid is not None and uid.group(1) == "prometheus"
    assert sorted(p.name for p in (GRAFANA / "dashboards").glob("*.json")) == ["dialer.json"]
