"""Reading secrets from OCI Vault, with a TTL cache.

A secret is read by OCID or by name within a vault, its base64 content decoded
strictly, and kept for ``ttl_seconds``. ``invalidate`` drops cached secrets so
the next read goes to Vault again (after the database refused a password, for
example). Content never reaches a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import oci

from ocifn import auth
from ocifn.errors import SecretError, SecretNotFound, service_error_context

logger = logging.getLogger(__name__)

RETRY_ATTEMPTS = 3
RETRY_TOTAL_SECONDS = 10


@dataclass(frozen=True)
class Secret:
    """One version of a secret; ``repr`` hides the content."""

    secret_id: str
    version: int
    name: str | None
    content: bytes = field(repr=False)

    def json_object(self) -> dict[str, Any]:
        """The content as a JSON object; SecretError (without the content) if not."""
        try:
            value = json.loads(self.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SecretError(
                "secret content is not JSON",
                retryable=False,
                context={"secret_id": self.secret_id, "version": self.version},
            ) from exc
        if not isinstance(value, dict):
            raise SecretError(
                "secret content is not a JSON object",
                retryable=False,
                context={"secret_id": self.secret_id, "version": self.version},
            )

        return value


def make_secrets_client(endpoint: str | None = None) -> Any:
    """A SecretsClient with the process credentials, at ``endpoint`` if given.

    Throttled and failed reads are retried a few times within seconds, not
    with the SDK's default strategy, which may retry for ten minutes.
    """
    credentials = auth.get_credentials()
    kwargs = credentials.client_kwargs()
    kwargs["retry_strategy"] = oci.retry.RetryStrategyBuilder(
        max_attempts=RETRY_ATTEMPTS,
        total_elapsed_time_seconds=RETRY_TOTAL_SECONDS,
    ).get_retry_strategy()
    if endpoint:
        kwargs["service_endpoint"] = endpoint

    return oci.secrets.SecretsClient(**kwargs)


class SecretReader:
    """Reads secret bundles and caches them for ``ttl_seconds``."""

    def __init__(
        self,
        client: Any,
        *,
        ttl_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Secret]] = {}
        self._lock = threading.Lock()

    def read(self, secret_id: str) -> Secret:
        """The current version of the secret with this OCID."""
        return self._cached(
            ("id", secret_id),
            lambda: self._client.get_secret_bundle(secret_id),
            name=None,
            context={"secret_id": secret_id},
        )

    def read_by_name(self, name: str, vault_id: str) -> Secret:
        """The current version of the secret called ``name`` in the vault."""
        return self._cached(
            ("name", vault_id, name),
            lambda: self._client.get_secret_bundle_by_name(name, vault_id),
            name=name,
            context={"secret_name": name, "vault_id": vault_id},
        )

    def invalidate(self, secret_id: str | None = None) -> None:
        """Forget one secret (every way it was read), or all when no OCID is given."""
        with self._lock:
            if secret_id is None:
                self._cache.clear()
                return

            for key, (_, secret) in list(self._cache.items()):
                if secret.secret_id == secret_id or key == ("id", secret_id):
                    del self._cache[key]

    def _cached(
        self,
        key: tuple[str, ...],
        fetch: Callable[[], Any],
        *,
        name: str | None,
        context: dict[str, str],
    ) -> Secret:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl_seconds:
            return hit[1]

        secret = self._fetch(fetch, name=name, context=context)

        with self._lock:
            self._cache[key] = (now, secret)

        return secret

    def _fetch(
        self, fetch: Callable[[], Any], *, name: str | None, context: dict[str, str]
    ) -> Secret:
        try:
            bundle = fetch().data
        except oci.exceptions.ServiceError as exc:
            details = {"operation": "get_secret_bundle", **context}
            details.update(service_error_context(exc))
            if exc.status == 404:
                raise SecretNotFound("secret not found", context=details) from exc
            retryable = exc.status in (409, 429) or exc.status >= 500
            raise SecretError(
                "Vault refused the secret request",
                retryable=retryable,
                context=details,
            ) from exc
        except oci.exceptions.RequestException as exc:
            raise SecretError(
                "Vault could not be reached",
                context={"operation": "get_secret_bundle", **context},
            ) from exc

        content = _decode_content(bundle, context)
        logger.debug(
            "read secret %s version %s", bundle.secret_id, bundle.version_number
        )

        return Secret(
            secret_id=bundle.secret_id,
            version=bundle.version_number,
            name=name,
            content=content,
        )


def _decode_content(bundle: Any, context: dict[str, str]) -> bytes:
    details = bundle.secret_bundle_content
    content_type = getattr(details, "content_type", None)
    if content_type != "BASE64" or details.content is None:
        raise SecretError(
            "secret bundle has no base64 content",
            retryable=False,
            context={"content_type": content_type, **context},
        )

    try:
        return base64.b64decode(details.content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretError(
            "secret bundle content is not valid base64",
            retryable=False,
            context=context,
        ) from exc
