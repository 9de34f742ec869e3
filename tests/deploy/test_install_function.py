"""deploy/install_function.py's command line, where it refuses before installing."""

from __future__ import annotations

import subprocess
import sys

from deployment_files import REPOSITORY

SCRIPT = REPOSITORY / "deploy" / "install_function.py"


def run_script(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        check=False,
    )


def test_install_function_unknown_function_is_refused(tmp_path):
    result = run_script("--function", "no-such-function", "--target", str(tmp_path))

    assert result.returncode == 2
    assert "no-such-function" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_install_function_target_not_empty_is_refused(tmp_path):
    (tmp_path / "left-over").write_text("x")
    report = tmp_path.parent / f"{tmp_path.name}-report.json"

    result = run_script(
        "--function",
        "read-secret",
        "--target",
        str(tmp_path),
        "--report-json",
        str(report),
    )

    assert result.returncode == 1
    assert "not empty" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["left-over"]
    assert not report.exists()


def test_install_function_help_names_report_keys():
    result = run_script("--help")

    assert result.returncode == 0
    assert "--report-json" in result.stdout
    assert "bytes_before_slim" in result.stdout
