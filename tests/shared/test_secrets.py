"""Tests of ocifn.secrets: strict decoding, and SecretReader over the local Vault.

SecretReader is read against the real local cloud over HTTP with the OCI SDK;
its clock is one the tests move by hand.
"""

from __future__ import annotations

import base64
from types import SimpleNamespace

import oci
import pytest
import vault_secrets
from cloud_process import free_port
from oci.secrets.models import Base64SecretBundleContentDetails, SecretBundle
from ocifn.errors import SecretError, SecretNotFound
from ocifn.secrets import Secret, SecretReader, _decode_content
from ocilocal.identity import load_or_create_key


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


class RecordingSecretsClient:
    """Forwards every call to a real SecretsClient and records the method name.

    It adds nothing else: each request still goes over HTTP to the local
    cloud's Vault. The tests count requests with it.
    """

    def __init__(self, client: oci.secrets.SecretsClient) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def forward(*args, **kwargs):
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return forward


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def create_secret(local_cloud, vaults_client, content: bytes) -> tuple[str, str]:
    """A new secret in the local vault; its OCID and name."""
    name = vault_secrets.new_secret_name()

    return vault_secrets.create_secret(
        vaults_client, local_cloud, content, name=name
    ), name


def new_version(vaults_client, secret_id: str, content: bytes) -> None:
    """Make ``content`` the secret's new CURRENT version."""
    vault_secrets.new_version(vaults_client, secret_id, content)


@pytest.fixture
def recording(secrets_client):
    return RecordingSecretsClient(secrets_client)


@pytest.fixture
def clock():
    return Clock()


def test_secret_reader_read_gives_current_version_bytes(
    local_cloud, vaults_client, recording, clock
):
    """A read returns the current version's exact bytes, even when not UTF-8."""
    secret_id, _ = create_secret(local_cloud, vaults_client, b"\xff\x00first")
    new_version(vaults_client, secret_id, b"\xfe\x00second")

    secret = SecretReader(recording, clock=clock).read(secret_id)

    assert secret == Secret(secret_id, 2, None, b"\xfe\x00second")
    assert recording.calls == ["get_secret_bundle"]


def test_secret_reader_second_read_within_ttl_makes_no_request(
    local_cloud, vaults_client, recording, clock
):
    """Within the TTL the cached version is returned, even after a new one."""
    secret_id, _ = create_secret(local_cloud, vaults_client, b"first")
    reader = SecretReader(recording, ttl_seconds=60, clock=clock)
    reader.read(secret_id)
    new_version(vaults_client, secret_id, b"second")

    clock.advance(59.9)
    secret = reader.read(secret_id)

    assert (secret.version, secret.content) == (1, b"first")
    assert recording.calls == ["get_secret_bundle"]


def test_secret_reader_read_at_ttl_gets_new_version(
    local_cloud, vaults_client, recording, clock
):
    """Once the TTL has passed, the next read asks Vault and sees the new version."""
    secret_id, _ = create_secret(local_cloud, vaults_client, b"first")
    reader = SecretReader(recording, ttl_seconds=60, clock=clock)
    reader.read(secret_id)
    new_version(vaults_client, secret_id, b"second")

    clock.advance(60)
    secret = reader.read(secret_id)

    assert (secret.version, secret.content) == (2, b"second")
    assert recording.calls == ["get_secret_bundle", "get_secret_bundle"]


def test_secret_reader_invalidate_forces_reread_within_ttl(
    local_cloud, vaults_client, recording, clock
):
    """invalidate(ocid) drops that secret only; the next read goes to Vault."""
    changed, _ = create_secret(local_cloud, vaults_client, b"old")
    other, _ = create_secret(local_cloud, vaults_client, b"other")
    reader = SecretReader(recording, clock=clock)
    reader.read(changed)
    reader.read(other)
    new_version(vaults_client, changed, b"new")

    reader.invalidate(changed)
    secret = reader.read(changed)
    reader.read(other)

    assert (secret.version, secret.content) == (2, b"new")
    assert recording.calls == ["get_secret_bundle"] * 3


def test_secret_reader_invalidate_all_forgets_every_secret(
    local_cloud, vaults_client, recording, clock
):
    """invalidate() with no OCID makes every next read ask Vault again."""
    first, _ = create_secret(local_cloud, vaults_client, b"one")
    second, second_name = create_secret(local_cloud, vaults_client, b"two")
    reader = SecretReader(recording, clock=clock)
    reader.read(first)
    reader.read_by_name(second_name, local_cloud["vault_id"])

    reader.invalidate()
    reader.read(first)
    reader.read_by_name(second_name, local_cloud["vault_id"])

    assert (
        recording.calls
        == [
            "get_secret_bundle",
            "get_secret_bundle_by_name",
        ]
        * 2
    )


def test_secret_reader_read_by_name_gives_named_secret_and_caches_it(
    local_cloud, vaults_client, recording, clock
):
    """A read by name finds the secret in the vault and is cached by that name."""
    secret_id, name = create_secret(local_cloud, vaults_client, b"by name")
    reader = SecretReader(recording, clock=clock)

    secret = reader.read_by_name(name, local_cloud["vault_id"])
    again = reader.read_by_name(name, local_cloud["vault_id"])

    assert secret == Secret(secret_id, 1, name, b"by name")
    assert again is secret
    assert recording.calls == ["get_secret_bundle_by_name"]


def test_secret_reader_invalidate_ocid_drops_reads_by_name(
    local_cloud, vaults_client, recording, clock
):
    """Invalidating an OCID also forgets the secret read by its name."""
    secret_id, name = create_secret(local_cloud, vaults_client, b"old")
    reader = SecretReader(recording, clock=clock)
    reader.read_by_name(name, local_cloud["vault_id"])
    new_version(vaults_client, secret_id, b"new")

    reader.invalidate(secret_id)
    secret = reader.read_by_name(name, local_cloud["vault_id"])

    assert (secret.version, secret.content) == (2, b"new")
    assert recording.calls == ["get_secret_bundle_by_name"] * 2


def test_secret_reader_missing_secret_raises_not_found_and_is_not_cached(
    local_cloud, recording, clock
):
    """Vault's 404 is SecretNotFound (404, no retry); the next read asks again."""
    reader = SecretReader(recording, clock=clock)
    missing = "ocid1.vaultsecret.oc1.iad.missing"

    with pytest.raises(SecretNotFound) as by_id:
        reader.read(missing)
    with pytest.raises(SecretNotFound):
        reader.read(missing)
    with pytest.raises(SecretNotFound) as by_name:
        reader.read_by_name("missing", local_cloud["vault_id"])

    for raised in (by_id, by_name):
        assert raised.value.status == 404
        assert raised.value.retryable is False
        assert raised.value.context["status"] == 404
        assert raised.value.context["opc_request_id"]
    assert by_id.value.context["secret_id"] == missing
    assert by_name.value.context["secret_name"] == "missing"
    assert recording.calls == [
        "get_secret_bundle",
        "get_secret_bundle",
        "get_secret_bundle_by_name",
    ]


def test_secret_reader_unreachable_vault_raises_retryable_secret_error(
    oci_config, clock
):
    """Vault not answering at all is a SecretError a retry may cure."""
    client = oci.secrets.SecretsClient(
        oci_config,
        service_endpoint=f"http://127.0.0.1:{free_port()}",
        retry_strategy=oci.retry.NoneRetryStrategy(),
        timeout=(2, 2),
    )

    with pytest.raises(SecretError) as raised:
        SecretReader(client, clock=clock).read("ocid1.vaultsecret.oc1.iad.any")

    assert type(raised.value) is SecretError
    assert raised.value.status == 502
    assert raised.value.retryable is True


def test_secret_reader_refused_signature_raises_final_secret_error(
    local_cloud, oci_config, tmp_path, clock
):
    """Vault's 401 for a request signed with the wrong key is not retryable."""
    key_file = tmp_path / "wrong.pem"
    load_or_create_key(key_file)
    client = oci.secrets.SecretsClient(
        {**oci_config, "key_file": str(key_file)},
        service_endpoint=local_cloud["endpoint"],
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )

    with pytest.raises(SecretError) as raised:
        SecretReader(client, clock=clock).read(local_cloud["secrets"]["greeting"])

    assert type(raised.value) is SecretError
    assert raised.value.retryable is False
    assert raised.value.context["status"] == 401


@pytest.mark.parametrize(
    ("status", "service_code"),
    [
        (409, "IncorrectState"),
        (429, "TooManyRequests"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_secret_reader_throttled_or_failing_vault_is_retryable(
    status, service_code, clock
):
    """Vault's 409, 429 and 5xx become a SecretError a retry may cure.

    The local cloud's Vault never throttles or fails, so a client raising the
    SDK's own ServiceError forces these answers.
    """

    class FailingSecretsClient:
        def get_secret_bundle(self, secret_id):
            raise oci.exceptions.ServiceError(
                status, service_code, {"opc-request-id": "req-1"}, "refused"
            )

    with pytest.raises(SecretError) as raised:
        SecretReader(FailingSecretsClient(), clock=clock).read("ocid1.vaultsecret.x")

    assert type(raised.value) is SecretError
    assert raised.value.retryable is True
    assert raised.value.context["service_code"] == service_code
    assert raised.value.context["opc_request_id"] == "req-1"


def test_secret_reader_loose_base64_bundle_raises_and_is_not_cached(clock):
    """A bundle whose content is not strict base64 fails, unechoed, every read.

    The local cloud's Vault refuses such content when a secret is stored, so a
    client returning the SDK's own bundle model forces it.
    """

    class LooseBundleClient:
        def __init__(self) -> None:
            self.reads = 0

        def get_secret_bundle(self, secret_id):
            self.reads += 1
            return SimpleNamespace(data=bundle("aGVs bG8="))

    client = LooseBundleClient()
    reader = SecretReader(client, clock=clock)

    for _ in range(2):
        with pytest.raises(SecretError) as raised:
            reader.read("ocid1.vaultsecret.oc1.phx.example")
        assert raised.value.retryable is False
        assert "aGVs" not in str(raised.value)
    assert client.reads == 2
