"""When the generator's health makes its latency figures suspect (harness/load/health.py).

Run in a child process: gevent (which health.py imports) stays out of the tests' own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.support.child_processes import ROOT, child_env

SCRIPT = textwrap.dedent('''
    import json, sys
    from harness.load.health import GeneratorHealth

    cpu = json.loads(sys.argv[1])
    health = GeneratorHealth()
    health.cpu_percent = cpu
    health.lag_ms = [1.0] * (10 * len(cpu))
    print(json.dumps(health.summary("p")))
''')


def _summary(cpu: list[float]) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(cpu)], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_few_saturated_seconds_in_a_row_are_suspect_however_long_the_run() -> None:
    """Issue 9, part B: a ramp saturated the generator for four seconds of a 42-second run
    (under a tenth of its seconds); checkouts were sent seconds after their triggers."""
    summary = _summary([30.0] * 2 + [99.0] * 4 + [30.0] * 36)
    assert summary["suspect"] is True
    assert summary["reasons"] == ["CPU at or above 90% for 4 seconds in a row (seconds 3 to 6 of 42)"]


def test_scattered_busy_seconds_are_not_suspect() -> None:
    summary = _summary(([30.0] * 6 + [99.0, 99.0]) * 2 + [30.0] * 26)   # 4 of 42, two at a time
    assert summary["suspect"] is False, summary["reasons"]


WATCHED = textwrap.dedent('''
    import json, time
    import gevent
    from harness.load.health import GeneratorHealth

    class Environment:
        runner = None

    def burn(seconds):
        """The loop busy in 50 ms slices, as a process stopping its users is."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.monotonic()
            while time.monotonic() - start < 0.05:
                pass
            gevent.sleep(0.001)

    health = GeneratorHealth()
    health.watch(Environment())
    burn(3.5)
    during = len(health.cpu_percent)
    health.stop_watching()
    burn(2.3)
    print(json.dumps({"during": during, "after": len(health.cpu_percent),
                      "busy": health.cpu_percent}))
''')


def test_once_drained_the_users_stopping_is_not_sampled() -> None:
    """At 19,000 users, stopping them after the drain held the CPU at 100 % for four seconds,
    and the report called a run's figures suspect that those seconds never touched."""
    proc = subprocess.run([sys.executable, "-c", WATCHED], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["during"] >= 1, seen  # sampled while the run measures
    assert seen["after"] == seen["during"], seen
