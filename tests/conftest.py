"""Fixtures for every test folder: the local cloud as a subprocess, SDK clients."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import oci
import pytest
from cloud_process import free_port, running_cloud


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
