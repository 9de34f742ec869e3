"""Publishing to and consuming from an OCI stream.

``Publisher`` packs records into PutMessages requests under the 1 MiB request
limit and retries only the entries the service refused. ``Consumer`` reads as
a member of a consumer group with ``commit_on_get`` off, so offsets are
committed only when the caller says its own work is durable.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import oci
from oci.streaming.models import (
    CreateGroupCursorDetails,
    PutMessagesDetails,
    PutMessagesDetailsEntry,
)

from ocifn import auth
from ocifn.errors import PayloadTooLarge, StreamError, service_error_context

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
# NOTE: the request is JSON; these margins cover the envelope and each entry's
# braces, quotes and field names with room to spare, so a pack measured with
# them never reaches the service's limit.
REQUEST_OVERHEAD_BYTES = 1024
ENTRY_OVERHEAD_BYTES = 64
MAX_PUT_ATTEMPTS = 7
FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 5.0
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
GROUP_CURSOR_TIMEOUT_MS = 30_000

StreamRecord = tuple[bytes | None, bytes]


def make_stream_client(messages_endpoint: str) -> Any:
    """A StreamClient with the process credentials at the stream's endpoint.

    The SDK's own retries are off: its default strategy may retry for ten
    minutes, longer than any function may run. ``Publisher`` and the drain
    retry themselves, within the function's time.
    """
    credentials = auth.get_credentials()

    return oci.streaming.StreamClient(
        service_endpoint=messages_endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        **credentials.client_kwargs(),
    )


@dataclass(frozen=True)
class PublishedRecord:
    """Where the stream put one record."""

    partition: int
    offset: int

    def position(self, index: int) -> dict[str, int]:
        """The record's place as a reply shows it: its index in the body too."""
        return {"index": index, "partition": self.partition, "offset": self.offset}


def encoded_size(record: StreamRecord) -> int:
    """Bytes one record takes in a PutMessages request, counted conservatively."""
    key, value = record

    return _base64_length(key) + _base64_length(value) + ENTRY_OVERHEAD_BYTES


def pack_records(
    records: Sequence[StreamRecord],
    indexes: Sequence[int],
    *,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> list[list[int]]:
    """Group record indexes, in order, into packs that each fit one request.

    A pack holds at most one record per key: the service may take a later
    entry of a request and refuse an earlier one, and two records of one key
    must never land in the wrong order.
    """
    budget = max_request_bytes - REQUEST_OVERHEAD_BYTES
    packs: list[list[int]] = []
    current: list[int] = []
    current_keys: set[bytes] = set()
    current_size = 0
    for index in indexes:
        key, _ = records[index]
        size = encoded_size(records[index])
        if size > budget:
            raise PayloadTooLarge(
                f"record {index} is over the stream's message size limit",
                context={"index": index},
            )
        if current and (current_size + size > budget or key in current_keys):
            packs.append(current)
            current, current_keys, current_size = [], set(), 0
        current.append(index)
        current_size += size
        if key is not None:
            current_keys.add(key)
    if current:
        packs.append(current)

    return packs


class Publisher:
    """Puts records on one stream; see ``publish``."""

    def __init__(
        self,
        client: Any,
        stream_id: str,
        *,
        max_attempts: int = MAX_PUT_ATTEMPTS,
        first_backoff_seconds: float = FIRST_BACKOFF_SECONDS,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._stream_id = stream_id
        self._max_attempts = max_attempts
        self._first_backoff_seconds = first_backoff_seconds
        self._max_request_bytes = max_request_bytes
        self._sleep = sleep

    def publish(self, records: Sequence[StreamRecord]) -> list[PublishedRecord]:
        """Put (key, value) records; their partition and offset, in input order.

        Entries the service refuses are sent again, with exponential backoff,
        together with every record after them: packs after one with a refusal
        wait for the next attempt, so the records of one key reach the stream
        in input order. When some are still refused, StreamError whose details
        give the counts and the place of each record that was published.
        """
        placed: dict[int, PublishedRecord] = {}
        pending = list(range(len(records)))
        attempt = 0
        while pending:
            attempt += 1
            pending = self._put_in_order(records, pending, placed)
            if not pending:
                break

            if attempt >= self._max_attempts:
                raise StreamError(
                    f"{len(pending)} of {len(records)} records were not published: "
                    f"the stream still refused them, or one before them of the "
                    f"batch, after {attempt} attempts; {len(placed)} were published",
                    context={
                        "stream_id": self._stream_id,
                        "published": len(placed),
                        "not_published": len(pending),
                    },
                    details={
                        "published": len(placed),
                        "not_published": len(pending),
                        "records": [
                            placed[index].position(index) for index in sorted(placed)
                        ],
                    },
                )
            delay = min(
                self._first_backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS
            )
            logger.warning(
                "stream refused %d of %d records; retrying in %.2fs",
                len(pending),
                len(records),
                delay,
            )
            self._sleep(delay)

        return [placed[index] for index in range(len(records))]

    def _put_in_order(
        self,
        records: Sequence[StreamRecord],
        pending: list[int],
        placed: dict[int, PublishedRecord],
    ) -> list[int]:
        """Send packs in order until one has a refusal; what is left to send."""
        packs = pack_records(
            records, pending, max_request_bytes=self._max_request_bytes
        )
        for number, pack in enumerate(packs):
            refused = self._put(records, pack, placed)
            if refused:
                return refused + [
                    index for later in packs[number + 1 :] for index in later
                ]

        return []

    def _put(
        self,
        records: Sequence[StreamRecord],
        pack: list[int],
        placed: dict[int, PublishedRecord],
    ) -> list[int]:
        """Send one pack; record what was placed and return the refused indexes."""
        details = PutMessagesDetails(
            messages=[
                PutMessagesDetailsEntry(
                    key=_base64_text(records[index][0]),
                    value=_base64_text(records[index][1]),
                )
                for index in pack
            ]
        )
        try:
            result = self._client.put_messages(self._stream_id, details).data
        except oci.exceptions.ServiceError as exc:
            context = {"operation": "put_messages", "stream_id": self._stream_id}
            context.update(service_error_context(exc))
            if exc.status in RETRYABLE_STATUSES:
                logger.warning("put_messages failed, will retry: %s", context)
                return list(pack)
            raise StreamError(
                "the stream refused the request", retryable=False, context=context
            ) from exc
        except oci.exceptions.RequestException as exc:
            raise StreamError(
                "the stream could not be reached",
                context={"operation": "put_messages", "stream_id": self._stream_id},
            ) from exc

        entries = result.entries or []
        if len(entries) != len(pack):
            raise StreamError(
                "the stream answered a different number of entries than were sent",
                context={"sent": len(pack), "answered": len(entries)},
            )

        refused = []
        for index, entry in zip(pack, entries, strict=True):
            if entry.error:
                logger.debug("entry refused: %s %s", entry.error, entry.error_message)
                refused.append(index)
            else:
                placed[index] = PublishedRecord(int(entry.partition), entry.offset)

        return refused


@dataclass(frozen=True)
class StreamMessage:
    """One message as read: where it sits, its key's bytes and base64 value."""

    partition: int
    offset: int
    key: bytes | None
    value: str


class Consumer:
    """Reads a stream as one instance of a consumer group."""

    def __init__(
        self,
        client: Any,
        stream_id: str,
        *,
        group: str,
        instance: str,
        timeout_ms: int = GROUP_CURSOR_TIMEOUT_MS,
    ) -> None:
        self._client = client
        self._stream_id = stream_id
        self._group = group
        self._instance = instance
        self._timeout_ms = timeout_ms
        self._cursor: str | None = None
        self._uncommitted = False

    @property
    def stream_id(self) -> str:
        return self._stream_id

    def restart(self) -> None:
        """Join the group again on the next ``get``, from its committed offsets."""
        self._cursor = None
        self._uncommitted = False

    def get(self, limit: int) -> list[StreamMessage]:
        """The next messages for this instance (empty when it is caught up)."""
        if self._cursor is None:
            self._cursor = self._create_group_cursor()

        try:
            response = self._get_messages(limit)
        except _InvalidCursor:
            logger.info("group cursor expired or invalid; joining the group again")
            self._cursor = self._create_group_cursor()
            response = self._get_messages(limit)

        next_cursor = response.headers.get("opc-next-cursor")
        if next_cursor:
            self._cursor = next_cursor
        messages = [_stream_message(message) for message in response.data]
        if messages:
            self._uncommitted = True

        return messages

    def commit(self) -> None:
        """Commit the offsets of all messages read; call once the work is durable.

        A cursor the service no longer accepts (it expired while the work ran)
        commits nothing: the next ``get`` joins the group again and the
        uncommitted messages come again, which the caller must treat as a
        replay.
        """
        if not self._uncommitted or self._cursor is None:
            return

        try:
            cursor = self._call(
                "consumer_commit",
                lambda: self._client.consumer_commit(self._stream_id, self._cursor),
                uses_cursor=True,
            ).data
        except _InvalidCursor:
            logger.warning("cursor expired before its commit; the batch comes again")
            self.restart()
            return

        if cursor is not None and cursor.value:
            self._cursor = cursor.value
        self._uncommitted = False

    def committed_offsets(self) -> dict[int, int | None]:
        """The group's committed offset of each partition (None: none yet)."""
        group = self._call(
            "get_group", lambda: self._client.get_group(self._stream_id, self._group)
        ).data

        return {
            int(reservation.partition): reservation.committed_offset
            for reservation in group.reservations or []
        }

    def _create_group_cursor(self) -> str:
        details = CreateGroupCursorDetails(
            type=CreateGroupCursorDetails.TYPE_TRIM_HORIZON,
            group_name=self._group,
            instance_name=self._instance,
            timeout_in_ms=self._timeout_ms,
            commit_on_get=False,
        )
        cursor = self._call(
            "create_group_cursor",
            lambda: self._client.create_group_cursor(self._stream_id, details),
        ).data

        return cursor.value

    def _get_messages(self, limit: int) -> Any:
        cursor = self._cursor

        return self._call(
            "get_messages",
            lambda: self._client.get_messages(self._stream_id, cursor, limit=limit),
            uses_cursor=True,
        )

    def _call(
        self, operation: str, call: Callable[[], Any], *, uses_cursor: bool = False
    ) -> Any:
        """``call()``, its SDK errors as StreamError (or _InvalidCursor)."""
        try:
            return call()
        except oci.exceptions.ServiceError as exc:
            if uses_cursor and exc.status in (400, 404):
                context = {"operation": operation, "stream_id": self._stream_id}
                context.update(service_error_context(exc))
                raise _InvalidCursor(
                    "the stream refused the cursor", context=context
                ) from exc
            raise _stream_error(operation, self._stream_id, exc) from exc
        except oci.exceptions.RequestException as exc:
            raise StreamError(
                "the stream could not be reached",
                context={"operation": operation, "stream_id": self._stream_id},
            ) from exc


class _InvalidCursor(StreamError):
    """The service refused the cursor (expired, or from an old group session)."""


def _stream_error(operation: str, stream_id: str, exc: Exception) -> StreamError:
    context = {"operation": operation, "stream_id": stream_id}
    context.update(service_error_context(exc))
    status = getattr(exc, "status", None)

    return StreamError(
        "the stream refused the request",
        retryable=status in RETRYABLE_STATUSES,
        context=context,
    )


def _stream_message(message: Any) -> StreamMessage:
    key = None
    if message.key is not None:
        try:
            key = base64.b64decode(message.key)
        except ValueError:
            key = message.key.encode("utf-8")

    return StreamMessage(
        partition=int(message.partition),
        offset=int(message.offset),
        key=key,
        value=message.value,
    )


def _base64_text(data: bytes | None) -> str | None:
    if data is None:
        return None

    return base64.b64encode(data).decode("ascii")


def _base64_length(data: bytes | None) -> int:
    if data is None:
        return 0

    return 4 * ((len(data) + 2) // 3)
