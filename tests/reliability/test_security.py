"""Security: signatures, the secret allow-list, logs free of secrets and payloads,
private wallet files.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import oci
import pytest
from accounting import Ledger, account
from cloud_process import free_port
from ocifn import wallet
from ocilocal.identity import load_or_create_key
from reliability_cloud import functions_folder, iam_folder
from scenario import publish, put_poison

DEBUG = {"LOG_LEVEL": "DEBUG"}
WALLET = "reliability-wallet"


@pytest.fixture
def cloud(tmp_path, clouds):
    return clouds(functions_folder(tmp_path)).start()


def unsigned_status(method: str, url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def test_oci_api_unsigned_requests_are_refused_401(cloud):
    endpoint = cloud.state["endpoint"]
    stream = f"{endpoint}/20180418/streams/{cloud.stream_id}"
    secret = cloud.state["secrets"]["db-connection"]
    function = cloud.state["functions"]["read-secret"]
    calls = [
        ("GET", stream, None),
        ("POST", f"{stream}/messages", b'{"messages": []}'),
        ("GET", f"{endpoint}/20190301/secretbundles/{secret}", None),
        ("POST", f"{endpoint}/20181201/functions/{function}/actions/invoke", b"{}"),
    ]

    statuses = [unsigned_status(method, url, body) for method, url, body in calls]

    assert statuses == [401] * len(calls)


def test_oci_api_requests_signed_with_another_key_are_refused_401(cloud, tmp_path):
    """The profile's user and fingerprint, signed by a key the cloud never saw."""
    forged_key = tmp_path / "forged.pem"
    load_or_create_key(forged_key)
    config = {**cloud.config(), "key_file": str(forged_key)}
    endpoint = cloud.state["endpoint"]
    secret = cloud.state["secrets"]["db-connection"]
    calls = [
        lambda: oci.streaming.StreamClient(
            config, service_endpoint=endpoint
        ).get_messages(cloud.stream_id, "cursor"),
        lambda: oci.secrets.SecretsClient(
            config, service_endpoint=endpoint
        ).get_secret_bundle(secret),
    ]

    statuses = []
    for call in calls:
        with pytest.raises(oci.exceptions.ServiceError) as refused:
            call()
        statuses.append(refused.value.status)

    assert statuses == [401, 401]


@pytest.mark.parametrize(
    "name", ["db-connection", "stream-connection", "no-such-secret", "GREETING"]
)
def test_read_secret_name_outside_allow_list_is_refused_403(cloud, name):
    status, headers, body = cloud.gateway("GET", f"secrets/{name}")

    reply = json.loads(body)
    assert status == 403
    assert headers["Content-Type"].startswith("application/json")
    assert reply["error"]["code"] == "not_allowed"
    assert "sqlite" not in body.decode() and "streamOCID" not in body.decode()


# Paths that reach an ungranted secret only if a name is decoded or resolved
# twice, or that a parser might choke on.
CRAFTED_SECRET_PATHS = [
    "secrets/..%2Fdb-connection",
    "secrets/%2e%2e%2fdb-connection",
    "secrets/greeting%2F..%2Fdb-connection",
    "secrets/db%252Dconnection",
    "secrets/%00db-connection",
    "secrets/db-connection%00",
    "secrets/%ED%A0%80",
    "secrets/%FF%FE",
    "secrets/gr%C3%A9eting",
    "secrets/" + "a" * 4000,
    "secrets/greeting%3Bdb-connection",
    "secrets/greeting?name=db-connection&secret_id=x",
]


def test_read_secret_crafted_paths_never_answer_another_secret(cloud):
    """Encoded slashes, traversal, bad bytes and long names: a JSON refusal each."""
    for path in CRAFTED_SECRET_PATHS:
        status, headers, body = cloud.gateway("GET", path)

        assert headers["Content-Type"].startswith("application/json"), path
        assert "sqlite" not in body.decode() and "streamOCID" not in body.decode()
        if path.startswith("secrets/greeting?"):
            assert status == 200, path
            assert json.loads(body)["name"] == "greeting"
        else:
            assert status in (400, 403, 404), (path, status, body)
            assert set(json.loads(body)) == {"error"}, path


def test_read_secret_allowed_name_answers_200(cloud):
    status, _, body = cloud.gateway("GET", "secrets/greeting")

    assert status == 200
    assert "hello from the local vault" in body.decode()


def test_logs_hold_no_secret_value_and_no_payload(tmp_path, clouds, record_scenario):
    """A DEBUG-level run reading secrets and moving marked payloads logs neither."""
    marker = uuid.uuid4().hex
    secret_values = [f"greeting-secret-{marker}", f"db-password-{marker}"]
    payloads = [f"payload-{marker}", f"poison-{marker}", f"refused-{marker}"]
    functions_dir = functions_folder(tmp_path, drain_config=DEBUG, other_config=DEBUG)
    cloud = clouds(functions_dir, extra_args=("--log-level", "DEBUG")).start()
    ledger = Ledger()
    cloud.update_secret("greeting", secret_values[0].encode())
    connection = {"backend": "sqlite", "path": str(cloud.database)}
    connection["password"] = secret_values[1]
    cloud.update_secret("db-connection", json.dumps(connection).encode())

    status, _, greeting = cloud.gateway("GET", "secrets/greeting")
    people = [
        {"name": f"Person {index} {payloads[0]}", "age": 40, "comment": payloads[0]}
        for index in range(5)
    ]
    publish(cloud, ledger, people)
    put_poison(cloud, ledger, [f"not json {payloads[1]}".encode()])
    refused_body = json.dumps({"name": "x", "age": -1, "comment": payloads[2]})
    refused_status, refused_reply = cloud.publish(refused_body.encode())
    cloud.drain_until_empty()
    cloud.stop()

    assert status == 200 and secret_values[0] in greeting.decode()
    assert refused_status == 400 and payloads[2] not in json.dumps(refused_reply)
    logs = cloud.log_text()
    assert "read-secret" in logs and "drain-stream-to-db" in logs
    leaked = [value for value in secret_values + payloads if value in logs]
    assert leaked == []
    record_scenario("logs checked for secrets", account(ledger, cloud.database))


def test_drain_oracle_wallet_files_are_private_and_unlogged(tmp_path, clouds):
    """The real drain writes a wallet from Vault (0700 folder, 0600 files).

    The policies are the repository's plus one statement granting the drain
    the wallet secret, which the repository's grant names by a placeholder
    the local cloud cannot fill.

    The database behind the wallet's alias is a closed loopback port, so the
    run ends in a JSON database error after the wallet is written.
    """
    marker = uuid.uuid4().hex
    grant = (
        "Allow dynamic-group ocifn-drain-stream-to-db to read secret-bundles in "
        f"compartment id ${{COMPARTMENT_ID}} where target.secret.name = '{WALLET}'"
    )
    iam = iam_folder(tmp_path, extra=(grant,))
    functions_dir = functions_folder(tmp_path, drain_config=DEBUG)
    cloud = clouds(functions_dir, extra_args=("--iam-dir", str(iam))).start()
    tnsnames = (
        "local_high = (description=(address=(protocol=tcp)(host=127.0.0.1)"
        f"(port={free_port()}))(connect_data=(service_name=local)))\n"
    )
    pem = f"-----BEGIN CERTIFICATE-----\n{marker}\n-----END CERTIFICATE-----\n"
    wallet_id = create_secret(
        cloud, WALLET, {"tnsnames.ora": tnsnames, "ewallet.pem": pem}
    )
    folder = wallet.DEFAULT_WALLET_ROOT / wallet_id.rsplit(".", 1)[-1][-48:]
    connection = {
        "backend": "oracle",
        "user": "APP",
        "password": f"db-password-{marker}",
        "dsn": "local_high",
        "wallet_secret_ocid": wallet_id,
    }
    cloud.update_secret("db-connection", json.dumps(connection).encode())

    try:
        status, reply = cloud.drain()
        modes = {path.name: mode_of(path) for path in folder.iterdir()}
        folder_mode = mode_of(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    cloud.stop()

    assert status == 503
    assert reply["error"]["code"] == "database_error"
    assert folder_mode == 0o700
    assert set(modes) >= {"tnsnames.ora", "ewallet.pem"}
    assert set(modes.values()) == {0o600}
    logs = cloud.log_text()
    assert marker not in logs and marker not in json.dumps(reply)


def create_secret(cloud, name: str, content: dict) -> str:
    details = oci.vault.models.CreateSecretDetails(
        compartment_id=cloud.state["compartment_id"],
        vault_id=cloud.state["vault_id"],
        key_id="ocid1.key.oc1..reliability",
        secret_name=name,
        secret_content=oci.vault.models.Base64SecretContentDetails(
            content_type="BASE64",
            content=base64.b64encode(json.dumps(content).encode()).decode(),
        ),
    )
    return cloud.vaults_client().create_secret(details).data.id


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_drain_wallet_secret_its_policy_does_not_grant_is_refused(tmp_path, cloud):
    """With the repository's policies, a wallet secret not granted stays unread."""
    wallet_id = create_secret(cloud, WALLET, {"tnsnames.ora": "x", "ewallet.pem": "y"})
    folder = wallet.DEFAULT_WALLET_ROOT / wallet_id.rsplit(".", 1)[-1][-48:]
    connection = {"backend": "oracle", "user": "APP", "password": "p", "dsn": "x"}
    connection["wallet_secret_ocid"] = wallet_id
    cloud.update_secret("db-connection", json.dumps(connection).encode())

    status, reply = cloud.drain()

    assert status == 404
    assert reply["error"]["code"] == "not_found"
    assert not folder.exists()


def test_read_secret_allowed_by_config_but_not_by_policy_is_refused(tmp_path, clouds):
    """read-secret configured for db-connection; its policy grants only greeting."""
    iam = iam_folder(tmp_path, replace={"${ALLOWED_SECRET_NAME}": "greeting"})
    functions_dir = functions_folder(
        tmp_path, other_config={"ALLOWED_SECRETS": "greeting,db-connection"}
    )
    cloud = clouds(functions_dir, extra_args=("--iam-dir", str(iam))).start()

    allowed, _, _ = cloud.gateway("GET", "secrets/greeting")
    status, _, body = cloud.gateway("GET", "secrets/db-connection")

    assert allowed == 200
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    assert "sqlite" not in body.decode()
