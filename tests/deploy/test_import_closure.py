"""deploy/import_closure.py on small install folders written for each test."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest
from deployment_files import REPOSITORY


def load_closure_module():
    path = REPOSITORY / "deploy" / "import_closure.py"
    spec = importlib.util.spec_from_file_location("import_closure", path)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built
    sys.modules.setdefault("import_closure", module)
    spec.loader.exec_module(module)
    return sys.modules["import_closure"]


import_closure = load_closure_module()


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def closure_of(root: Path, removed=(), services=()):
    index = import_closure.ModuleIndex([root], removed)
    return import_closure.compute_closure({"func": root / "func.py"}, index, services)


def broken_pairs(closure) -> set[tuple[str, str]]:
    return {(edge.source, edge.target) for edge in closure.broken()}


def test_closure_import_of_removed_package_is_broken(tmp_path):
    write_tree(
        tmp_path,
        {
            "func.py": "import helper\n",
            "helper/__init__.py": "def run():\n    import gone.sub\n",
        },
    )

    closure = closure_of(tmp_path, removed=["gone"])

    assert broken_pairs(closure) == {("helper", "gone.sub")}
    assert {"func", "helper"} <= closure.required


def test_closure_guarded_import_of_removed_package_is_not_broken(tmp_path):
    write_tree(
        tmp_path,
        {
            "func.py": "try:\n    import extra\nexcept ImportError:\n    pass\n",
            "extra.py": "import gone\n",
        },
    )

    closure = closure_of(tmp_path, removed=["gone"])

    assert broken_pairs(closure) == set()
    assert "extra" in closure.optional
    assert [edge.target for edge in closure.dangling] == ["gone"]


def test_closure_never_installed_module_is_dangling_not_broken(tmp_path):
    write_tree(tmp_path, {"func.py": "import json\nimport never_installed\n"})

    closure = closure_of(tmp_path)

    assert broken_pairs(closure) == set()
    assert [edge.target for edge in closure.dangling] == ["never_installed"]


def test_closure_relative_from_import_of_removed_submodule_is_broken(tmp_path):
    write_tree(
        tmp_path,
        {
            "func.py": "import pkg.tools\n",
            "pkg/__init__.py": "",
            "pkg/tools/__init__.py": "from .. import kept, gone\n",
            "pkg/kept.py": "",
        },
    )

    closure = closure_of(tmp_path, removed=["pkg.gone"])

    assert broken_pairs(closure) == {("pkg.tools", "pkg.gone")}
    assert "pkg.kept" in closure.required


def test_closure_oci_attribute_of_removed_service_is_broken(tmp_path):
    write_tree(
        tmp_path,
        {
            "func.py": "import oci\nclient = oci.identity.IdentityClient\n"
            "other = oci.streaming.StreamClient\n",
            "oci/__init__.py": "",
            "oci/streaming/__init__.py": "",
        },
    )

    closure = closure_of(tmp_path, removed=["oci.identity"], services=["identity"])

    assert broken_pairs(closure) == {("func", "oci.identity")}
    assert "oci.streaming" in closure.required


def test_closure_type_checking_import_is_optional(tmp_path):
    write_tree(
        tmp_path,
        {
            "func.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    import gone\n",
        },
    )

    closure = closure_of(tmp_path, removed=["gone"])

    assert broken_pairs(closure) == set()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Pytest_Asyncio", "pytest-asyncio"), ("python.pkcs11", "python-pkcs11")],
)
def test_canonical_name_folds_case_and_separators(name, expected):
    assert import_closure.canonical_name(name) == expected
