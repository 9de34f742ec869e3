"""Progress while the benchmarks run, and the table of figures at the end."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bench.results import Measurement

PIPED_WIDTH = 160


class Reporter:
    """One rich progress display; each step of a benchmark is one task of it."""

    def __init__(self, console: Console | None = None) -> None:
        # NOTE: rich assumes 80 columns when the output is not a terminal,
        # which cuts the table's names; a file or a CI log has room for more.
        self.console = console or Console()
        if not self.console.is_terminal:
            self.console.width = max(self.console.width, PIPED_WIDTH)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )

    def __enter__(self) -> Reporter:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    @contextlib.contextmanager
    def step(self, description: str, total: int = 1) -> Iterator[Callable[[int], None]]:
        """A task for the block; the block calls ``advance(n)`` as it goes."""
        task = self._progress.add_task(description, total=total)

        def advance(amount: int) -> None:
            self._progress.advance(task, amount)

        try:
            yield advance
        finally:
            self._progress.update(task, completed=total)

    def log(self, message: str) -> None:
        self._progress.console.log(message)


def figures_table(measurements: list[Measurement]) -> Table:
    """The measurements side by side with their baselines and goals."""
    table = Table(title="Benchmarks")
    for column in ("measurement", "value", "baseline", "ratio", "goal", "met"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for measurement in measurements:
        table.add_row(*row_cells(measurement))

    return table


def row_cells(measurement: Measurement) -> list[str]:
    """The cells of one measurement's row, shared by the table and the doc."""
    baseline = "-"
    if measurement.baseline_name is not None:
        value = (
            "n/a"
            if measurement.baseline_value is None
            else number(measurement.baseline_value)
        )
        baseline = f"{measurement.baseline_name}: {value}"
    ratio = measurement.ratio
    met = {True: "yes", False: "NO", None: "-"}[measurement.met]

    return [
        measurement.name,
        f"{number(measurement.value)} {measurement.unit}",
        baseline,
        "-" if ratio is None else f"{ratio:.2f}x",
        measurement.goal.text if measurement.goal else "information only",
        met,
    ]


def number(value: float) -> str:
    """A figure with as many digits as it deserves."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"

    return f"{value:.2f}"
