"""Vault secrets through the real SDK against the running local cloud."""

from __future__ import annotations

import base64
import json
import uuid

import oci
import pytest
import vault_secrets
from oci.vault.models import (
    Base64SecretContentDetails,
    CreateSecretDetails,
)
from signed_requests import assert_invalid_parameter, send_json


def content_of(bundle) -> str:
    return base64.b64decode(bundle.secret_bundle_content.content).decode()


def create_secret(local_cloud, vaults_client, text: str) -> str:
    return vault_secrets.create_secret(vaults_client, local_cloud, text.encode())


def new_version(vaults_client, secret_id: str, text: str, stage: str = "CURRENT"):
    return vault_secrets.new_version(
        vaults_client, secret_id, text.encode(), stage=stage
    )


def test_secret_bundle_bootstrap_secrets_hold_connection_details(
    local_cloud, secrets_client
):
    secrets = local_cloud["secrets"]

    stream = json.loads(
        content_of(secrets_client.get_secret_bundle(secrets["stream-connection"]).data)
    )
    database = json.loads(
        content_of(secrets_client.get_secret_bundle(secrets["db-connection"]).data)
    )
    greeting = secrets_client.get_secret_bundle(secrets["greeting"]).data

    assert stream == {
        "streamMessagesEndpoint": local_cloud["endpoint"],
        "streamOCID": local_cloud["streams"]["people"]["id"],
    }
    assert database == {"backend": "sqlite", "path": local_cloud["database"]}
    assert content_of(greeting) == "hello from the local vault"
    assert greeting.secret_bundle_content.content_type == "BASE64"
    assert "CURRENT" in greeting.stages


def test_secret_bundle_by_name_matches_bundle_by_ocid(local_cloud, secrets_client):
    by_name = secrets_client.get_secret_bundle_by_name(
        secret_name="greeting", vault_id=local_cloud["vault_id"]
    ).data

    assert by_name.secret_id == local_cloud["secrets"]["greeting"]
    assert content_of(by_name) == "hello from the local vault"


def test_update_secret_new_content_becomes_current(
    local_cloud, vaults_client, secrets_client
):
    secret_id = create_secret(local_cloud, vaults_client, "first")

    updated = new_version(vaults_client, secret_id, "second")
    current = secrets_client.get_secret_bundle(secret_id).data
    previous = secrets_client.get_secret_bundle(secret_id, stage="PREVIOUS").data
    first = secrets_client.get_secret_bundle(secret_id, version_number=1).data

    assert updated.current_version_number == 2
    assert (current.version_number, content_of(current)) == (2, "second")
    assert sorted(current.stages) == ["CURRENT", "LATEST"]
    assert (previous.version_number, content_of(previous)) == (1, "first")
    assert content_of(first) == "first"


def test_update_secret_pending_version_leaves_current(
    local_cloud, vaults_client, secrets_client
):
    secret_id = create_secret(local_cloud, vaults_client, "live")

    new_version(vaults_client, secret_id, "staged", stage="PENDING")
    current = secrets_client.get_secret_bundle(secret_id).data
    pending = secrets_client.get_secret_bundle(secret_id, stage="PENDING").data
    latest = secrets_client.get_secret_bundle(secret_id, stage="LATEST").data

    assert content_of(current) == "live"
    assert content_of(pending) == "staged"
    assert latest.version_number == 2


def test_list_secret_versions_marks_older_deprecated(local_cloud, vaults_client):
    secret_id = create_secret(local_cloud, vaults_client, "v1")
    new_version(vaults_client, secret_id, "v2")
    new_version(vaults_client, secret_id, "v3")

    versions = vaults_client.list_secret_versions(secret_id).data

    stages = {version.version_number: sorted(version.stages) for version in versions}
    assert stages == {3: ["CURRENT", "LATEST"], 2: ["PREVIOUS"], 1: ["DEPRECATED"]}


def test_create_secret_existing_name_answers_409(local_cloud, vaults_client):
    details = CreateSecretDetails(
        compartment_id=local_cloud["compartment_id"],
        vault_id=local_cloud["vault_id"],
        secret_name="greeting",
        key_id="ocid1.key.oc1.iad.local",
        secret_content=Base64SecretContentDetails(
            content_type="BASE64", content="eA=="
        ),
    )

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        vaults_client.create_secret(details)

    assert caught.value.status == 409


def test_secret_bundle_missing_answers_404_not_authorized_or_not_found(
    local_cloud, secrets_client
):
    with pytest.raises(oci.exceptions.ServiceError) as by_id:
        secrets_client.get_secret_bundle("ocid1.vaultsecret.oc1.iad.missing")
    with pytest.raises(oci.exceptions.ServiceError) as by_name:
        secrets_client.get_secret_bundle_by_name(
            secret_name="missing", vault_id=local_cloud["vault_id"]
        )

    for caught in (by_id, by_name):
        assert caught.value.status == 404
        assert caught.value.code == "NotAuthorizedOrNotFound"


def test_list_secrets_and_get_vault_show_bootstrap(
    local_cloud, vaults_client, kms_vault_client
):
    secrets = vaults_client.list_secrets(
        local_cloud["compartment_id"], vault_id=local_cloud["vault_id"]
    ).data
    vault = kms_vault_client.get_vault(local_cloud["vault_id"]).data
    secret = vaults_client.get_secret(local_cloud["secrets"]["greeting"]).data

    names = {summary.secret_name for summary in secrets}
    assert {"stream-connection", "db-connection", "greeting"} <= names
    assert vault.display_name == "local-vault"
    assert vault.lifecycle_state == "ACTIVE"
    assert secret.secret_name == "greeting"


def secret_body(local_cloud, **changes) -> dict:
    """A CreateSecret body as the SDK sends it, with some fields changed."""
    body = {
        "compartmentId": local_cloud["compartment_id"],
        "vaultId": local_cloud["vault_id"],
        "secretName": f"test-{uuid.uuid4().hex[:8]}",
        "keyId": "ocid1.key.oc1.iad.local",
        "secretContent": {"contentType": "BASE64", "content": "eA=="},
    }
    return {**body, **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"secretName": 5}, "secretName"),
        ({"secretName": ["greeting"]}, "secretName"),
        ({"vaultId": {"id": "x"}}, "vaultId"),
        ({"compartmentId": 5}, "compartmentId"),
        ({"description": 5}, "description"),
        ({"metadata": "x"}, "metadata"),
        ({"secretContent": "eA=="}, "secretContent"),
        (
            {"secretContent": {"contentType": "BASE64", "content": "eA==", "name": 5}},
            "secretContent.name",
        ),
        (
            {"secretContent": {"contentType": "BASE64", "content": 5}},
            "secretContent.content",
        ),
        (
            {"secretContent": {"contentType": "BASE64", "content": ["eA=="]}},
            "secretContent.content",
        ),
    ],
    ids=repr,
)
def test_create_secret_field_of_wrong_kind_answers_400(
    local_cloud, vaults_client, changes, field
):
    body = secret_body(local_cloud, **changes)

    reply = send_json(vaults_client, "POST", "/secrets", body)

    assert_invalid_parameter(reply, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currentVersionNumber": "abc"}, "currentVersionNumber"),
        ({"currentVersionNumber": []}, "currentVersionNumber"),
        ({"currentVersionNumber": True}, "currentVersionNumber"),
        ({"currentVersionNumber": 1.9}, "currentVersionNumber"),
        ({"currentVersionNumber": 10**21}, "currentVersionNumber"),
        ({"description": 5}, "description"),
        ({"metadata": ["x"]}, "metadata"),
        (
            {"secretContent": {"contentType": "BASE64", "content": 5}},
            "secretContent.content",
        ),
    ],
    ids=repr,
)
def test_update_secret_field_of_wrong_kind_answers_400(
    local_cloud, vaults_client, body, field
):
    secret_id = create_secret(local_cloud, vaults_client, "kept")

    reply = send_json(vaults_client, "PUT", f"/secrets/{secret_id}", body)

    assert_invalid_parameter(reply, field)


def test_update_secret_missing_version_to_promote_changes_nothing(
    local_cloud, vaults_client, secrets_client
):
    """New content with a currentVersionNumber that does not exist writes nothing."""
    secret_id = create_secret(local_cloud, vaults_client, "kept")
    content = base64.b64encode(b"must not land").decode()
    body = {
        "secretContent": {"contentType": "BASE64", "content": content},
        "currentVersionNumber": 99,
        "description": "must not land either",
    }

    reply = send_json(vaults_client, "PUT", f"/secrets/{secret_id}", body)
    current = secrets_client.get_secret_bundle(secret_id).data
    versions = vaults_client.list_secret_versions(secret_id).data
    secret = vaults_client.get_secret(secret_id).data

    assert reply.status_code == 404
    assert reply.json()["code"] == "NotAuthorizedOrNotFound"
    assert (current.version_number, content_of(current)) == (1, "kept")
    assert [version.version_number for version in versions] == [1]
    assert secret.current_version_number == 1
    assert secret.description is None


def test_update_secret_content_and_promotion_of_the_new_version(
    local_cloud, vaults_client, secrets_client
):
    """A pending version may be promoted in the update that adds it."""
    secret_id = create_secret(local_cloud, vaults_client, "first")
    content = base64.b64encode(b"second").decode()
    body = {
        "secretContent": {
            "contentType": "BASE64",
            "content": content,
            "stage": "PENDING",
        },
        "currentVersionNumber": 2,
    }

    reply = send_json(vaults_client, "PUT", f"/secrets/{secret_id}", body)
    current = secrets_client.get_secret_bundle(secret_id).data

    assert reply.status_code == 200
    assert reply.json()["currentVersionNumber"] == 2
    assert (current.version_number, content_of(current)) == (2, "second")
