"""Tests of ocifn.drain: decoding batches, the deadline, commit after the database."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from oci.response import Response
from oci.streaming.models import Cursor, Message
from ocifn.drain import drain, split_batch, stop_time
from ocifn.errors import DatabaseError
from ocifn.store import SqliteStore
from ocifn.streaming import Consumer, StreamMessage

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
STREAM_ID = "ocid1.stream.oc1.phx.example"


def load_cases(name):
    lines = (CASES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


DRAIN_CASES = load_cases("drain_cases.jsonl") + load_cases("seed_messages.jsonl")


def stream_message(offset, case):
    key = case["key"].encode() if case["key"] is not None else None
    return StreamMessage(partition=0, offset=offset, key=key, value=case["value_b64"])


def test_split_batch_all_cases_counts_add_up():
    """Every case lands as a person or a dead letter with its raw bytes."""
    messages = [stream_message(offset, case) for offset, case in enumerate(DRAIN_CASES)]

    persons, dead_letters = split_batch(messages)

    expected_persons = [
        case["id"] for case in DRAIN_CASES if case["expect"] == "person"
    ]
    assert len(persons) == len(expected_persons)
    assert len(persons) + len(dead_letters) == len(DRAIN_CASES)
    for letter in dead_letters:
        case = DRAIN_CASES[letter.offset]
        assert case["expect"] == "dead_letter"
        assert letter.raw_value == base64.b64decode(case["value_b64"])
        assert letter.reason


def test_stop_time_uses_fraction_of_remaining_deadline():
    """The run may use DEADLINE_FRACTION of the time until Fn-Deadline."""
    deadline = (datetime.now(UTC) + timedelta(seconds=100)).isoformat()

    stop_at = stop_time(deadline, 0.5, clock=lambda: 1000.0)

    assert 1049.0 < stop_at <= 1050.0


def test_stop_time_past_deadline_stops_at_once():
    """A deadline already passed leaves no time."""
    deadline = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()

    assert stop_time(deadline, 0.8, clock=lambda: 10.0) == 10.0


class BatchStreamClient:
    """A fake StreamClient serving fixed batches and recording commits.

    It stands in for the service to observe that no commit happens when the
    database fails, a failure the real service cannot be made to cause.
    """

    def __init__(self, batches):
        self.batches = list(batches)
        self.commits = []

    def create_group_cursor(self, stream_id, details):
        return Response(200, {}, Cursor(value="group"), None)

    def get_messages(self, stream_id, cursor, limit=None):
        batch = self.batches.pop(0) if self.batches else []
        return Response(200, {"opc-next-cursor": f"after-{cursor}"}, batch, None)

    def consumer_commit(self, stream_id, cursor):
        self.commits.append(cursor)
        return Response(200, {}, Cursor(value=cursor), None)


def sdk_message(partition, offset, raw):
    return Message(
        stream=STREAM_ID,
        partition=str(partition),
        key=None,
        value=base64.b64encode(raw).decode(),
        offset=offset,
    )


def test_drain_poison_and_persons_commit_after_each_batch(tmp_path):
    """Persons and poison both land; the cursor is committed after each batch.

    Uses a fake client to observe the commits.
    """
    client = BatchStreamClient(
        [
            [
                sdk_message(0, 0, b'{"name": "Ada", "age": 36}'),
                sdk_message(0, 1, b"not json"),
            ],
            [sdk_message(1, 0, b'{"name": "Ada", "age": 37}')],
        ]
    )
    store = SqliteStore(str(tmp_path / "app.db"))
    consumer = Consumer(client, STREAM_ID, group="g", instance="i")

    summary = drain(consumer, store, get_limit=100, stop_at=float("inf"))

    assert summary.to_dict() == {
        "read": 3,
        "upserted": 2,
        "dead_lettered": 1,
        "unchanged": 0,
        "committed": {"0": 1, "1": 0},
        "stopped": "empty",
    }
    assert len(client.commits) == 2
    store.close()


def test_drain_database_failure_commits_nothing(tmp_path):
    """When the transaction fails, the cursor is not committed.

    Uses a fake client to observe that no commit is sent.
    """
    client = BatchStreamClient([[sdk_message(0, 0, b'{"name": "A", "age": 1}')]])
    path = tmp_path / "app.db"
    store = SqliteStore(str(path))
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE dead_letter")
        connection.execute("DROP TABLE person")
    consumer = Consumer(client, STREAM_ID, group="g", instance="i")

    with pytest.raises(DatabaseError):
        drain(consumer, store, get_limit=100, stop_at=float("inf"))

    assert client.commits == []
    store.close()


def test_drain_deadline_reached_stops_before_reading(tmp_path):
    """With no time left the run stops without reading.

    Uses a fake client to observe that nothing is read or committed.
    """
    client = BatchStreamClient([[sdk_message(0, 0, b"x")]])
    store = SqliteStore(str(tmp_path / "app.db"))
    consumer = Consumer(client, STREAM_ID, group="g", instance="i")

    summary = drain(consumer, store, get_limit=100, stop_at=0.0, clock=lambda: 1.0)

    assert summary.stopped == "deadline"
    assert summary.read == 0
    assert client.batches and client.commits == []
    store.close()
