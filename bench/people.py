"""The benchmark's records: persons of about 200 bytes, and loading them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ocifn.publishing import stream_record
from ocifn.records import Person
from ocifn.streaming import Publisher, StreamRecord

RECORD_BYTES = 200
LOAD_CHUNK_RECORDS = 10_000
_FILLER = "the quick brown fox jumps over the lazy dog; " * 8


def person(index: int) -> Person:
    """Person number ``index``: a unique name and a comment that pads it out."""
    name = f"bench-person-{index:07d}"
    head = Person(name=name, age=index % 120, comment="").to_json_bytes()
    comment = f"#{index} " + _FILLER
    return Person(
        name=name, age=index % 120, comment=comment[: RECORD_BYTES - len(head)]
    )


def people(count: int, *, start: int = 0) -> Iterator[Person]:
    """``count`` persons from number ``start`` on."""
    for index in range(start, start + count):
        yield person(index)


def publish_body(count: int, *, start: int = 0) -> bytes:
    """A publish-message body: a JSON list of ``count`` persons."""
    return (
        b"["
        + b",".join(item.to_json_bytes() for item in people(count, start=start))
        + b"]"
    )


def load(
    publisher: Publisher,
    count: int,
    *,
    advance: Callable[[int], None] = lambda done: None,
    chunk_records: int = LOAD_CHUNK_RECORDS,
) -> int:
    """Put ``count`` persons on the stream in packed PutMessages requests."""
    placed = 0
    for start in range(0, count, chunk_records):
        size = min(chunk_records, count - start)
        records: list[StreamRecord] = [
            stream_record(item) for item in people(size, start=start)
        ]
        placed += len(publisher.publish(records))
        advance(size)

    return placed
