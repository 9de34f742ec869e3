"""Tests of ocifn.streaming: request packing, per-entry retry, group consumption."""

from __future__ import annotations

import base64
import json

import pytest
from oci.response import Response
from oci.streaming.models import (
    Cursor,
    Message,
    PutMessagesResult,
    PutMessagesResultEntry,
)
from ocifn import streaming
from ocifn.errors import PayloadTooLarge, StreamError
from ocifn.streaming import Consumer, Publisher, pack_records

STREAM_ID = "ocid1.stream.oc1.phx.example"


def sdk_response(data, headers=None):
    return Response(200, headers or {}, data, None)


class RefusingStreamClient:
    """A fake StreamClient that refuses chosen entries with a per-entry error.

    The real service answers 200 with per-entry errors only under throttling or
    internal faults, which cannot be caused on purpose here.
    """

    def __init__(self, refuse_times):
        self.refuse_times = dict(refuse_times)
        self.requests = []
        self.next_offset = 0

    def put_messages(self, stream_id, details):
        values = [base64.b64decode(entry.value) for entry in details.messages]
        self.requests.append(values)
        entries = []
        for value in values:
            if self.refuse_times.get(value, 0) > 0:
                self.refuse_times[value] -= 1
                entries.append(
                    PutMessagesResultEntry(error="429", error_message="throttled")
                )
                continue
            entries.append(
                PutMessagesResultEntry(partition="0", offset=self.next_offset)
            )
            self.next_offset += 1
        failures = sum(1 for entry in entries if entry.error)
        return sdk_response(PutMessagesResult(failures=failures, entries=entries))


def test_pack_records_large_records_every_pack_under_one_mib():
    """Packs, measured as base64 plus overhead, stay under the request limit."""
    records = [(b"key", b"v" * 300_000) for _ in range(10)]

    packs = pack_records(records, range(len(records)))

    assert [index for pack in packs for index in pack] == list(range(10))
    for pack in packs:
        size = sum(streaming.encoded_size(records[index]) for index in pack)
        assert size + streaming.REQUEST_OVERHEAD_BYTES <= streaming.MAX_REQUEST_BYTES
    assert len(packs) == 5


def test_pack_records_size_counts_base64_not_raw_bytes():
    """Two 400 KiB records fit 1 MiB raw but not once base64-encoded."""
    records = [(None, b"x" * 400 * 1024), (None, b"y" * 400 * 1024)]

    packs = pack_records(records, [0, 1])

    assert packs == [[0], [1]]


def test_pack_records_record_over_limit_is_payload_too_large():
    """A record that can never fit a request is refused, naming its index."""
    records = [(None, b"x" * streaming.MAX_REQUEST_BYTES)]

    with pytest.raises(PayloadTooLarge) as raised:
        pack_records(records, [0])

    assert raised.value.context == {"index": 0}


def test_publisher_refused_entry_is_retried_alone():
    """Only the refused entry is sent again; results keep input order.

    Uses a fake client to force a per-entry failure that the real service
    cannot be made to produce here.
    """
    client = RefusingStreamClient({b"b": 2})
    sleeps = []
    publisher = Publisher(client, STREAM_ID, sleep=sleeps.append)

    placed = publisher.publish([(b"a", b"a"), (b"b", b"b"), (b"c", b"c")])

    assert client.requests == [[b"a", b"b", b"c"], [b"b"], [b"b"]]
    assert [record.offset for record in placed] == [0, 2, 1]
    assert placed[1].partition == 0
    assert sleeps == [0.2, 0.4]


def test_publisher_still_refused_after_attempts_raises_counts():
    """When entries stay refused, StreamError says how many, and it is a 503.

    Uses a fake client to force a per-entry failure that the real service
    cannot be made to produce here.
    """
    client = RefusingStreamClient({b"b": 99})
    publisher = Publisher(client, STREAM_ID, max_attempts=3, sleep=lambda _: None)

    with pytest.raises(StreamError) as raised:
        publisher.publish([(b"a", b"a"), (b"b", b"b")])

    assert raised.value.status == 503
    assert raised.value.context["published"] == 1
    assert raised.value.context["refused"] == 1
    assert "1 of 2" in raised.value.message
    assert len(client.requests) == 3


class GroupStreamClient:
    """A fake StreamClient recording consumer-group calls.

    It stands in for the service to observe the order of calls and to force an
    expired cursor, which the real service produces only after minutes.
    """

    def __init__(self, batches, expire_first_get=False):
        self.batches = list(batches)
        self.expire_first_get = expire_first_get
        self.calls = []
        self.group_details = []

    def create_group_cursor(self, stream_id, details):
        self.group_details.append(details)
        self.calls.append(("create_group_cursor",))
        return sdk_response(Cursor(value=f"group-{len(self.group_details)}"))

    def get_messages(self, stream_id, cursor, limit=None):
        self.calls.append(("get_messages", cursor))
        if self.expire_first_get:
            import oci

            self.expire_first_get = False
            raise oci.exceptions.ServiceError(400, "InvalidParameter", {}, "expired")
        batch = self.batches.pop(0) if self.batches else []
        return sdk_response(batch, {"opc-next-cursor": f"next-{len(self.calls)}"})

    def consumer_commit(self, stream_id, cursor):
        self.calls.append(("consumer_commit", cursor))
        return sdk_response(Cursor(value=f"committed-{cursor}"))


def message(partition, offset, document):
    value = base64.b64encode(json.dumps(document).encode()).decode()
    return Message(
        stream=STREAM_ID,
        partition=str(partition),
        key=base64.b64encode(b"k").decode(),
        value=value,
        offset=offset,
    )


def test_consumer_group_cursor_does_not_commit_on_get():
    """The group cursor starts at TRIM_HORIZON with commit_on_get off.

    Uses a fake client to observe the cursor request the service receives.
    """
    client = GroupStreamClient([[message(0, 0, {"name": "a", "age": 1})]])
    consumer = Consumer(client, STREAM_ID, group="g", instance="i")

    messages = consumer.get(10)

    details = client.group_details[0]
    assert details.commit_on_get is False
    assert details.type == "TRIM_HORIZON"
    assert (details.group_name, details.instance_name) == ("g", "i")
    assert messages[0].partition == 0
    assert messages[0].key == b"k"


def test_consumer_commit_uses_latest_next_cursor():
    """Commit sends the cursor after the last read, once per read.

    Uses a fake client to observe which cursor is committed.
    """
    client = GroupStreamClient([[message(0, 0, {"name": "a", "age": 1})]])
    consumer = Consumer(client, STREAM_ID, group="g", instance="i")
    consumer.get(10)

    consumer.commit()
    consumer.commit()

    commits = [call for call in client.calls if call[0] == "consumer_commit"]
    assert commits == [("consumer_commit", "next-2")]


def test_consumer_expired_cursor_joins_group_again():
    """An invalid cursor is replaced by a new group cursor and the read retried.

    Uses a fake client to force the cursor expiry.
    """
    client = GroupStreamClient(
        [[message(1, 4, {"name": "a", "age": 1})]], expire_first_get=True
    )
    consumer = Consumer(client, STREAM_ID, group="g", instance="i")

    messages = consumer.get(10)

    assert [call[0] for call in client.calls] == [
        "create_group_cursor",
        "get_messages",
        "create_group_cursor",
        "get_messages",
    ]
    assert (messages[0].partition, messages[0].offset) == (1, 4)
