"""Measurements, their goals, and how they are written to results.json."""

from __future__ import annotations

import json
import operator
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COMPARISONS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Goal:
    """A target on the ratio to the baseline, or on the value itself."""

    of: str
    op: str
    target: float
    text: str

    def met(self, value: float, ratio: float | None) -> bool | None:
        """Whether the goal holds; None when the ratio it needs is unknown."""
        subject = ratio if self.of == "ratio" else value
        if subject is None:
            return None

        return COMPARISONS[self.op](subject, self.target)


def ratio_at_least(target: float, baseline: str) -> Goal:
    return Goal("ratio", ">=", target, f">= {target:g} x {baseline}")


def ratio_at_most(target: float, baseline: str) -> Goal:
    return Goal("ratio", "<=", target, f"<= {target:g} x {baseline}")


def value_below(target: float, unit: str) -> Goal:
    return Goal("value", "<", target, f"< {target:g} {unit}")


@dataclass
class Measurement:
    """One figure, its side-by-side baseline, their ratio and the goal."""

    section: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    goal: Goal | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None

        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None

        return self.goal.met(self.value, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "section": self.section,
            "name": self.name,
            "value": round(self.value, 3),
            "unit": self.unit,
            "baseline": {
                "name": self.baseline_name,
                "value": _round(self.baseline_value),
            },
            "ratio": _round(ratio),
            "goal": asdict(self.goal) if self.goal else None,
            "met": self.met,
            "note": self.note,
            "details": self.details,
        }


def _round(number: float | None) -> float | None:
    return None if number is None else round(number, 3)


def machine() -> dict[str, Any]:
    """The machine the figures came from."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_bytes() / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass

    return platform.processor() or "unknown"


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass

    return 0


def write_results(
    path: Path,
    measurements: list[Measurement],
    *,
    machine_info: dict[str, Any],
    run: dict[str, Any],
) -> dict[str, Any]:
    """Write results.json; the document written."""
    document = {
        "machine": machine_info,
        "run": run,
        "measurements": [measurement.to_dict() for measurement in measurements],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    return document
