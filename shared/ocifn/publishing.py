"""publish-message's logic: validate a body of persons and put them on the stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocifn import logs
from ocifn.records import Person, parse_publish_body
from ocifn.settings import PublishSettings
from ocifn.streaming import Publisher, StreamRecord


def stream_record(person: Person) -> StreamRecord:
    """The message of a person: its name as key, its compact JSON as value."""
    return person.name.encode("utf-8"), person.to_json_bytes()


class PublishFunction:
    """Validates first, then publishes through a publisher built on first use."""

    def __init__(
        self, settings: PublishSettings, publisher_factory: Callable[[], Publisher]
    ) -> None:
        self._settings = settings
        self._publisher_factory = publisher_factory
        self._publisher: Publisher | None = None

    def publish(self, body: bytes) -> dict[str, Any]:
        """Publish every person of the body, all or nothing; the JSON reply."""
        persons = parse_publish_body(
            body,
            max_records=self._settings.max_batch_records,
            max_bytes=self._settings.max_body_bytes,
        )
        logs.annotate(records=len(persons))

        if self._publisher is None:
            self._publisher = self._publisher_factory()
        placed = self._publisher.publish([stream_record(person) for person in persons])

        logs.annotate(published=len(placed))
        return {
            "published": len(placed),
            "records": [record.position(index) for index, record in enumerate(placed)],
        }
