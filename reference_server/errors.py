"""The one exception HTTP handlers raise; the error middleware turns it into the JSON shape."""

from __future__ import annotations

from typing import Any

from harness.contract import HTTP_STATUS, ErrorCode


class ApiError(Exception):
    def __init__(self, code: ErrorCode, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code.value, "message": self.message, "details": self.details}}
