"""The real OCI CLI against the local cloud, with only --endpoint changed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

OCI = Path(sys.executable).parent / "oci"


def oci_cli(local_cloud: dict, *arguments: str) -> dict:
    """Run the OCI CLI with the cloud's config file and endpoint; parse its JSON."""
    command = [str(OCI), *arguments, "--config-file", local_cloud["config_file"]]
    command += ["--endpoint", local_cloud["endpoint"]]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "Warning" not in completed.stderr
    return json.loads(completed.stdout)


def test_cli_message_put_cursor_get_round_trip(local_cloud, new_stream):
    stream_id = new_stream(partitions=1)
    messages = json.dumps([{"key": "a2V5", "value": "dmFsdWU="}])

    put = oci_cli(
        local_cloud, "streaming", "stream", "message", "put",
        "--stream-id", stream_id, "--messages", messages,
    )  # fmt: skip
    cursor = oci_cli(
        local_cloud, "streaming", "stream", "cursor", "create-cursor",
        "--stream-id", stream_id, "--partition", "0", "--type", "TRIM_HORIZON",
    )  # fmt: skip
    got = oci_cli(
        local_cloud, "streaming", "stream", "message", "get",
        "--stream-id", stream_id, "--cursor", cursor["data"]["value"],
    )  # fmt: skip

    assert put["data"]["failures"] == 0
    assert [message["value"] for message in got["data"]] == ["dmFsdWU="]
    assert got["opc-next-cursor"]


def test_cli_secret_bundle_get_returns_greeting(local_cloud):
    bundle = oci_cli(
        local_cloud, "secrets", "secret-bundle", "get",
        "--secret-id", local_cloud["secrets"]["greeting"],
    )  # fmt: skip

    content = bundle["data"]["secret-bundle-content"]
    assert content["content-type"] == "BASE64"
    assert content["content"] == "aGVsbG8gZnJvbSB0aGUgbG9jYWwgdmF1bHQ="


def test_cli_group_cursor_get_commit_and_group_get(local_cloud, new_stream):
    stream_id = new_stream(partitions=1)
    messages = json.dumps([{"key": "a2V5", "value": "b25l"}, {"value": "dHdv"}])
    oci_cli(
        local_cloud, "streaming", "stream", "message", "put",
        "--stream-id", stream_id, "--messages", messages,
    )  # fmt: skip

    cursor = oci_cli(
        local_cloud, "streaming", "stream", "cursor", "create-group-cursor",
        "--stream-id", stream_id, "--group-name", "cli-group",
        "--instance-name", "cli-1", "--type", "TRIM_HORIZON",
        "--commit-on-get", "false",
    )  # fmt: skip
    got = oci_cli(
        local_cloud, "streaming", "stream", "message", "get",
        "--stream-id", stream_id, "--cursor", cursor["data"]["value"],
    )  # fmt: skip
    oci_cli(
        local_cloud, "streaming", "stream", "group", "commit",
        "--stream-id", stream_id, "--cursor", got["opc-next-cursor"],
    )  # fmt: skip
    group = oci_cli(
        local_cloud, "streaming", "stream", "group", "get",
        "--stream-id", stream_id, "--group-name", "cli-group",
    )  # fmt: skip

    assert [message["value"] for message in got["data"]] == ["b25l", "dHdv"]
    reservation = group["data"]["reservations"][0]
    assert reservation["committed-offset"] == 1
    assert reservation["reserved-instance"] == "cli-1"


def test_cli_group_update_latest_then_cursor_reads_nothing_old(local_cloud, new_stream):
    stream_id = new_stream(partitions=1)
    oci_cli(
        local_cloud, "streaming", "stream", "message", "put",
        "--stream-id", stream_id, "--messages", '[{"value": "b2xk"}]',
    )  # fmt: skip

    completed = subprocess.run(
        [
            str(OCI), "streaming", "stream", "group", "update",
            "--stream-id", stream_id, "--group-name", "cli-reset",
            "--type", "LATEST",
            "--config-file", local_cloud["config_file"],
            "--endpoint", local_cloud["endpoint"],
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    group = oci_cli(
        local_cloud, "streaming", "stream", "group", "get",
        "--stream-id", stream_id, "--group-name", "cli-reset",
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    assert group["data"]["reservations"][0]["committed-offset"] == 0


def test_cli_secret_bundle_by_name_returns_greeting(local_cloud):
    bundle = oci_cli(
        local_cloud, "secrets", "secret-bundle", "get-secret-bundle-by-name",
        "--secret-name", "greeting", "--vault-id", local_cloud["vault_id"],
    )  # fmt: skip

    assert bundle["data"]["secret-id"] == local_cloud["secrets"]["greeting"]
    assert "CURRENT" in bundle["data"]["stages"]


def test_cli_secret_create_then_update_makes_version_2_current(local_cloud):
    name = f"cli-secret-{uuid.uuid4().hex[:8]}"
    created = oci_cli(
        local_cloud, "vault", "secret", "create-base64",
        "--compartment-id", local_cloud["compartment_id"],
        "--vault-id", local_cloud["vault_id"], "--key-id", "ocid1.key.oc1..local",
        "--secret-name", name, "--secret-content-content", "b25l",
    )  # fmt: skip
    secret_id = created["data"]["id"]

    oci_cli(
        local_cloud, "vault", "secret", "update-base64",
        "--secret-id", secret_id, "--secret-content-content", "dHdv",
    )  # fmt: skip
    bundle = oci_cli(
        local_cloud, "secrets", "secret-bundle", "get", "--secret-id", secret_id
    )
    listed = oci_cli(
        local_cloud, "vault", "secret", "list",
        "--compartment-id", local_cloud["compartment_id"], "--name", name,
    )  # fmt: skip

    assert created["data"]["current-version-number"] == 1
    assert bundle["data"]["version-number"] == 2
    assert bundle["data"]["secret-bundle-content"]["content"] == "dHdv"
    assert [secret["id"] for secret in listed["data"]] == [secret_id]


def test_cli_stream_create_waits_for_work_request_then_delete(local_cloud):
    created = oci_cli(
        local_cloud, "streaming", "admin", "stream", "create",
        "--name", "cli-stream", "--partitions", "1",
        "--compartment-id", local_cloud["compartment_id"],
        "--wait-for-state", "SUCCEEDED", "--wait-interval-seconds", "1",
    )  # fmt: skip
    stream_id = created["data"]["resources"][0]["identifier"]

    stream = oci_cli(
        local_cloud, "streaming", "admin", "stream", "get", "--stream-id", stream_id
    )
    oci_cli(
        local_cloud, "streaming", "admin", "stream", "delete",
        "--stream-id", stream_id, "--force",
        "--wait-for-state", "SUCCEEDED", "--wait-interval-seconds", "1",
    )  # fmt: skip
    deleted = oci_cli(
        local_cloud, "streaming", "admin", "stream", "get", "--stream-id", stream_id
    )

    assert created["data"]["status"] == "SUCCEEDED"
    assert stream["data"]["lifecycle-state"] == "ACTIVE"
    assert deleted["data"]["lifecycle-state"] == "DELETED"


def invoke(local_cloud: dict, function: str, body: str) -> dict:
    """`oci fn function invoke` of one of the bundle's functions; its JSON reply."""
    command = [
        str(OCI), "fn", "function", "invoke",
        "--function-id", local_cloud["functions"][function],
        "--file", "-", "--body", body,
        "--config-file", local_cloud["config_file"],
        "--endpoint", local_cloud["endpoint"],
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_cli_fn_invoke_each_function_normal_path(local_cloud):
    person = {"name": "Cli Invoker", "age": 41, "comment": "through oci fn"}

    published = invoke(local_cloud, "publish-message", json.dumps(person))
    drained = invoke(local_cloud, "drain-stream-to-db", "")
    secret = invoke(local_cloud, "read-secret", json.dumps({"name": "greeting"}))

    assert published["published"] == 1
    assert drained["read"] >= 1
    assert secret["content"] == "hello from the local vault"
