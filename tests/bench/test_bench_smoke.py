"""The benchmarks run end to end at smoke scale and write well-formed results.

These check shape, not speed: every figure is positive, ratios are the value
over the baseline, and goals are judged (the local cloud's own rates carry
no goal: they are information only). The footprint section runs pip installs
and is left to the full ``make bench``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import FIGURES_END, FIGURES_START
from bench.results import Measurement, ratio_at_least, value_below

ROOT = Path(__file__).resolve().parents[2]
SMOKE_SECTIONS = ("drain", "drain_limits", "publish", "coldstart", "cloud")
INFORMATION_SECTIONS = {"cloud"}
ENTRY_KEYS = {"section", "name", "value", "unit", "baseline", "ratio", "goal", "met"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[dict, str]:
    """One smoke run of every section but the footprint: results and document."""
    folder = tmp_path_factory.mktemp("bench")
    results, doc = folder / "results.json", folder / "benchmarks.md"
    doc.write_text(f"# Kept prose\n\n{FIGURES_START}\nold\n{FIGURES_END}\n\nTail.\n")
    command = [sys.executable, "-m", "bench", "--scale", "smoke"]
    command += ["--only", ",".join(SMOKE_SECTIONS)]
    command += ["--results", str(results), "--doc", str(doc)]

    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(results.read_text()), doc.read_text()


def test_bench_smoke_every_section_measured(smoke_run):
    results, _ = smoke_run

    sections = {entry["section"] for entry in results["measurements"]}

    assert sections == set(SMOKE_SECTIONS)
    assert results["run"]["scale"] == "smoke"
    assert results["machine"]["cores"] >= 1


def test_bench_smoke_entries_well_formed(smoke_run):
    results, _ = smoke_run

    for entry in results["measurements"]:
        assert set(entry) >= ENTRY_KEYS, entry
        assert entry["value"] > 0, entry
        baseline = entry["baseline"]["value"]
        assert baseline is not None and baseline > 0, entry
        assert math.isclose(entry["ratio"], entry["value"] / baseline, rel_tol=0.01)
        if entry["section"] in INFORMATION_SECTIONS:
            assert entry["goal"] is None and entry["met"] is None, entry
        else:
            assert isinstance(entry["met"], bool), entry


def test_bench_smoke_drain_has_both_baselines(smoke_run):
    results, _ = smoke_run

    baselines = {
        entry["baseline"]["name"]
        for entry in results["measurements"]
        if entry["section"] == "drain"
    }

    assert baselines == {"get+decode ceiling", "naive consumer"}


def test_bench_smoke_drain_under_limits_beside_naive_with_goal(smoke_run):
    results, _ = smoke_run

    entries = [
        entry for entry in results["measurements"] if entry["section"] == "drain_limits"
    ]

    assert entries
    for entry in entries:
        assert entry["baseline"]["name"] == "naive consumer"
        assert entry["goal"]["target"] == 50.0
        assert "--enforce-limits" in entry["details"]["conditions"]
        assert (
            entry["details"]["naive_records"] <= entry["details"]["naive_max_records"]
        )


def test_bench_smoke_doc_figures_replaced_prose_kept(smoke_run):
    results, doc = smoke_run

    assert doc.startswith("# Kept prose")
    assert doc.rstrip().endswith("Tail.")
    assert "\nold\n" not in doc
    for entry in results["measurements"]:
        assert f"| {entry['name']} |" in doc


def test_measurement_ratio_below_goal_not_met():
    measurement = Measurement(
        "drain", "x", 10.0, "records/s", "base", 40.0, ratio_at_least(0.6, "base")
    )

    assert measurement.ratio == 0.25
    assert measurement.met is False


def test_measurement_value_goal_without_baseline_judged():
    measurement = Measurement(
        "coldstart", "rss", 50.0, "MB", goal=value_below(90, "MB")
    )

    assert measurement.ratio is None
    assert measurement.met is True


def test_measurement_without_goal_information_only():
    measurement = Measurement(
        "cloud", "put", 100.0, "messages/s", "product", 50.0, goal=None
    )

    assert measurement.ratio == 2.0
    assert measurement.met is None
    assert measurement.to_dict()["goal"] is None
