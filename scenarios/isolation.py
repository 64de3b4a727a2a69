"""Room isolation: normal order traffic, plus adversarial customers and drivers that try to
join other users' rooms (`join`, `joinRoom`, `subscribe`; bare names and `{room}`; full
room names, raw ids, `store-owners`) and to connect with bad tokens. Anything they receive
is a leak, reported with the room it must have come through.

    locust -f scenarios/isolation.py --host http://127.0.0.1:8000
"""

from harness.load import runtime  # noqa: F401  (the plugin: options, ledger, report)
from harness.load.adversary import AdversarialCustomer, AdversarialDriver
from harness.load.users import Customer, Driver, StoreOwner

__all__ = ["AdversarialCustomer", "AdversarialDriver", "Customer", "Driver", "StoreOwner"]
