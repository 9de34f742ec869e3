"""publish-message: validate a person or a batch and put it on the stream."""

from __future__ import annotations

import io
from typing import Any

from ocifn import logs, responses
from ocifn.publishing import PublishFunction
from ocifn.settings import PublishSettings
from ocifn.streaming import Publisher, make_stream_client

FUNCTION_NAME = "publish-message"

_function: PublishFunction | None = None


def handler(ctx: Any, data: io.BytesIO | None = None) -> Any:
    """fdk entry point."""
    return responses.handle(ctx, lambda: _invoke(ctx, data), function=FUNCTION_NAME)


def _invoke(ctx: Any, data: io.BytesIO | None) -> Any:
    function = _get_function(ctx.Config())

    reply = function.publish(responses.read_body(data))

    return responses.success(ctx, reply)


def _get_function(config: Any) -> PublishFunction:
    global _function
    if _function is None:
        settings = PublishSettings.from_mapping(config)
        logs.configure_function_logging(settings.log_level)
        _function = PublishFunction(
            settings,
            lambda: Publisher(
                make_stream_client(settings.messages_endpoint), settings.stream_id
            ),
        )

    return _function
