"""The import closure on the real staged installs: what it would catch."""

from __future__ import annotations

from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def closure_module(monkeypatch):
    monkeypatch.syspath_prepend(str(DEPLOY))
    import import_closure

    return import_closure


def broken_pairs(closure_module, folder: Path, removed: list[str]) -> set:
    index = closure_module.ModuleIndex(
        [folder / "function", folder / "python"], removed
    )
    entries = {
        "__main__": folder / "python" / "bin" / "fdk",
        "func": folder / "function" / "func.py",
    }
    services = [name.split(".")[1] for name in removed if name.startswith("oci.")]
    closure = closure_module.compute_closure(entries, index, services)
    return {(edge.source, edge.target) for edge in closure.broken()}


@pytest.mark.parametrize(
    ("function", "removed", "expected"),
    [
        ("read-secret", "oci.secrets", ("ocifn.secrets", "oci.secrets")),
        ("drain-stream-to-db", "oracledb", ("ocifn.store", "oracledb")),
        ("publish-message", "oci.streaming", ("ocifn.streaming", "oci.streaming")),
        ("publish-message", "httptools", ("fdk.async_http.protocol", "httptools")),
        ("publish-message", "oci.dns", ("oci.pagination.pagination_utils", "oci.dns")),
    ],
)
def test_staged_closure_module_taken_away_names_its_importer(
    closure_module, staged_root, function, removed, expected
):
    """Treating one more module as removed breaks exactly where the code needs it."""
    folder = staged_root / function

    assert expected not in broken_pairs(closure_module, folder, [])
    assert expected in broken_pairs(closure_module, folder, [removed])
