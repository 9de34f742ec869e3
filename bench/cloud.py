"""A local cloud of its own for each benchmark, and SDK clients to talk to it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oci
from ocilocal.launcher import running_cloud

START_TIMEOUT_SECONDS = 90.0
# NOTE: a drain of 100,000 records can take longer than the SDK's default
# 60-second read timeout; the function's own deadline bounds the call anyway.
INVOKE_TIMEOUT = (10, 330)


@dataclass(frozen=True)
class LocalCloud:
    """A running ``ocilocal up``: its state.json, data folder and SDK config."""

    state: dict[str, Any]
    data_dir: Path

    @property
    def endpoint(self) -> str:
        return self.state["endpoint"]

    @property
    def stream_id(self) -> str:
        return self.state["streams"]["people"]["id"]

    @property
    def database(self) -> Path:
        return Path(self.state["database"])

    def function_id(self, name: str) -> str:
        return self.state["functions"][name]

    def config(self) -> dict[str, Any]:
        return oci.config.from_file(self.state["config_file"], self.state["profile"])

    def stream_client(self) -> oci.streaming.StreamClient:
        return oci.streaming.StreamClient(self.config(), service_endpoint=self.endpoint)

    def invoke_client(self) -> oci.functions.FunctionsInvokeClient:
        return oci.functions.FunctionsInvokeClient(
            self.config(), service_endpoint=self.endpoint, timeout=INVOKE_TIMEOUT
        )

    def management_client(self) -> oci.functions.FunctionsManagementClient:
        return oci.functions.FunctionsManagementClient(
            self.config(), service_endpoint=self.endpoint
        )


@contextlib.contextmanager
def local_cloud(
    *, partitions: int, enforce_limits: bool = False
) -> Iterator[LocalCloud]:
    """Run ``ocilocal up`` in a fresh folder, without its schedule, for the block.

    With ``enforce_limits`` it throttles as OCI Streaming does (``ocilocal
    up --enforce-limits``: 5 GetMessages calls per second per partition per
    consumer group, 1 MB per second of writes per partition).
    """
    options = ["--partitions", str(partitions), "--drain-every", "0"]
    options += ["--log-level", "WARNING"]
    if enforce_limits:
        options.append("--enforce-limits")
    with tempfile.TemporaryDirectory(prefix="ocifn-bench-") as folder:
        data_dir = Path(folder) / "cloud"
        with running_cloud(
            data_dir,
            log_path=Path(folder) / "ocilocal.log",
            options=options,
            start_timeout=START_TIMEOUT_SECONDS,
        ) as state:
            yield LocalCloud(state, data_dir)
