"""`report.html`: one self-contained page from a run folder (report.json + histograms.json).

Plots are drawn with matplotlib on the Agg backend and inlined as SVG. Why matplotlib/Agg:
it is a well-kept, widely installed library that renders static SVG entirely offline, so
the page needs no JavaScript bundle, no CDN and no network; with `svg.fonttype = 'none'`
text stays text (small files, selectable labels) and the page opens anywhere, including
an air-gapped CI artifact viewer. Agg is the non-interactive backend: no display needed,
and we never touch pyplot's global state (figures are built with `matplotlib.figure.Figure`).

Everything else (CSS, tables) is inline too; the page has no scripts and no external
references of any kind.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # before anything of matplotlib's that draws is imported
from matplotlib.figure import Figure

from ..contract import Event
from ..latency import decode, new_histogram, summarize
from ..ledger.records import COUNT_NAMES
from .thresholds import did_no_work, headline, work_verdicts

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

REPORT = "report.json"
HISTOGRAMS = "histograms.json"
HTML = "report.html"

EMIT_SUFFIX = ".emit_to_delivery"
FANOUT_SUFFIX = ".fanout"
CONNECT = "connect"
TIME_TO_RECONNECT = "reconnect.time_to_reconnect"
TIME_TO_CONSISTENT = "reconnect.time_to_consistent"
#: The witness's figures in histograms.json (harness/witness/book.py).
WITNESS_PREFIX = "witness."
ADDED_DELAY_SUFFIX = ".added_delay"
#: The users' emit-to-delivery for the events the witness received too (paired receipts).
USERS_EMIT_SUFFIX = ".users_emit_to_delivery"
PAIRED_EMIT_SUFFIX = ".paired_emit_to_delivery"
#: The ledger's seven counts (issue 3), in report order: two volumes, then five faults.
VERDICTS = COUNT_NAMES
EXPECTED, DELIVERED = VERDICTS[:2]
FAULTS = VERDICTS[2:]
#: Every plot's id in the page (one <svg> each), in page order.
PLOT_IDS = ("plot-latency-over-time", "plot-latency-distribution", "plot-witness",
            "plot-activity", "plot-reconnect", "plot-delivery")

_RC: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "realtime-harness", "font.size": 9,
                              "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3,
                              "lines.linewidth": 1.4}
_PCT_COLORS = {"p50": "#1f77b4", "p90": "#ff7f0e", "p99": "#d62728", "max": "#8c959f"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1180px;padding:0 16px 40px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:18px 0 6px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.banner{padding:14px 18px;border-radius:6px;margin:14px 0;color:#fff}
.banner.pass{background:#1a7f37}.banner.fail{background:#cf222e}
.banner .big{font-size:28px;font-weight:700;letter-spacing:.5px}
.banner ul{margin:6px 0 0 18px;padding:0}
.banner .gen{margin-top:8px;padding:6px 10px;border-radius:4px;background:#fff8c5;color:#1b1f24}
.warn{background:#fff8c5;border:1px solid #d4a72c;
padding:8px 12px;border-radius:6px;margin:8px 0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right}th{background:#f6f8fa}
td.l,th.l{text-align:left}td.bad{background:#ffebe9;color:#cf222e;font-weight:600}
figure{margin:10px 0}figcaption{font-size:12px;color:#57606a;max-width:900px}
figure svg{width:100%;height:auto;max-width:1100px}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;max-height:300px}
.meta td{text-align:left}
"""


# --- data ------------------------------------------------------------------------------------------

def _load(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    report = json.loads((run_dir / REPORT).read_text(encoding="utf-8"))
    hist_path = run_dir / HISTOGRAMS
    hists = json.loads(hist_path.read_text(encoding="utf-8")) if hist_path.is_file() else {}
    return report, hists


def _event_names(report: dict[str, Any]) -> list[str]:
    names = [e.value for e in Event]
    return names + [n for n in report.get("events", {}) if n not in names]


class Histograms:
    """histograms.json, decoded lazily."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.interval_s = float(data.get("interval_s") or 5.0)
        self.figures: dict[str, Any] = data.get("figures") or {}

    def total(self, name: str) -> Any:
        fig = self.figures.get(name)
        return decode(fig["total"]) if fig else None

    def intervals(self, name: str) -> list[tuple[int, Any]]:
        fig = self.figures.get(name)
        if not fig:
            return []
        return sorted((int(slot), decode(enc)) for slot, enc in fig["intervals"].items())

    def has(self, name: str) -> bool:
        """The figure has samples."""
        hist = self.total(name)
        return hist is not None and hist.get_total_count() > 0

    def interval_counts(self, name: str) -> dict[int, int]:
        return {slot: h.get_total_count() for slot, h in self.intervals(name)}


# --- plots -----------------------------------------------------------------------------------------

def _svg(fig: Figure, plot_id: str, title: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Scale with the page: keep the viewBox, drop the fixed size.
    text = re.sub(r'<svg([^>]*?)\s+width="[^"]*"\s+height="[^"]*"', r"<svg\1", text, count=1)
    text = text.replace("<svg", f'<svg id="{plot_id}" role="img" aria-label="{html.escape(title)}"', 1)
    head_end = text.index(">") + 1
    return text[:head_end] + f"<title>{html.escape(title)}</title>" + text[head_end:]


def _figure(rows: int, cols: int, height_per_row: float = 2.6, width: float = 11.0) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height_per_row * rows), layout="constrained")


def _grid(fig: Figure, n: int, cols: int) -> list[Any]:
    rows = max(1, math.ceil(n / cols))
    with matplotlib.rc_context(_RC):
        axes = fig.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return flat[:n]


def _rel_times(slots: Iterable[int], interval_s: float, start_s: float) -> list[float]:
    return [slot * interval_s - start_s for slot in slots]


def _start_s(hists: Histograms) -> float:
    slots = [int(s) for fig in hists.figures.values() for s in fig.get("intervals", {})]
    return min(slots) * hists.interval_s if slots else 0.0


def plot_latency_over_time(events: list[str], hists: Histograms) -> str:
    start = _start_s(hists)
    with matplotlib.rc_context(_RC):
        fig = _figure(math.ceil(len(events) / 2), 2)
        for ax, event in zip(_grid(fig, len(events), 2), events, strict=True):
            series = hists.intervals(event)
            xs = _rel_times((s for s, _ in series), hists.interval_s, start)
            summaries = [summarize(h) for _, h in series]
            for label, key in (("p50", "p50_ms"), ("p90", "p90_ms"), ("p99", "p99_ms")):
                ax.plot(xs, [s[key] for s in summaries], marker="o", markersize=3,
                        color=_PCT_COLORS[label], label=label)
            ax.set_title(f"{event}: trigger-to-delivery")
            ax.set_xlabel("seconds since start (interval start)")
            ax.set_ylabel("ms")
            if not series:
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.legend(loc="upper left", fontsize=8)
            ax.set_ylim(bottom=0)
        return _svg(fig, "plot-latency-over-time", "Latency percentiles over time per event type")


_CURVE_NINES = [i / 20 for i in range(0, 81)]  # 0 .. 4 nines (99.99 %)


def _percentile_curve(hist: Any) -> tuple[list[float], list[float]]:
    """The curve's points in one pass over the histogram (hdrh scans its counts in pure
    Python for every percentile asked separately: seconds of CPU per page)."""
    pcts = [100.0 * (1.0 - 10 ** -nines) for nines in _CURVE_NINES]
    values = hist.get_percentile_to_value_dict(pcts)
    return [10 ** nines for nines in _CURVE_NINES], [values[p] / 1000.0 for p in pcts]


def _percentile_axis(ax: Any) -> None:
    ax.set_xscale("log")
    ticks = [1, 10, 100, 1000, 10000]
    ax.set_xticks(ticks, ["0", "90", "99", "99.9", "99.99"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("ms")


def _percentile_panel(ax: Any, hists: Histograms, title: str,
                      curves: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """One axis of whole-run curves by percentile: (figure name, label, line style) each;
    figures without samples are left out."""
    drawn = False
    for name, label, style in curves:
        hist = hists.total(name)
        if hist is None or not hist.get_total_count():
            continue
        xs, ys = _percentile_curve(hist)
        ax.plot(xs, ys, label=f"{label} (n={hist.get_total_count()})", **style)
        drawn = True
    _percentile_axis(ax)
    ax.set_title(title)
    if drawn:
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)


def plot_distribution(events: list[str], hists: Histograms) -> str:
    with matplotlib.rc_context(_RC):
        fig = _figure(math.ceil(len(events) / 2), 2)
        for ax, event in zip(_grid(fig, len(events), 2), events, strict=True):
            _percentile_panel(ax, hists, f"{event}: latency distribution", (
                (event, "trigger-to-delivery", {}),
                (event + EMIT_SUFFIX, "emit-to-delivery", {}),
                (event + FANOUT_SUFFIX, "fan-out completion", {})))
        return _svg(fig, "plot-latency-distribution", "Latency distribution per event type")


def activity_series(events: list[str], hists: Histograms) -> tuple[list[int], dict[str, list[float]], list[int]]:
    """(slots, events/s per event type per slot, connections per slot)."""
    per_event: dict[str, dict[int, int]] = {}
    slots: set[int] = set()
    for event in events:
        trig = hists.interval_counts(event)
        emit = hists.interval_counts(event + EMIT_SUFFIX)
        both = {s: max(trig.get(s, 0), emit.get(s, 0)) for s in set(trig) | set(emit)}
        per_event[event] = both
        slots |= set(both)
    connects = hists.interval_counts(CONNECT)
    slots |= set(connects)
    ordered = sorted(slots)
    if ordered:
        ordered = list(range(ordered[0], ordered[-1] + 1))
    rates = {e: [per_event[e].get(s, 0) / hists.interval_s for s in ordered] for e in events}
    return ordered, rates, [connects.get(s, 0) for s in ordered]


def _merged_intervals(names: Iterable[str], hists: Histograms) -> list[tuple[int, Any]]:
    """Per interval, the histograms of several figures merged (exactly)."""
    merged: dict[int, Any] = {}
    for name in names:
        for slot, hist in hists.intervals(name):
            merged.setdefault(slot, new_histogram()).add(hist)
    return sorted(merged.items())


def plot_witness(events: list[str], hists: Histograms, bound_ms: float | None) -> str | None:
    """Users against the witness: per event type, emit-to-delivery by percentile, users' and
    the witness's; then the delay the generator added, over time (every event type) and by
    percentile (per event type). None when histograms.json holds no witness figure."""
    witness = [e for e in events if hists.has(WITNESS_PREFIX + e + EMIT_SUFFIX)
               or hists.has(WITNESS_PREFIX + e + ADDED_DELAY_SUFFIX)]
    if not witness:
        return None
    start = _start_s(hists)
    with matplotlib.rc_context(_RC):
        n = len(witness) + 2
        fig = _figure(math.ceil(n / 2), 2, height_per_row=2.6)
        axes = _grid(fig, n, 2)
        for ax, event in zip(axes, witness, strict=False):  # two panels more, drawn below
            paired = WITNESS_PREFIX + event + USERS_EMIT_SUFFIX
            users = ((paired, "users, same events") if hists.has(paired)
                     else (event + EMIT_SUFFIX, "users, all events"))
            same = WITNESS_PREFIX + event + PAIRED_EMIT_SUFFIX
            witness_curve = ((same, "witness, same receipts") if hists.has(same)
                             else (WITNESS_PREFIX + event + EMIT_SUFFIX, "witness"))
            _percentile_panel(ax, hists, f"{event}: emit-to-delivery, users and witness", (
                (*users, {"color": "#1f77b4"}),
                (*witness_curve, {"color": "#1a7f37", "linestyle": "--"})))
        ax_t, ax_p = axes[-2], axes[-1]
        series = _merged_intervals((WITNESS_PREFIX + e + ADDED_DELAY_SUFFIX for e in witness), hists)
        xs = _rel_times((s for s, _ in series), hists.interval_s, start)
        summaries = [summarize(h) for _, h in series]
        for label, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("max", "max_ms")):
            ax_t.plot(xs, [s[key] for s in summaries], marker="o", markersize=3,
                      color=_PCT_COLORS[label], label=label)
        if bound_ms is not None:
            ax_t.axhline(bound_ms, color="#cf222e", linestyle=":", label=f"bound {bound_ms:g} ms")
        ax_t.set_title("Delay the generator added (user minus witness), every event type")
        ax_t.set_xlabel("seconds since start (interval start)")
        ax_t.set_ylabel("ms")
        ax_t.set_ylim(bottom=0)
        if series:
            ax_t.legend(loc="upper left", fontsize=8)
        else:
            ax_t.text(0.5, 0.5, "no matched receipts", ha="center", va="center", transform=ax_t.transAxes)
        if bound_ms is not None:
            ax_p.axhline(bound_ms, color="#cf222e", linestyle=":", label=f"bound {bound_ms:g} ms")
        _percentile_panel(ax_p, hists, "Added delay by percentile, per event type",
                          ((WITNESS_PREFIX + e + ADDED_DELAY_SUFFIX, e, {}) for e in witness))
        return _svg(fig, "plot-witness", "Users against the witness: emit-to-delivery and added delay")


def plot_activity(events: list[str], hists: Histograms) -> str:
    slots, rates, connects = activity_series(events, hists)
    start = _start_s(hists)
    xs = _rel_times(slots, hists.interval_s, start)
    with matplotlib.rc_context(_RC):
        fig = _figure(1, 2, height_per_row=3.0)
        ax_c, ax_e = _grid(fig, 2, 2)
        width = hists.interval_s * 0.8
        ax_c.bar(xs, connects, width=width, align="edge", color="#8c959f", label="connections opened")
        total, cumulative = 0, []
        for n in connects:
            total += n
            cumulative.append(total)
        ax_c2 = ax_c.twinx()
        ax_c2.step([x + hists.interval_s for x in xs], cumulative, where="pre", color="#1f77b4",
                   label="cumulative connections")
        ax_c2.set_ylabel("cumulative")
        ax_c2.grid(False)
        ax_c.set_title("Connections per interval (and cumulative)")
        ax_c.set_xlabel("seconds since start")
        ax_c.set_ylabel(f"connections per {hists.interval_s:g} s")
        bottom = [0.0] * len(xs)
        for event in events:
            ax_e.bar(xs, rates[event], width=width, align="edge", bottom=bottom, label=event)
            bottom = [b + r for b, r in zip(bottom, rates[event], strict=True)]
        ax_e.set_title("Events delivered per second, by event type")
        ax_e.set_xlabel("seconds since start")
        ax_e.set_ylabel("events / s")
        ax_e.legend(loc="upper left", fontsize=8)
        return _svg(fig, "plot-activity", "Connections and events per second over time")


def plot_reconnect(hists: Histograms) -> str | None:
    curves = [(name, label, hists.total(name)) for name, label in
              ((TIME_TO_RECONNECT, "time to reconnect"), (TIME_TO_CONSISTENT, "time to consistent"))]
    curves = [c for c in curves if c[2] is not None and c[2].get_total_count()]
    if not curves:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure(1, 1, height_per_row=3.0, width=7.0)
        ax = fig.subplots()
        for _, label, hist in curves:
            xs, ys = _percentile_curve(hist)
            ax.plot(xs, ys, label=f"{label} (n={hist.get_total_count()})")
        _percentile_axis(ax)
        ax.set_title("Reconnection time distribution")
        ax.legend(loc="upper left", fontsize=8)
        return _svg(fig, "plot-reconnect", "Reconnection time distribution")


def plot_delivery(report: dict[str, Any], events: list[str]) -> str:
    entries = report.get("events", {})
    with matplotlib.rc_context(_RC):
        fig = _figure(math.ceil(len(events) / 2), 2, height_per_row=2.4)
        for ax, event in zip(_grid(fig, len(events), 2), events, strict=True):
            entry = entries.get(event, {})
            values = [int(entry.get(v, 0) or 0) for v in VERDICTS]
            colors = ["#8c959f", "#1a7f37"] + ["#cf222e" if n else "#d0d7de" for n in values[2:]]
            bars = ax.barh(list(VERDICTS), values, color=colors)
            ax.bar_label(bars, labels=[str(v) for v in values], padding=2, fontsize=8)
            ax.invert_yaxis()
            ax.set_title(f"{event}: delivery accounts")
            ax.set_xlim(0, max(values + [1]) * 1.15)
        return _svg(fig, "plot-delivery", "Delivery accounts per event type")


# --- page ------------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    if value is None:
        return "–"  # noqa: RUF001  (an en dash: no value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return html.escape(json.dumps(value, sort_keys=True))
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], *, bad_cols: Iterable[int] = (),
           cls: str = "") -> str:
    bad = set(bad_cols)
    head = "".join(f'<th class="l">{_e(h)}</th>' if i == 0 else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            klass = "l" if i == 0 else ("bad" if i in bad and v else "")
            cells.append(f'<td class="{klass}">{_e(v)}</td>' if klass else f"<td>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f'<tr><th class="l">{_e(k)}</th><td class="l">{_e(v)}</td></tr>' for k, v in pairs)
    return f'<table class="meta"><tbody>{rows}</tbody></table>'


def _fig(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def verdict(report: dict[str, Any]) -> tuple[bool, str, list[str]]:
    """(passed, basis, reasons for failure) for the banner."""
    thresholds = report.get("thresholds")
    if isinstance(thresholds, list) and thresholds:
        bad = [t for t in thresholds if not t.get("passed")]
        reasons = [str(t.get("message") or t.get("key")) for t in bad]
        return (not bad, f"{len(thresholds) - len(bad)} of {len(thresholds)} thresholds met", reasons)
    reasons = []
    for event, entry in report.get("events", {}).items():
        for name in FAULTS:
            if entry.get(name):
                reasons.append(f"{event}: {name} = {entry[name]}")
    iso = report.get("isolation", {})
    if iso.get("bad_tokens_accepted"):
        reasons.append(f"bad tokens accepted: {iso['bad_tokens_accepted']} "
                       f"({', '.join(iso.get('bad_tokens_accepted_kinds') or [])})")
    reasons += [v["message"] for v in work_verdicts(report)]
    return (not reasons, "no thresholds in report.json: correctness counts must all be zero", reasons)


def _banner(report: dict[str, Any]) -> str:
    passed, basis, reasons = verdict(report)
    run = report.get("run", {})
    delivered = sum(int(e.get(DELIVERED, 0) or 0) for e in report.get("events", {}).values())
    expected = sum(int(e.get(EXPECTED, 0) or 0) for e in report.get("events", {}).values())
    conn = report.get("connections", {})
    word = "PASS" if passed else "FAIL"
    thresholds = report.get("thresholds")
    judged = thresholds if isinstance(thresholds, list) and thresholds else work_verdicts(report)
    why = headline(judged)
    if why is not None:
        word += " (no work done)" if did_no_work(judged) else " (users could not start)"
        reasons = [why, *reasons]
    if run.get("complete") is False:
        word += " (incomplete run)"
        reasons = [f"incomplete: {run.get('incomplete_reason')}", *reasons]
    items = "".join(f"<li>{_e(r)}</li>" for r in reasons[:12])
    more = f"<li>… and {len(reasons) - 12} more</li>" if len(reasons) > 12 else ""
    reasons_html = f"<ul>{items}{more}</ul>" if reasons else ""
    witness = report.get("witness")
    generator = ""
    if isinstance(witness, dict) and witness.get("generator_suspect"):
        note = str(witness.get("note") or "the latency figures are the load generator's, "
                                            "not the server's")
        generator = (f'<div id="witness-note" class="gen"><b>Witness:</b> '
                     f"{_e(note[:1].upper() + note[1:])}. "
                     '<a href="#witness">Users against the witness</a></div>')
    return (f'<div id="verdict" class="banner {"pass" if passed else "fail"}">'
            f'<div class="big">{word}</div>'
            f"<div>{_e(basis)}. {delivered} of {expected} expected events delivered; "
            f"{_e(conn.get('succeeded'))} of {_e(conn.get('attempted'))} connections; "
            f"{_e(run.get('scenario'))} scenario, {_e(run.get('duration_s'))} s against "
            f"{_e(run.get('target'))}.</div>{reasons_html}{generator}</div>")


def _latency_table(report: dict[str, Any], events: list[str]) -> str:
    rows = []
    keys = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "count")
    for event in events:
        entry = report.get("events", {}).get(event, {})
        for figure, label in (("trigger_to_delivery", "trigger-to-delivery"),
                              ("emit_to_delivery", "emit-to-delivery"), ("fanout", "fan-out")):
            fig = entry.get(figure)
            if fig:
                rows.append([f"{event} {label}"] + [fig.get(k) for k in keys])
    for name, fig in report.get("latency", {}).items():
        rows.append([name] + [fig.get(k) for k in keys])
    return _table(["figure", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "count"], rows)


def _witness_section(report: dict[str, Any], hists: Histograms, events: list[str]) -> list[str]:
    witness = report.get("witness")
    parts = ['<h2 id="witness">Witness</h2>']
    if not isinstance(witness, dict):
        return parts + ["<p>This report is from before the witness (no <code>witness</code> "
                        "section).</p>"]
    if not witness.get("enabled"):
        return parts + [f"<p>No witness ran: {_e(witness.get('reason') or 'disabled')}.</p>"]
    parts.append("<p>The witness is a separate lightweight process with a few passive sockets "
                 "(a store owner, and second tabs of a few customers and drivers, in the same "
                 "rooms as the users they mirror) that only timestamp events. For each event both "
                 "a user and the witness received, the user's receipt time minus the witness's is "
                 "the delay the load generator added; the witness's own emit-to-delivery is the "
                 "server's latency.</p>")
    if witness.get("reason"):
        parts.append(f'<div class="warn">Witness: {_e(witness["reason"])}</div>')
    if witness.get("generator_suspect"):
        parts.append(f'<div class="warn">{_e(witness.get("note"))}</div>')
    added = witness.get("added_delay") or {}
    parts.append(_kv([
        ("added delay, every event type",
         f"p50 {_e(added.get('p50_ms'))} / p99 {_e(added.get('p99_ms'))} / max "
         f"{_e(added.get('max_ms'))} ms over {_e(added.get('count'))} matched receipts"),
        ("bound (p99)", f"{_e(witness.get('bound_ms'))} ms"),
        ("latency figures are the generator's", "yes" if witness.get("generator_suspect") else "no"),
        ("smallest user minus witness", f"{_e(witness.get('min_added_ms'))} ms"),
        ("witness clock", f"time_sync={witness.get('time_sync')}, offset "
                          f"{_e(witness.get('offset_ms'))} ms")]))
    rows = []
    for event, entry in (witness.get("events") or {}).items():
        users = entry.get("users_emit_to_delivery") or {}
        own = entry.get("paired_emit_to_delivery") or entry.get("emit_to_delivery") or {}
        add = entry.get("added_delay") or {}
        rows.append([event, users.get("p50_ms"), users.get("p99_ms"), own.get("p50_ms"),
                     own.get("p99_ms"), add.get("p50_ms"), add.get("p99_ms"), add.get("max_ms"),
                     entry.get("witnessed"), entry.get("matched")])
    parts.append(_table(["event", "users p50 ms", "users p99 ms", "witness p50 ms", "witness p99 ms",
                         "added p50 ms", "added p99 ms", "added max ms", "witnessed", "matched"],
                        rows))
    svg = plot_witness(events, hists, witness.get("bound_ms"))
    if svg:
        parts.append(_fig(svg, "Emit-to-delivery over the whole run by percentile, per event "
                               "type: the users' (solid; for the events the witness received too, "
                               "when the run paired them) against the witness's (dashed; the same receipts, "
                               "a store-owner event once per store owner on both sides). Where "
                               "the users' curve stands above the witness's, the generator added "
                               "the difference. Last row: the delay the generator added (user minus "
                               "witness, for events both received) per "
                               f"{hists.interval_s:g}-second interval over every event type, and "
                               "by percentile per event type, with the bound."))
    else:
        parts.append("<p>histograms.json holds no witness figures.</p>")
    tabs = witness.get("tabs") or []
    if tabs:
        cols = ["tab", "role", "mirrors", "connected", "received", "error"]
        parts.append(_table(cols, [[t.get(c) for c in cols] for t in tabs]))
    return parts


def render(report: dict[str, Any], hist_data: dict[str, Any]) -> str:
    hists = Histograms(hist_data)
    events = _event_names(report)
    latency_events = [e.value for e in Event]
    run = report.get("run", {})
    parts: list[str] = []
    parts.append(f"<h1>realtime-harness run {_e(run.get('id'))}</h1>")
    parts.append(_banner(report))
    gen = report.get("generator", {})
    if gen.get("latency_suspect"):
        parts.append(f'<div class="warn">Generator saturated: {_e(gen.get("note"))}</div>')
    clock = report.get("clock", {})
    if clock.get("note"):
        parts.append(f'<div class="warn">{_e(clock["note"])}</div>')

    parts.append('<h2 id="run">Run</h2>')
    parts.append(_kv([(k, v) for k, v in run.items()]
                     + [("schema_version", report.get("schema_version")),
                        ("clock", f"time_sync={clock.get('time_sync')}, offset {_e(clock.get('offset_ms'))} ms")]))

    thresholds = report.get("thresholds")
    if isinstance(thresholds, list) and thresholds:
        parts.append('<h2 id="thresholds">Thresholds</h2>')
        parts.append(_table(["key", "bound", "value", "passed", "message"],
                            [[t.get("key"), t.get("bound"), t.get("value"),
                              "yes" if t.get("passed") else "NO", t.get("message")] for t in thresholds]))

    parts.append('<h2 id="delivery">Delivery accounts</h2>')
    rows = [[event] + [report["events"].get(event, {}).get(v, 0) for v in VERDICTS] for event in events]
    parts.append(_table(["event"] + list(VERDICTS), rows, bad_cols=range(3, 3 + len(FAULTS))))
    unanswered = report.get("unanswered") or {}
    parts.append(f"<p>late events: {_e(report.get('late_events'))}; recorded late (counted "
                 f"delivered): {_e(report.get('recorded_late_events'))}; foreign events: "
                 f"{_e(report.get('foreign_events'))}"
                 + (f"; not judged around a lost or cut-short worker: {_e(report.get('not_judged'))}"
                    if report.get("not_judged") else "")
                 + (f"; changes sent whose answer never came: {_e(unanswered.get('requests'))} "
                    f"(events only they could explain, not judged: {_e(unanswered.get('events'))})"
                    if unanswered.get("requests") else "") + "</p>")
    parts.append(_fig(plot_delivery(report, events),
                      "The seven ledger counts per event type; red bars are faults that must be zero "
                      "(expected = delivered + missing)."))
    if report.get("missing_samples"):
        parts.append("<p>missing samples (first 20):</p><pre>"
                     + _e("\n".join(json.dumps(s) for s in report["missing_samples"][:20])) + "</pre>")

    parts.append('<h2 id="latency">Latency</h2>')
    parts.append(_latency_table(report, latency_events))
    if report.get("latency_clamped"):
        parts.append(f"<p>samples clamped to 1 µs..60 s: {_e(report['latency_clamped'])}</p>")
    parts.append(_fig(plot_latency_over_time(latency_events, hists),
                      f"p50/p90/p99 trigger-to-delivery latency per {hists.interval_s:g}-second "
                      "interval (from the per-interval HDR histograms), per event type."))
    parts.append(_fig(plot_distribution(latency_events, hists),
                      "Latency by percentile over the whole run (whole-run HDR histograms): "
                      "trigger-to-delivery, emit-to-delivery (clock-corrected) and fan-out completion."))

    parts += _witness_section(report, hists, latency_events)

    parts.append('<h2 id="activity">Connections and throughput</h2>')
    conn = report.get("connections", {})
    parts.append(_kv([("attempted", conn.get("attempted")), ("succeeded", conn.get("succeeded")),
                      ("failed", conn.get("failed"))]))
    parts.append(_fig(plot_activity(latency_events, hists),
                      "Users connected over time is not recorded in the run folder: the left plot "
                      "shows connections opened per interval (counts of the <code>connect</code> "
                      "latency figure) and their running total, which equals users connected when "
                      "no one disconnects. Events per second are delivered events per interval "
                      "(the larger of the trigger-to-delivery and emit-to-delivery sample counts) "
                      "divided by the interval length; the first and last intervals may be partial."))

    parts.append('<h2 id="reconnection">Reconnection</h2>')
    rec = report.get("reconnection", {})
    parts.append(_kv([(k, v) for k, v in rec.items()
                      if k not in ("time_to_reconnect", "time_to_consistent", "unrecovered_samples")]))
    svg = plot_reconnect(hists)
    if svg:
        parts.append(_fig(svg, "Time to reconnect (drop to connected) and to consistent "
                               "(caught up with what was missed), by percentile."))
    else:
        parts.append("<p>No reconnections were measured in this run.</p>")
    if report.get("outages"):
        parts.append(_table(["started_at", "ended_at", "duration_s", "ongoing_at_end", "unreachable_requests"],
                            [[o.get(k) for k in ("started_at", "ended_at", "duration_s", "ongoing_at_end",
                                                 "unreachable_requests")] for o in report["outages"]]))

    parts.append('<h2 id="isolation">Isolation</h2>')
    iso = report.get("isolation", {})
    parts.append(_kv([(k, v) for k, v in iso.items() if k not in ("samples", "unmatched_samples")]))
    for key, label in (("samples", "leak samples"), ("unmatched_samples", "unmatched leak samples")):
        if iso.get(key):
            parts.append(f"<p>{label} (first 20 of {len(iso[key])}):</p><pre>"
                         + _e("\n".join(json.dumps(s, sort_keys=True) for s in iso[key][:20])) + "</pre>")
    if not iso.get("samples") and not iso.get("unmatched_samples"):
        parts.append("<p>No leaked events.</p>")

    parts.append('<h2 id="generator">Generator health</h2>')
    procs = gen.get("processes", [])
    cols = ["process", "samples", "cpu_percent_p50", "cpu_percent_max", "loop_lag_ms_p99",
            "loop_lag_ms_max", "users_max", "receive_delay_ms_p99", "arrival_stamps",
            "websocket_readers", "suspect", "reasons"]

    def cell(p: dict[str, Any], c: str) -> Any:
        if c == "receive_delay_ms_p99":
            return (p.get("receive_delay_ms") or {}).get("p99_ms")
        if c in ("arrival_stamps", "websocket_readers") and isinstance(p.get(c), dict):
            return ", ".join(f"{k} {v}" for k, v in p[c].items())
        return p.get(c)

    parts.append(_table(cols, [[cell(p, c) for c in cols] for p in procs]))
    parts.append("<p>receive delay: from a frame's arrival to its handler running (p99); arrival "
                 "stamps: events stamped by the kernel on arrival (their latency leaves that delay "
                 "out) and stamped when read (it is inside their latency); websocket readers: "
                 "connections read by the event loop's callbacks, and by a greenlet each (TLS).</p>")
    parts.append(f"<p>latency suspect: <b>{'yes' if gen.get('latency_suspect') else 'no'}</b>"
                 + (f" — {_e(gen.get('note'))}" if gen.get("note") else "") + "</p>")

    title = f"realtime-harness {('PASS' if verdict(report)[0] else 'FAIL')} {run.get('id', '')}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_html(run_dir: str | Path) -> Path:
    """Write `report.html` into the run folder from its report.json and histograms.json."""
    folder = Path(run_dir)
    report, hists = _load(folder)
    path = folder / HTML
    path.write_text(render(report, hists), encoding="utf-8")
    return path
