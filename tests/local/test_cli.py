"""The real OCI CLI against the local cloud, with only --endpoint changed."""

from __future__ import annotations

import json
import subprocess
import sys
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
