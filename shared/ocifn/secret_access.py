"""read-secret's logic: which secret was asked for, and whether it may be given.

A request names a secret by ``GET .../secrets/{name}`` through the gateway, or
by a JSON body ``{"name": ...}`` or ``{"secret_id": ...}`` through invoke. Only
names on the allow-list are answered; an OCID is answered only when it is the
OCID of an allowed name in the configured vault. Content is never logged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from ocifn import logs
from ocifn.errors import InputError, SecretNotAllowed, SecretNotFound
from ocifn.records import UnusableJson, load_json
from ocifn.secrets import Secret, SecretReader
from ocifn.settings import ReadSecretSettings

PATH_SEGMENT = "secrets"
NO_STORE_HEADERS = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class SecretRequest:
    """A secret asked for by name or by OCID (exactly one is set)."""

    name: str | None = None
    secret_id: str | None = None


def parse_secret_request(request_url: str | None, body: bytes) -> SecretRequest:
    """The secret named in the URL path, else in the JSON body; InputError if none."""
    name = name_from_url(request_url)
    if name is not None:
        return SecretRequest(name=name)

    if not body.strip():
        raise InputError(
            "name the secret: GET /secrets/{name}, or a body "
            '{"name": ...} or {"secret_id": ...}'
        )
    try:
        document = load_json(body.decode("utf-8"))
    except UnusableJson as exc:
        raise InputError(f"body {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("body is not a UTF-8 JSON object") from exc
    if not isinstance(document, dict):
        raise InputError("body must be a JSON object")

    name = document.get("name")
    secret_id = document.get("secret_id")
    if (name is None) == (secret_id is None):
        raise InputError('body must hold exactly one of "name" and "secret_id"')
    for field, value in (("name", name), ("secret_id", secret_id)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InputError(f"{field} must be a non-empty string")

    return SecretRequest(name=name, secret_id=secret_id)


def name_from_url(request_url: str | None) -> str | None:
    """The URL-decoded ``{name}`` of a ``.../secrets/{name}`` path, if there is one."""
    if not request_url:
        return None

    segments = urlsplit(request_url).path.split("/")
    for position in range(len(segments) - 2, -1, -1):
        if segments[position] == PATH_SEGMENT:
            name = unquote(segments[position + 1])
            if not name.strip():
                raise InputError("the secret name in the path is empty")
            return name

    return None


def secret_reply(secret: Secret, name: str) -> dict[str, Any]:
    """The reply body: text when the content is UTF-8, base64 otherwise."""
    try:
        content, encoding = secret.content.decode("utf-8"), "text"
    except UnicodeDecodeError:
        content, encoding = base64.b64encode(secret.content).decode("ascii"), "base64"

    return {
        "name": name,
        "version": secret.version,
        "encoding": encoding,
        "content": content,
    }


class SecretAccess:
    """Answers secret requests against the allow-list of the settings."""

    def __init__(
        self, settings: ReadSecretSettings, reader_factory: Callable[[], SecretReader]
    ) -> None:
        self._settings = settings
        self._reader_factory = reader_factory
        self._reader: SecretReader | None = None

    def fetch(self, request: SecretRequest) -> dict[str, Any]:
        """The reply for an allowed secret; SecretNotAllowed or SecretNotFound."""
        if request.name is not None:
            self._check_allowed(request.name)
            secret = self._reader_or_build().read_by_name(
                request.name, self._settings.vault_id
            )
            logs.annotate(secret=request.name, version=secret.version)
            return secret_reply(secret, request.name)

        name, secret = self._find_allowed_by_id(request.secret_id or "")
        logs.annotate(secret=name, version=secret.version)
        return secret_reply(secret, name)

    def _check_allowed(self, name: str) -> None:
        if name not in self._settings.allowed_secrets:
            raise SecretNotAllowed("this secret may not be read through this function")

    def _find_allowed_by_id(self, secret_id: str) -> tuple[str, Secret]:
        reader = self._reader_or_build()
        for name in sorted(self._settings.allowed_secrets):
            try:
                secret = reader.read_by_name(name, self._settings.vault_id)
            except SecretNotFound:
                continue
            if secret.secret_id == secret_id:
                return name, secret

        raise SecretNotAllowed("this secret may not be read through this function")

    def _reader_or_build(self) -> SecretReader:
        if self._reader is None:
            self._reader = self._reader_factory()

        return self._reader
