"""deploy/vendor_shared.sh copies ocifn beside each func.py for `fn deploy`."""

from __future__ import annotations

import shutil
import subprocess

from deployment_files import REPOSITORY


def fake_repository(tmp_path):
    (tmp_path / "deploy").mkdir()
    shutil.copy(REPOSITORY / "deploy" / "vendor_shared.sh", tmp_path / "deploy")
    package = tmp_path / "shared" / "ocifn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""ocifn."""\n')
    (package / "wallet.py").write_text("VALUE = 1\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "wallet.cpython-311.pyc").write_bytes(b"\0")
    for name in ("publish-message", "read-secret"):
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "func.py").write_text("def handler(ctx, data=None):\n    pass\n")
    return tmp_path


def run_script(root, *arguments):
    return subprocess.run(
        ["bash", str(root / "deploy" / "vendor_shared.sh"), *arguments],
        capture_output=True,
        text=True,
    )


def test_vendor_shared_every_function_gets_sources_only(tmp_path):
    root = fake_repository(tmp_path)

    result = run_script(root)

    assert result.returncode == 0, result.stderr
    for name in ("publish-message", "read-secret"):
        copy = root / "functions" / name / "ocifn"
        assert sorted(p.name for p in copy.iterdir()) == [
            ".gitignore",
            "__init__.py",
            "wallet.py",
        ]
        assert (copy / ".gitignore").read_text() == "*\n"


def test_vendor_shared_clean_removes_copies(tmp_path):
    root = fake_repository(tmp_path)
    run_script(root, "read-secret")

    result = run_script(root, "--clean", "read-secret")

    assert result.returncode == 0, result.stderr
    assert not (root / "functions" / "read-secret" / "ocifn").exists()


def test_vendor_shared_unknown_function_exits_two(tmp_path):
    root = fake_repository(tmp_path)

    result = run_script(root, "no-such-function")

    assert result.returncode == 2
    assert "functions/no-such-function" in result.stderr
