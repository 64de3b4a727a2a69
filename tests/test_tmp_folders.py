"""Bug (make test, this stop): the fault runs' fixture (tests/load/test_load_runs.py) made its
run folders from two threads; when those were the first folders of an xdist worker, both
threads created pytest's base folder at once and one failed (FileExistsError), failing eight
tests. tests/conftest.py makes the base folder before any test runs."""

from __future__ import annotations

from pathlib import Path

from tests.support.child_processes import PYTHON, ROOT, run_to_exit


def test_the_first_folders_of_a_session_may_be_made_from_threads(tmp_path: Path) -> None:
    case = ROOT / "tests" / "support" / "mktemp_from_threads.py"
    done = run_to_exit([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                        str(tmp_path / "base"), str(case)], timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
