"""Run ids and run folders, shared by the commands and the Locust plugin."""

from __future__ import annotations

import os
import time
from pathlib import Path


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def run_folder(run_id: str, report_dir: str | None) -> Path:
    """`reports/<run-id>`, or the folder the user gave."""
    return Path(report_dir) if report_dir else Path("reports") / run_id
