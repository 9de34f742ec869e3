"""The local cloud's lifecycle: state.json, files, restarts on another port."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
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


def function_processes(data_dir: Path) -> list[int]:
    """Pids of the processes running a function of the cloud on `data_dir`."""
    marker = f"OCI_RESOURCE_PRINCIPAL_RPST={data_dir.resolve() / 'run'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if any(item.startswith(marker) for item in environment.split(b"\0")):
            found.append(int(entry.name))
    return found


def publish_until(gateway: str, stop: threading.Event, answered: list[int]) -> None:
    """POST one person to the gateway again and again until `stop` is set."""
    body = json.dumps({"name": "Ada Byron", "age": 36}).encode()
    while not stop.is_set():
        request = urllib.request.Request(
            gateway + "messages",
            data=body,
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                answered.append(reply.status)
        except urllib.error.HTTPError as error:
            answered.append(error.code)
        except OSError:
            time.sleep(0.01)  # refused or reset while the cloud stops


def test_sigterm_during_gateway_calls_leaves_no_function_process(tmp_path):
    """A call arriving while the cloud stops must not start a function again."""
    data_dir = tmp_path / "cloud"
    stop = threading.Event()
    answered: list[int] = []

    with running_cloud(data_dir, free_port(), tmp_path / "server.log") as state:
        callers = [
            threading.Thread(
                target=publish_until, args=(state["gateway"], stop, answered)
            )
            for _ in range(4)
        ]
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 60
        while answered.count(200) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    time.sleep(1)
    stop.set()
    for caller in callers:
        caller.join(timeout=30)

    left = function_processes(data_dir)
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = function_processes(data_dir)
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # nothing outlives the test, even on failure
    assert answered.count(200) >= 20
    assert left == []
