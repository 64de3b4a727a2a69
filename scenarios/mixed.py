"""The default: order lifecycles, with some adversarial users trying to get into other
users' rooms (see isolation.py) and some connections cut along the way (see reconnect.py).

    locust -f scenarios/mixed.py --host http://127.0.0.1:8000
"""

from harness.load import runtime  # noqa: F401  (the plugin: options, ledger, report)
from harness.load.adversary import AdversarialCustomer, AdversarialDriver
from harness.load.disruption import CLOSED, CutPlan, set_default_plan
from harness.load.users import Customer, Driver, StoreOwner

# Some reconnecting users: 5 % of the connected users' sockets shut every 15 s.
set_default_plan(CutPlan(mode=CLOSED, share=0.05, every_s=15.0))

__all__ = ["AdversarialCustomer", "AdversarialDriver", "Customer", "Driver", "StoreOwner"]
