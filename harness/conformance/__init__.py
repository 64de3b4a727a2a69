"""Contract conformance: prove that any server follows the contract, security included.

`harness conformance --target URL` and `pytest --conformance-target URL` (the plugin in
`pytest_plugin.py`) run the same checks (`checks/`) through the same runner (`runner.py`)
against a `Target` (`target.py`); `report.py` writes `conformance.json`, `.md` and
`junit.xml`. Nothing here knows the reference server: only the contract.
"""

from ..errors import TargetUnreachable
from .model import Check, CheckFailed, CheckSkipped, Outcome, Verdict, expect
from .registry import all_checks, check, select
from .runner import run_checks, run_one
from .target import Target, TargetConfig

__all__ = [
           "Check",
           "CheckFailed",
           "CheckSkipped",
           "Outcome",
           "Target",
           "TargetConfig",
           "TargetUnreachable",
           "Verdict",
           "all_checks",
           "check",
           "expect",
           "run_checks",
           "run_one",
           "select",
]
