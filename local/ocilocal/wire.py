"""How values travel over HTTP: JSON replies, OCI timestamps, request bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, overload

from aiohttp import web

from ocilocal.errors import BadRequest


def json_reply(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON reply (the opc-request-id header is added by the error middleware)."""
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        headers=headers,
    )


def format_time(epoch_ms: int | float) -> str:
    """Milliseconds since the epoch as OCI writes times: RFC 3339, UTC, millis."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> int:
    """An RFC 3339 time to milliseconds since the epoch."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"Invalid time: {text!r}.") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or 400."""
    raw = await request.read()
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        raise BadRequest("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


@overload
def query_int(request: web.Request, name: str, default: int) -> int: ...


@overload
def query_int(request: web.Request, name: str, default: None = None) -> int | None: ...


def query_int(
    request: web.Request, name: str, default: int | None = None
) -> int | None:
    """An integer query parameter, or 400 when it is not one."""
    value = request.query.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest(f"Query parameter {name} must be an integer.") from exc
