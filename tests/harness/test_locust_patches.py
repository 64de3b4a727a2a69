"""What the harness plugin mends in Locust (harness/load/runtime.py).

Run in a child process: Locust (and gevent's patching) stays out of the tests' own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.child_processes import ROOT, child_env

SPAWN_MESSAGE_OPTIONS = textwrap.dedent('''
    from locust import argument_parser

    import harness.load.runtime  # noqa: F401  (the plugin)

    built = []
    setup = argument_parser.setup_parser_arguments
    argument_parser.setup_parser_arguments = lambda parser: (built.append(1), setup(parser))[1]
    # What a worker does with the options of a spawn message (locust/runners.py,
    # WorkerRunner.handle_message): one look at Locust's defaults per option.
    options = {f"option_{i}": i for i in range(90)} | {"host": "x", "num_users": 1}
    custom = {k: v for k, v in options.items() if k not in argument_parser.default_args_dict()}
    defaults = argument_parser.default_args_dict()
    defaults["host"] = "changed by a caller"
    assert argument_parser.default_args_dict()["host"] != "changed by a caller"
    print(len(built), sorted(custom) == sorted(f"option_{i}" for i in range(90)))
''')


def test_a_spawn_message_builds_locusts_parser_once_not_once_per_option() -> None:
    """Bug (a `--workers 2` run beside other runs and two CPU hogs): both workers, handling
    the spawn message, built Locust's argument parser about 90 times without yielding, sent
    no heartbeat for 10 s and were called lost; their users' events then read as leaks."""
    proc = subprocess.run([sys.executable, "-c", SPAWN_MESSAGE_OPTIONS], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ["1", "True"], proc.stdout
