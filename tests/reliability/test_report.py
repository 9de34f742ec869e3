"""The report renderer: one markdown row per scenario."""

from __future__ import annotations

from report import render


def test_render_rows_sorted_by_scenario_with_counts():
    counts = {"records_in": 3, "persisted": 2, "dead_lettered": 1, "lost": 0}
    rows = {
        "b scenario": {**counts, "duplicates": 0},
        "a scenario": {**counts, "duplicates": 1},
    }

    table = render(rows).splitlines()

    assert table[0].startswith("| scenario | records in |")
    assert table[2] == "| a scenario | 3 | 2 | 1 | 0 | 1 |"
    assert table[3] == "| b scenario | 3 | 2 | 1 | 0 | 0 |"
