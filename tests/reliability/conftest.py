"""Fixtures of the reliability suite: clouds to break, and the report's rows.

Set ``RELIABILITY_REPORT=path`` to have the suite write each scenario's
accounting to that JSON file; ``report.py`` renders it as a markdown table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from accounting import Accounting
from reliability_cloud import Cloud

REPORT_VARIABLE = "RELIABILITY_REPORT"


@pytest.fixture(scope="session")
def report_rows() -> Iterator[dict[str, dict]]:
    """Scenario name -> accounting counts; written out at the session's end."""
    rows: dict[str, dict] = {}
    yield rows

    target = os.environ.get(REPORT_VARIABLE)
    if target and rows:
        path = Path(target)
        existing = json.loads(path.read_text()) if path.is_file() else {}
        existing.update(rows)
        path.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def record_scenario(report_rows) -> Callable[[str, Accounting], None]:
    """Check an accounting and keep it for the report under a scenario name."""

    def record(scenario: str, result: Accounting) -> None:
        report_rows[scenario] = result.row()
        assert result.ok, result.problems
        assert result.lost == 0
        assert result.duplicates == 0
        assert result.records_in == result.persisted + result.dead_lettered

    return record


@pytest.fixture
def clouds(tmp_path) -> Iterator[Callable[..., Cloud]]:
    """A factory of local clouds on folders of tmp_path; all stopped at the end."""
    started: list[Cloud] = []

    def make(functions_dir: Path, *, name: str = "cloud", extra_args=()) -> Cloud:
        cloud = Cloud(tmp_path / name, functions_dir, extra_args=extra_args)
        started.append(cloud)
        return cloud

    yield make

    for cloud in started:
        cloud.stop()
