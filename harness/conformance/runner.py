"""Run checks against a target, one after another, each to one `Outcome`.

Checks run in sequence: the target sees a bounded, readable stream of requests, and a
check that watches for events that must not come is not confused by another check's.
An exception inside a check is that check failing (with the exception as evidence), never
the run crashing; a check that hangs fails at its time limit.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Iterable

import httpx

from ..contract import BY_OPERATION, Operation
from ..contract.teamfile import TeamContract
from ..errors import ConnectRefused, HttpError, TargetUnreachable
from .model import Check, CheckFailed, CheckSkipped, Outcome, Verdict
from .target import Target, TargetConfig

CHECK_TIME_LIMIT_S = 60.0




async def ensure_reachable(target: Target) -> None:
    """Ours answers 200 at its health route; a target with a contract file, anything at its
    base URL (the file names no health route)."""
    by_file = target.config.contract is not None
    path = "/" if by_file else BY_OPERATION[Operation.HEALTH].path
    try:
        response = await target.api.request("GET", path)
    except httpx.HTTPError as exc:
        raise TargetUnreachable(f"target {target.url} is unreachable: "
                                f"{exc.__class__.__name__}: {exc}") from None
    if response.status_code != 200 and not by_file:
        raise TargetUnreachable(f"target {target.url}: GET {path} answered "
                                f"{response.status_code}, not 200")


def letter_only(check: Check, contract: TeamContract) -> str:
    """Why a check that speaks our contract to the letter does not run on a contract file."""
    return (f"speaks shared/CONTRACT.md section {check.section} to the letter (its routes, "
            f"bodies, error codes, limits), which {contract.source} does not state; the file.* "
            "checks hold the target to its file")


async def run_one(target: Target, check: Check) -> Outcome:
    started = time.monotonic()
    contract = target.config.contract
    if contract is not None and not check.by_file:
        return Outcome(check, Verdict.SKIP, letter_only(check, contract))
    try:
        evidence = await asyncio.wait_for(check.body(target), CHECK_TIME_LIMIT_S)
        outcome = Outcome(check, Verdict.PASS, evidence)
    except CheckFailed as exc:
        outcome = Outcome(check, Verdict.FAIL, exc.summary, exc.sent, exc.expected, exc.got)
    except CheckSkipped as exc:
        outcome = Outcome(check, Verdict.SKIP, exc.reason)
    except TimeoutError:
        outcome = Outcome(check, Verdict.FAIL, f"the check did not finish within "
                          f"{CHECK_TIME_LIMIT_S:.0f} s")
    except HttpError as exc:
        outcome = Outcome(check, Verdict.FAIL, f"an unexpected HTTP answer while setting up: {exc}",
                          got={"status": exc.status, "body": exc.body})
    except ConnectRefused as exc:
        outcome = Outcome(check, Verdict.FAIL, f"a socket that should connect was refused: "
                          f"{exc.message}", got=exc.message)
    except Exception as exc:  # noqa: BLE001  (an exception inside a check is that check failing)
        outcome = Outcome(check, Verdict.FAIL, f"error inside the check: "
                          f"{exc.__class__.__name__}: {exc}",
                          got=traceback.format_exc(limit=6).splitlines()[-12:])
    finally:
        await target.close_sockets()
    outcome.seconds = time.monotonic() - started
    return outcome


async def run_checks(config: TargetConfig, checks: Iterable[Check],
                     on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Every check's outcome, in order. Raises `TargetUnreachable` before any check runs."""
    outcomes: list[Outcome] = []
    async with Target(config) as target:
        await ensure_reachable(target)
        for check in checks:
            outcome = await run_one(target, check)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return outcomes
