"""``ocilocal up`` as a child process: started, awaited until ready, stopped.

The demo, the tests and the benchmarks all run the local cloud this way.
``CloudProcess`` starts ``ocilocal up`` on one data folder and port, appends
its output to a log file, and waits until DIR/state.json names the child's
pid (a killed cloud, or another one on the folder, may have left a
state.json of its own). It stops the child with SIGTERM, or another signal,
and SIGKILL if it lingers; it can be started again on the same port.
``running_cloud`` is the same for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 40


class CloudDidNotStart(RuntimeError):
    """``ocilocal up`` exited or wrote no state.json in time; the tail of its log."""


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CloudProcess:
    """One ``ocilocal up`` child on a data folder and a port kept across starts."""

    def __init__(
        self,
        data_dir: Path,
        *,
        log_path: Path,
        port: int | None = None,
        options: Sequence[str] = (),
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.options = tuple(options)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def command(self) -> list[str]:
        """``ocilocal up`` with this folder, port and options, on this interpreter."""
        command = [sys.executable, "-m", "ocilocal", "up", "--data", str(self.data_dir)]
        return [*command, "--port", str(self.port), *self.options]

    def start(self) -> dict[str, Any]:
        """Start the child and return the state it wrote; CloudDidNotStart if not."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.process = process

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CloudDidNotStart(
                    f"the local cloud (ocilocal up) exited with code"
                    f" {process.returncode} before it was ready; the end of"
                    f" {self.log_path}:\n{self.log_tail()}"
                )
            state = self._state_of(process.pid)
            if state is not None:
                return state
            time.sleep(0.1)

        self.stop()
        raise CloudDidNotStart(
            f"the local cloud (ocilocal up) wrote no state.json within"
            f" {self.start_timeout:g}s; the end of {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop with ``signum`` (SIGTERM shuts down in order, SIGKILL does not)."""
        if self.process is None:
            return

        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the child wrote to the log since its last start."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    def _state_of(self, pid: int) -> dict[str, Any] | None:
        """DIR/state.json if the process ``pid`` wrote it, else None."""
        try:
            state = json.loads((self.data_dir / "state.json").read_text())
        except (OSError, ValueError):
            return None  # not written yet, or removed by a cloud stopping
        return state if state.get("pid") == pid else None


@contextlib.contextmanager
def running_cloud(
    data_dir: Path,
    *,
    log_path: Path,
    port: int | None = None,
    options: Sequence[str] = (),
    start_timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[dict[str, Any]]:
    """Run ``ocilocal up`` (on a free port unless given) for the block; its state."""
    cloud = CloudProcess(
        data_dir,
        log_path=log_path,
        port=port,
        options=options,
        start_timeout=start_timeout,
    )
    try:
        yield cloud.start()
    finally:
        cloud.stop()
