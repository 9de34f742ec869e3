"""The smallest fdk function: answers "ok". The cold-start baseline."""

from __future__ import annotations

import io
from typing import Any

from fdk import response


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    """fdk entry point."""
    return response.Response(ctx, response_data="ok")
