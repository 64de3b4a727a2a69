"""Reconnection: the lifecycle's customers, store owners and drivers, with connections cut
at set times (default: 20% of the connected users every 5 s, closed). Measures time to
reconnect, time to consistent (reconnected and caught up with `GET /api/orders/{id}` on every
order the user follows), and events missed while away and recovered by those reads.

    locust -f scenarios/reconnect.py --host http://127.0.0.1:8000 [--cut-mode silent|storm]
        [--cut-share 0.2] [--cut-every 5]

The same `--cut-*` options work with every other scenario.
"""

from harness.load import runtime  # noqa: F401  (the plugin: options, ledger, report)
from harness.load.disruption import CLOSED, CutPlan, set_default_plan
from harness.load.users import Customer, Driver, StoreOwner

set_default_plan(CutPlan(mode=CLOSED, share=0.2, every_s=5.0))

__all__ = ["Customer", "Driver", "StoreOwner"]
