"""The generator-ceiling benchmark compares like with like (benchmarks/generator_ceiling.py):
Artillery's users are all connected through the window both columns measure."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generator_ceiling", ROOT / "benchmarks" / "generator_ceiling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def test_artillerys_users_stay_through_the_measured_hold() -> None:
    """Bug: each Artillery user thought for `hold` seconds from its own start, so the first
    left while the last arrived; the window measured half the users and their disconnects."""
    bench = _benchmark()
    for users, rate, hold in ((10_000, 200.0, 60), (2_000, 200.0, 60), (500, 50.0, 20)):
        script = bench.artillery_script("http://127.0.0.1:9", users, rate, hold, "t")
        think = int(re.search(r"think: (\d+)", script).group(1))
        ramp = int(re.search(r"duration: (\d+)", script).group(1))
        last_arrival = ramp  # the last user starts at the ramp's end...
        window_end = users / rate + bench.HELD_AFTER_RAMP_S + hold
        assert last_arrival >= users / rate - 1
        assert think >= window_end, "...and the first must still be there when the window ends"
