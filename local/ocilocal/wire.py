"""How values travel over HTTP: JSON replies, OCI timestamps, request bodies.

Request fields are read through `Fields` and query parameters through
`query_int`, so a value of the wrong type or out of range is a 400
InvalidParameter naming the field, never a 500 from deeper down.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, overload

from aiohttp import web

from ocilocal.errors import BadRequest

# OCI's `long`, and SQLite's INTEGER: no integer field goes beyond it.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


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
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadRequest(f"Invalid time: {text!r}.") from exc


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


def _range_text(minimum: int, maximum: int) -> str:
    if maximum == INT64_MAX:
        return f"an integer of at least {minimum}"
    return f"an integer from {minimum} to {maximum}"


@overload
def query_int(
    request: web.Request,
    name: str,
    default: int,
    *,
    minimum: int = INT64_MIN,
    maximum: int = INT64_MAX,
) -> int: ...


@overload
def query_int(
    request: web.Request,
    name: str,
    default: None = None,
    *,
    minimum: int = INT64_MIN,
    maximum: int = INT64_MAX,
) -> int | None: ...


def query_int(
    request: web.Request,
    name: str,
    default: int | None = None,
    *,
    minimum: int = INT64_MIN,
    maximum: int = INT64_MAX,
) -> int | None:
    """An integer query parameter within bounds, or 400; `default` when absent."""
    value = request.query.get(name)
    if value is None:
        return default

    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise BadRequest(
            f"Query parameter {name} must be {_range_text(minimum, maximum)}."
        )
    return number


class Fields:
    """The fields of a JSON object, each read as one type or refused with 400.

    Absent and null mean the same: the default, or 400 for a required field. A
    message names the field by its path (``secretContent.name``).
    """

    def __init__(self, body: Mapping[str, Any], *, path: str = "") -> None:
        self.body = body
        self.path = path

    def label(self, name: str) -> str:
        """The field's name as a message shows it."""
        return f"{self.path}.{name}" if self.path else name

    def string(self, name: str) -> str | None:
        """A string, or None when absent."""
        value = self.body.get(name)
        if value is None:
            return None

        if not isinstance(value, str):
            raise BadRequest(f"{self.label(name)} must be a string.")
        return value

    def required_string(self, name: str) -> str:
        """A string that is present and not empty."""
        value = self.string(name)
        if not value:
            raise BadRequest(f"{self.label(name)} is required.")
        return value

    def choice(self, name: str, options: Collection[str]) -> str:
        """A string that is one of `options`."""
        value = self.body.get(name)
        if not isinstance(value, str) or value not in options:
            raise BadRequest(f"{self.label(name)} must be one of {sorted(options)}.")
        return value

    @overload
    def integer(
        self,
        name: str,
        *,
        default: int,
        minimum: int = INT64_MIN,
        maximum: int = INT64_MAX,
        digits_allowed: bool = False,
    ) -> int: ...

    @overload
    def integer(
        self,
        name: str,
        *,
        default: None = None,
        minimum: int = INT64_MIN,
        maximum: int = INT64_MAX,
        digits_allowed: bool = False,
    ) -> int | None: ...

    def integer(
        self,
        name: str,
        *,
        default: int | None = None,
        minimum: int = INT64_MIN,
        maximum: int = INT64_MAX,
        digits_allowed: bool = False,
    ) -> int | None:
        """An integer (not a boolean, not a float) within bounds; `default` if absent.

        With `digits_allowed`, a string of decimal digits counts too, as OCI
        sends a partition number.
        """
        value = self.body.get(name)
        if value is None:
            return default

        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif digits_allowed and isinstance(value, str):
            # NOTE: a string of over 4300 digits is a ValueError, like "1.5"
            with contextlib.suppress(ValueError):
                number = int(value) if value.isascii() and value.isdigit() else None
        if number is None or not minimum <= number <= maximum:
            raise BadRequest(
                f"{self.label(name)} must be {_range_text(minimum, maximum)}."
            )
        return number

    def required_integer(
        self,
        name: str,
        *,
        minimum: int = INT64_MIN,
        maximum: int = INT64_MAX,
        digits_allowed: bool = False,
    ) -> int:
        """An integer within bounds that is present."""
        number = self.integer(
            name, minimum=minimum, maximum=maximum, digits_allowed=digits_allowed
        )
        if number is None:
            raise BadRequest(f"{self.label(name)} is required.")
        return number

    def boolean(self, name: str, *, default: bool) -> bool:
        """true or false; `default` when absent."""
        value = self.body.get(name)
        if value is None:
            return default

        if not isinstance(value, bool):
            raise BadRequest(f"{self.label(name)} must be true or false.")
        return value

    def mapping(self, name: str) -> dict[str, Any] | None:
        """A JSON object, or None when absent."""
        value = self.body.get(name)
        if value is None:
            return None

        if not isinstance(value, dict):
            raise BadRequest(f"{self.label(name)} must be a JSON object.")
        return value

    def array(self, name: str) -> list[Any] | None:
        """A JSON array, or None when absent."""
        value = self.body.get(name)
        if value is None:
            return None

        if not isinstance(value, list):
            raise BadRequest(f"{self.label(name)} must be a JSON array.")
        return value

    def nested(self, name: str) -> Fields | None:
        """The fields of a JSON object inside this one, or None when absent."""
        value = self.mapping(name)
        return None if value is None else Fields(value, path=self.label(name))

    def time(self, name: str) -> int:
        """A required RFC 3339 time, as milliseconds since the epoch."""
        text = self.required_string(name)
        try:
            return parse_time(text)
        except BadRequest as exc:
            raise BadRequest(f"{self.label(name)} is not an RFC 3339 time.") from exc


async def read_fields(request: web.Request) -> Fields:
    """The request body's fields (400 unless the body is a JSON object)."""
    return Fields(await read_json(request))
