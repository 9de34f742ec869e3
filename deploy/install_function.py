"""Install one function as its image holds it, then slim what it never imports.

    python deploy/install_function.py --function NAME --target DIR

lays out ``DIR/python`` (the function's pinned requirements and the shared
package, as ``pip install --target`` puts them) and ``DIR/function/func.py``,
the image's ``/python`` and ``/function``. Slimming then removes the OCI SDK
packages outside ``OCI_PACKAGES_KEPT``, the distributions in
``UNUSED_DISTRIBUTIONS`` and the test folders of dependencies, proves with an
import closure (``import_closure.py``) that no import the function can run
lost its module, and compiles the bytecode of what is left. A dangling import
fails the install, so a build never ships an image that cannot import itself.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from import_closure import ModuleIndex, canonical_name, compute_closure

REPOSITORY = Path(__file__).resolve().parents[1]
FUNCTION_NAMES = ("publish-message", "drain-stream-to-db", "read-secret")

# The oci subpackages an image keeps; every other one is removed. The SDK
# imports a service package only on first use (``oci.__getattr__``).
OCI_PACKAGES_KEPT = {
    "_vendor": "the SDK's own copy of requests, imported by every client",
    "auth": "the resource-principal signer (ocifn.auth)",
    "circuit_breaker": "imported by every client module",
    "pagination": "imported by `import oci`",
    "retry": "imported by `import oci` and every client",
    "dns": "imported by oci.pagination, so by `import oci`",
    "object_storage": "imported by oci.pagination, so by `import oci`",
    "work_requests": "imported by oci.waiter, so by `import oci`",
    "streaming": "ocifn.streaming: put, get, cursors, group commits",
    "secrets": "ocifn.secrets: secret bundles by OCID and by name",
}

# Installed as requirements of fdk or oci, never imported by a function.
UNUSED_DISTRIBUTIONS = {
    "pytest": "fdk requires it for its own tests (fdk.tests)",
    "pytest-asyncio": "fdk requires it for its own tests",
    "pluggy": "pytest only",
    "iniconfig": "pytest only",
    "packaging": "pytest only",
    "pygments": "pytest only",
    "cython": "fdk requires it to build, not to run",
    "wheel": "fdk requires it to build, not to run",
    "pbr": "fdk's build tool",
    "setuptools": "pbr only",
    "iso8601": "required by fdk, imported by none of its modules",
    "aiohttp": "oci.async_base_client only, which only async service clients use",
    "aiohappyeyeballs": "aiohttp only",
    "aiosignal": "aiohttp only",
    "frozenlist": "aiohttp only",
    "multidict": "aiohttp only",
    "propcache": "aiohttp only",
    "yarl": "aiohttp only",
    "attrs": "aiohttp only",
    "python-pkcs11": "oci.auth.signers imports the PKCS#11 signer inside "
    "try/except ImportError; functions sign with resource principals",
    "asn1crypto": "python-pkcs11 only",
}

# Imports that stay dangling on purpose, with why they never run in a function.
ALLOWED_DANGLING = {
    (
        "oci.auth.signers.instance_principals_security_token_signer",
        "oci.identity",
    ): "instance principals are for compute instances; functions use resource "
    "principals",
    (
        "oci.auth.signers.instance_principals_delegation_token_signer",
        "oci.identity",
    ): "instance principals are for compute instances",
}
# NOTE: `import oci` imports every service package at once only when
# OCI_PYTHON_SDK_LAZY_IMPORTS_DISABLED is "true"; an image must never set it.
ALLOWED_DANGLING_SOURCES = {
    "oci": "eager imports behind OCI_PYTHON_SDK_LAZY_IMPORTS_DISABLED",
}

TEST_FOLDER_NAMES = ("tests", "test")


class InstallError(Exception):
    """The install or its proof of completeness failed."""


@dataclass(frozen=True)
class Layout:
    """Where one function is installed: DIR/python and DIR/function."""

    target: Path

    @property
    def python(self) -> Path:
        return self.target / "python"

    @property
    def function(self) -> Path:
        return self.target / "function"


def folder_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            file_path = Path(folder, name)
            if not file_path.is_symlink():
                total += file_path.stat().st_size
    return total


def pip_install(function_dir: Path, layout: Layout) -> None:
    """The function's pinned requirements and the shared package, no bytecode.

    The shared package is built from a private copy of its source, since
    setuptools writes ``build/`` inside the tree it builds and two installs
    at once would collide there.
    """
    with tempfile.TemporaryDirectory(prefix="install-function-") as scratch:
        shared_copy = Path(scratch) / "shared"
        shutil.copytree(
            REPOSITORY / "shared",
            shared_copy,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
        )
        run_pip(function_dir, layout, shared_copy)

    layout.function.mkdir(parents=True, exist_ok=True)
    shutil.copy2(function_dir / "func.py", layout.function / "func.py")


def run_pip(function_dir: Path, layout: Layout, shared_source: Path) -> None:
    """``pip install --target`` of the requirements and the shared source."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-warn-conflicts",
        "--no-compile",
        "--target",
        str(layout.python),
        "-r",
        str(function_dir / "requirements.txt"),
        str(shared_source),
    ]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise InstallError(f"pip install failed with code {result.returncode}")


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_oci_packages(python_dir: Path) -> list[str]:
    """Remove the oci subpackages not kept; return their names."""
    removed = []
    for package in sorted((python_dir / "oci").iterdir()):
        if package.is_dir() and package.name not in OCI_PACKAGES_KEPT:
            if package.name == "__pycache__":
                continue
            shutil.rmtree(package)
            removed.append(package.name)
    return removed


def distribution_paths(dist: metadata.Distribution, python_dir: Path) -> set[Path]:
    """The files a distribution installed, scripts mapped into DIR/python/bin."""
    paths = set()
    for entry in dist.files or ():
        parts = Path(str(entry)).parts
        if parts and parts[0] == "..":
            if "bin" in parts:
                paths.add(python_dir / "bin" / parts[-1])
            continue
        paths.add(python_dir / Path(str(entry)))
    return paths


def remove_distributions(python_dir: Path) -> list[str]:
    """Remove the unused distributions by their RECORD; return top-level names."""
    unused = {canonical_name(name) for name in UNUSED_DISTRIBUTIONS}
    removed_modules: set[str] = set()
    for dist in list(metadata.distributions(path=[str(python_dir)])):
        if canonical_name(dist.metadata["Name"]) not in unused:
            continue
        for path in distribution_paths(dist, python_dir):
            relative = path.relative_to(python_dir)
            top = relative.parts[0]
            if top != "bin" and not top.endswith((".dist-info", ".pth")):
                removed_modules.add(top.split(".")[0])
            remove_path(path)
    prune_empty_folders(python_dir)
    return sorted(removed_modules)


def remove_test_folders(python_dir: Path) -> list[str]:
    """Remove test folders inside installed packages; return them as modules."""
    removed = []
    for package in python_dir.iterdir():
        if not package.is_dir() or package.name.endswith(".dist-info"):
            continue
        for name in TEST_FOLDER_NAMES:
            for folder in sorted(package.rglob(name)):
                if folder.is_dir():
                    relative = folder.relative_to(python_dir)
                    removed.append(".".join(relative.parts))
                    shutil.rmtree(folder)
    return removed


def rewrite_records(python_dir: Path) -> None:
    """Drop the files slimming removed from each remaining distribution's RECORD."""
    for record in python_dir.glob("*.dist-info/RECORD"):
        lines = record.read_text(encoding="utf-8").splitlines()
        kept = [
            line
            for line in lines
            if line.startswith("..") or (python_dir / line.rsplit(",", 2)[0]).exists()
        ]
        if len(kept) != len(lines):
            record.write_text("\n".join(kept) + "\n", encoding="utf-8")


def prune_empty_folders(root: Path) -> None:
    for folder, _, _ in sorted(os.walk(root), key=lambda item: -len(item[0])):
        path = Path(folder)
        if path != root and not any(path.iterdir()):
            path.rmdir()


def check_closure(layout: Layout, removed: list[str], services: list[str]) -> int:
    """Fail unless every import the function can run still finds its module."""
    index = ModuleIndex([layout.function, layout.python], removed)
    entries = {
        "__main__": layout.python / "bin" / "fdk",
        "func": layout.function / "func.py",
    }
    closure = compute_closure(entries, index, services)

    problems = []
    for edge in closure.broken():
        allowed = (edge.source, edge.target) in ALLOWED_DANGLING
        if not allowed and edge.source not in ALLOWED_DANGLING_SOURCES:
            problems.append(f"{edge.source} imports {edge.target}")
    for owner, requirement in closure.missing_distributions:
        problems.append(f"compiled {owner} requires {requirement}")
    if problems:
        listing = "\n  ".join(sorted(set(problems)))
        raise InstallError(f"imports that find no module:\n  {listing}")
    return len(closure.required)


def install(function: str, target: Path, *, slim: bool = True) -> dict:
    """Install (and slim) one function into ``target``; return its report."""
    function_dir = REPOSITORY / "functions" / function
    if not (function_dir / "requirements.txt").is_file():
        raise InstallError(f"no function folder {function_dir}")
    layout = Layout(target)
    if target.exists() and any(target.iterdir()):
        raise InstallError(f"target {target} is not empty")

    pip_install(function_dir, layout)
    bytes_before = folder_bytes(target)
    report = {"function": function, "bytes_before_slim": bytes_before}

    if slim:
        services = remove_oci_packages(layout.python)
        modules = remove_distributions(layout.python)
        tests = remove_test_folders(layout.python)
        rewrite_records(layout.python)
        removed = [*(f"oci.{name}" for name in services), *modules, *tests]
        report["modules_checked"] = check_closure(layout, removed, services)
        report["oci_packages_removed"] = len(services)
        report["distributions_removed"] = sorted(UNUSED_DISTRIBUTIONS)

    compileall.compile_dir(layout.python, quiet=1, workers=0)
    compileall.compile_dir(layout.function, quiet=1)
    report["bytes"] = folder_bytes(target)
    return report


def megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", required=True, choices=FUNCTION_NAMES)
    parser.add_argument("--target", required=True, type=Path)
    parser.add_argument(
        "--no-slim",
        dest="slim",
        action="store_false",
        help="install as pip leaves it (with bytecode), nothing removed",
    )
    parser.add_argument(
        "--report-json",
        type=Path,
        help='write {"function", "bytes", "bytes_before_slim"} to this file',
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        report = install(arguments.function, arguments.target, slim=arguments.slim)
    except InstallError as exc:
        print(f"install_function: {exc}", file=sys.stderr)
        return 1

    print(
        f"{report['function']}: {megabytes(report['bytes_before_slim'])} installed "
        f"(no bytecode), {megabytes(report['bytes'])} "
        f"{'slimmed' if arguments.slim else 'not slimmed'}, with bytecode"
    )
    if arguments.report_json:
        keys = ("function", "bytes", "bytes_before_slim")
        document = {key: report[key] for key in keys}
        arguments.report_json.write_text(json.dumps(document) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
