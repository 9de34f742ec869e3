"""The local cloud's lifecycle: state.json, files, restarts on another port."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import oci
from cloud_process import free_port, running_cloud


def stream_secret(state: dict) -> tuple[int, dict]:
    """(version number, decoded content) of the stream-connection secret."""
    config = oci.config.from_file(state["config_file"])
    client = oci.secrets.SecretsClient(config, service_endpoint=state["endpoint"])
    bundle = client.get_secret_bundle(state["secrets"]["stream-connection"]).data
    content = base64.b64decode(bundle.secret_bundle_content.content)
    return bundle.version_number, json.loads(content)


def test_state_json_has_contract_keys(local_cloud):
    expected = {
        "endpoint", "gateway", "region", "tenancy_id", "compartment_id",
        "config_file", "profile", "streams", "vault_id", "secrets", "functions",
        "database", "pid",
    }  # fmt: skip

    assert expected <= set(local_cloud)
    assert local_cloud["gateway"] == local_cloud["endpoint"] + "/v1/"
    assert local_cloud["profile"] == "DEFAULT"
    assert local_cloud["database"] == str(Path(local_cloud["data_dir"]) / "app.db")
    assert set(local_cloud["secrets"]) >= {
        "stream-connection",
        "db-connection",
        "greeting",
    }


def test_api_key_and_config_are_private_files(local_cloud):
    data_dir = Path(local_cloud["data_dir"])

    for path in (data_dir / "oci" / "key.pem", data_dir / "oci" / "config"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Path(local_cloud["config_file"]) == data_dir / "oci" / "config"


def test_restart_on_new_port_keeps_ids_and_rewrites_stream_secret(tmp_path):
    data_dir = tmp_path / "cloud"
    log_path = tmp_path / "server.log"

    with running_cloud(data_dir, free_port(), log_path) as first:
        before_version, _ = stream_secret(first)
    assert not (data_dir / "state.json").exists()
    with running_cloud(data_dir, free_port(), log_path) as second:
        after_version, after = stream_secret(second)

    for key in ("tenancy_id", "compartment_id", "vault_id", "secrets"):
        assert second[key] == first[key]
    assert second["streams"]["people"]["id"] == first["streams"]["people"]["id"]
    assert after_version == before_version + 1
    assert after["streamMessagesEndpoint"] == second["endpoint"]


def test_second_cloud_on_same_data_is_refused_and_first_keeps_serving(tmp_path):
    data_dir = tmp_path / "cloud"
    log_path = tmp_path / "server.log"

    with running_cloud(data_dir, free_port(), log_path) as first:
        command = [sys.executable, "-m", "ocilocal", "up", "--data", str(data_dir)]
        command += ["--port", str(free_port())]
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        state_after = json.loads((data_dir / "state.json").read_text())
        version, content = stream_secret(first)

    assert second.returncode == 1
    assert "in use by another local cloud" in second.stderr
    assert f"pid {first['pid']}" in second.stderr
    assert state_after["pid"] == first["pid"]
    assert content["streamMessagesEndpoint"] == first["endpoint"]
