"""The local cloud's own rates, so it is never the unmeasured ceiling.

Put: packed PutMessages (``ocifn.streaming.Publisher``) from this process.
Get: GetMessages with a partition cursor and the largest limit, nothing
decoded. Each is set beside the product figure it could be capping
(publish-message over invoke; the drain on one partition) when this run
measured it. They are information only, with no goal: they show how close
the product figures come to the local cloud's own speed.
"""

from __future__ import annotations

import time
from typing import Any

from oci.streaming.models import CreateCursorDetails
from ocifn.streaming import Publisher

from bench.cloud import local_cloud
from bench.people import load
from bench.progress import Reporter
from bench.results import Measurement
from bench.sizes import Sizes

SECTION = "cloud"
GET_LIMIT = 10_000
PUT_NAME = "ocilocal PutMessages (packed)"
GET_NAME = "ocilocal GetMessages (partition cursor)"
# Each cloud figure, and the product measurement it is set beside.
CAPPED = {
    PUT_NAME: "publish-message via invoke",
    GET_NAME: "drain 1 partition vs ceiling",
}


def run(reporter: Reporter, sizes: Sizes) -> list[Measurement]:
    """Put and get rates on a fresh one-partition stream."""
    records = sizes.cloud_records
    with local_cloud(partitions=1) as cloud:
        client = cloud.stream_client()
        with reporter.step("local cloud: put", records) as advance:
            started = time.perf_counter()
            load(Publisher(client, cloud.stream_id), records, advance=advance)
            put_seconds = time.perf_counter() - started
        with reporter.step("local cloud: get", records) as advance:
            started = time.perf_counter()
            read = read_partition(client, cloud.stream_id, advance=advance)
            get_seconds = time.perf_counter() - started
    if read != records:
        raise RuntimeError(f"read {read} messages back, expected {records}")

    return [
        Measurement(
            SECTION,
            name,
            records / seconds,
            "messages/s",
            baseline_name=CAPPED[name],
            note=f"{records:,} messages of about 200 bytes, one partition",
            details={"messages": records, "seconds": round(seconds, 3)},
        )
        for name, seconds in ((PUT_NAME, put_seconds), (GET_NAME, get_seconds))
    ]


def link(measurements: list[Measurement]) -> None:
    """Set each cloud figure's baseline to the product figure of this run."""
    values = {measurement.name: measurement.value for measurement in measurements}
    for measurement in measurements:
        if measurement.section == SECTION:
            measurement.baseline_value = values.get(CAPPED[measurement.name])
            if measurement.baseline_value is None:
                measurement.note += "; its product figure was not measured this run"


def read_partition(client: Any, stream_id: str, *, advance: Any) -> int:
    """Read partition 0 from its start to its end; how many messages."""
    details = CreateCursorDetails(
        partition="0", type=CreateCursorDetails.TYPE_TRIM_HORIZON
    )
    cursor = client.create_cursor(stream_id, details).data.value
    read = 0
    while True:
        response = client.get_messages(stream_id, cursor, limit=GET_LIMIT)
        if not response.data:
            return read
        read += len(response.data)
        advance(len(response.data))
        cursor = response.headers["opc-next-cursor"]
