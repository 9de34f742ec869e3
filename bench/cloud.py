"""A local cloud of its own for each benchmark, and SDK clients to talk to it."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oci

START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 30
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


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def local_cloud(
    *, partitions: int, enforce_limits: bool = False
) -> Iterator[LocalCloud]:
    """Run ``ocilocal up`` in a fresh folder, without its schedule, for the block.

    With ``enforce_limits`` it throttles as OCI Streaming does (``ocilocal
    up --enforce-limits``: 5 GetMessages calls per second per partition per
    consumer group, 1 MB per second of writes per partition).
    """
    with tempfile.TemporaryDirectory(prefix="ocifn-bench-") as folder:
        data_dir = Path(folder) / "cloud"
        log_path = Path(folder) / "ocilocal.log"
        command = [sys.executable, "-m", "ocilocal", "up", "--data", str(data_dir)]
        command += ["--port", str(free_port()), "--partitions", str(partitions)]
        command += ["--drain-every", "0", "--log-level", "WARNING"]
        if enforce_limits:
            command.append("--enforce-limits")
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield LocalCloud(_wait_for_state(process, data_dir, log_path), data_dir)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_state(
    process: subprocess.Popen[bytes], data_dir: Path, log_path: Path
) -> dict[str, Any]:
    state_file = data_dir / "state.json"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            output = log_path.read_text(errors="replace")
            raise RuntimeError(f"ocilocal did not start; its output:\n{output}")
        time.sleep(0.1)

    return json.loads(state_file.read_text())
