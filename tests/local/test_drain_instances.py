"""Two drain-stream-to-db instances in one consumer group, fired by the schedule.

`ocilocal up --drain-instances 2` runs two fdk processes of the drain with
CONSUMER_INSTANCE drain-stream-to-db-1 and -2; the group splits the stream's
two partitions between them, and together they store every record once.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import oci
import pytest
from cloud_process import free_port, running_cloud

GROUP = "drain-stream-to-db"
INSTANCES = {"drain-stream-to-db-1", "drain-stream-to-db-2"}
PEOPLE = 60
WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def two_drains(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("two-drains")
    options = ["--drain-instances", "2", "--drain-every", "1"]
    with running_cloud(
        root / "data", free_port(), root / "server.log", options=options
    ) as state:
        yield state


def publish(state: dict, people: list[dict]) -> dict:
    request = urllib.request.Request(
        state["gateway"] + "messages",
        data=json.dumps(people).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def holders(admin_client, state: dict) -> set[str]:
    stream_id = state["streams"]["people"]["id"]
    try:
        group = admin_client.get_group(stream_id, GROUP).data
    except oci.exceptions.ServiceError:
        return set()
    return {r.reserved_instance for r in group.reservations if r.reserved_instance}


def rows(database: str, sql: str) -> list[tuple]:
    if not Path(database).exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_SECONDS}s for {what}")
        time.sleep(0.5)


def test_drain_instances_two_share_partitions_and_store_each_record_once(two_drains):
    config = oci.config.from_file(two_drains["config_file"])
    streams = oci.streaming.StreamClient(
        config, service_endpoint=two_drains["endpoint"]
    )
    wait_until(lambda: holders(streams, two_drains) == INSTANCES, "both instances")
    first = [
        {"name": f"Person {i:03d}", "age": i, "comment": "first"} for i in range(PEOPLE)
    ]
    newer = [{**person, "age": person["age"] + 60} for person in first]

    published = (
        publish(two_drains, first)["records"] + publish(two_drains, newer)["records"]
    )
    ends = {}
    for record in published:
        ends[record["partition"]] = max(
            ends.get(record["partition"], -1), record["offset"]
        )

    def committed() -> dict[int, int]:
        group = streams.get_group(two_drains["streams"]["people"]["id"], GROUP).data
        return {
            int(r.partition): r.committed_offset
            for r in group.reservations
            if r.committed_offset is not None
        }

    wait_until(lambda: committed() == ends, "the group to commit every offset")

    database = two_drains["database"]
    people = rows(database, "SELECT name, age FROM person ORDER BY name")
    log = Path(two_drains["data_dir"]) / "logs" / "scheduler.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    read_by = {instance: 0 for instance in (1, 2)}
    for run in runs:
        if run["status"] == 200:
            read_by[run["instance"]] += run["body"]["read"]

    assert len(ends) == 2
    assert len(people) == PEOPLE
    assert people == [(person["name"], person["age"]) for person in newer]
    assert rows(database, "SELECT COUNT(*) FROM dead_letter") == [(0,)]
    assert holders(streams, two_drains) == INSTANCES
    assert read_by[1] > 0 and read_by[2] > 0
    assert read_by[1] + read_by[2] >= 2 * PEOPLE
