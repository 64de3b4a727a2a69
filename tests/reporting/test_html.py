"""report.html from a real run folder: schema, `harness report`, plots, banner, offline."""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.reporting.html import PLOT_IDS
from harness.reporting.schema import load_schema, validate_report
from tests.support.child_processes import HARNESS, ROOT, child_env
from tests.support.load_runs import ServerPool, run_load

#: A short run is well under this; a one-minute run stays under 1.5 MB.
MAX_HTML_BYTES = 1_000_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pool = ServerPool()
    try:
        server = pool.get()
        folder = tmp_path_factory.mktemp("reporting") / "run"
        result = run_load(server.url, folder, scenario="mixed", users=30, duration="8")
        assert (folder / "report.json").is_file(), result.describe()
        return folder
    finally:
        pool.close()


@pytest.fixture(scope="module")
def rendered(run_dir: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
    (run_dir / "report.html").unlink(missing_ok=True)
    proc = subprocess.run([HARNESS, "report", str(run_dir)], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (run_dir / "report.html").read_text(encoding="utf-8"), proc


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.svg_ids: list[str] = []
        self.svg_titles: list[str] = []
        self.ids: set[str] = set()
        self.attrs_seen: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self._in: list[str] = []
        self._text: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self._in.append(tag)
        for k, v in a.items():
            self.attrs_seen.append((tag, k, v))
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "svg" and "id" in a:
            self.svg_ids.append(a["id"])
        if tag == "title" and len(self._in) >= 2 and self._in[-2] == "svg":
            self._text["svg-title"] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and "svg-title" in self._text:
            self.svg_titles.append("".join(self._text.pop("svg-title")))
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        for buf in self._text.values():
            buf.append(data)
        if self._in and self._in[-1] == "style":
            self.styles.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_report_json_validates_against_the_shipped_schema(run_dir: Path) -> None:
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert report["schema_version"] == "1"
    assert load_schema()["properties"]["schema_version"]["const"] == "1"
    assert validate_report(report) == []
    broken = dict(report, schema_version="2")
    del broken["run"]
    problems = validate_report(broken)
    assert any("run" in p for p in problems) and any("schema_version" in p for p in problems)


def test_harness_report_writes_report_html(rendered: tuple[str, subprocess.CompletedProcess[str]],
                                          run_dir: Path) -> None:
    text, proc = rendered
    assert "report.html" in proc.stdout
    assert text.startswith("<!DOCTYPE html>")


def test_every_plot_is_there_once(rendered: tuple[str, subprocess.CompletedProcess[str]],
                                  run_dir: Path) -> None:
    page = parse(rendered[0])
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    histograms = json.loads((run_dir / "histograms.json").read_text(encoding="utf-8"))
    witnessed = any(name.startswith("witness.") for name in histograms["figures"])
    expected = [p for p in PLOT_IDS if (p != "plot-reconnect" or report["reconnection"]["count"])
                and (p != "plot-witness" or witnessed)]
    for plot_id in expected:
        assert page.svg_ids.count(plot_id) == 1, (plot_id, page.svg_ids)
    assert len(page.svg_titles) == len(page.svg_ids) >= 4
    assert any("percentiles over time" in t for t in page.svg_titles)
    assert any("distribution" in t for t in page.svg_titles)
    assert any("Delivery accounts" in t for t in page.svg_titles)


def test_verdict_banner_is_first_and_says_pass_or_fail(
        rendered: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    text = rendered[0]
    page = parse(text)
    assert "verdict" in page.ids
    body = text[text.index("<body>"):]
    assert body.index('id="verdict"') < body.index("<svg")
    banner = body[body.index('id="verdict"'):]
    banner = banner[: banner.index("</div></div>") if "</div></div>" in banner else 2000]
    assert ">PASS<" in banner or ">FAIL<" in banner
    for section in ("run", "delivery", "latency", "witness", "isolation", "generator"):
        assert section in page.ids


def test_no_external_references(rendered: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    text = rendered[0]
    page = parse(text)
    for tag, attr, value in page.attrs_seen:
        if attr in ("src", "href", "xlink:href", "action", "poster", "data"):
            assert not value.strip().lower().startswith(("http:", "https:", "//", "data:text/html")), (tag, attr, value)
            if attr != "href" or tag != "a":
                assert value.startswith("#") or not value, (tag, attr, value)
    assert "script" not in page.tags
    assert not [1 for tag, attr, value in page.attrs_seen if tag == "link" and attr == "href"]
    assert "iframe" not in page.tags and "img" not in page.tags
    css = "".join(page.styles)
    assert "@import" not in css and "url(" not in css.replace(" ", "")
    assert "@import" not in text


def test_size_is_bounded(rendered: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    assert len(rendered[0].encode("utf-8")) < MAX_HTML_BYTES
