"""``python -m bench``: run the benchmarks, print the table, write the results."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from bench import coldstart, drain, footprint, localcloud, publish
from bench.progress import Reporter, figures_table
from bench.report import git_revision, write_doc
from bench.results import Measurement, machine, write_results
from bench.sizes import SCALES, Sizes

ROOT = Path(__file__).resolve().parents[1]
SECTIONS: dict[str, Callable[[Reporter, Sizes], list[Measurement]]] = {
    "drain": drain.run,
    "drain_limits": drain.run_under_limits,
    "publish": publish.run,
    "coldstart": coldstart.run,
    "cloud": localcloud.run,
    "footprint": footprint.run,
}


def _sections(value: str | None) -> list[str]:
    if not value:
        return list(SECTIONS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}"
        )
    return names


@click.command()
@click.option(
    "--only",
    default=None,
    help=f"Comma-separated sections to run (default all): {', '.join(SECTIONS)}.",
)
@click.option(
    "--scale",
    type=click.Choice(sorted(SCALES)),
    default="full",
    show_default=True,
    help="'smoke' moves a few records only: a check that it works, not figures.",
)
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=ROOT / "bench" / "results.json",
    show_default="bench/results.json",
    help="Where to write the results.",
)
@click.option(
    "--doc",
    "doc_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=ROOT / "docs" / "benchmarks.md",
    show_default="docs/benchmarks.md",
    help="The document whose figures section is rewritten.",
)
@click.option("--no-doc", is_flag=True, help="Do not touch the document.")
def main(
    only: str | None, scale: str, results_path: Path, doc_path: Path, no_doc: bool
) -> None:
    """Run the benchmarks side by side with their baselines."""
    names = _sections(only)
    sizes = SCALES[scale]
    measurements: list[Measurement] = []
    with Reporter() as reporter:
        for name in names:
            measurements += SECTIONS[name](reporter, sizes)
    localcloud.link(measurements)
    reporter.console.print(figures_table(measurements))

    machine_info = machine()
    run = {"scale": scale, "sections": names, "revision": git_revision(ROOT)}
    write_results(results_path, measurements, machine_info=machine_info, run=run)
    if not no_doc:
        write_doc(doc_path, measurements, machine_info=machine_info, run=run)
    reporter.console.print(f"results written to {results_path}")


if __name__ == "__main__":
    sys.exit(main())
