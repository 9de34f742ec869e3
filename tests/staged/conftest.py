"""Fixtures of the staged tests: each function installed as its image installs it,
and one local cloud that runs the functions from those installs alone."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_process import free_port, running_cloud

REPOSITORY = Path(__file__).resolve().parents[2]
INSTALLER = REPOSITORY / "deploy" / "install_function.py"
FUNCTION_NAMES = ("publish-message", "drain-stream-to-db", "read-secret")
INSTALL_TIMEOUT_SECONDS = 900


@pytest.fixture(scope="session")
def staged_installs(tmp_path_factory) -> tuple[Path, Path]:
    """(installs, reports): one slimmed install per function, made side by side,
    and the --report-json file of each."""
    root = tmp_path_factory.mktemp("staged")
    reports = tmp_path_factory.mktemp("staged-reports")
    running = {}
    for name in FUNCTION_NAMES:
        command = [sys.executable, str(INSTALLER), "--function", name]
        command += ["--target", str(root / name)]
        command += ["--report-json", str(reports / f"{name}.json")]
        running[name] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    failures = []
    for name, process in running.items():
        output, _ = process.communicate(timeout=INSTALL_TIMEOUT_SECONDS)
        if process.returncode != 0:
            failures.append(f"{name}:\n{output.decode(errors='replace')}")
    assert not failures, "\n".join(failures)
    return root, reports


@pytest.fixture(scope="session")
def staged_root(staged_installs: tuple[Path, Path]) -> Path:
    """The folder holding ``<function>/python`` and ``<function>/function``."""
    return staged_installs[0]


@pytest.fixture(scope="session")
def staged_reports(staged_installs: tuple[Path, Path]) -> dict[str, dict]:
    """What install_function.py reported for each function (--report-json)."""
    reports = staged_installs[1]
    return {
        name: json.loads((reports / f"{name}.json").read_text())
        for name in FUNCTION_NAMES
    }


@pytest.fixture(scope="session")
def staged_cloud(staged_root: Path, tmp_path_factory) -> Iterator[dict]:
    """A local cloud running every function from its staged install."""
    data_dir = tmp_path_factory.mktemp("staged-cloud")
    log_path = tmp_path_factory.mktemp("staged-cloud-log") / "server.log"
    options = ["--functions-from-staged", str(staged_root)]
    with running_cloud(data_dir, free_port(), log_path, options=options) as state:
        yield state
