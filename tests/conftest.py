"""Fixtures for every test folder: the local cloud as a subprocess, SDK clients."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import oci
import pytest

START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_cloud(data_dir: Path, port: int, log_path: Path) -> Iterator[dict]:
    """Run `ocilocal up` until the block ends; yield its state.json plus data_dir."""
    state_file = data_dir / "state.json"
    command = [sys.executable, "-m", "ocilocal", "up", "--data", str(data_dir)]
    command += ["--port", str(port), "--partitions", "2", "--drain-every", "0"]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not state_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace")
                raise RuntimeError(f"ocilocal did not start; its output:\n{output}")
            time.sleep(0.1)
        state = json.loads(state_file.read_text())
        state["data_dir"] = str(data_dir)
        yield state
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory) -> Iterator[dict]:
    """The state of one local cloud shared by the session's tests."""
    data_dir = tmp_path_factory.mktemp("ocilocal")
    log_path = tmp_path_factory.mktemp("ocilocal-log") / "server.log"
    with running_cloud(data_dir, free_port(), log_path) as state:
        yield state


@pytest.fixture(scope="session")
def oci_config(local_cloud: dict) -> dict:
    """The API-key profile the local cloud wrote."""
    return oci.config.from_file(local_cloud["config_file"], local_cloud["profile"])


@pytest.fixture(scope="session")
def stream_client(local_cloud, oci_config) -> oci.streaming.StreamClient:
    return oci.streaming.StreamClient(
        oci_config, service_endpoint=local_cloud["endpoint"]
    )


@pytest.fixture(scope="session")
def stream_admin_client(local_cloud, oci_config) -> oci.streaming.StreamAdminClient:
    return oci.streaming.StreamAdminClient(
        oci_config, service_endpoint=local_cloud["endpoint"]
    )


@pytest.fixture(scope="session")
def secrets_client(local_cloud, oci_config) -> oci.secrets.SecretsClient:
    return oci.secrets.SecretsClient(
        oci_config, service_endpoint=local_cloud["endpoint"]
    )


@pytest.fixture(scope="session")
def vaults_client(local_cloud, oci_config) -> oci.vault.VaultsClient:
    return oci.vault.VaultsClient(oci_config, service_endpoint=local_cloud["endpoint"])


@pytest.fixture(scope="session")
def kms_vault_client(local_cloud, oci_config) -> oci.key_management.KmsVaultClient:
    return oci.key_management.KmsVaultClient(
        oci_config, service_endpoint=local_cloud["endpoint"]
    )


@pytest.fixture
def new_stream(local_cloud, stream_admin_client):
    """A factory of fresh streams, so each test reads only its own messages."""

    def create(partitions: int = 2) -> str:
        details = oci.streaming.models.CreateStreamDetails(
            name=f"test-{uuid.uuid4().hex[:8]}",
            partitions=partitions,
            compartment_id=local_cloud["compartment_id"],
        )
        return stream_admin_client.create_stream(details).data.id

    return create
