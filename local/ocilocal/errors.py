"""Errors as OCI sends them: a JSON body with `code` and `message`.

ApiError                 any failure answered to a client
  BadRequest             400 InvalidParameter (or a more precise code)
  NotAuthenticated       401 NotAuthenticated
  NotFound               404 NotAuthorizedOrNotFound
  Conflict               409 Conflict
  TooManyRequests        429 TooManyRequests

`error_middleware` turns these, and aiohttp's own HTTP errors, into that body and
puts an `opc-request-id` header on every reply.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A failure answered to the client with OCI's error body."""

    status = 500
    code = "InternalServerError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "InvalidParameter"


class NotAuthenticated(ApiError):
    status = 401
    code = "NotAuthenticated"


class NotFound(ApiError):
    status = 404
    code = "NotAuthorizedOrNotFound"


class Conflict(ApiError):
    status = 409
    code = "Conflict"


class TooManyRequests(ApiError):
    status = 429
    code = "TooManyRequests"


_HTTP_CODES = {
    400: "InvalidParameter",
    401: "NotAuthenticated",
    404: "NotAuthorizedOrNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
}


def request_id(request: web.Request) -> str:
    """The request's opc-request-id: the client's when it sent one."""
    if "opc_request_id" not in request:
        sent = request.headers.get("opc-request-id")
        request["opc_request_id"] = sent or uuid.uuid4().hex.upper()
    return request["opc_request_id"]


def error_response(
    request: web.Request, status: int, code: str, message: str
) -> web.Response:
    """A JSON reply in OCI's error shape."""
    body = json.dumps({"code": code, "message": message})
    return web.Response(
        status=status,
        body=body.encode(),
        content_type="application/json",
        headers={"opc-request-id": request_id(request)},
    )


@web.middleware
async def error_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Answer every failure in OCI's shape; stamp every reply with opc-request-id."""
    try:
        response = await handler(request)
    except ApiError as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "InvalidParameter")
        return error_response(request, exc.status, code, exc.reason)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(request, 500, "InternalServerError", "Internal error.")

    if not response.prepared:
        response.headers.setdefault("opc-request-id", request_id(request))
    return response
