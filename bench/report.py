"""docs/benchmarks.md: its figures section is rewritten by each run.

Everything outside the markers is prose kept by hand; the run replaces only
what lies between ``FIGURES_START`` and ``FIGURES_END``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.progress import row_cells
from bench.results import Measurement

FIGURES_START = "<!-- figures: written by `make bench`; edits here are lost -->"
FIGURES_END = "<!-- end of figures -->"
SKELETON = f"# Benchmarks\n\n{FIGURES_START}\n{FIGURES_END}\n"


def git_revision(root: Path) -> dict[str, Any]:
    """The commit measured, and whether the work tree differed from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "shared", "local", "functions"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "uncommitted_product_files": None}

    return {"commit": commit, "uncommitted_product_files": len(changed)}


def figures_section(
    measurements: list[Measurement],
    *,
    machine_info: dict[str, Any],
    run: dict[str, Any],
) -> str:
    """The markdown between the markers: machine, run, table, notes."""
    lines = [
        FIGURES_START,
        "",
        f"Latest run: {machine_info['date']}, scale `{run['scale']}`, "
        f"sections {', '.join(run['sections'])}.",
        "",
        f"- CPU: {machine_info['cpu']}, {machine_info['cores']} cores",
        f"- memory: {machine_info['memory_gib']} GiB",
        f"- Python {machine_info['python']}, {machine_info['system']}",
    ]
    revision = run.get("revision") or {}
    if revision.get("commit"):
        lines.append(
            f"- code: commit {revision['commit']}, "
            f"{revision['uncommitted_product_files']} uncommitted file(s) "
            "under shared/, local/, functions/"
        )
    lines += [
        "",
        "| measurement | value | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row_cells(item)) + " |"
        for item in measurements
    ]
    notes = [f"- {item.name}: {item.note}" for item in measurements if item.note]
    if notes:
        lines += ["", "Notes on this run:", "", *notes]
    lines += ["", FIGURES_END]

    return "\n".join(lines)


def write_doc(
    path: Path,
    measurements: list[Measurement],
    *,
    machine_info: dict[str, Any],
    run: dict[str, Any],
) -> None:
    """Replace the figures section of ``path`` (made from a skeleton if missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else SKELETON
    start, end = text.find(FIGURES_START), text.find(FIGURES_END)
    if start < 0 or end < start:
        raise RuntimeError(f"{path} has no figures markers to write between")

    section = figures_section(measurements, machine_info=machine_info, run=run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        text[:start] + section + text[end + len(FIGURES_END) :], encoding="utf-8"
    )
