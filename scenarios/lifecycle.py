"""Orders from checkout to delivery: customers, store owners and drivers, nothing else.

    locust -f scenarios/lifecycle.py --host http://127.0.0.1:8000
"""

from harness.load import runtime  # noqa: F401  (the plugin: options, ledger, report)
from harness.load.users import Customer, Driver, StoreOwner

__all__ = ["Customer", "Driver", "StoreOwner"]
