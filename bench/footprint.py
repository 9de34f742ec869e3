"""Image footprint: each function as its image installs it, beside a plain
``pip install --target DIR fdk oci oracledb``.

The function's install is ``deploy/install_function.py`` (pinned requirements,
the shared package, the slimming and the bytecode its image gets); the plain
one is what pip leaves for the same pins, bytecode included. Both count the
bytes of regular files. This section runs pip, so it is the slow one.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from bench.progress import Reporter
from bench.results import Measurement, ratio_at_most
from bench.sizes import Sizes

SECTION = "footprint"
ROOT = Path(__file__).resolve().parents[1]
INSTALLER = ROOT / "deploy" / "install_function.py"
FUNCTIONS = ("publish-message", "drain-stream-to-db", "read-secret")
PLAIN_PACKAGES = ("fdk", "oci", "oracledb")
GOAL = 0.15


def run(reporter: Reporter, sizes: Sizes) -> list[Measurement]:
    """Installed bytes of each function beside the plain install."""
    with tempfile.TemporaryDirectory(prefix="ocifn-footprint-") as folder:
        with reporter.step("footprint: plain pip install fdk oci oracledb"):
            plain = plain_install_bytes(Path(folder) / "plain")
        reports = {}
        with reporter.step(
            "footprint: install each function", len(FUNCTIONS)
        ) as advance:
            for function in FUNCTIONS:
                reports[function] = function_install(function, Path(folder) / function)
                advance(1)

    return [
        Measurement(
            SECTION,
            f"{function} installed size",
            report["bytes"] / 1_000_000,
            "MB",
            baseline_name="plain pip install fdk oci oracledb",
            baseline_value=plain / 1_000_000,
            goal=ratio_at_most(GOAL, "plain"),
            note="deploy/install_function.py, slimmed, with bytecode",
            details={
                "bytes": report["bytes"],
                "bytes_before_slim": report["bytes_before_slim"],
                "plain_bytes": plain,
            },
        )
        for function, report in reports.items()
    ]


def pinned(package: str) -> str:
    """``package==version`` as the functions' requirements pin it."""
    for requirements in sorted((ROOT / "functions").glob("*/requirements.txt")):
        for line in requirements.read_text().splitlines():
            name, _, version = line.partition("==")
            if name.strip().lower() == package and version:
                return f"{package}=={version.strip()}"

    raise RuntimeError(f"no function pins {package}")


def plain_install_bytes(target: Path) -> int:
    """Bytes of ``pip install --target`` of the plain packages, as pip leaves them."""
    command = [sys.executable, "-m", "pip", "install", "--quiet"]
    command += ["--disable-pip-version-check", "--no-warn-conflicts"]
    command += ["--target", str(target), *(pinned(name) for name in PLAIN_PACKAGES)]
    subprocess.run(command, check=True)

    return installer().folder_bytes(target)


def function_install(function: str, target: Path) -> dict:
    """Run the image's installer for one function; its size report."""
    report_path = target.with_suffix(".json")
    command = [sys.executable, str(INSTALLER), "--function", function]
    command += ["--target", str(target), "--report-json", str(report_path)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    return json.loads(report_path.read_text())


def installer() -> ModuleType:
    """``deploy/install_function.py`` as a module, for its byte count.

    NOTE: the installer runs standalone in image builds and imports its
    sibling ``import_closure.py`` by plain name, so its folder goes on the path.
    """
    if str(INSTALLER.parent) not in sys.path:
        sys.path.append(str(INSTALLER.parent))
    return importlib.import_module(INSTALLER.stem)
