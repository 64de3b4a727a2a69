"""The reference order-tracking server: the executable definition of the contract.

It imports only `harness.contract` from the harness; the harness never imports it.
"""

from .app import ReferenceServer
from .config import ServerConfig, parse_config

__all__ = ["ReferenceServer", "ServerConfig", "parse_config"]
