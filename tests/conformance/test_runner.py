"""The conformance runner and target, on the in-process reference server: the request rate
is bounded, what a run creates carries its prefix, and a check that breaks or hangs is that
check failing, never the run."""

from __future__ import annotations

import asyncio

from harness.conformance import Check, Target, TargetConfig, Verdict, run_checks
from harness.conformance import runner
from harness.conformance.model import CheckSkipped
from harness.contract import Role


def _check(id: str, body) -> Check:
    return Check(id, "0", f"test check {id}", body)


async def test_requests_are_held_to_max_rps(server) -> None:
    async with Target(TargetConfig(url=server.url, max_rps=5)) as target:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(15):
            await target.api.health()
        # aiolimiter lets a burst of 5 through, then 5 a second: 10 more take 2 s.
        assert loop.time() - started >= 1.8


async def test_what_a_run_creates_carries_its_prefix(server) -> None:
    async with Target(TargetConfig(url=server.url, prefix="conf-test42")) as target:
        user = await target.register(Role.CUSTOMER)
        assert user.name.startswith("conf-test42-") and user.email.startswith("conf-test42-")
        order = await target.new_order(user)
        assert all(item["name"].startswith("conf-test42 ") for item in order["items"])
        assert order["deliveryAddress"]["street"].startswith("conf-test42 ")


async def test_a_check_that_raises_or_hangs_fails_and_the_run_goes_on(server, monkeypatch) -> None:
    async def broken(target) -> str:
        raise KeyError("no such field")

    async def hangs(target) -> str:
        await asyncio.sleep(60)
        return "never"

    async def skips(target) -> str:
        raise CheckSkipped("needs something this target lacks")

    async def passes(target) -> str:
        return "fine"

    monkeypatch.setattr(runner, "CHECK_TIME_LIMIT_S", 0.5)
    checks = [_check("t.broken", broken), _check("t.hangs", hangs), _check("t.skips", skips),
              _check("t.passes", passes)]
    outcomes = await run_checks(TargetConfig(url=server.url), checks)
    got = {o.check.id: (o.verdict, o.evidence) for o in outcomes}
    assert got["t.broken"][0] is Verdict.FAIL and "KeyError" in got["t.broken"][1]
    assert got["t.hangs"][0] is Verdict.FAIL and "did not finish" in got["t.hangs"][1]
    assert got["t.skips"] == (Verdict.SKIP, "needs something this target lacks")
    assert got["t.passes"] == (Verdict.PASS, "fine")
