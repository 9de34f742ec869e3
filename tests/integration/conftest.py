"""Fixtures of the integration tests: a local cloud of their own, its client.

The cloud serves a copy of the repository's functions whose read-secret
allow-list also names a binary secret and a secret that never exists, plus a
publish-message that publishes to a missing stream; every other config value
is the repository's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cloud_api import CloudApi, copy_functions
from cloud_process import free_port, running_cloud


@pytest.fixture(scope="session")
def integration_cloud(tmp_path_factory) -> Iterator[dict]:
    """A local cloud of the integration tests' own (see the module docstring)."""
    port = free_port()
    functions_dir = copy_functions(
        tmp_path_factory.mktemp("fn") / "functions", f"http://127.0.0.1:{port}"
    )
    data_dir = tmp_path_factory.mktemp("cloud")
    log_path = tmp_path_factory.mktemp("cloud-log") / "server.log"
    with running_cloud(data_dir, port, log_path, functions_dir=functions_dir) as state:
        yield state


@pytest.fixture(scope="session")
def api(integration_cloud) -> CloudApi:
    return CloudApi(integration_cloud)
