"""The consumer as getting-started guides write it: the baseline for the drain.

It joins a consumer group that commits on every get, asks for five messages
at a time, and inserts and commits each record on its own. It handles no
error itself: like such code, it leaves throttling (429) to the OCI SDK's
default retry strategy, which retries up to 8 attempts with exponential
backoff from 1 s plus up to 1 s of jitter.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oci.streaming.models import CreateGroupCursorDetails

GROUP = "naive-consumer"
INSTANCE = "naive-consumer-1"
GET_LIMIT = 5

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS person (
    name TEXT PRIMARY KEY, age INTEGER, comment_text TEXT
)
"""
INSERT_PERSON = (
    "INSERT OR REPLACE INTO person (name, age, comment_text) VALUES (?, ?, ?)"
)


@dataclass(frozen=True)
class Consumed:
    """What one bounded run stored, the GetMessages calls it took, and its time."""

    stored: int
    get_calls: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.stored / self.seconds


def consume(
    client: Any,
    stream_id: str,
    database: Path,
    *,
    max_messages: int,
    max_seconds: float | None = None,
) -> Consumed:
    """Read and store until ``max_messages`` or ``max_seconds``, or the end."""
    started = time.perf_counter()
    details = CreateGroupCursorDetails(
        group_name=GROUP,
        instance_name=INSTANCE,
        type=CreateGroupCursorDetails.TYPE_TRIM_HORIZON,
        commit_on_get=True,
    )
    cursor = client.create_group_cursor(stream_id, details).data.value

    connection = sqlite3.connect(database)
    connection.execute(CREATE_TABLE)
    stored = get_calls = 0
    try:
        while stored < max_messages and not _spent(started, max_seconds):
            response = client.get_messages(stream_id, cursor, limit=GET_LIMIT)
            get_calls += 1
            if not response.data:
                break
            for message in response.data:
                record = json.loads(base64.b64decode(message.value))
                connection.execute(
                    INSERT_PERSON,
                    (record["name"], record["age"], record.get("comment")),
                )
                connection.commit()
                stored += 1
            cursor = response.headers["opc-next-cursor"]
    finally:
        connection.close()

    return Consumed(stored, get_calls, time.perf_counter() - started)


def _spent(started: float, max_seconds: float | None) -> bool:
    return max_seconds is not None and time.perf_counter() - started >= max_seconds
