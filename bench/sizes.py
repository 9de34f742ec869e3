"""How much each benchmark moves: the full run, and the smoke run CI makes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """Counts for one run of the benchmarks."""

    drain_records: int
    drain_partitions: tuple[int, ...]
    limits_partitions: tuple[int, ...]
    naive_records: int
    naive_seconds_under_limits: float
    publish_bodies: int
    publish_body_records: int
    single_puts: int
    coldstart_repeats: int
    cloud_records: int


FULL = Sizes(
    drain_records=100_000,
    drain_partitions=(1, 4),
    limits_partitions=(1, 4),
    naive_records=2_000,
    naive_seconds_under_limits=20.0,
    publish_bodies=30,
    publish_body_records=1000,
    single_puts=2_000,
    coldstart_repeats=5,
    cloud_records=50_000,
)

SMOKE = Sizes(
    drain_records=300,
    drain_partitions=(1, 4),
    limits_partitions=(1,),
    naive_records=20,
    naive_seconds_under_limits=5.0,
    publish_bodies=2,
    publish_body_records=50,
    single_puts=20,
    coldstart_repeats=1,
    cloud_records=300,
)

SCALES = {"full": FULL, "smoke": SMOKE}
