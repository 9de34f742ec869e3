"""Drain throughput: the drain function beside the naive consumer and the ceiling.

The drain is the real drain-stream-to-db, invoked through the local cloud
until a run reports the stream empty. The ceiling is the same GetMessages
loop (group cursor, the drain's limit) that only decodes and discards. The
naive consumer (``bench.naive_consumer``) runs on a subset, as a rate.

Section ``drain`` runs on a local cloud without service limits; section
``drain_limits`` sets the drain beside the naive consumer again on a local
cloud that throttles as OCI does (``ocilocal up --enforce-limits``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oci.streaming.models import CreateGroupCursorDetails
from ocifn import streaming
from ocifn.streaming import Publisher

from bench import naive_consumer
from bench.cloud import LocalCloud, local_cloud
from bench.people import load
from bench.progress import Reporter
from bench.results import Measurement, ratio_at_least
from bench.sizes import Sizes

SECTION = "drain"
LIMITS_SECTION = "drain_limits"
FUNCTION = "drain-stream-to-db"
CEILING_GROUP = "bench-ceiling"
GET_LIMIT = 10_000
CEILING_GOAL = 0.6
NAIVE_GOAL = 50.0
MAX_DRAIN_RUNS = 20
NO_LIMITS = "loopback, no service limits"
OCI_LIMITS = (
    "loopback, ocilocal up --enforce-limits: 5 GetMessages calls/s per partition"
    " per consumer group, 1 MB/s of writes per partition"
)
# NOTE: under the 1 MB/s write limit the stream is loaded in small chunks, so
# the refused entries of each are few and the publisher's retries place them.
LIMITS_LOAD_CHUNK_RECORDS = 1000
LIMITS_PUT_ATTEMPTS = 12


def run(reporter: Reporter, sizes: Sizes) -> list[Measurement]:
    """Both partition counts; two measurements (vs ceiling, vs naive) each."""
    measurements: list[Measurement] = []
    for partitions in sizes.drain_partitions:
        with local_cloud(partitions=partitions) as cloud:
            measurements += _measure(reporter, sizes, cloud, partitions)

    return measurements


def run_under_limits(reporter: Reporter, sizes: Sizes) -> list[Measurement]:
    """Both partition counts under OCI's limits; the drain vs naive for each."""
    measurements: list[Measurement] = []
    for partitions in sizes.limits_partitions:
        with local_cloud(partitions=partitions, enforce_limits=True) as cloud:
            measurements.append(
                _measure_under_limits(reporter, sizes, cloud, partitions)
            )

    return measurements


def _measure(
    reporter: Reporter, sizes: Sizes, cloud: LocalCloud, partitions: int
) -> list[Measurement]:
    label = _label(partitions)
    records = sizes.drain_records
    stream = cloud.stream_client()

    _warm_up(reporter, cloud, label)
    with reporter.step(f"drain {label}: load the stream", records) as advance:
        load(Publisher(stream, cloud.stream_id), records, advance=advance)

    with reporter.step(f"drain {label}: ceiling (get and decode)", records) as advance:
        started = time.perf_counter()
        read = ceiling(stream, cloud.stream_id, advance=advance)
        ceiling_seconds = time.perf_counter() - started
    _expect(read, records, "the ceiling loop")

    drain_seconds, runs = _timed_drain(reporter, cloud, label, records)
    naive = _timed_naive(
        reporter, cloud, label, max_messages=min(sizes.naive_records, records)
    )
    _expect(naive.stored, min(sizes.naive_records, records), "the naive consumer")

    drain_rate = records / drain_seconds
    details = {
        "conditions": NO_LIMITS,
        "partitions": partitions,
        "records": records,
        "drain_seconds": round(drain_seconds, 3),
        "drain_runs": len(runs),
    }
    return [
        Measurement(
            SECTION,
            f"drain {label} vs ceiling",
            drain_rate,
            "records/s",
            baseline_name="get+decode ceiling",
            baseline_value=records / ceiling_seconds,
            goal=ratio_at_least(CEILING_GOAL, "ceiling"),
            details={**details, "ceiling_seconds": round(ceiling_seconds, 3)},
        ),
        Measurement(
            SECTION,
            f"drain {label} vs naive (no limits)",
            drain_rate,
            "records/s",
            baseline_name="naive consumer",
            baseline_value=naive.rate,
            goal=ratio_at_least(NAIVE_GOAL, "naive"),
            note=(
                f"no service limits; naive consumer measured on the first "
                f"{naive.stored:,} records and taken as a rate"
            ),
            details={**details, **_naive_details(naive)},
        ),
    ]


def _measure_under_limits(
    reporter: Reporter, sizes: Sizes, cloud: LocalCloud, partitions: int
) -> Measurement:
    label = f"{_label(partitions)}, OCI limits"
    records = sizes.drain_records
    stream = cloud.stream_client()

    _warm_up(reporter, cloud, label)
    with (
        reporter.step(f"drain {label}: load the stream", records) as advance,
        _quiet(streaming.logger),
    ):
        publisher = Publisher(stream, cloud.stream_id, max_attempts=LIMITS_PUT_ATTEMPTS)
        load(
            publisher,
            records,
            advance=advance,
            chunk_records=LIMITS_LOAD_CHUNK_RECORDS * partitions,
        )

    drain_seconds, runs = _timed_drain(reporter, cloud, label, records)
    naive = _timed_naive(
        reporter,
        cloud,
        label,
        max_messages=min(sizes.naive_records, records),
        max_seconds=sizes.naive_seconds_under_limits,
    )
    if naive.stored == 0:
        raise RuntimeError("the naive consumer stored nothing under the limits")

    return Measurement(
        LIMITS_SECTION,
        f"drain {_label(partitions)} vs naive (OCI limits)",
        records / drain_seconds,
        "records/s",
        baseline_name="naive consumer",
        baseline_value=naive.rate,
        goal=ratio_at_least(NAIVE_GOAL, "naive"),
        note=(
            "ocilocal up --enforce-limits; naive consumer stopped after "
            f"{sizes.naive_seconds_under_limits:g} s or "
            f"{min(sizes.naive_records, records):,} records, whichever came first: "
            f"{naive.stored:,} records in {naive.seconds:.1f} s, "
            f"{naive.get_calls:,} GetMessages answered"
        ),
        details={
            "conditions": OCI_LIMITS,
            "partitions": partitions,
            "records": records,
            "drain_seconds": round(drain_seconds, 3),
            "drain_runs": len(runs),
            **_naive_details(naive),
            "naive_max_records": min(sizes.naive_records, records),
            "naive_max_seconds": sizes.naive_seconds_under_limits,
        },
    )


def _label(partitions: int) -> str:
    return f"{partitions} partition{'s' if partitions > 1 else ''}"


def _warm_up(reporter: Reporter, cloud: LocalCloud, label: str) -> None:
    with reporter.step(f"drain {label}: warm the function up"):
        warm = invoke_drain(cloud.invoke_client(), cloud.function_id(FUNCTION))
    if warm["read"] != 0:
        raise RuntimeError(f"a fresh stream was not empty: {warm}")


def _timed_drain(
    reporter: Reporter, cloud: LocalCloud, label: str, records: int
) -> tuple[float, list[dict[str, Any]]]:
    """Drain the whole stream; the seconds it took and each run's summary."""
    invoke = cloud.invoke_client()
    with reporter.step(f"drain {label}: drain-stream-to-db", records) as advance:
        started = time.perf_counter()
        runs = drain_all(invoke, cloud.function_id(FUNCTION), advance=advance)
        seconds = time.perf_counter() - started
    _expect(sum(summary["read"] for summary in runs), records, "the drain")
    _expect(person_rows(cloud.database), records, "the person table")

    return seconds, runs


def _timed_naive(
    reporter: Reporter,
    cloud: LocalCloud,
    label: str,
    *,
    max_messages: int,
    max_seconds: float | None = None,
) -> naive_consumer.Consumed:
    with (
        reporter.step(f"drain {label}: naive consumer", max_messages),
        tempfile.TemporaryDirectory(prefix="ocifn-naive-") as folder,
    ):
        return naive_consumer.consume(
            cloud.stream_client(),
            cloud.stream_id,
            Path(folder) / "naive.db",
            max_messages=max_messages,
            max_seconds=max_seconds,
        )


def _naive_details(naive: naive_consumer.Consumed) -> dict[str, Any]:
    return {
        "naive_records": naive.stored,
        "naive_seconds": round(naive.seconds, 3),
        "naive_get_calls": naive.get_calls,
    }


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Silence a logger's warnings (expected refusals) for the block."""
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def invoke_drain(client: Any, function_id: str) -> dict[str, Any]:
    """One run of the drain function over InvokeFunction; its JSON summary."""
    response = client.invoke_function(function_id, invoke_function_body=b"")
    body = response.data.content
    status = response.headers.get("fn-http-status", "200")
    document = json.loads(body)
    if status != "200" or "read" not in document:
        raise RuntimeError(f"the drain answered {status}: {body[:500]!r}")

    return document


def drain_all(
    client: Any, function_id: str, *, advance: Any = lambda done: None
) -> list[dict[str, Any]]:
    """Invoke the drain until a run stops because the stream is empty."""
    runs: list[dict[str, Any]] = []
    while len(runs) < MAX_DRAIN_RUNS:
        summary = invoke_drain(client, function_id)
        runs.append(summary)
        advance(summary["read"])
        if summary["stopped"] == "empty":
            return runs

    raise RuntimeError(f"the drain did not empty the stream in {MAX_DRAIN_RUNS} runs")


def ceiling(client: Any, stream_id: str, *, advance: Any = lambda done: None) -> int:
    """GetMessages through a group cursor, decoding each value and keeping none."""
    details = CreateGroupCursorDetails(
        group_name=CEILING_GROUP,
        instance_name=f"{CEILING_GROUP}-1",
        type=CreateGroupCursorDetails.TYPE_TRIM_HORIZON,
        commit_on_get=False,
    )
    cursor = client.create_group_cursor(stream_id, details).data.value
    read = 0
    while True:
        response = client.get_messages(stream_id, cursor, limit=GET_LIMIT)
        if not response.data:
            return read
        for message in response.data:
            json.loads(base64.b64decode(message.value))
        read += len(response.data)
        advance(len(response.data))
        cursor = response.headers["opc-next-cursor"]


def person_rows(database: Path) -> int:
    """Rows of the person table the drain wrote."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT COUNT(*) FROM person").fetchone()[0]


def _expect(actual: int, expected: int, what: str) -> None:
    if actual != expected:
        raise RuntimeError(f"{what} handled {actual} records, expected {expected}")
