"""Thresholds (`--thresholds FILE`), junit.xml and report.md, on synthetic reports: no Locust."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.contract import Event
from harness.ledger.records import COUNT_NAMES
from harness.reporting import thresholds as th
from harness.reporting.finish import finish
from harness.reporting.junit import junit_tree, write_junit
from harness.reporting.markdown import markdown_text

STATUS = Event.ORDER_STATUS_UPDATED.value
NEW = Event.NEW_ORDER.value


def figure(p99: float | None, count: int = 10) -> dict[str, Any]:
    if not count:
        return {"p50_ms": None, "p90_ms": None, "p95_ms": None, "p99_ms": None,
                "p999_ms": None, "max_ms": None, "count": 0}
    return {"p50_ms": p99 / 2, "p90_ms": p99 * 0.8, "p95_ms": p99 * 0.9, "p99_ms": p99,
            "p999_ms": p99, "max_ms": p99 * 1.1, "count": count}


def synthetic_report(**counts: int) -> dict[str, Any]:
    events = {}
    for i, event in enumerate(Event):
        entry: dict[str, Any] = {name: 0 for name in COUNT_NAMES}
        entry["expected"] = entry["delivered"] = 100
        entry["trigger_to_delivery"] = figure(50.0 + 100 * i)
        entry["emit_to_delivery"] = figure(20.0)
        entry["fanout"] = figure(None, 0)
        events[event.value] = entry
    for name, n in counts.items():
        events[STATUS][name] = n
    return {"run": {"id": "r1", "scenario": "lifecycle", "duration_s": 8.0, "orders_created": 40},
            "events": events,
            "latency": {"connect": figure(30.0), "driver_location_ack": figure(5.0)},
            "reconnection": {"time_to_reconnect": figure(None, 0),
                             "time_to_consistent": figure(None, 0)},
            "connections": {"attempted": 200, "succeeded": 198, "failed": {"timeout": 2}}}


def by_key(verdicts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {v["key"]: v for v in verdicts}


# --- parsing -----------------------------------------------------------------------------------------

def test_quoted_and_nested_keys_parse_the_same() -> None:
    quoted = th.parse_text(f'[thresholds]\n"{STATUS}.p99_ms" = 200\n"{STATUS}.fanout.p50_ms" = 5\n'
                           '"reconnect.time_to_reconnect.p95_ms" = 3000\nleaked = 0\n')
    dotted = th.parse_text(f"[thresholds]\n{STATUS}.p99_ms = 200\n{STATUS}.fanout.p50_ms = 5\n"
                           "reconnect.time_to_reconnect.p95_ms = 3000\nleaked = 0\n")
    nested = th.parse_text(f"[thresholds]\nleaked = 0\n[thresholds.{STATUS}]\np99_ms = 200\n"
                           f"[thresholds.{STATUS}.fanout]\np50_ms = 5\n"
                           "[thresholds.reconnect.time_to_reconnect]\np95_ms = 3000\n")
    as_set = lambda s: {(t.key, t.bound, t.target) for t in s.thresholds}  # noqa: E731
    assert as_set(quoted) == as_set(dotted) == as_set(nested)
    assert sorted(quoted.keys()) == sorted([f"{STATUS}.p99_ms", f"{STATUS}.fanout.p50_ms",
                                            "reconnect.time_to_reconnect.p95_ms", "leaked"])


@pytest.mark.parametrize("key", [
    *(f"{e.value}.{p}" for e in Event for p in th.PERCENTILE_NAMES),
    *(f"{e.value}.{f}.p99_ms" for e in Event for f in th.EVENT_FIGURES),
    "connect.p99_ms", "driver_location_ack.p50_ms", "reconnect.time_to_reconnect.p95_ms",
    "reconnect.time_to_consistent.max_ms", *th.TOTAL_NAMES, "connect_failure_ratio"])
def test_every_documented_form_is_valid(key: str) -> None:
    assert th.target_of(key) is not None
    assert th.parse_text(f'[thresholds]\n"{key}" = 1\n').keys() == [key]


@pytest.mark.parametrize("key", ["latency.p99_ms", f"{STATUS}.p98_ms", f"{STATUS}.count",
                                 f"{STATUS}.trigger.p99_ms", "noSuchEvent.p99_ms", "expected",
                                 "delivered", "connect", "reconnect.p95_ms", f"{STATUS}"])
def test_unknown_keys_are_a_one_line_error_naming_the_key(key: str) -> None:
    with pytest.raises(th.ThresholdConfigError) as err:
        th.parse_text(f'[thresholds]\n"{key}" = 1\n', "t.toml")
    message = str(err.value)
    assert "\n" not in message and repr(key) in message and "valid keys" in message


@pytest.mark.parametrize("text, words", [
    ('[thresholds]\nleaked = "zero"\n', "'leaked'"),
    ("[thresholds]\nleaked = true\n", "'leaked'"),
    ("[thresholds]\nleaked = -1\n", "'leaked'"),
    ("[thresholds]\nleaked = nan\n", "'leaked'"),
    ("leaked = 0\n", "'leaked'"),
    ("[other]\nx = 1\n", "'other'"),
    ("[thresholds\n", "not valid TOML"),
    ("", "no [thresholds] table"),
    (f'[thresholds]\n"{STATUS}.p99_ms" = 1\n[thresholds.{STATUS}]\np99_ms = 2\n', "given twice"),
])
def test_bad_files_are_one_line_errors(text: str, words: str) -> None:
    with pytest.raises(th.ThresholdConfigError) as err:
        th.parse_text(text, "t.toml")
    assert "\n" not in str(err.value) and words in str(err.value), str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(th.ThresholdConfigError, match="cannot read"):
        th.load(tmp_path / "nope.toml")


def test_default_file_loads_and_every_key_is_valid() -> None:
    text = th.default_text()
    defaults = th.defaults()
    assert not defaults.require_samples
    keys = defaults.keys()
    assert set(th.TOTAL_NAMES) <= set(keys)
    assert {f"{e.value}.p99_ms" for e in Event} <= set(keys)
    assert {"connect.p99_ms", "connect_failure_ratio"} <= set(keys)
    for key in keys:
        assert th.target_of(key) is not None, key
    # Parsed strictly, as a user's file, it is the same set.
    assert th.parse_text(text).keys() == keys
    assert all(t.bound == 0 for t in defaults.thresholds if t.key in th.TOTAL_NAMES)


# --- evaluation --------------------------------------------------------------------------------------

def test_evaluation_against_a_synthetic_report() -> None:
    report = synthetic_report(leaked=2)
    ts = th.parse_text(f'[thresholds]\n"{STATUS}.p99_ms" = 100\n"{NEW}.p99_ms" = 100\n'
                       f'"{NEW}.emit_to_delivery.p50_ms" = 10\n"connect.p99_ms" = 30\n'
                       'leaked = 0\nmissing = 0\nconnect_failure_ratio = 0.005\n')
    v = by_key(th.evaluate(ts, report))
    assert list(v) == ts.keys()
    assert v[f"{NEW}.p99_ms"]["passed"] and v[f"{NEW}.p99_ms"]["value"] == 50.0
    assert not v[f"{STATUS}.p99_ms"]["passed"] and v[f"{STATUS}.p99_ms"]["value"] == 150.0
    assert f"{STATUS}.p99_ms" in v[f"{STATUS}.p99_ms"]["message"]
    assert v[f"{NEW}.emit_to_delivery.p50_ms"]["passed"]  # 10 <= 10: bounds are inclusive
    assert v["connect.p99_ms"]["passed"]
    assert not v["leaked"]["passed"] and v["leaked"]["value"] == 2
    assert v["missing"]["passed"] and v["missing"]["value"] == 0
    assert not v["connect_failure_ratio"]["passed"]
    assert v["connect_failure_ratio"]["value"] == pytest.approx(0.01)
    assert set(v[f"{NEW}.p99_ms"]) == {"key", "bound", "value", "passed", "message"}


def test_totals_add_up_over_every_event_type() -> None:
    report = synthetic_report()
    for entry in report["events"].values():
        entry["duplicate"] = 1
    v = by_key(th.evaluate(th.parse_text("[thresholds]\nduplicate = 3\n"), report))
    assert v["duplicate"]["value"] == len(Event) and not v["duplicate"]["passed"]


def test_a_bound_on_a_figure_without_samples_fails() -> None:
    report = synthetic_report()
    ts = th.parse_text(f'[thresholds]\n"{NEW}.fanout.p99_ms" = 100\n'
                       '"reconnect.time_to_consistent.p95_ms" = 100\n')
    for verdict in th.evaluate(ts, report):
        assert not verdict["passed"] and verdict["value"] is None
        assert "no samples" in verdict["message"]
    report["connections"] = {"attempted": 0, "succeeded": 0, "failed": {}}
    v = by_key(th.evaluate(th.parse_text("[thresholds]\nconnect_failure_ratio = 0.5\n"), report))
    ratio = v["connect_failure_ratio"]
    assert not ratio["passed"] and "no samples" in ratio["message"]
    # A run without a connection did no work: a verdict of its own (issue 9).
    assert set(v) == {"connect_failure_ratio", "run.did_work"}, v
    assert not v["run.did_work"]["passed"] and "no connections" in v["run.did_work"]["message"]


def test_defaults_skip_figures_a_scenario_did_not_produce() -> None:
    report = synthetic_report()
    report["connections"]["failed"] = {}
    report["events"][NEW]["trigger_to_delivery"] = figure(None, 0)
    v = by_key(th.evaluate(th.defaults(), report))
    assert all(x["passed"] for x in v.values()), v
    assert v[f"{NEW}.p99_ms"]["value"] is None and "no samples" in v[f"{NEW}.p99_ms"]["message"]
    report["events"][STATUS]["trigger_to_delivery"] = figure(2500.0)
    assert [x["key"] for x in th.failed(th.evaluate(th.defaults(), report))] == [f"{STATUS}.p99_ms"]


def test_an_incomplete_run_fails_whatever_its_bounds() -> None:
    report = synthetic_report()
    report["run"] = {"complete": False, "incomplete_reason": "worker(s) lost mid-run: w2"}
    v = th.failed(th.evaluate(th.defaults(), report))
    assert [x["key"] for x in v] == [th.RUN_COMPLETE], v
    assert "worker(s) lost mid-run: w2" in v[0]["message"]
    report["run"]["complete"] = True
    assert th.failed(th.evaluate(th.defaults(), report)) == []


# --- junit.xml and report.md ----------------------------------------------------------------------------

def _verdicts() -> list[dict[str, Any]]:
    ts = th.parse_text(f'[thresholds]\n"{STATUS}.p99_ms" = 100\n"{NEW}.p99_ms" = 100\nleaked = 0\n')
    return th.evaluate(ts, synthetic_report(leaked=1))


def test_junit_has_one_testcase_per_threshold_and_failures_where_expected(tmp_path: Path) -> None:
    verdicts = _verdicts()
    path = write_junit(tmp_path / "junit.xml", verdicts, run_id="r1", duration_s=8.0)
    root = ET.parse(path).getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == [v["key"] for v in verdicts]
    failing = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failing) == {f"{STATUS}.p99_ms", "leaked"}
    assert "leaked = 1 > 0" in failing["leaked"].get("message")
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    assert junit_tree([]).getroot().find("testsuite").get("tests") == "0"


def test_markdown_starts_with_the_verdict() -> None:
    report = synthetic_report(leaked=1)
    text = markdown_text(report, _verdicts())
    first = text.splitlines()[0]
    assert "FAIL" in first and "1/3" in first
    assert f"`{STATUS}.p99_ms`" in text and "`leaked`" in text
    for event in Event:
        assert f"| {event.value} |" in text
    assert "| event | p50 | p99 |" in text
    passing = [v for v in _verdicts() if v["passed"]]
    assert markdown_text(report, passing).splitlines()[0].startswith("## PASS")


def test_finish_rewrites_the_report_and_writes_both_files(tmp_path: Path) -> None:
    import io
    import json
    report = synthetic_report(leaked=1)
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    out = io.StringIO()
    ts = th.parse_text('[thresholds]\nleaked = 0\nmissing = 0\n')
    assert finish(tmp_path, ts, out=out) == 1
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [v["key"] for v in saved["thresholds"]] == ["leaked", "missing"]
    assert saved["events"] == report["events"]
    assert (tmp_path / "junit.xml").is_file() and (tmp_path / "report.md").is_file()
    assert "leaked" in out.getvalue().splitlines()[-1]
    assert finish(tmp_path, th.parse_text("[thresholds]\nmissing = 0\n"), out=io.StringIO()) == 0
    empty = tmp_path / "crashed"
    empty.mkdir()
    out = io.StringIO()
    assert finish(empty, ts, out=out) == 1 and "report.json" in out.getvalue()
