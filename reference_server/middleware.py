"""aiohttp middlewares: the CORS allow-list and the JSON error shape for every failure.

The Socket.IO endpoint is left to python-engineio, which applies the same allow-list to
the handshake itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from harness.contract import BY_OPERATION, SOCKETIO_PATH, ErrorCode, Operation

from .errors import ApiError
from .faults import Faults

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BY_NAME: dict[str, Operation] = {op.value: op for op in Operation}
_ALLOW_METHODS = "GET, POST, PATCH, OPTIONS"
_ALLOW_HEADERS = "Authorization, Content-Type"


def error_response(err: ApiError) -> web.Response:
    return web.json_response(err.body(), status=err.status)


def cors_middleware(allowed: tuple[str, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuse foreign origins with 403 (no `Access-Control-Allow-Origin`); no `*`, ever.

    A request without an `Origin` header (a non-browser client) is let through; without an
    allow-list, so is the server's own origin.
    """
    allow = frozenset(allowed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(SOCKETIO_PATH):
            return await handler(request)
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        # The allow-list when there is one (as python-engineio does for the handshake);
        # with none, the server's own origin only.
        permitted = origin in allow if allow else origin == f"{request.scheme}://{request.host}"
        if not permitted:
            return error_response(ApiError(ErrorCode.ORIGIN_NOT_ALLOWED,
                                           f"origin {origin!r} is not allowed"))
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = _ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # keep CORS headers on error answers too
                response = exc
            except ApiError as exc:
                response = error_response(exc)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        return response

    return middleware


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure of the API answers `{"error": {code, message, details}}`; never a 500 page."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if request.path.startswith(SOCKETIO_PATH) or exc.status < 400:
            raise
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED,
                413: ErrorCode.PAYLOAD_TOO_LARGE}.get(exc.status, ErrorCode.INVALID_BODY)
        body = ApiError(code, exc.reason or "error").body()
        return web.json_response(body, status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ApiError(ErrorCode.INTERNAL, "internal error"))


def slow_change_middleware(faults: Faults) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The `slow_request` and `slow_answer` faults on a request that changes an order (not on
    sign-up or sign-in: a held answer there would only stop users from starting)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        operation = BY_NAME.get(request.match_info.route.name or "")
        if operation is None or not BY_OPERATION[operation].changes_order:
            return await handler(request)
        return await faults.slow_change(lambda: handler(request),
                                        lambda response: response.status // 100 == 2)

    return middleware
