"""The witness in every place a user reads results: schema, thresholds, `harness load`'s
options, the end-of-run summary, report.md and report.html. Reports and histograms are built
here directly: no server, no Locust."""

from __future__ import annotations

import copy
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import build_parser
from harness.commands.load import locust_command, witness_bound
from harness.contract import Event
from harness.latency import LatencyBook
from harness.ledger.records import COUNT_NAMES
from harness.reporting import html as report_html
from harness.reporting import thresholds as th
from harness.reporting.markdown import markdown_text
from harness.reporting.schema import validate_report
from harness.summary import summary_text
from harness.errors import LoadSetupError

NEW = Event.NEW_ORDER.value
STATUS = Event.ORDER_STATUS_UPDATED.value
NOTE = ("the latency figures are the load generator's: it added 42 ms at p99 (bound 10 ms) to "
        "what the server delivered; the witness's figures are the server's (newOrder p50 4 / "
        "p99 9 ms)")
#: A run of 20 s from this wall time (seconds), in 5-second intervals.
T0 = 1_800_000_000.0


def figure(p50: float | None, p99: float | None = None, count: int = 10) -> dict[str, Any]:
    if not count or p50 is None:
        return {"p50_ms": None, "p90_ms": None, "p95_ms": None, "p99_ms": None,
                "p999_ms": None, "max_ms": None, "count": 0}
    p99 = p50 * 4 if p99 is None else p99
    return {"p50_ms": p50, "p90_ms": p99 * 0.8, "p95_ms": p99 * 0.9, "p99_ms": p99,
            "p999_ms": p99, "max_ms": p99 * 1.5, "count": count}


def witness_section(*, suspect: bool = False) -> dict[str, Any]:
    """Shaped as harness.witness.report.section writes it."""
    added_p99 = 42.0 if suspect else 3.0
    return {
        "enabled": True, "reason": None,
        "tabs": [{"tab": "store_owner", "role": "store_owner", "mirrors": 5, "connected": True,
                  "received": 120, "error": None},
                 {"tab": "vm-1/7", "role": "customer", "mirrors": 1, "connected": True,
                  "received": 6, "error": None}],
        "bound_ms": 10.0,
        "added_delay": figure(0.5, added_p99, 300),
        "min_added_ms": -1.25, "time_sync": True, "offset_ms": 0.2,
        "events": {
            NEW: {"witnessed": 40, "matched": 200, "added_delay": figure(0.7, added_p99, 200),
                  "emit_to_delivery": figure(4.0, 9.0, 40),
                  "users_emit_to_delivery": figure(6.5, 51.0, 200)},
            STATUS: {"witnessed": 50, "matched": 100, "added_delay": figure(0.25, 2.0, 100),
                     "emit_to_delivery": figure(3.0, 8.0, 50),
                     "users_emit_to_delivery": figure(3.5, 9.5, 100)},
        },
        "generator_suspect": suspect,
        "note": NOTE if suspect else None,
    }


def disabled_section(reason: str = "turned off (--no-witness)") -> dict[str, Any]:
    """Shaped as harness.witness.report.disabled writes it."""
    return {"enabled": False, "reason": reason, "tabs": [], "bound_ms": None,
            "added_delay": None, "min_added_ms": None, "time_sync": None, "offset_ms": None,
            "events": {}, "generator_suspect": False, "note": None}


def full_report(witness: dict[str, Any] | None) -> dict[str, Any]:
    """A report.json that satisfies the schema, with `witness` as given (None: left out)."""
    events = {}
    for event in Event:
        entry: dict[str, Any] = {name: 0 for name in COUNT_NAMES}
        entry["expected"] = entry["delivered"] = 100
        entry["trigger_to_delivery"] = figure(12.0)
        entry["emit_to_delivery"] = figure(6.5, 51.0)
        entry["fanout"] = figure(None)
        events[event.value] = entry
    report: dict[str, Any] = {
        "schema_version": "1",
        "run": {"id": "r-1", "target": "http://127.0.0.1:1", "scenario": "mixed",
                "users": {"Customer": 50, "StoreOwner": 5, "Driver": 5}, "seed": 7,
                "harness_version": "0", "started_at": "2027-01-15T08:00:00Z",
                "ended_at": "2027-01-15T08:00:20Z", "duration_s": 20.0, "transport": "websocket",
                "tokens": "mint", "requested_order_rate": None, "achieved_order_rate": 2.0,
                "orders_created": 40, "workers": 0, "event_timeout_s": 10.0, "complete": True},
        "events": events,
        "latency": {"connect": figure(20.0), "driver_location_ack": figure(3.0)},
        "connections": {"attempted": 60, "succeeded": 60, "failed": {}},
        "reconnection": {
            "count": 0, "time_to_reconnect": figure(None), "time_to_consistent": figure(None),
            "missed_while_away": 0, "recovered": 0, "upgrade_failures": 0, "session_id_unknown": 0,
            "cut_plan": None, "cuts": 0, "cuts_by_mode": {}, "unplanned_drops": 0,
            "unplanned_drop_reasons": {}, "consistent": 0, "catch_up_failures": 0,
            "away_at_end": 0, "connect_errors": {}, "upgrade_failure_reasons": {},
            "unreachable_requests": 0, "unrecovered_samples": []},
        "outages": [],
        "isolation": {"leaked": 0, "join_attempts": 10, "bad_token_attempts": 2,
                      "bad_tokens_accepted": 0, "bad_tokens_accepted_kinds": [], "samples": [],
                      "unmatched_samples": []},
        "clock": {"time_sync": True, "offset_ms": 0.1, "note": None},
        "missing_samples": [],
        "generator": {"processes": [{
            "process": "vm-1", "samples": 20, "cpu_percent_p50": 30.0, "cpu_percent_max": 70.0,
            "loop_lag_ms_p99": 12.0, "loop_lag_ms_max": 15.0, "users_max": 60,
            "receive_delay_ms": {"p50_ms": 0.4, "p99_ms": 35.0, "max_ms": 180.0, "count": 900},
            "arrival_stamps": {"kernel": 900, "read": 0}, "suspect": False, "reasons": []}],
            "latency_suspect": False, "note": None},
        "processes": [{"process": "vm-1"}],
        "late_events": 0, "recorded_late_events": 0, "foreign_events": 0, "lost_workers": [], "not_judged": 0,
        "unanswered": {"requests": 0, "events": 0},
        "latency_clamped": {},
    }
    if witness is not None:
        report["witness"] = witness
    return report


def histograms(*, with_witness: bool = True) -> dict[str, Any]:
    """A small histograms.json: users' and the witness's emit-to-delivery, the added delay."""
    book = LatencyBook(5.0)
    for i in range(200):
        at = T0 + i * 0.1
        for event in (NEW, STATUS):
            book.record(event, 10.0 + i % 13, at)
            book.record(event + ".emit_to_delivery", 5.0 + i % 11 + (40 if i % 50 == 0 else 0), at)
            if with_witness and i % 2 == 0:
                book.record(f"witness.{event}.emit_to_delivery", 4.0 + i % 7, at)
                book.record(f"witness.{event}.added_delay", 0.001 if i % 4 else 1.0 + i % 30, at)
        book.record("connect", 20.0, at)
    return book.encoded()


# --- schema ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("witness", [witness_section(), witness_section(suspect=True),
                                     disabled_section(),
                                     dict(witness_section(), reason="no witness tab connected")])
def test_schema_accepts_the_witness_section(witness: dict[str, Any]) -> None:
    assert validate_report(full_report(witness)) == []


def test_schema_requires_the_witness_section_and_its_fields() -> None:
    assert any("witness" in p for p in validate_report(full_report(None)))
    broken = witness_section()
    del broken["generator_suspect"]
    broken["events"][NEW]["matched"] = -1
    problems = validate_report(full_report(broken))
    assert any("generator_suspect" in p for p in problems), problems
    assert any(p.startswith(f"witness/events/{NEW}/matched") for p in problems), problems


def test_schema_knows_the_new_generator_fields() -> None:
    report = full_report(witness_section())
    process = report["generator"]["processes"][0]
    del process["arrival_stamps"]
    process["receive_delay_ms"]["p99_ms"] = "slow"
    problems = validate_report(report)
    assert any("arrival_stamps" in p for p in problems), problems
    assert any("receive_delay_ms/p99_ms" in p for p in problems), problems


def test_what_the_witness_writes_is_what_the_schema_says() -> None:
    witness = pytest.importorskip("harness.witness.report")
    book_mod = pytest.importorskip("harness.witness.book")
    assert validate_report(full_report(witness.disabled("turned off (--no-witness)"))) == []
    book = book_mod.WitnessBook(LatencyBook(5.0))
    book.open_tab(book_mod.STORE_OWNER_TAB, "store_owner")
    book.mirror(book_mod.STORE_OWNER_TAB, "vm-1/1")
    book.fact({"clock": {"offset_ms": 0.5, "rtt_ms": 1.0}})
    book.fact({"tab": book_mod.STORE_OWNER_TAB, "up": T0 * 1000})
    book.fact({"tab": book_mod.STORE_OWNER_TAB, "e": NEW, "k": ["o1", 1], "t": T0 * 1000 + 5,
               "em": T0 * 1000})
    book.user_receipt("vm-1/1", NEW, ("o1", 1), T0 * 1000 + 60)
    report = full_report(None)
    extra = ({"events": report["events"]}
             if "events" in inspect.signature(witness.section).parameters else {})
    report["witness"] = witness.section(book, bound_ms=10.0, problem=None, **extra)
    assert validate_report(report) == []
    assert report["witness"]["generator_suspect"] and report["witness"]["note"]


# --- thresholds ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, path", [
    ("witness.added_delay.p99_ms", ("witness", "added_delay")),
    ("witness.added_delay.max_ms", ("witness", "added_delay")),
    (f"witness.{NEW}.added_delay.p50_ms", ("witness", "events", NEW, "added_delay")),
    (f"witness.{STATUS}.added_delay.p999_ms", ("witness", "events", STATUS, "added_delay")),
])
def test_witness_keys_parse(key: str, path: tuple[str, ...]) -> None:
    target = th.target_of(key)
    assert target is not None and target.kind == "figure" and target.path == path
    assert target.field == key.rsplit(".", 1)[1]
    assert th.parse_text(f'[thresholds]\n"{key}" = 5\n').keys() == [key]
    nested = th.parse_text("[thresholds.witness.added_delay]\np99_ms = 5\n")
    assert nested.keys() == ["witness.added_delay.p99_ms"]
    forms = th.valid_forms()
    assert "witness.added_delay.<pct>" in forms and "witness.<event>.added_delay.<pct>" in forms


@pytest.mark.parametrize("key", ["witness.p99_ms", "witness.added_delay", "witness.added_delay.p98_ms",
                                 "witness.noSuchEvent.added_delay.p99_ms",
                                 f"witness.{NEW}.emit_to_delivery.p99_ms", f"witness.{NEW}.p99_ms",
                                 "witness.events.added_delay.p99_ms"])
def test_other_witness_keys_are_refused(key: str) -> None:
    assert th.target_of(key) is None
    with pytest.raises(th.ThresholdConfigError, match="valid keys"):
        th.parse_text(f'[thresholds]\n"{key}" = 5\n', "t.toml")


def test_witness_bounds_pass_and_fail() -> None:
    ts = th.parse_text('[thresholds]\n"witness.added_delay.p99_ms" = 10\n'
                       f'"witness.{NEW}.added_delay.p99_ms" = 10\n'
                       f'"witness.{STATUS}.added_delay.p99_ms" = 2\n')
    calm = {v["key"]: v for v in th.evaluate(ts, full_report(witness_section()))}
    assert all(v["passed"] for v in calm.values()), calm
    assert calm["witness.added_delay.p99_ms"]["value"] == 3.0
    assert calm[f"witness.{STATUS}.added_delay.p99_ms"]["value"] == 2.0  # inclusive
    busy = {v["key"]: v for v in th.evaluate(ts, full_report(witness_section(suspect=True)))}
    assert not busy["witness.added_delay.p99_ms"]["passed"]
    assert busy["witness.added_delay.p99_ms"]["message"] == "witness.added_delay.p99_ms = 42 ms > 10 ms"
    assert not busy[f"witness.{NEW}.added_delay.p99_ms"]["passed"]
    assert busy[f"witness.{STATUS}.added_delay.p99_ms"]["passed"]


@pytest.mark.parametrize("witness, why", [
    (disabled_section(), "turned off (--no-witness)"),
    (dict(disabled_section(), added_delay=None), "no witness ran"),
    (dict(witness_section(), reason="no witness tab connected", added_delay=figure(None),
          events={}), "no witness tab connected"),
    (None, "no witness section"),
])
def test_witness_bounds_without_samples_fail(witness: dict[str, Any] | None, why: str) -> None:
    ts = th.parse_text('[thresholds]\n"witness.added_delay.p99_ms" = 10\n'
                       f'"witness.{NEW}.added_delay.p99_ms" = 10\n')
    for verdict in th.evaluate(ts, full_report(witness)):
        assert not verdict["passed"] and verdict["value"] is None, verdict
        assert "no samples" in verdict["message"] and why in verdict["message"], verdict
        assert "\n" not in verdict["message"]


def test_an_event_the_witness_never_saw_has_no_samples() -> None:
    ts = th.parse_text(f'[thresholds]\n"witness.{Event.DELIVERY_UPDATE.value}.added_delay.p99_ms" = 10\n')
    (verdict,) = th.evaluate(ts, full_report(witness_section()))
    assert not verdict["passed"] and verdict["message"].endswith("no samples; bound 10 ms")


def test_the_defaults_leave_the_witness_alone() -> None:
    assert not [k for k in th.defaults().keys() if k.startswith("witness.")]
    report = full_report(witness_section(suspect=True))
    assert th.failed(th.evaluate(th.defaults(), report)) == []


# --- harness load: --witness-bound from the thresholds, --no-witness ----------------------------------

def _load_args(*extra: str) -> Any:
    args, rest = build_parser().parse_known_args(
        ["load", "--target", "http://127.0.0.1:1", "--users", "60", *extra])
    assert not rest
    return args


def _harness_options(args: Any) -> list[str]:
    _, _, options = locust_command(args, Path("scenarios/mixed.py"), "rid", "/tmp/rid", 15, 1.0)
    return options


def test_the_thresholds_bound_becomes_locusts_witness_bound() -> None:
    ts = th.parse_text('[thresholds]\n"witness.added_delay.p99_ms" = 25\nmissing = 0\n')
    args = _load_args()
    args.witness_bound = witness_bound(args.witness_bound, ts)
    options = _harness_options(args)
    assert options[options.index("--witness-bound") + 1] == "25"
    assert "--no-witness" not in options
    # Another percentile (or an event's bound) is not the banner's bound.
    other = th.parse_text('[thresholds]\n"witness.added_delay.p95_ms" = 25\n'
                          f'"witness.{NEW}.added_delay.p99_ms" = 5\n')
    assert witness_bound(None, other) is None
    assert "--witness-bound" not in _harness_options(_load_args())


def test_witness_bound_given_alone_or_agreeing() -> None:
    args = _load_args("--witness-bound", "12.5")
    assert witness_bound(args.witness_bound, th.defaults()) == 12.5
    args.witness_bound = 12.5
    options = _harness_options(args)
    assert options[options.index("--witness-bound") + 1] == "12.5"
    same = th.parse_text('[thresholds]\n"witness.added_delay.p99_ms" = 12.5\n')
    assert witness_bound(12.5, same) == 12.5


@pytest.mark.parametrize("given, text, words", [
    (20.0, '"witness.added_delay.p99_ms" = 10', "differs"),
    (None, '"witness.added_delay.p99_ms" = 0', "more than 0"),
    (0.0, "missing = 0", "positive"),
])
def test_witness_bound_conflicts_are_setup_errors(given: float | None, text: str, words: str) -> None:
    with pytest.raises(LoadSetupError, match=words):
        witness_bound(given, th.parse_text(f"[thresholds]\n{text}\n", "t.toml"))


def test_no_witness_is_passed_through() -> None:
    args = _load_args("--no-witness")
    assert args.no_witness
    options = _harness_options(args)
    assert "--no-witness" in options and "--witness-bound" not in options


# --- the end-of-run summary ------------------------------------------------------------------------------

def test_summary_has_a_witness_line() -> None:
    lines = summary_text(full_report(witness_section())).splitlines()
    (line,) = [x for x in lines if x.startswith("witness:")]
    assert "p50 0.5 / p99 3.0 / max 4.5 ms" in line
    assert "300 matched receipts" in line and "90 events witnessed" in line and "bound 10 ms" in line
    assert not [x for x in lines if x.startswith("WARNING")]


def test_summary_warns_with_the_note_when_the_generator_is_suspect() -> None:
    lines = summary_text(full_report(witness_section(suspect=True))).splitlines()
    assert f"WARNING: {NOTE}" in lines
    assert lines.index(f"WARNING: {NOTE}") == len(lines) - 1
    assert any(x.startswith("witness: added delay") and "p99 42.0" in x for x in lines)


@pytest.mark.parametrize("witness, expected", [
    (disabled_section(), "witness: not run: turned off (--no-witness)"),
    (dict(witness_section(), reason="no witness tab connected: refused", added_delay=figure(None),
          events={}), "witness: no witness tab connected: refused"),
])
def test_summary_says_why_there_is_no_witness(witness: dict[str, Any], expected: str) -> None:
    lines = [x for x in summary_text(full_report(witness)).splitlines() if x.startswith("witness")]
    assert lines == [expected]


def test_summary_of_a_report_from_before_the_witness() -> None:
    assert "witness:" not in summary_text(full_report(None))


# --- report.md -----------------------------------------------------------------------------------------

def test_markdown_has_the_witness_table() -> None:
    text = markdown_text(full_report(witness_section()), [])
    assert "### Witness" in text
    assert ("| event | users p50 | users p99 | witness p50 | witness p99 | added p50 | added p99 "
            "| added max | witnessed | matched |") in text
    assert f"| {NEW} | 6.5 | 51.0 | 4.0 | 9.0 | 0.7 | 3.0 | 4.5 | 40 | 200 |" in text
    assert f"| {STATUS} | 3.5 | 9.5 | 3.0 | 8.0 | 0.2 | 2.0 | 3.0 | 50 | 100 |" in text
    assert "p50 0.5, p99 3.0, max 4.5 ms over 300 matched receipts (bound 10 ms at p99)" in text
    assert "Warning" not in text


def test_markdown_puts_the_note_under_the_verdict_when_suspect() -> None:
    lines = markdown_text(full_report(witness_section(suspect=True)), []).splitlines()
    assert lines[0].startswith("## PASS")
    assert lines[2] == f"**Warning**: {NOTE}."


def test_markdown_without_a_witness() -> None:
    text = markdown_text(full_report(disabled_section()), [])
    assert "No witness ran: turned off (--no-witness)." in text and "| witnessed |" not in text
    assert "Witness" not in markdown_text(full_report(None), [])


# --- report.html ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def suspect_page() -> str:
    return report_html.render(full_report(witness_section(suspect=True)), histograms())


def _banner(page: str) -> str:
    start = page.index('id="verdict"')
    return page[start:page.index('<h2 id="run">', start)]


def test_banner_says_the_figures_are_the_generators(suspect_page: str) -> None:
    banner = _banner(suspect_page)
    assert ">PASS<" in banner
    assert 'id="witness-note"' in banner
    assert "<b>Witness:</b> The latency figures are the load generator&#x27;s: " in banner
    assert "the witness&#x27;s figures are the server&#x27;s" in banner
    assert "added 42 ms at p99 (bound 10 ms)" in banner


def test_banner_is_plain_without_suspicion() -> None:
    for witness in (witness_section(), disabled_section(), None):
        banner = report_html._banner(full_report(witness))
        assert "witness-note" not in banner and "generator" not in banner


def test_witness_section_and_plot(suspect_page: str) -> None:
    section = suspect_page[suspect_page.index('<h2 id="witness">'):suspect_page.index('<h2 id="activity">')]
    assert section.count('<svg id="plot-witness"') == 1
    assert "<title>Users against the witness: emit-to-delivery and added delay</title>" in section
    for text in (f"{NEW}: emit-to-delivery, users and witness",
                 f"{STATUS}: emit-to-delivery, users and witness",
                 "Delay the generator added (user minus witness), every event type",
                 "Added delay by percentile, per event type", "bound 10 ms"):
        assert text in section, text
    assert re.search(r"<td class=\"l\">newOrder</td><td>6\.5</td><td>51</td><td>4</td><td>9</td>",
                     section), section[:2000]
    assert "store_owner" in section
    assert section.count(NOTE.replace("'", "&#x27;")) == 1
    assert "plot-witness" in report_html.PLOT_IDS


def test_generator_table_shows_the_receive_delay(suspect_page: str) -> None:
    gen = suspect_page[suspect_page.index('<h2 id="generator">'):]
    assert "receive_delay_ms_p99" in gen and "<td>35</td>" in gen and "kernel 900, read 0" in gen


@pytest.mark.parametrize("witness, words", [
    (disabled_section(), "No witness ran: turned off (--no-witness)."),
    (None, "from before the witness"),
])
def test_witness_section_without_a_witness(witness: dict[str, Any] | None, words: str) -> None:
    parts = report_html._witness_section(full_report(witness),
                                         report_html.Histograms(histograms(with_witness=False)),
                                         [e.value for e in Event])
    text = "".join(parts)
    assert words in text and "<svg" not in text


def test_no_plot_without_witness_figures() -> None:
    hists = report_html.Histograms(histograms(with_witness=False))
    assert report_html.plot_witness([e.value for e in Event], hists, 10.0) is None
    text = "".join(report_html._witness_section(full_report(copy.deepcopy(witness_section())),
                                                hists, [e.value for e in Event]))
    assert "holds no witness figures" in text


def test_the_generators_backlog_is_named_where_the_counts_are_read() -> None:
    report = full_report(witness_section())
    assert "NOTE" not in summary_text(report)
    report["recorded_late_events"], report["late_events"] = 7, 2
    validate_report(report)
    for text in (summary_text(report), markdown_text(report, [])):
        assert "7 events arrived in time but were recorded only after their books closed" in text
        assert "2 events arrived after the event timeout" in text
