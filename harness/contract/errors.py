"""HTTP error codes, their statuses, and the order in which they win (contract sections 5, 8).

Error bodies are `{"error": {"code", "message", "details"}}`; `code` is one of `ErrorCode`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    TOKEN_EXPIRED = "token_expired"
    FORBIDDEN = "forbidden"
    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"
    INVALID_QUERY = "invalid_query"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_STATUS = "invalid_status"
    UNKNOWN_DRIVER = "unknown_driver"
    UNKNOWN_STORE = "unknown_store"
    NOT_FOUND = "not_found"
    INVALID_TRANSITION = "invalid_transition"
    TRANSITION_FORBIDDEN = "transition_forbidden"
    EMAIL_TAKEN = "email_taken"
    INVALID_CREDENTIALS = "invalid_credentials"
    CARD_INVALID = "card_invalid"
    CARD_EXPIRED = "card_expired"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL = "internal_error"


HTTP_STATUS: Final[dict[ErrorCode, int]] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_BODY: 400,
    ErrorCode.INVALID_QUERY: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INVALID_STATUS: 422,
    ErrorCode.UNKNOWN_DRIVER: 422,
    ErrorCode.UNKNOWN_STORE: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.TRANSITION_FORBIDDEN: 403,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.CARD_INVALID: 402,
    ErrorCode.CARD_EXPIRED: 402,
    ErrorCode.ORIGIN_NOT_ALLOWED: 403,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INTERNAL: 500,
}

#: Section 8: when several things are wrong with one request, the first of these wins.
#: The 422 step covers every value check on a well-formed body (a status outside the enum,
#: a `driverId` that is no registered driver); it comes before the order is looked up.
PRECEDENCE: Final[tuple[tuple[ErrorCode, ...], ...]] = (
    (ErrorCode.UNAUTHORIZED, ErrorCode.TOKEN_EXPIRED),
    (ErrorCode.FORBIDDEN,),
    (ErrorCode.INVALID_JSON, ErrorCode.INVALID_BODY, ErrorCode.INVALID_QUERY,
     ErrorCode.PAYLOAD_TOO_LARGE),
    (ErrorCode.INVALID_STATUS, ErrorCode.UNKNOWN_DRIVER, ErrorCode.UNKNOWN_STORE),
    (ErrorCode.NOT_FOUND,),
    (ErrorCode.INVALID_TRANSITION,),
    (ErrorCode.TRANSITION_FORBIDDEN,),
)
