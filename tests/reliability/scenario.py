"""Steps the scenarios share: make people, publish them, put poison, with a ledger."""

from __future__ import annotations

import json

from accounting import Ledger
from reliability_cloud import Cloud


def people(prefix: str, count: int, *, age: int = 30) -> list[dict]:
    """``count`` distinct persons named after ``prefix``."""
    return [
        {"name": f"{prefix}-{index:04d}", "age": (age + index) % 151, "comment": None}
        for index in range(count)
    ]


def publish(cloud: Cloud, ledger: Ledger, documents: list[dict]) -> None:
    """Publish through the gateway (answer must be 200) and note what was placed."""
    status, reply = cloud.publish(json.dumps(documents).encode())
    assert status == 200, reply
    ledger.add_published(documents, reply)


def put_poison(cloud: Cloud, ledger: Ledger, values: list[bytes]) -> None:
    """Put values that must become dead letters straight on the stream."""
    positions = cloud.put_raw([(b"poison", value) for value in values])
    for (partition, offset), value in zip(positions, values, strict=True):
        ledger.add(partition, offset, value, valid=False)


POISON = [
    b"not json at all",
    b"\xff\xfe not utf-8",
    b"[1, 2, 3]",
    b'{"name": "", "age": 3}',
    b'{"name": "Too Old", "age": 151}',
]
