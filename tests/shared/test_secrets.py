"""Tests of ocifn.secrets: strict decoding of real SDK bundle models."""

from __future__ import annotations

import base64

import pytest
from oci.secrets.models import Base64SecretBundleContentDetails, SecretBundle
from ocifn.errors import SecretError
from ocifn.secrets import Secret, _decode_content


def bundle(content):
    return SecretBundle(
        secret_id="ocid1.vaultsecret.oc1.phx.example",
        version_number=2,
        secret_bundle_content=Base64SecretBundleContentDetails(
            content_type="BASE64", content=content
        ),
    )


def test_decode_content_valid_base64_gives_bytes():
    """The bundle's base64 content decodes to the stored bytes."""
    content = base64.b64encode(b"hello").decode()

    assert _decode_content(bundle(content), {}) == b"hello"


@pytest.mark.parametrize("content", ["aGVsbG8", "aGVs bG8=", "not*base64"])
def test_decode_content_loose_base64_is_refused(content):
    """Padding errors and stray characters fail; the content is not echoed."""
    with pytest.raises(SecretError) as raised:
        _decode_content(bundle(content), {"secret_id": "x"})

    assert content not in str(raised.value)
    assert raised.value.retryable is False


def test_secret_json_object_not_json_hides_content():
    """A secret that should be JSON and is not fails without showing it."""
    secret = Secret("ocid1.vaultsecret.x", 1, None, b"password=hunter2")

    with pytest.raises(SecretError) as raised:
        secret.json_object()

    assert "hunter2" not in str(raised.value)


def test_secret_json_object_object_content_gives_dict():
    """Connection secrets are JSON objects."""
    secret = Secret("ocid1.vaultsecret.x", 1, None, b'{"backend": "sqlite"}')

    assert secret.json_object() == {"backend": "sqlite"}
