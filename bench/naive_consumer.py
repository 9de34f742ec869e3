"""The consumer as getting-started guides write it: the baseline for the drain.

It joins a consumer group that commits on every get, asks for five messages
at a time, and inserts and commits each record on its own.
"""

from __future__ import annotations

import base64
import json
import sqlite3
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


def consume(client: Any, stream_id: str, database: Path, *, max_messages: int) -> int:
    """Read and store up to ``max_messages`` messages; how many were stored."""
    details = CreateGroupCursorDetails(
        group_name=GROUP,
        instance_name=INSTANCE,
        type=CreateGroupCursorDetails.TYPE_TRIM_HORIZON,
        commit_on_get=True,
    )
    cursor = client.create_group_cursor(stream_id, details).data.value

    connection = sqlite3.connect(database)
    connection.execute(CREATE_TABLE)
    stored = 0
    try:
        while stored < max_messages:
            response = client.get_messages(stream_id, cursor, limit=GET_LIMIT)
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

    return stored
