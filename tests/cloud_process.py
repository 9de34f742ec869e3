"""Run `ocilocal up` as a subprocess on a free port, for tests and benchmarks."""

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

START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_cloud(
    data_dir: Path,
    port: int,
    log_path: Path,
    *,
    functions_dir: Path | None = None,
    options: Sequence[str] = (),
) -> Iterator[dict]:
    """Run `ocilocal up` until the block ends; yield its state.json plus data_dir.

    ``functions_dir`` serves the functions of another folder (the repository's
    own when None), for tests that need a function config of their own.
    ``options`` are more ``ocilocal up`` options; a repeated one wins over the
    defaults above (e.g. ``["--drain-every", "1"]``).
    """
    state_file = data_dir / "state.json"
    command = [sys.executable, "-m", "ocilocal", "up", "--data", str(data_dir)]
    command += ["--port", str(port), "--partitions", "2", "--drain-every", "0"]
    if functions_dir is not None:
        command += ["--functions-dir", str(functions_dir)]
    command += list(options)
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
