"""Hooks for a server that signs its requests: what a contract file cannot say.

`tests/js/team_orders.js`, started with SIGNING_KEY, refuses every HTTP request without an
`X-Signature` header: the hex HMAC-SHA256, under that key, of "METHOD PATH\\n" and the body's
exact bytes. Name this module in the contract file (`hooks = "team_hooks.py"`, a path beside
the file) and give the key as TEAM_SIGNING_KEY: every request the harness makes (its load's
users and pre-flight, `harness contract check`, the file.* conformance checks) is signed here.

A hooks module may define `before_request(request)` and `mint(claims, secret)`
(`harness.target`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any


def before_request(request: dict[str, Any]) -> None:
    """Sign the request: the body is serialised here, and sent as exactly these bytes."""
    key = os.environ["TEAM_SIGNING_KEY"].encode()
    body = b""
    if request["body"] is not None:
        body = json.dumps(request["body"], separators=(",", ":")).encode()
        request["content"] = body
        request["headers"]["Content-Type"] = "application/json"
    message = f"{request['method']} {request['path']}\n".encode() + body
    request["headers"]["X-Signature"] = hmac.new(key, message, hashlib.sha256).hexdigest()
