"""Errors of the bundle, one subclass per failure domain.

The tree::

    OcifnError                  base: code, message, status, retryable
    +-- ConfigError             a config key is missing or malformed (500)
    +-- SecretError             Vault could not give a secret (502)
    |   +-- SecretNotFound      no such secret (404)
    |   +-- SecretNotAllowed    not on the allow-list (403)
    +-- StreamError             Streaming refused or failed (503)
    +-- DatabaseError           the database failed (503)
    |   +-- DatabaseAuthError   the database refused the credentials (503)
    |   +-- ConnectionLost      the open connection is no longer usable (503)
    +-- InputError              the caller sent something unusable (400)
        +-- PayloadTooLarge     the body or batch is over a limit (413)

Errors carry context for the log (the operation, an OCID, a partition and
offset, the ``opc-request-id``) and details for the caller (counts, positions),
never a payload, a password or a secret's content.
SDK and driver errors are converted where the call is made, with
``raise ... from exc``, so the original stays attached for the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OcifnError(Exception):
    """Base error: a stable code, an HTTP status and whether a retry can help."""

    code = "error"
    status = 500
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        context: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.context = dict(context or {})
        self.details = dict(details or {})

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = " ".join(f"{key}={value}" for key, value in self.context.items())

        return f"{self.message} ({details})"


class ConfigError(OcifnError):
    """A configuration key is missing or does not hold what it should."""

    code = "config_error"
    status = 500


class SecretError(OcifnError):
    """Vault could not give the secret."""

    code = "secret_error"
    status = 502
    retryable = True


class SecretNotFound(SecretError):
    """The secret does not exist (or has no current version)."""

    code = "not_found"
    status = 404
    retryable = False


class SecretNotAllowed(SecretError):
    """The secret is not one this function may return."""

    code = "not_allowed"
    status = 403
    retryable = False


class StreamError(OcifnError):
    """Streaming refused a request or could not be reached."""

    code = "stream_error"
    status = 503
    retryable = True


class DatabaseError(OcifnError):
    """The database failed; nothing of the failed transaction was kept."""

    code = "database_error"
    status = 503
    retryable = True


class DatabaseAuthError(DatabaseError):
    """The database refused the credentials of the connection secret."""

    code = "database_auth_error"


class ConnectionLost(DatabaseError):
    """The open connection is no longer usable; a new connection may work."""

    code = "database_connection_lost"


class InputError(OcifnError):
    """The caller sent something that cannot be used."""

    code = "invalid_input"
    status = 400


class PayloadTooLarge(InputError):
    """The body or the batch is over a configured limit."""

    code = "payload_too_large"
    status = 413


def service_error_context(exc: Exception) -> dict[str, Any]:
    """The safe context of an OCI SDK ServiceError: status, code, request id."""
    context: dict[str, Any] = {}
    for attribute, key in (
        ("status", "status"),
        ("code", "service_code"),
        ("request_id", "opc_request_id"),
    ):
        value = getattr(exc, attribute, None)
        if value is not None:
            context[key] = value

    return context
