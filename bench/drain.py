"""Drain throughput: the drain function beside the naive consumer and the ceiling.

The drain is the real drain-stream-to-db, invoked through the local cloud
until a run reports the stream empty. The ceiling is the same GetMessages
loop (group cursor, the drain's limit) that only decodes and discards. The
naive consumer (``bench.naive_consumer``) runs on a subset, as a rate.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from oci.streaming.models import CreateGroupCursorDetails
from ocifn.streaming import Publisher

from bench import naive_consumer
from bench.cloud import LocalCloud, local_cloud
from bench.people import load
from bench.progress import Reporter
from bench.results import Measurement, ratio_at_least
from bench.sizes import Sizes

SECTION = "drain"
FUNCTION = "drain-stream-to-db"
CEILING_GROUP = "bench-ceiling"
GET_LIMIT = 10_000
CEILING_GOAL = 0.6
NAIVE_GOAL = 50.0
MAX_DRAIN_RUNS = 20


def run(reporter: Reporter, sizes: Sizes) -> list[Measurement]:
    """Both partition counts; two measurements (vs ceiling, vs naive) each."""
    measurements: list[Measurement] = []
    for partitions in sizes.drain_partitions:
        with local_cloud(partitions=partitions) as cloud:
            measurements += _measure(reporter, sizes, cloud, partitions)

    return measurements


def _measure(
    reporter: Reporter, sizes: Sizes, cloud: LocalCloud, partitions: int
) -> list[Measurement]:
    label = f"{partitions} partition{'s' if partitions > 1 else ''}"
    records = sizes.drain_records
    invoke = cloud.invoke_client()
    stream = cloud.stream_client()

    with reporter.step(f"drain {label}: warm the function up"):
        warm = invoke_drain(invoke, cloud.function_id(FUNCTION))
        if warm["read"] != 0:
            raise RuntimeError(f"a fresh stream was not empty: {warm}")

    with reporter.step(f"drain {label}: load the stream", records) as advance:
        load(Publisher(stream, cloud.stream_id), records, advance=advance)

    with reporter.step(f"drain {label}: ceiling (get and decode)", records) as advance:
        started = time.perf_counter()
        read = ceiling(stream, cloud.stream_id, advance=advance)
        ceiling_seconds = time.perf_counter() - started
    _expect(read, records, "the ceiling loop")

    with reporter.step(f"drain {label}: drain-stream-to-db", records) as advance:
        started = time.perf_counter()
        runs = drain_all(invoke, cloud.function_id(FUNCTION), advance=advance)
        drain_seconds = time.perf_counter() - started
    _expect(sum(summary["read"] for summary in runs), records, "the drain")
    _expect(person_rows(cloud.database), records, "the person table")

    naive_records = min(sizes.naive_records, records)
    with (
        reporter.step(f"drain {label}: naive consumer", naive_records),
        tempfile.TemporaryDirectory(prefix="ocifn-naive-") as folder,
    ):
        started = time.perf_counter()
        stored = naive_consumer.consume(
            stream,
            cloud.stream_id,
            Path(folder) / "naive.db",
            max_messages=naive_records,
        )
        naive_seconds = time.perf_counter() - started
    _expect(stored, naive_records, "the naive consumer")

    drain_rate = records / drain_seconds
    details = {
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
            f"drain {label} vs naive",
            drain_rate,
            "records/s",
            baseline_name="naive consumer",
            baseline_value=naive_records / naive_seconds,
            goal=ratio_at_least(NAIVE_GOAL, "naive"),
            note=(
                f"naive consumer measured on the first {naive_records:,} records "
                "and taken as a rate"
            ),
            details={
                **details,
                "naive_records": naive_records,
                "naive_seconds": round(naive_seconds, 3),
            },
        ),
    ]


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
