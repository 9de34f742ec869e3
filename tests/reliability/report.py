"""Render the reliability suite's JSON rows as the markdown table of the docs.

RELIABILITY_REPORT=rows.json pytest tests/reliability
python tests/reliability/report.py rows.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = (
    ("records_in", "records in"),
    ("persisted", "persisted"),
    ("dead_lettered", "dead-lettered"),
    ("lost", "lost"),
    ("duplicates", "duplicates"),
)


def render(rows: dict[str, dict[str, int]]) -> str:
    """One markdown row per scenario, in name order."""
    header = "| scenario | " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    lines = [header, rule]
    for scenario in sorted(rows):
        counts = rows[scenario]
        cells = " | ".join(str(counts[key]) for key, _ in COLUMNS)
        lines.append(f"| {scenario} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: report.py ROWS.json", file=sys.stderr)
        return 2
    rows = json.loads(Path(argv[1]).read_text())
    sys.stdout.write(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
