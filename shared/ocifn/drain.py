"""The drain: stream -> Person or dead letter -> database -> commit.

Each batch is one database transaction; the consumer group's offsets are
committed only after it. A message that fails to decode becomes a dead letter
and the cursor moves on, so a poison message never blocks its partition. The
run stops when a read returns nothing ("empty") or when its share of the
function's deadline is spent ("deadline"). Messages the stream removed before
any drain read them (past its retention) cannot be stored; the first read of
each partition is checked against the group's committed offset, and such a
gap is counted as ``skipped`` and logged. A read or commit the stream refuses
for a while (throttling, a 5xx) is tried again with backoff inside that share;
a database connection found dead is replaced once per run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ocifn import logs
from ocifn.errors import (
    ConfigError,
    ConnectionLost,
    DatabaseAuthError,
    DatabaseError,
    StreamError,
)
from ocifn.records import Person, decode_message, message_bytes
from ocifn.secrets import SecretReader
from ocifn.settings import DrainSettings
from ocifn.store import DeadLetter, SourcedPerson, Store, open_store
from ocifn.streaming import Consumer, StreamMessage, make_stream_client

logger = logging.getLogger(__name__)

STOPPED_EMPTY = "empty"
STOPPED_DEADLINE = "deadline"
DEFAULT_DEADLINE_SECONDS = 30.0
STREAM_ENDPOINT_FIELD = "streamMessagesEndpoint"
STREAM_ID_FIELD = "streamOCID"
STREAM_ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 4.0

T = TypeVar("T")


@dataclass
class DrainSummary:
    """What one run did; ``read == upserted + dead_lettered + unchanged``.

    ``skipped`` counts, per partition, messages the stream no longer held
    when this run came to them: they were never read, so are not in ``read``.
    """

    read: int = 0
    upserted: int = 0
    dead_lettered: int = 0
    unchanged: int = 0
    committed: dict[int, int] = field(default_factory=dict)
    skipped: dict[int, int] = field(default_factory=dict)
    stopped: str = STOPPED_EMPTY

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "upserted": self.upserted,
            "dead_lettered": self.dead_lettered,
            "unchanged": self.unchanged,
            "committed": {
                str(partition): offset
                for partition, offset in sorted(self.committed.items())
            },
            "skipped": {
                str(partition): count
                for partition, count in sorted(self.skipped.items())
            },
            "stopped": self.stopped,
        }


def stop_time(
    deadline: str | None,
    fraction: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """The ``clock`` time at which a run must stop, from fdk's ISO deadline."""
    remaining = DEFAULT_DEADLINE_SECONDS
    if deadline:
        try:
            ends = datetime.fromisoformat(deadline)
        except ValueError:
            logger.warning("unreadable deadline %r; assuming %ss", deadline, remaining)
        else:
            if ends.tzinfo is None:
                ends = ends.replace(tzinfo=UTC)
            remaining = (ends - datetime.now(UTC)).total_seconds()

    return clock() + max(remaining, 0.0) * fraction


def split_batch(
    messages: list[StreamMessage],
) -> tuple[list[SourcedPerson], list[DeadLetter]]:
    """Decode each message into a sourced person or a dead letter."""
    persons: list[SourcedPerson] = []
    dead_letters: list[DeadLetter] = []
    for message in messages:
        decoded = decode_message(message.value)
        if isinstance(decoded, Person):
            persons.append(SourcedPerson(decoded, message.partition, message.offset))
            continue

        raw = message_bytes(message.value)
        dead_letters.append(
            DeadLetter(
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                raw_value=raw if raw is not None else message.value.encode("utf-8"),
                reason=decoded,
            )
        )

    return persons, dead_letters


def retry_stream(
    call: Callable[[], T],
    *,
    stop_at: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = STREAM_ATTEMPTS,
) -> T:
    """``call()``, tried again with backoff while the stream error is retryable.

    It gives up, raising the last StreamError, after ``attempts`` tries or when
    the next wait would pass ``stop_at``.
    """
    delay = FIRST_BACKOFF_SECONDS
    attempt = 1
    while True:
        try:
            return call()
        except StreamError as exc:
            if not exc.retryable or attempt >= attempts or clock() + delay > stop_at:
                raise
            logger.warning("stream call failed, retrying in %.1fs: %s", delay, exc)

        sleep(delay)
        attempt += 1
        delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def drain(
    consumer: Consumer,
    store: Store,
    *,
    get_limit: int,
    stop_at: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    summary: DrainSummary | None = None,
) -> DrainSummary:
    """Drain until the stream is empty or ``clock()`` reaches ``stop_at``.

    Counts add to ``summary`` when one is given, so a run that drains again
    after a reconnect reports both parts.
    """
    summary = summary if summary is not None else DrainSummary()

    def retry(call: Callable[[], T]) -> T:
        return retry_stream(call, stop_at=stop_at, clock=clock, sleep=sleep)

    while True:
        if clock() >= stop_at:
            summary.stopped = STOPPED_DEADLINE
            break

        messages = retry(lambda: consumer.get(get_limit))
        if not messages:
            summary.stopped = STOPPED_EMPTY
            break

        new_partitions = {m.partition for m in messages} - summary.committed.keys()
        if new_partitions:
            committed = retry(consumer.committed_offsets)
            _count_skipped(messages, new_partitions, committed, summary)

        persons, dead_letters = split_batch(messages)
        counts = store.write_batch(persons, dead_letters)
        retry(consumer.commit)

        summary.read += len(messages)
        summary.upserted += counts.upserted
        summary.dead_lettered += counts.dead_lettered
        summary.unchanged += counts.unchanged
        for message in messages:
            latest = summary.committed.get(message.partition, -1)
            summary.committed[message.partition] = max(latest, message.offset)
        if dead_letters:
            logger.warning(
                "%d messages dead-lettered: %s",
                len(dead_letters),
                ", ".join(
                    f"{letter.partition}/{letter.offset}:{letter.reason}"
                    for letter in dead_letters[:10]
                ),
            )

    return summary


def _count_skipped(
    messages: list[StreamMessage],
    partitions: set[int],
    committed: dict[int, int | None],
    summary: DrainSummary,
) -> None:
    """Count the messages between a partition's committed offset and its first read.

    Offsets of a partition follow one another, so a first read past the
    committed offset plus one means the stream dropped what lies between.
    """
    for partition in sorted(partitions):
        first = min(m.offset for m in messages if m.partition == partition)
        last_committed = committed.get(partition)
        expected = 0 if last_committed is None else last_committed + 1
        if first > expected:
            summary.skipped[partition] = first - expected
            logger.warning(
                "partition %d: offsets %d to %d left the stream before any drain "
                "read them (retention); they are not in the database",
                partition,
                expected,
                first - 1,
            )


class DrainFunction:
    """The drain function's state across invocations: reader, consumer, store."""

    def __init__(
        self,
        settings: DrainSettings,
        secret_reader: SecretReader,
        *,
        stream_client_factory: Callable[[str], Any] = make_stream_client,
        store_opener: Callable[..., Store] = open_store,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._secrets = secret_reader
        self._stream_client_factory = stream_client_factory
        self._store_opener = store_opener
        self._clock = clock
        self._sleep = sleep
        self._consumer: Consumer | None = None
        self._consumer_source: tuple[str, str] | None = None
        self._store: Store | None = None
        self._store_connection: dict[str, Any] | None = None

    def run(self, deadline: str | None) -> dict[str, Any]:
        """One drain run; the JSON summary."""
        stop_at = stop_time(
            deadline, self._settings.deadline_fraction, clock=self._clock
        )
        consumer = self._get_consumer()
        summary = DrainSummary()
        try:
            self._drain(consumer, stop_at, summary)
        except ConnectionLost:
            logger.warning("the database connection was lost; connecting again")
            self._drain(consumer, stop_at, summary)

        logs.annotate(
            read=summary.read,
            upserted=summary.upserted,
            dead_lettered=summary.dead_lettered,
            unchanged=summary.unchanged,
            committed=summary.committed,
            skipped=summary.skipped,
            stopped=summary.stopped,
        )

        return summary.to_dict()

    def close(self) -> None:
        """Release the database connection."""
        self._drop_store()

    def _drain(self, consumer: Consumer, stop_at: float, summary: DrainSummary) -> None:
        """Drain from the group's committed offsets; a failed store is dropped."""
        store = self._get_store(stop_at)
        consumer.restart()
        try:
            drain(
                consumer,
                store,
                get_limit=self._settings.get_limit,
                stop_at=stop_at,
                clock=self._clock,
                sleep=self._sleep,
                summary=summary,
            )
        except DatabaseError:
            self._drop_store()
            raise

    def _get_consumer(self) -> Consumer:
        secret = self._secrets.read(self._settings.stream_secret_id).json_object()
        endpoint = _secret_field(secret, STREAM_ENDPOINT_FIELD, "messages endpoint")
        stream_id = _secret_field(secret, STREAM_ID_FIELD, "stream OCID")

        source = (endpoint, stream_id)
        if self._consumer is None or self._consumer_source != source:
            self._consumer = Consumer(
                self._stream_client_factory(endpoint),
                stream_id,
                group=self._settings.consumer_group,
                instance=self._settings.consumer_instance,
            )
            self._consumer_source = source

        return self._consumer

    def _get_store(self, stop_at: float) -> Store:
        # NOTE: the secret is read on every run (the reader caches it for its
        # TTL), so a rotated connection secret moves the writes once the cached
        # version expires instead of when the open connection happens to fail.
        secret_id = self._settings.db_secret_id
        connection = self._secrets.read(secret_id).json_object()
        if self._store is not None:
            if connection == self._store_connection:
                return self._store
            logger.info("the database connection secret changed; reconnecting")
            self._drop_store()

        try:
            self._store = self._open_store(connection, stop_at)
        except DatabaseAuthError:
            logger.warning("database refused the credentials; reading secrets again")
            self._secrets.invalidate()
            connection = self._secrets.read(secret_id).json_object()
            self._store = self._open_store(connection, stop_at)
        self._store_connection = connection

        return self._store

    def _open_store(self, connection: dict[str, Any], stop_at: float) -> Store:
        return self._store_opener(
            connection,
            read_secret=self._read_wallet_secret,
            deadline_seconds=stop_at - self._clock(),
        )

    def _read_wallet_secret(self, secret_id: str) -> tuple[bytes, int]:
        secret = self._secrets.read(secret_id)

        return secret.content, secret.version

    def _drop_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception:
                logger.warning("closing the store failed", exc_info=True)


def _secret_field(secret: dict[str, Any], name: str, meaning: str) -> str:
    value = secret.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"stream secret field {name!r} should hold the {meaning}")

    return value
