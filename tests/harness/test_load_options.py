"""Load options are checked before any load starts (no Locust is imported here)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands.load import parse_duration, ramp_note, scenario_file, spawn_rate_of
from harness.load.options import add_arguments, from_parsed
from tests.support.team_server import FILE
from harness.errors import LoadConfigError, LoadSetupError


@pytest.mark.parametrize("text, seconds", [("60", 60), ("60s", 60), ("2m", 120), ("1h30m", 5400),
                                           ("1h", 3600), ("1m30s", 90)])
def test_durations_in_locust_forms_or_bare_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "0", "0s", "1.5m", "-5", "5 m", "m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(LoadSetupError):
        parse_duration(text)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_sane() -> None:
    opts = from_parsed(_parse())
    assert opts.store_owners == 5 and opts.tokens == "register" and opts.transport == "websocket"
    assert opts.think_s == (0.5, 2.0) and opts.event_timeout_s == 10.0 and opts.settle_s == 1.0
    assert from_parsed(_parse("--settle", "2.5")).settle_s == 2.5
    assert opts.run_id and opts.seed is not None


@pytest.mark.parametrize("argv, words", [
    (["--tokens", "mint"], "--jwt-secret"),
    (["--store-owners", "0"], "--store-owners"),
    (["--think-time", "3-1"], "MIN is above MAX"),
    (["--think-time", "soon"], "--think-time"),
    (["--order-rate", "0"], "--order-rate"),
    (["--run-id", "a b"], "--run-id"),
    (["--settle", "-1"], "--settle"),
    (["--settle", "11"], "--settle must be from 0 to --event-timeout"),
])
def test_bad_options_say_what_is_wrong(argv: list[str], words: str) -> None:
    with pytest.raises(LoadConfigError, match=words):
        from_parsed(_parse(*argv))


def test_the_default_ramp_starts_everyone_within_10_s() -> None:
    assert spawn_rate_of(20, None) == 2.0 and spawn_rate_of(5, None) == 1.0
    assert spawn_rate_of(20, 7.5) == 7.5


@pytest.mark.parametrize("users, rate, seconds, started", [
    (20, 2.0, 8, 17),      # the default rate: a 10 s ramp in an 8 s run
    (10000, 200.0, 30, 6001),
])
def test_a_ramp_longer_than_the_run_is_noted_with_how_many_will_start(
        users: int, rate: float, seconds: int, started: int) -> None:
    note = ramp_note(users, rate, seconds)
    assert note is not None and f"about {started} will start" in note, note
    assert "--spawn-rate" in note and f"{seconds} s run" in note


@pytest.mark.parametrize("users, rate, seconds", [(20, 2.0, 10), (20, 20.0, 8), (1, 1.0, 1)])
def test_a_ramp_within_the_run_gets_no_note(users: int, rate: float, seconds: int) -> None:
    assert ramp_note(users, rate, seconds) is None


@pytest.mark.parametrize("rate", ["0", "-3"])
def test_a_spawn_rate_not_above_0_is_refused(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["load", "--target", "http://127.0.0.1:9", "--users", "20", "--spawn-rate", rate])
    assert code == 2
    assert "--spawn-rate must be more than 0" in capsys.readouterr().err


def test_scenarios_ship_with_the_package() -> None:
    for name in ("lifecycle", "isolation", "mixed"):
        assert scenario_file(name).is_file()
    with pytest.raises(LoadSetupError):
        scenario_file("nonexistent")


def test_the_command_side_never_imports_locust() -> None:
    import subprocess

    code = ("import harness.cli, harness.commands.load, harness.commands.demo, harness.summary, "
            "sys; print('locust' in sys.modules or 'gevent' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_contract_file_comes_from_the_option_or_harness_contract(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Locust scenarios take the file as `--contract` or from $HARNESS_CONTRACT; its
    auth.mode and socketio_path are the defaults of `--tokens` and `--socketio-path`."""
    assert from_parsed(_parse()).contract is None  # ours
    monkeypatch.setenv("HARNESS_CONTRACT", str(FILE))
    opts = from_parsed(_parse())
    assert opts.contract == str(FILE.resolve()) and opts.tokens == "register"
    assert opts.socketio_path == "/socket.io/"
    monkeypatch.delenv("HARNESS_CONTRACT")
    minting = tmp_path / "mint.toml"
    minting.write_text(FILE.read_text(encoding="utf-8").replace('mode = "register"', 'mode = "mint"')
                       .replace('socketio_path = "/socket.io/"', 'socketio_path = "/ws/"'),
                       encoding="utf-8")
    with pytest.raises(LoadConfigError, match='auth.mode = "mint"'):
        from_parsed(_parse("--contract", str(minting)))
    opts = from_parsed(_parse("--contract", str(minting), "--jwt-secret", "s"))
    assert opts.tokens == "mint" and opts.socketio_path == "/ws/"
    assert from_parsed(_parse("--contract", str(minting), "--tokens", "register")).tokens == "register"
