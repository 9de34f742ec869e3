"""Tests of ocifn.streaming: request packing, per-entry retry, group consumption.

Publisher and Consumer talk to local clouds through the OCI SDK's StreamClient.
One cloud runs with `--enforce-limits`, so a partition written faster than
1 MB/s refuses entries inside a 200 as OCI does; one runs with a short
`--cursor-ttl-seconds`, so cursors expire while a test sleeps. Both serve no
functions; group commits run on the session's default cloud.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator

import oci
import pytest
from cloud_process import free_port, running_cloud
from oci.streaming.models import (
    CreateCursorDetails,
    CreateStreamDetails,
    PutMessagesDetails,
    PutMessagesDetailsEntry,
)
from ocifn import streaming
from ocifn.errors import PayloadTooLarge, StreamError
from ocifn.streaming import Consumer, Publisher, StreamMessage, pack_records

NO_RETRY = oci.retry.NoneRetryStrategy()
CURSOR_TTL_SECONDS = 3.0
RECORD_BYTES = 100_000


def started_cloud(tmp_path_factory, name: str, options: list[str]):
    """`ocilocal up` with `options`, no functions, in a folder of its own."""
    root = tmp_path_factory.mktemp(name)
    (root / "functions").mkdir()

    return running_cloud(
        root / "data",
        free_port(),
        root / "server.log",
        functions_dir=root / "functions",
        options=options,
    )


@pytest.fixture(scope="module")
def limits_cloud(tmp_path_factory) -> Iterator[dict]:
    """A cloud throttling writes at 1 MB/s per partition."""
    with started_cloud(tmp_path_factory, "limits", ["--enforce-limits"]) as state:
        yield state


@pytest.fixture(scope="module")
def short_cursor_cloud(tmp_path_factory) -> Iterator[dict]:
    """A cloud whose cursors expire after CURSOR_TTL_SECONDS."""
    options = ["--cursor-ttl-seconds", str(CURSOR_TTL_SECONDS)]
    with started_cloud(tmp_path_factory, "short-cursor", options) as state:
        yield state


def stream_clients(state: dict):
    """A StreamClient built as the functions build theirs, and an admin client."""
    config = oci.config.from_file(state["config_file"], state["profile"])
    endpoint = state["endpoint"]

    return (
        oci.streaming.StreamClient(
            config, service_endpoint=endpoint, retry_strategy=NO_RETRY
        ),
        oci.streaming.StreamAdminClient(config, service_endpoint=endpoint),
    )


def fresh_stream(admin, state: dict, partitions: int) -> str:
    """A new stream, so a test reads only its own messages and has its own limits."""
    details = CreateStreamDetails(
        name=f"test-{time.monotonic_ns()}",
        partitions=partitions,
        compartment_id=state["compartment_id"],
    )

    return admin.create_stream(details).data.id


def numbered_records(count: int) -> list[tuple[None, bytes]]:
    """Keyless records of RECORD_BYTES, each one's bytes telling its index."""
    return [
        (None, f"{index:04d}".encode() * (RECORD_BYTES // 4)) for index in range(count)
    ]


def put_values(client, stream_id: str, values: list[bytes], key: bytes) -> None:
    entries = [
        PutMessagesDetailsEntry(
            key=base64.b64encode(key).decode(), value=base64.b64encode(value).decode()
        )
        for value in values
    ]
    result = client.put_messages(stream_id, PutMessagesDetails(messages=entries))
    assert result.data.failures == 0


def partition_cursor(client, stream_id: str, kind: str) -> str:
    details = CreateCursorDetails(partition="0", type=kind)

    return client.create_cursor(stream_id, details).data.value


def stored_values(client, stream_id: str) -> dict[int, bytes]:
    """Every message on partition 0, by offset, read with a plain cursor."""
    cursor = partition_cursor(client, stream_id, "TRIM_HORIZON")
    stored: dict[int, bytes] = {}
    while True:
        response = client.get_messages(stream_id, cursor, limit=10_000)
        if not response.data:
            return stored
        for message in response.data:
            stored[message.offset] = base64.b64decode(message.value)
        cursor = response.headers["opc-next-cursor"]


def recording_sleep(delays: list[float]) -> Callable[[float], None]:
    """time.sleep that also notes each delay, to see when Publisher backed off."""

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        time.sleep(seconds)

    return sleep


def read_back(messages: list[StreamMessage]) -> list[tuple[int, int, bytes]]:
    return [
        (message.partition, message.offset, base64.b64decode(message.value))
        for message in messages
    ]


def committed_offsets(client, stream_id: str, group: str) -> dict[int, int | None]:
    reservations = client.get_group(stream_id, group).data.reservations

    return {int(row.partition): row.committed_offset for row in reservations}


# packing


def test_pack_records_large_records_every_pack_under_one_mib():
    """Packs, measured as base64 plus overhead, stay under the request limit."""
    records = [(f"key-{index}".encode(), b"v" * 300_000) for index in range(10)]

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


def test_pack_records_one_key_twice_goes_in_two_packs():
    """A pack holds one record per key, so one key's records can't swap places."""
    records = [
        (b"ada", b"1"),
        (b"bob", b"2"),
        (b"ada", b"3"),
        (None, b"4"),
        (None, b"5"),
    ]

    packs = pack_records(records, range(len(records)))

    assert packs == [[0, 1], [2, 3, 4]]


# publishing, on the cloud enforcing limits


def test_publisher_refused_entries_retried_alone_all_placed_in_input_order(
    limits_cloud,
):
    """2.5 MB on one partition passes its 1 MB/s: refused entries are sent again.

    Each record is stored once (none placed was sent again), and the places
    come back in input order: the offset given for record i holds record i.
    """
    client, admin = stream_clients(limits_cloud)
    stream_id = fresh_stream(admin, limits_cloud, partitions=1)
    records = numbered_records(25)
    delays: list[float] = []
    publisher = Publisher(
        client,
        stream_id,
        max_attempts=12,
        first_backoff_seconds=0.1,
        sleep=recording_sleep(delays),
    )

    placed = publisher.publish(records)

    stored = stored_values(client, stream_id)
    assert delays, "the stream refused nothing; the load did not pass the limit"
    assert len(stored) == len(records)
    assert [stored[record.offset] for record in placed] == [
        value for _, value in records
    ]
    assert {record.partition for record in placed} == {0}


def test_publisher_still_refused_after_attempts_raises_counts(limits_cloud):
    """3 MB at once passes the partition's burst; with one attempt it is a 503.

    StreamError counts what was published and what was refused, and the stream
    holds exactly the published records.
    """
    client, admin = stream_clients(limits_cloud)
    stream_id = fresh_stream(admin, limits_cloud, partitions=1)
    records = numbered_records(30)
    publisher = Publisher(client, stream_id, max_attempts=1)

    with pytest.raises(StreamError) as raised:
        publisher.publish(records)

    published = raised.value.context["published"]
    refused = raised.value.context["not_published"]
    details = raised.value.details
    assert (details["published"], details["not_published"]) == (published, refused)
    assert [record["index"] for record in details["records"]] == list(range(published))
    assert raised.value.status == 503
    assert refused > 0
    assert published >= 10
    assert published + refused == len(records)
    assert f"{refused} of {len(records)}" in raised.value.message
    assert len(stored_values(client, stream_id)) == published


def test_publisher_throttled_records_of_one_key_keep_input_order(limits_cloud):
    """Records of one key land in input order even when the stream refuses some.

    Large records fill the partition's write budget and a small last record
    would still fit it; the stream must not take the small one first.
    """
    client, admin = stream_clients(limits_cloud)
    stream_id = fresh_stream(admin, limits_cloud, partitions=1)
    key = b"same person"
    records = [(key, f"{index:04d}".encode() * 25_000) for index in range(24)]
    records.append((key, b"last"))
    delays: list[float] = []
    publisher = Publisher(
        client,
        stream_id,
        max_attempts=30,
        first_backoff_seconds=0.1,
        sleep=recording_sleep(delays),
    )

    placed = publisher.publish(records)

    offsets = [record.offset for record in placed]
    assert delays, "the stream refused nothing; the load did not pass the limit"
    assert offsets == sorted(offsets)
    stored = stored_values(client, stream_id)
    assert [stored[offset] for offset in sorted(stored)] == [v for _, v in records]


# consuming as a group


def test_consumer_group_cursor_does_not_commit_on_get(local_cloud):
    """Messages read but not committed come again once the consumer rejoins.

    The second read, caught up, is where a commit-on-get cursor would commit
    the first. The messages were put before the consumer joined, so it starts
    at TRIM_HORIZON.
    """
    client, admin = stream_clients(local_cloud)
    stream_id = fresh_stream(admin, local_cloud, partitions=2)
    put_values(client, stream_id, [b"a", b"b", b"c"], key=b"k")
    consumer = Consumer(client, stream_id, group="g", instance="i")

    first = consumer.get(10)
    caught_up = consumer.get(10)
    consumer.restart()
    again = consumer.get(10)

    assert [value for _, _, value in read_back(first)] == [b"a", b"b", b"c"]
    assert caught_up == []
    assert read_back(again) == read_back(first)
    assert first[0].key == b"k"
    assert set(committed_offsets(client, stream_id, "g").values()) == {None}


def test_consumer_commit_moves_group_offsets_past_last_read(local_cloud):
    """After two reads and a commit, a rejoined consumer gets only newer messages."""
    client, admin = stream_clients(local_cloud)
    stream_id = fresh_stream(admin, local_cloud, partitions=2)
    put_values(client, stream_id, [b"a", b"b", b"c"], key=b"k")
    consumer = Consumer(client, stream_id, group="g", instance="i")
    first = consumer.get(2)
    second = consumer.get(10)

    consumer.commit()
    consumer.restart()
    after_commit = consumer.get(10)
    put_values(client, stream_id, [b"d"], key=b"k")
    newer = consumer.get(10)

    partition = first[0].partition
    assert [value for _, _, value in read_back(first + second)] == [b"a", b"b", b"c"]
    assert after_commit == []
    assert committed_offsets(client, stream_id, "g")[partition] == second[-1].offset
    assert read_back(newer) == [(partition, second[-1].offset + 1, b"d")]


def test_consumer_expired_cursor_joins_group_again(short_cursor_cloud):
    """A cursor past its TTL is replaced by a new group cursor and reading goes on.

    Nothing was committed, so the group starts over: a comes again, then b.
    """
    client, admin = stream_clients(short_cursor_cloud)
    stream_id = fresh_stream(admin, short_cursor_cloud, partitions=1)
    put_values(client, stream_id, [b"a"], key=b"k")
    consumer = Consumer(client, stream_id, group="g", instance="i")
    before = consumer.get(10)
    probe = partition_cursor(client, stream_id, "LATEST")

    time.sleep(CURSOR_TTL_SECONDS + 0.5)
    put_values(client, stream_id, [b"b"], key=b"k")
    after = consumer.get(10)

    with pytest.raises(oci.exceptions.ServiceError) as expired:
        client.get_messages(stream_id, probe)
    assert expired.value.status == 400
    assert [value for _, _, value in read_back(before)] == [b"a"]
    assert [value for _, _, value in read_back(after)] == [b"a", b"b"]
