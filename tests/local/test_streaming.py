"""Streaming through the real SDK against the running local cloud."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import oci
import pytest
from oci._vendor import requests
from oci.streaming.models import (
    CreateCursorDetails,
    CreateGroupCursorDetails,
    PutMessagesDetails,
    PutMessagesDetailsEntry,
    UpdateGroupDetails,
)
from signed_requests import assert_invalid_parameter, send_json


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


def put(client, stream_id: str, values: list[str], key: str | None = None):
    entries = [
        PutMessagesDetailsEntry(key=b64(key) if key else None, value=b64(value))
        for value in values
    ]
    return client.put_messages(stream_id, PutMessagesDetails(messages=entries)).data


def cursor(client, stream_id: str, kind: str, partition: str = "0", **extra) -> str:
    details = CreateCursorDetails(partition=partition, type=kind, **extra)
    return client.create_cursor(stream_id, details).data.value


def values_of(messages) -> list[str]:
    return [base64.b64decode(message.value).decode() for message in messages]


def group_cursor(client, stream_id: str, instance: str, group: str, **extra) -> str:
    details = CreateGroupCursorDetails(
        group_name=group,
        instance_name=instance,
        type=extra.pop("type", "TRIM_HORIZON"),
        commit_on_get=extra.pop("commit_on_get", False),
        **extra,
    )
    return client.create_group_cursor(stream_id, details).data.value


def test_put_messages_keyed_batch_returns_offsets_in_order(stream_client, new_stream):
    stream_id = new_stream()

    result = put(stream_client, stream_id, ["a", "b", "c"], key="John Doe")

    assert result.failures == 0
    assert len({entry.partition for entry in result.entries}) == 1
    assert [entry.offset for entry in result.entries] == [0, 1, 2]
    assert all(entry.timestamp is not None for entry in result.entries)


def test_put_messages_without_key_spreads_round_robin(stream_client, new_stream):
    stream_id = new_stream(partitions=2)

    result = put(stream_client, stream_id, ["a", "b", "c", "d"])

    assert sorted(entry.partition for entry in result.entries) == ["0", "0", "1", "1"]


def test_get_messages_trim_horizon_reads_all_and_next_cursor_continues(
    stream_client, new_stream
):
    stream_id = new_stream(partitions=1)
    put(stream_client, stream_id, ["one", "two", "three"])

    first = stream_client.get_messages(
        stream_id, cursor(stream_client, stream_id, "TRIM_HORIZON"), limit=2
    )
    rest = stream_client.get_messages(stream_id, first.headers["opc-next-cursor"])

    assert values_of(first.data) == ["one", "two"]
    assert values_of(rest.data) == ["three"]
    assert rest.data[0].offset == 2
    assert rest.headers["opc-request-id"]


def test_create_cursor_offsets_and_latest_start_where_asked(stream_client, new_stream):
    stream_id = new_stream(partitions=1)
    put(stream_client, stream_id, ["m0", "m1", "m2"])

    at_offset = cursor(stream_client, stream_id, "AT_OFFSET", offset=1)
    after_offset = cursor(stream_client, stream_id, "AFTER_OFFSET", offset=1)
    latest = cursor(stream_client, stream_id, "LATEST")
    put(stream_client, stream_id, ["m3"])

    read = lambda value: values_of(stream_client.get_messages(stream_id, value).data)  # noqa: E731
    assert read(at_offset) == ["m1", "m2", "m3"]
    assert read(after_offset) == ["m2", "m3"]
    assert read(latest) == ["m3"]


def test_create_cursor_at_time_skips_older_messages(stream_client, new_stream):
    stream_id = new_stream(partitions=1)
    put(stream_client, stream_id, ["old"])
    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    put(stream_client, stream_id, ["new"])

    value = cursor(stream_client, stream_id, "AT_TIME", time=moment)

    assert values_of(stream_client.get_messages(stream_id, value).data) == ["new"]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"key": None, "value": "not base64!"}, "base64"),
        ({"key": b64(b"k" * 257), "value": b64("v")}, "256"),
        ({"key": None, "value": b64(b"v" * (1024 * 1024 + 1))}, "1 MiB"),
    ],
)
def test_put_messages_invalid_entry_answers_400(
    stream_client, new_stream, entry, reason
):
    stream_id = new_stream(partitions=1)
    details = PutMessagesDetails(messages=[PutMessagesDetailsEntry(**entry)])

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        stream_client.put_messages(stream_id, details)

    assert caught.value.status == 400
    assert caught.value.code == "InvalidParameter"
    assert reason in caught.value.message


def test_put_messages_body_nested_too_deeply_answers_400(stream_client, new_stream):
    """A request body too deep to parse is the client's mistake, not a 500."""
    stream_id = new_stream(partitions=1)
    client = stream_client.base_client
    url = f"{client.endpoint}/streams/{stream_id}/messages"
    body = b'{"messages": ' + b"[" * 100_000 + b"}"

    reply = requests.post(
        url,
        data=body,
        auth=client.signer,
        headers={"content-type": "application/json"},
        timeout=60,
    )

    assert reply.status_code == 400
    assert reply.json()["code"] == "InvalidParameter"


def test_put_messages_request_over_1mib_answers_400(stream_client, new_stream):
    stream_id = new_stream(partitions=1)
    half = b64(b"v" * (600 * 1024))
    details = PutMessagesDetails(
        messages=[
            PutMessagesDetailsEntry(value=half),
            PutMessagesDetailsEntry(value=half),
        ]
    )

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        stream_client.put_messages(stream_id, details)

    assert caught.value.status == 400


@pytest.mark.parametrize("value", ["abc.\u00e9", "\u00e9.abc", "\u00e9"])
def test_get_messages_cursor_not_ascii_answers_400(stream_client, new_stream, value):
    """A cursor the service never made is refused, whatever characters it holds."""
    stream_id = new_stream(partitions=1)

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        stream_client.get_messages(stream_id, value)

    assert caught.value.status == 400
    assert caught.value.code == "InvalidParameter"


def test_get_messages_unknown_stream_answers_404(stream_client):
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        stream_client.get_messages("ocid1.stream.oc1.iad.missing", "cursor")

    assert caught.value.status == 404
    assert caught.value.code == "NotAuthorizedOrNotFound"


def test_get_messages_forged_cursor_answers_400(stream_client, new_stream):
    stream_id = new_stream(partitions=1)

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        stream_client.get_messages(stream_id, "eyJmYWtlIjogMX0.forged")

    assert caught.value.status == 400


def test_group_cursor_commit_on_get_false_rereads_until_commit(
    stream_client, new_stream
):
    stream_id = new_stream(partitions=2)
    put(stream_client, stream_id, ["a", "b", "c", "d"])

    first = stream_client.get_messages(
        stream_id, group_cursor(stream_client, stream_id, "one", "g")
    )
    again = stream_client.get_messages(
        stream_id, group_cursor(stream_client, stream_id, "one", "g")
    )
    stream_client.consumer_commit(stream_id, again.headers["opc-next-cursor"])
    after_commit = stream_client.get_messages(
        stream_id, group_cursor(stream_client, stream_id, "one", "g")
    )
    put(stream_client, stream_id, ["e"])
    newest = stream_client.get_messages(
        stream_id, group_cursor(stream_client, stream_id, "one", "g")
    )

    assert sorted(values_of(first.data)) == ["a", "b", "c", "d"]
    assert sorted(values_of(again.data)) == ["a", "b", "c", "d"]
    assert after_commit.data == []
    assert values_of(newest.data) == ["e"]


def test_consumer_commit_records_offsets_in_group(stream_client, new_stream):
    stream_id = new_stream(partitions=1)
    put(stream_client, stream_id, ["a", "b"])
    read = stream_client.get_messages(
        stream_id, group_cursor(stream_client, stream_id, "one", "g")
    )

    reply = stream_client.consumer_commit(stream_id, read.headers["opc-next-cursor"])
    group = stream_client.get_group(stream_id, "g").data

    assert reply.data.value
    assert group.reservations[0].committed_offset == 1
    assert group.reservations[0].reserved_instance == "one"


def test_group_cursor_commit_on_get_commits_previous_read(stream_client, new_stream):
    stream_id = new_stream(partitions=1)
    put(stream_client, stream_id, ["a", "b"])
    start = group_cursor(stream_client, stream_id, "one", "g", commit_on_get=True)

    read = stream_client.get_messages(stream_id, start)
    stream_client.get_messages(stream_id, read.headers["opc-next-cursor"])

    group = stream_client.get_group(stream_id, "g").data
    assert group.reservations[0].committed_offset == 1


def test_group_cursor_two_instances_split_partitions(stream_client, new_stream):
    stream_id = new_stream(partitions=2)
    put(stream_client, stream_id, ["a", "b", "c", "d"])

    first = group_cursor(stream_client, stream_id, "one", "g")
    second = group_cursor(stream_client, stream_id, "two", "g")
    read_one = stream_client.get_messages(stream_id, first).data
    read_two = stream_client.get_messages(stream_id, second).data

    assert len({message.partition for message in read_one}) == 1
    assert len({message.partition for message in read_two}) == 1
    assert sorted(values_of(read_one) + values_of(read_two)) == ["a", "b", "c", "d"]
    holders = {
        r.reserved_instance
        for r in stream_client.get_group(stream_id, "g").data.reservations
    }
    assert holders == {"one", "two"}


def test_group_cursor_lapsed_instance_partitions_taken_over(stream_client, new_stream):
    stream_id = new_stream(partitions=2)
    put(stream_client, stream_id, ["a", "b", "c", "d"])
    group_cursor(stream_client, stream_id, "one", "g", timeout_in_ms=500)
    group_cursor(stream_client, stream_id, "two", "g", timeout_in_ms=30000)

    time.sleep(0.8)
    read_two = stream_client.get_messages(
        stream_id, group_cursor(stream_client, stream_id, "two", "g")
    ).data

    assert sorted(values_of(read_two)) == ["a", "b", "c", "d"]


def test_consumer_heartbeat_keeps_reservation(stream_client, new_stream):
    stream_id = new_stream(partitions=1)
    value = group_cursor(stream_client, stream_id, "one", "g", timeout_in_ms=1000)

    for _ in range(3):
        time.sleep(0.4)
        value = stream_client.consumer_heartbeat(stream_id, value).data.value

    group = stream_client.get_group(stream_id, "g").data
    assert group.reservations[0].reserved_instance == "one"


def test_update_group_latest_skips_existing_messages(stream_client, new_stream):
    stream_id = new_stream(partitions=1)
    put(stream_client, stream_id, ["a", "b"])

    stream_client.update_group(stream_id, "g", UpdateGroupDetails(type="LATEST"))
    put(stream_client, stream_id, ["c"])
    read = stream_client.get_messages(
        stream_id, group_cursor(stream_client, stream_id, "one", "g")
    )

    assert values_of(read.data) == ["c"]


def test_get_stream_bootstrap_people_has_messages_endpoint(
    local_cloud, stream_admin_client
):
    people = local_cloud["streams"]["people"]

    stream = stream_admin_client.get_stream(people["id"]).data
    listed = stream_admin_client.list_streams(
        compartment_id=local_cloud["compartment_id"], name="people"
    ).data
    pool = stream_admin_client.get_stream_pool(stream.stream_pool_id).data

    assert stream.messages_endpoint == people["messages_endpoint"]
    assert stream.partitions == 2
    assert stream.lifecycle_state == "ACTIVE"
    assert [summary.id for summary in listed] == [people["id"]]
    assert pool.name == "DefaultPool"


GROUP = {"type": "TRIM_HORIZON", "groupName": "g"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GROUP, "type": "AT_TIME"}, "time"),
        ({**GROUP, "type": "AT_TIME", "time": None}, "time"),
        ({**GROUP, "type": "AT_TIME", "time": 1700000000}, "time"),
        ({**GROUP, "type": "AT_TIME", "time": "yesterday"}, "time"),
        ({**GROUP, "instanceName": {"a": 1}}, "instanceName"),
        ({**GROUP, "instanceName": ["x"]}, "instanceName"),
        ({**GROUP, "timeoutInMs": 10**21}, "timeoutInMs"),
        ({**GROUP, "timeoutInMs": True}, "timeoutInMs"),
        ({**GROUP, "timeoutInMs": 0}, "timeoutInMs"),
        ({**GROUP, "commitOnGet": "false"}, "commitOnGet"),
        ({**GROUP, "groupName": 7}, "groupName"),
        ({**GROUP, "type": ["LATEST"]}, "type"),
    ],
    ids=repr,
)
def test_create_group_cursor_field_of_wrong_kind_answers_400(
    stream_client, new_stream, body, field
):
    stream_id = new_stream(partitions=1)

    reply = send_json(stream_client, "POST", f"/streams/{stream_id}/groupCursors", body)

    assert_invalid_parameter(reply, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "AT_OFFSET", "partition": "0", "offset": True}, "offset"),
        ({"type": "AT_OFFSET", "partition": "0", "offset": 1.5}, "offset"),
        ({"type": "AT_OFFSET", "partition": "0", "offset": "1"}, "offset"),
        ({"type": "TRIM_HORIZON", "partition": 0.9}, "partition"),
        ({"type": "TRIM_HORIZON", "partition": True}, "partition"),
        ({"type": "TRIM_HORIZON", "partition": "0.9"}, "partition"),
        ({"type": "TRIM_HORIZON", "partition": "9" * 5000}, "partition"),
        ({"type": "TRIM_HORIZON", "partition": "1"}, "partition"),
        ({"type": "AT_TIME", "partition": "0", "time": 5}, "time"),
    ],
    ids=repr,
)
def test_create_cursor_field_of_wrong_kind_answers_400(
    stream_client, new_stream, body, field
):
    stream_id = new_stream(partitions=1)

    reply = send_json(stream_client, "POST", f"/streams/{stream_id}/cursors", body)

    assert_invalid_parameter(reply, field)


def test_create_cursor_partition_as_number_or_digits_is_accepted(
    stream_client, new_stream
):
    stream_id = new_stream(partitions=2)
    path = f"/streams/{stream_id}/cursors"

    as_number = send_json(
        stream_client, "POST", path, {"type": "LATEST", "partition": 1}
    )
    as_digits = send_json(
        stream_client, "POST", path, {"type": "LATEST", "partition": "1"}
    )

    assert (as_number.status_code, as_digits.status_code) == (200, 200)


def test_update_group_at_time_without_time_answers_400(stream_client, new_stream):
    stream_id = new_stream(partitions=1)

    reply = send_json(
        stream_client, "PUT", f"/streams/{stream_id}/groups/g", {"type": "AT_TIME"}
    )

    assert_invalid_parameter(reply, "time")


@pytest.mark.parametrize("limit", ["0", "-1", "10001", "ten"])
def test_get_messages_limit_out_of_range_answers_400(stream_client, new_stream, limit):
    stream_id = new_stream(partitions=1)
    value = cursor(stream_client, stream_id, "TRIM_HORIZON")

    reply = send_json(
        stream_client,
        "GET",
        f"/streams/{stream_id}/messages",
        query={"cursor": value, "limit": limit},
    )

    assert_invalid_parameter(reply, "limit")


@pytest.mark.parametrize("limit", ["0", "-1", "51"])
def test_list_streams_limit_out_of_range_answers_400(
    local_cloud, stream_admin_client, limit
):
    query = {"compartmentId": local_cloud["compartment_id"], "limit": limit}

    reply = send_json(stream_admin_client, "GET", "/streams", query=query)

    assert_invalid_parameter(reply, "limit")


def test_list_streams_limit_returns_that_many(local_cloud, stream_admin_client):
    query = {"compartmentId": local_cloud["compartment_id"], "limit": "1"}

    reply = send_json(stream_admin_client, "GET", "/streams", query=query)

    assert reply.status_code == 200
    assert len(reply.json()) == 1


STREAM = {"name": "s", "partitions": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**STREAM, "name": 5}, "name"),
        ({**STREAM, "partitions": "2"}, "partitions"),
        ({**STREAM, "partitions": True}, "partitions"),
        ({**STREAM, "partitions": 201}, "partitions"),
        ({**STREAM, "retentionInHours": 0}, "retentionInHours"),
        ({**STREAM, "retentionInHours": 24.5}, "retentionInHours"),
        ({**STREAM, "streamPoolId": 5}, "streamPoolId"),
        ({**STREAM, "compartmentId": ["x"]}, "compartmentId"),
    ],
    ids=repr,
)
def test_create_stream_field_of_wrong_kind_answers_400(
    local_cloud, stream_admin_client, body, field
):
    body = {
        **body,
        "compartmentId": body.get("compartmentId", local_cloud["compartment_id"]),
    }

    reply = send_json(stream_admin_client, "POST", "/streams", body)

    assert_invalid_parameter(reply, field)


def test_create_stream_retention_absent_is_24_hours(local_cloud, stream_admin_client):
    details = oci.streaming.models.CreateStreamDetails(
        name="default-retention",
        partitions=1,
        compartment_id=local_cloud["compartment_id"],
    )

    stream = stream_admin_client.create_stream(details).data

    assert stream.retention_in_hours == 24


def test_create_stream_pool_name_not_a_string_answers_400(
    local_cloud, stream_admin_client
):
    body = {"name": 5, "compartmentId": local_cloud["compartment_id"]}

    reply = send_json(stream_admin_client, "POST", "/streampools", body)

    assert_invalid_parameter(reply, "name")
