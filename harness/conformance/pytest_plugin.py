"""The conformance checks as pytest tests: `pytest --conformance-target URL`.

Registered through the `pytest11` entry point, so any project that installs the harness
can run the checks in its own test suite; without `--conformance-target` it adds nothing.
Each check becomes one test (`conformance::<check id>`): FAIL is a test failure with the
evidence, SKIP a skipped test with the reason. The checks run through the same runner as
`harness conformance`, in order, on one event loop and one `Target` for the session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ..contract.teamfile import load
from ..errors import ConformanceFailure, ContractFileError, TargetUnreachable, UnknownPattern
from .model import Check, Outcome, Verdict
from .registry import all_checks, select
from .runner import ensure_reachable, run_one
from .target import Target, TargetConfig

_SESSION_KEY = pytest.StashKey["_Session"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "order-tracking contract conformance (realtime-harness)")
    group.addoption("--conformance-target", default=None, metavar="URL",
                    help="run the contract's conformance checks against this server")
    group.addoption("--conformance-jwt-secret", default=None, metavar="SECRET",
                    help="the target's JWT secret (adds the token checks that need signing)")
    group.addoption("--conformance-origin", default=None, metavar="ORIGIN",
                    help="an origin the target allows (CORS checks)")
    group.addoption("--conformance-mongo-url", default=None, metavar="URL",
                    help="the target's MongoDB, database in the path (bypass-write check)")
    group.addoption("--conformance-contract", default=None, metavar="FILE",
                    help="the target's contract file: the file.* checks hold it to the file; the "
                         "checks of our contract's letter SKIP")
    group.addoption("--conformance-only", default=None, metavar="PATTERN",
                    help="only checks whose id matches (shell patterns, comma-separated)")
    group.addoption("--conformance-max-rps", default=50.0, type=float,
                    help="requests per second at most (default 50)")


class _Session:
    """One event loop and one Target for all the checks of a pytest session."""

    def __init__(self, config: TargetConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.target = Target(config)
        self.error: str | None = None
        try:
            self.loop.run_until_complete(ensure_reachable(self.target))
        except TargetUnreachable as exc:
            self.error = str(exc)

    def run(self, check: Check) -> Outcome:
        return self.loop.run_until_complete(run_one(self.target, check))

    def close(self) -> None:
        self.loop.run_until_complete(self.target.close())
        self.loop.close()




class ConformanceItem(pytest.Item):
    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.outcome: Outcome | None = None

    def runtest(self) -> None:
        session = self.config.stash[_SESSION_KEY]
        if session.error:
            raise ConformanceFailure(session.error)
        self.outcome = session.run(self.check)
        self.user_properties.append(("evidence", self.outcome.evidence))
        if self.outcome.verdict is Verdict.SKIP:
            pytest.skip(self.outcome.evidence)
        if self.outcome.verdict is Verdict.FAIL:
            raise ConformanceFailure(self.outcome.evidence)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, ConformanceFailure):
            return str(super().repr_failure(excinfo))
        lines = [f"{self.check.id}: {self.check.description} (contract section {self.check.section})",
                 f"found: {excinfo.value}"]
        if self.outcome is not None:
            for what in ("sent", "expected", "got"):
                value = getattr(self.outcome, what)
                if value is not None:
                    lines.append(f"{what}: {json.dumps(value, default=repr)[:3000]}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "conformance", None, f"conformance::{self.check.id}"


class ConformanceCollector(pytest.Collector):
    def __init__(self, *, checks: list[Check], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checks = checks

    def collect(self) -> Iterator[ConformanceItem]:
        for check in self.checks:
            yield ConformanceItem.from_parent(self, name=check.id, check=check)


def _config(config: pytest.Config) -> TargetConfig | None:
    url = config.getoption("--conformance-target")
    if not url:
        return None
    contract = None
    if config.getoption("--conformance-contract"):
        try:
            contract = load(config.getoption("--conformance-contract"))
        except ContractFileError as exc:
            raise pytest.UsageError(str(exc)) from None
    return TargetConfig(url=url, jwt_secret=config.getoption("--conformance-jwt-secret"),
                        origin=config.getoption("--conformance-origin"),
                        mongo_url=config.getoption("--conformance-mongo-url"),
                        max_rps=config.getoption("--conformance-max-rps"), contract=contract)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    target = _config(config)
    if target is None:
        return
    try:
        checks = select(all_checks(by_file=target.contract is not None),
                        config.getoption("--conformance-only"))
    except UnknownPattern as exc:
        raise pytest.UsageError(str(exc)) from None
    collector = ConformanceCollector.from_parent(session, name="conformance", checks=checks)
    items.extend(collector.collect())
    config.stash[_SESSION_KEY] = _Session(target)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_KEY, None)
    if session is not None:
        session.close()
