"""Tests of ocifn.secret_access: naming a secret, the allow-list, the reply."""

from __future__ import annotations

import pytest
from ocifn.errors import InputError, SecretNotAllowed
from ocifn.secret_access import (
    SecretAccess,
    SecretRequest,
    parse_secret_request,
    secret_reply,
)
from ocifn.secrets import Secret
from ocifn.settings import ReadSecretSettings

SETTINGS = ReadSecretSettings(
    vault_id="ocid1.vault.oc1.phx.example", allowed_secrets=frozenset({"greeting"})
)


def no_reader():
    raise AssertionError("Vault must not be asked for a refused secret")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/v1/secrets/greeting", "greeting"),
        ("http://127.0.0.1:8080/v1/secrets/greeting?x=1", "greeting"),
        ("/secrets/my%20secret", "my secret"),
    ],
)
def test_parse_secret_request_gateway_path_gives_decoded_name(url, name):
    """The name is the URL-decoded segment after /secrets/."""
    assert parse_secret_request(url, b"") == SecretRequest(name=name)


def test_parse_secret_request_invoke_body_gives_name_or_id():
    """Through invoke the body names the secret or its OCID."""
    by_name = parse_secret_request("/", b'{"name": "greeting"}')
    by_id = parse_secret_request(None, b'{"secret_id": "ocid1.vaultsecret.x"}')

    assert by_name == SecretRequest(name="greeting")
    assert by_id == SecretRequest(secret_id="ocid1.vaultsecret.x")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"nope",
        b"[]",
        b"{}",
        b'{"name": "a", "secret_id": "b"}',
        b'{"name": 5}',
        b"[" * 100_000,
        b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"name": "db-connection", "name": "greeting"}',
    ],
)
def test_parse_secret_request_unusable_body_is_400(body):
    """Without exactly one usable name or OCID the request is refused."""
    with pytest.raises(InputError) as raised:
        parse_secret_request("/", body)

    assert raised.value.status == 400


def test_secret_access_name_not_allowed_is_403_without_vault_call():
    """A name off the allow-list is refused before any Vault call."""
    access = SecretAccess(SETTINGS, no_reader)

    with pytest.raises(SecretNotAllowed) as raised:
        access.fetch(SecretRequest(name="db-connection"))

    assert raised.value.status == 403
    assert raised.value.code == "not_allowed"


def test_secret_reply_utf8_content_is_text():
    """UTF-8 content is returned as text with its version."""
    secret = Secret("ocid1.vaultsecret.x", 3, "greeting", "héllo".encode())

    assert secret_reply(secret, "greeting") == {
        "name": "greeting",
        "version": 3,
        "encoding": "text",
        "content": "héllo",
    }


def test_secret_reply_binary_content_is_base64():
    """Content that is not UTF-8 is returned base64-encoded."""
    secret = Secret("ocid1.vaultsecret.x", 1, "blob", b"\xff\x00")

    reply = secret_reply(secret, "blob")

    assert reply["encoding"] == "base64"
    assert reply["content"] == "/wA="


def test_secret_repr_hides_content():
    """A secret's content never appears in its repr (and so in a log)."""
    secret = Secret("ocid1.vaultsecret.x", 1, "greeting", b"top secret")

    assert "top secret" not in repr(secret)
