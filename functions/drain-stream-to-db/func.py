"""drain-stream-to-db: move what the stream holds into the database."""

from __future__ import annotations

import io
from typing import Any

from ocifn import logs, responses
from ocifn.drain import DrainFunction
from ocifn.secrets import SecretReader, make_secrets_client
from ocifn.settings import DrainSettings

FUNCTION_NAME = "drain-stream-to-db"

_function: DrainFunction | None = None


def handler(ctx: Any, data: io.BytesIO | None = None) -> Any:
    """fdk entry point; the request body is not used."""
    return responses.handle(ctx, lambda: _invoke(ctx), function=FUNCTION_NAME)


def _invoke(ctx: Any) -> Any:
    function = _get_function(ctx.Config())

    summary = function.run(ctx.Deadline())

    return responses.success(ctx, summary)


def _get_function(config: Any) -> DrainFunction:
    global _function
    if _function is None:
        settings = DrainSettings.from_mapping(config)
        logs.configure_function_logging(settings.log_level)
        reader = SecretReader(
            make_secrets_client(settings.secrets_endpoint),
            ttl_seconds=settings.secret_ttl_seconds,
        )
        _function = DrainFunction(settings, reader)

    return _function
