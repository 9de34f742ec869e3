"""read-secret: return one allow-listed secret from OCI Vault."""

from __future__ import annotations

import io
from typing import Any

from ocifn import logs, responses
from ocifn.secret_access import NO_STORE_HEADERS, SecretAccess, parse_secret_request
from ocifn.secrets import SecretReader, make_secrets_client
from ocifn.settings import ReadSecretSettings

FUNCTION_NAME = "read-secret"

_access: SecretAccess | None = None


def handler(ctx: Any, data: io.BytesIO | None = None) -> Any:
    """fdk entry point."""
    return responses.handle(ctx, lambda: _invoke(ctx, data), function=FUNCTION_NAME)


def _invoke(ctx: Any, data: io.BytesIO | None) -> Any:
    access = _get_access(ctx.Config())
    request = parse_secret_request(ctx.RequestURL(), responses.read_body(data))

    reply = access.fetch(request)

    return responses.success(ctx, reply, headers=NO_STORE_HEADERS)


def _get_access(config: Any) -> SecretAccess:
    global _access
    if _access is None:
        settings = ReadSecretSettings.from_mapping(config)
        logs.configure_function_logging(settings.log_level)
        _access = SecretAccess(
            settings,
            lambda: SecretReader(
                make_secrets_client(settings.secrets_endpoint),
                ttl_seconds=settings.secret_ttl_seconds,
            ),
        )

    return _access
