"""Load options are checked before any load starts (no Locust is imported here)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from harness.commands.load import parse_duration, scenario_file
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
