"""Issue 9 A, on report dicts (fast): a run that did no work never passes, and says why.

The verdict names and sentences are written out here on purpose (no import of the harness's
constants): a rename must break these tests, not follow silently.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.contract import Event
from harness.ledger.records import COUNT_NAMES
from harness.reporting import html, thresholds as th
from harness.reporting.finish import finish
from harness.reporting.markdown import markdown_text
from harness.summary import summary_text

REGISTER_404 = "failed to register: HTTP 404 on POST /api/auth/register"
NO_START = f"no user could start: 30 of 30 {REGISTER_404}"


def figure(p99: float | None, count: int = 10) -> dict[str, Any]:
    if p99 is None:
        return {"p50_ms": None, "p90_ms": None, "p95_ms": None, "p99_ms": None,
                "p999_ms": None, "max_ms": None, "count": 0}
    return {"p50_ms": p99 / 2, "p90_ms": p99, "p95_ms": p99, "p99_ms": p99, "p999_ms": p99,
            "max_ms": p99, "count": count}


def report(*, expected: int = 100, orders: int = 40, connects: int = 60, started: int = 60,
           start_failures: dict[str, int] | None = None, requests: int = 300,
           http_failed: int = 0) -> dict[str, Any]:
    events = {}
    for event in Event:
        entry: dict[str, Any] = {name: 0 for name in COUNT_NAMES}
        entry["expected"] = entry["delivered"] = expected
        entry["trigger_to_delivery"] = figure(12.0 if expected else None)
        entry["emit_to_delivery"] = figure(None)
        entry["fanout"] = figure(None)
        events[event.value] = entry
    failures = dict(start_failures or {})
    return {
        "run": {"id": "r-1", "target": "http://127.0.0.1:1", "scenario": "lifecycle",
                "duration_s": 15.0, "orders_created": orders, "achieved_order_rate": orders / 15,
                "requested_order_rate": None, "complete": True},
        "events": events,
        "latency": {"connect": figure(20.0 if connects else None),
                    "driver_location_ack": figure(None)},
        "connections": {"attempted": connects, "succeeded": connects, "failed": {}},
        "user_starts": {"attempted": started + sum(failures.values()), "started": started,
                        "failed": failures},
        "http": {"requests": requests, "failed": http_failed,
                 "failures": ({"POST register: HTTP 404: not found": http_failed}
                              if http_failed else {})},
        "reconnection": {"time_to_reconnect": figure(None), "time_to_consistent": figure(None)},
        "generator": {"latency_suspect": False, "note": ""},
    }


def nothing_started() -> dict[str, Any]:
    return report(expected=0, orders=0, connects=0, started=0,
                  start_failures={REGISTER_404: 30}, requests=30, http_failed=30)


def failed_keys(r: dict[str, Any], ts: th.ThresholdSet | None = None) -> dict[str, str]:
    return {v["key"]: v["message"] for v in th.evaluate(ts or th.defaults(), r) if not v["passed"]}


def test_a_run_that_did_work_passes_the_defaults() -> None:
    assert failed_keys(report()) == {}


def test_no_user_could_start_fails_with_its_own_verdicts_naming_why() -> None:
    bad = failed_keys(nothing_started())
    assert set(bad) == {"run.did_work", "run.users_started", "http_failure_ratio"}, bad
    assert bad["run.users_started"] == f"run.users_started: {NO_START}"
    did = bad["run.did_work"]
    for words in ("no connections", "no orders placed", "no event expected", NO_START):
        assert words in did, did
    assert bad["http_failure_ratio"] == "http_failure_ratio = 1 > 0.01"


@pytest.mark.parametrize("change, words", [
    ({"connects": 0}, "no connections"),
    ({"orders": 0}, "no orders placed"),
    ({"expected": 0}, "no event expected"),
])
def test_each_kind_of_no_work_fails_the_run_even_with_a_permissive_file(
        change: dict[str, int], words: str) -> None:
    permissive = th.parse_text("[thresholds]\nleaked = 1000\n")
    bad = failed_keys(report(**change), permissive)
    assert list(bad) == ["run.did_work"], bad
    assert words in bad["run.did_work"] and "the run did no work" in bad["run.did_work"]


def test_users_that_could_not_start_fail_the_run_even_when_the_rest_worked() -> None:
    r = report(started=27, start_failures={"socket connect failed: refused by the server: "
                                           "Authentication error": 3})
    bad = failed_keys(r)
    assert list(bad) == ["run.users_started"], bad
    assert bad["run.users_started"] == ("run.users_started: 3 of 30 users could not start: 3 of "
                                        "30 socket connect failed: refused by the server: "
                                        "Authentication error")


def test_http_failure_ratio_reads_the_http_section() -> None:
    ts = th.parse_text("[thresholds]\nhttp_failure_ratio = 0.05\n")
    (v,) = th.evaluate(ts, report(requests=200, http_failed=20))
    assert v["value"] == pytest.approx(0.1) and not v["passed"]
    (v,) = th.evaluate(ts, report(requests=200, http_failed=10))
    assert v["value"] == pytest.approx(0.05) and v["passed"]
    no_requests = report(requests=0)
    (v,) = th.evaluate(ts, no_requests)
    assert not v["passed"] and "no HTTP requests" in v["message"]
    default = {v["key"]: v for v in th.evaluate(th.defaults(), no_requests)}
    assert default["http_failure_ratio"]["passed"]  # the default set skips what a run lacks


def test_an_older_report_without_the_new_sections_is_not_judged_on_them() -> None:
    r = report()
    del r["user_starts"], r["http"]
    assert failed_keys(r) == {}


def test_the_summary_names_the_verdict_and_one_line_per_kind_of_failure() -> None:
    text = summary_text(nothing_started())
    assert f"FAIL (NO WORK DONE): {NO_START}" in text, text
    assert f"users: 0 of 30 started; could not start: 30 {REGISTER_404}" in text, text
    assert "http: 30 requests, 30 failed (100.0%)" in text, text
    assert "NO WORK" not in summary_text(report()) and "FAIL" not in summary_text(report())


def test_the_banner_and_report_md_name_the_verdict() -> None:
    r = nothing_started()
    banner = html._banner(r)  # no thresholds in the report: judged on the report itself
    assert "FAIL (no work done)" in banner and NO_START in banner, banner
    r["thresholds"] = th.evaluate(th.defaults(), r)
    banner = html._banner(r)
    assert "FAIL (no work done)" in banner and NO_START in banner, banner
    md = markdown_text(r, r["thresholds"])
    assert md.startswith("## FAIL") and f"**No work done**: {NO_START}." in md, md
    partial = report(started=29, start_failures={REGISTER_404: 1})
    assert "FAIL (users could not start)" in html._banner(partial)
    assert ">PASS<" in html._banner(report())


def test_finish_says_why_first_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(json.dumps(nothing_started()), encoding="utf-8")
    out = io.StringIO()
    assert finish(tmp_path, th.defaults(), out=out) == 1
    lines = out.getvalue().splitlines()
    assert f"harness: FAIL: {NO_START}" in lines, lines
    assert "harness: PASS: all thresholds met" not in lines
