"""The fdk boundary: request bodies in, JSON replies out.

Every reply is JSON with one ``application/json`` content type and the real
status in ``Fn-Http-Status``; failures carry ``{"error": {"code", "message"}}``
and, when the error has them, ``details`` for the caller.
fdk answers 502 with the exception text for anything that escapes a handler,
so ``handle`` turns every exception into a JSON reply.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from fdk import response

from ocifn import logs
from ocifn.errors import OcifnError

JSON_CONTENT_TYPE = "application/json"
STATUS_HEADER = "Fn-Http-Status"
INTERNAL_ERROR_CODE = "internal"
INTERNAL_ERROR_MESSAGE = "internal error; see the function's log"
GATEWAY_INTENT_HEADER = "fn-intent"
GATEWAY_INTENT = "httprequest"

logger = logging.getLogger(__name__)
invocation_logger = logging.getLogger(logs.INVOCATION_LOGGER)


def read_body(data: Any) -> bytes:
    """The request body as bytes, whatever fdk handed over."""
    if data is None:
        return b""
    if isinstance(data, io.BytesIO):
        return data.getvalue()
    if hasattr(data, "read"):
        return data.read()
    if isinstance(data, str):
        return data.encode("utf-8")

    return bytes(data)


def success(
    ctx: Any,
    data: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> response.Response:
    """A JSON reply with ``data`` as its body."""
    return _reply(ctx, data, status, headers)


def failure(ctx: Any, error: OcifnError) -> response.Response:
    """A JSON error reply with the error's status, code, message and details."""
    body: dict[str, Any] = {"error": {"code": error.code, "message": error.message}}
    if error.details:
        body["error"]["details"] = error.details

    return _reply(ctx, body, error.status, None)


def handle(
    ctx: Any,
    fn: Callable[[], response.Response],
    *,
    function: str | None = None,
) -> response.Response:
    """Run a handler body; any exception becomes a JSON error reply.

    Writes the invocation's one INFO line: function, call id, status,
    duration and whatever the body added with ``logs.annotate``.
    """
    started = time.monotonic()
    name = function or _call(ctx, "FnName") or "function"
    with logs.invocation_fields(function=name, call_id=_call(ctx, "CallID")) as line:
        try:
            reply = fn()
        except OcifnError as exc:
            if exc.status >= 500:
                logger.error("%s failed: %s", name, exc, exc_info=exc)
            else:
                logger.info("%s refused the request: %s", name, exc)
            line["error"] = exc.code
            reply = failure(ctx, exc)
        except Exception as exc:
            logger.error("%s failed unexpectedly", name, exc_info=exc)
            line["error"] = INTERNAL_ERROR_CODE
            reply = failure(
                ctx,
                OcifnError(
                    INTERNAL_ERROR_MESSAGE, code=INTERNAL_ERROR_CODE, status=500
                ),
            )

        line["status"] = reply.status()
        line["duration_ms"] = round((time.monotonic() - started) * 1000)
        invocation_logger.info("%s", logs.format_fields(line))

    return reply


def _reply(
    ctx: Any, data: Any, status: int, headers: Mapping[str, str] | None
) -> response.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    reply_headers = {"Content-Type": JSON_CONTENT_TYPE}
    reply_headers.update(headers or {})
    if not _through_gateway(ctx):
        # NOTE: fdk adds Fn-Http-Status itself only for gateway calls; a direct
        # invoke would otherwise see 200 for every status but 502 and 504.
        reply_headers[STATUS_HEADER] = str(status)

    return response.Response(
        ctx,
        response_data=body.encode("utf-8"),
        headers=reply_headers,
        status_code=status,
    )


def _through_gateway(ctx: Any) -> bool:
    headers = _call(ctx, "Headers") or {}

    return headers.get(GATEWAY_INTENT_HEADER) == GATEWAY_INTENT


def _call(ctx: Any, method: str) -> Any:
    getter = getattr(ctx, method, None)

    return getter() if callable(getter) else None
