"""``ocilocal demo`` end to end: the real cloud, functions and schedule."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cloud_process import free_port, running_cloud

REPOSITORY = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def run_demo(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ocilocal", "demo", *arguments]
    return subprocess.run(
        command, cwd=REPOSITORY, capture_output=True, text=True, timeout=120
    )


def test_demo_run_twice_same_data_succeeds_both_times(tmp_path):
    first = run_demo("--data", str(tmp_path))
    second = run_demo("--data", str(tmp_path))

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert "rows in person:      301" in first.stdout
    assert "rows in person:      301" in second.stdout
    assert "greeting v" in second.stdout
    assert not (tmp_path / "state.json").exists()


def test_demo_port_taken_fails_with_server_output(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_demo("--data", str(tmp_path), "--port", str(port))

    assert result.returncode != 0
    assert "local cloud" in result.stderr


def test_demo_on_a_folder_in_use_fails_and_leaves_the_running_cloud(tmp_path):
    data_dir = tmp_path / "cloud"
    with running_cloud(data_dir, free_port(), tmp_path / "server.log") as running:
        result = run_demo("--data", str(data_dir))
        state_after = json.loads((data_dir / "state.json").read_text())

    assert result.returncode != 0
    assert "in use by another local cloud" in result.stderr
    assert state_after["pid"] == running["pid"]
