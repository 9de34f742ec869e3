"""Streaming as OCI runs it: lifecycle, retention, cursor expiry and limits.

Retention, cursor expiry and limits run on local clouds of their own, started
with `--retention-seconds`, `--cursor-ttl-seconds` and `--enforce-limits` and
no functions, so they cannot disturb the session's cloud.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import oci
import pytest
from cloud_process import free_port, running_cloud
from oci.streaming.models import (
    CreateCursorDetails,
    CreateGroupCursorDetails,
    CreateStreamDetails,
    CreateStreamPoolDetails,
    PutMessagesDetails,
    PutMessagesDetailsEntry,
    UpdateGroupDetails,
)
from ocifn.streaming import Publisher

NO_RETRY = oci.retry.NoneRetryStrategy()
RETENTION_SECONDS = 1.0
CURSOR_TTL_SECONDS = 4.0


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def put(client, stream_id: str, values: list[bytes], key: bytes | None = None):
    entries = [
        PutMessagesDetailsEntry(key=b64(key) if key else None, value=b64(value))
        for value in values
    ]
    return client.put_messages(stream_id, PutMessagesDetails(messages=entries)).data


def cursor(client, stream_id: str, kind: str, **extra) -> str:
    details = CreateCursorDetails(partition="0", type=kind, **extra)
    return client.create_cursor(stream_id, details).data.value


def values_of(messages) -> list[bytes]:
    return [base64.b64decode(message.value) for message in messages]


def clients(state: dict):
    config = oci.config.from_file(state["config_file"])
    endpoint = state["endpoint"]
    return (
        oci.streaming.StreamClient(
            config, service_endpoint=endpoint, retry_strategy=NO_RETRY
        ),
        oci.streaming.StreamAdminClient(config, service_endpoint=endpoint),
    )


def fresh_stream(admin, state: dict, partitions: int = 1) -> str:
    details = CreateStreamDetails(
        name=f"s{time.monotonic_ns()}",
        partitions=partitions,
        compartment_id=state["compartment_id"],
    )
    return admin.create_stream(details).data.id


@pytest.fixture(scope="module")
def tuned_cloud(tmp_path_factory) -> Iterator[dict]:
    """A cloud keeping messages 1 s, cursors 4 s, and enforcing limits."""
    root = tmp_path_factory.mktemp("tuned")
    (root / "functions").mkdir()
    options = ["--retention-seconds", str(RETENTION_SECONDS)]
    options += ["--cursor-ttl-seconds", str(CURSOR_TTL_SECONDS), "--enforce-limits"]
    with running_cloud(
        root / "data",
        free_port(),
        root / "server.log",
        functions_dir=root / "functions",
        options=options,
    ) as state:
        yield state


def wait_for_state(get, wanted: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    state = get().data.lifecycle_state
    while state != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        state = get().data.lifecycle_state
    return state


# lifecycle, on the session's cloud


def test_create_stream_creating_then_active_then_deleted(
    local_cloud, stream_admin_client, stream_client
):
    details = CreateStreamDetails(
        name="lifecycle", partitions=1, compartment_id=local_cloud["compartment_id"]
    )

    created = stream_admin_client.create_stream(details)
    stream_id = created.data.id
    active = wait_for_state(lambda: stream_admin_client.get_stream(stream_id), "ACTIVE")
    deleted = stream_admin_client.delete_stream(stream_id)
    gone = wait_for_state(lambda: stream_admin_client.get_stream(stream_id), "DELETED")

    assert created.data.lifecycle_state == "CREATING"
    assert created.headers["opc-work-request-id"]
    assert active == "ACTIVE"
    assert deleted.status == 202
    assert gone == "DELETED"
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        put(stream_client, stream_id, [b"late"])
    assert caught.value.status == 404


def test_delete_stream_already_deleting_or_deleted_answers_404(
    local_cloud, stream_admin_client
):
    details = CreateStreamDetails(
        name="twice", partitions=1, compartment_id=local_cloud["compartment_id"]
    )
    stream_id = stream_admin_client.create_stream(details).data.id
    stream_admin_client.delete_stream(stream_id)

    with pytest.raises(oci.exceptions.ServiceError) as while_deleting:
        stream_admin_client.delete_stream(stream_id, retry_strategy=NO_RETRY)
    wait_for_state(lambda: stream_admin_client.get_stream(stream_id), "DELETED")
    with pytest.raises(oci.exceptions.ServiceError) as once_deleted:
        stream_admin_client.delete_stream(stream_id, retry_strategy=NO_RETRY)

    for caught in (while_deleting, once_deleted):
        assert caught.value.status == 404
        assert caught.value.code == "NotAuthorizedOrNotFound"
    assert stream_admin_client.get_stream(stream_id).data.lifecycle_state == "DELETED"


def test_delete_stream_pool_already_deleted_answers_404(
    local_cloud, stream_admin_client
):
    details = CreateStreamPoolDetails(
        name="pool-twice", compartment_id=local_cloud["compartment_id"]
    )
    pool_id = stream_admin_client.create_stream_pool(details).data.id
    stream_admin_client.delete_stream_pool(pool_id)

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        stream_admin_client.delete_stream_pool(pool_id, retry_strategy=NO_RETRY)

    assert caught.value.status == 404


def test_create_stream_pool_work_request_succeeds_and_holding_pool_refuses_delete(
    local_cloud, stream_admin_client
):
    compartment = local_cloud["compartment_id"]
    created = stream_admin_client.create_stream_pool(
        CreateStreamPoolDetails(name="pool-test", compartment_id=compartment)
    )
    pool_id = created.data.id
    stream_id = stream_admin_client.create_stream(
        CreateStreamDetails(
            name="in-pool", partitions=1, stream_pool_id=pool_id, compartment_id=None
        )
    ).data.id
    work = oci.wait_until(
        stream_admin_client,
        stream_admin_client.get_work_request(created.headers["opc-work-request-id"]),
        "status",
        "SUCCEEDED",
        max_interval_seconds=1,
        max_wait_seconds=20,
    ).data

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        stream_admin_client.delete_stream_pool(pool_id)
    stream_admin_client.delete_stream(stream_id)
    wait_for_state(lambda: stream_admin_client.get_stream(stream_id), "DELETED")
    stream_admin_client.delete_stream_pool(pool_id)

    assert work.resources[0].identifier == pool_id
    assert caught.value.status == 409
    assert stream_admin_client.get_stream(stream_id).data.stream_pool_id == pool_id
    assert (
        wait_for_state(lambda: stream_admin_client.get_stream_pool(pool_id), "DELETED")
        == "DELETED"
    )


@pytest.mark.parametrize("kind", ["TRIM_HORIZON", "AT_TIME"])
def test_update_group_rewinds_committed_offsets(stream_client, new_stream, kind):
    stream_id = new_stream(partitions=1)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    put(stream_client, stream_id, [b"a", b"b"])
    start = stream_client.create_group_cursor(
        stream_id,
        CreateGroupCursorDetails(
            group_name="g", instance_name="one", type="TRIM_HORIZON"
        ),
    ).data.value
    read = stream_client.get_messages(stream_id, start)
    stream_client.consumer_commit(stream_id, read.headers["opc-next-cursor"])

    extra = {"time": moment} if kind == "AT_TIME" else {}
    stream_client.update_group(stream_id, "g", UpdateGroupDetails(type=kind, **extra))
    again = stream_client.create_group_cursor(
        stream_id,
        CreateGroupCursorDetails(group_name="g", instance_name="one", type="LATEST"),
    ).data.value

    assert values_of(stream_client.get_messages(stream_id, again).data) == [b"a", b"b"]


# retention and cursor expiry


def test_retention_cursor_behind_oldest_message_answers_400(tuned_cloud):
    client, admin = clients(tuned_cloud)
    stream_id = fresh_stream(admin, tuned_cloud)
    put(client, stream_id, [b"old-1", b"old-2"])
    behind = cursor(client, stream_id, "TRIM_HORIZON")

    time.sleep(RETENTION_SECONDS + 0.5)
    put(client, stream_id, [b"new"])

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        client.get_messages(stream_id, behind)
    assert caught.value.status == 400
    assert "retention" in caught.value.message
    with pytest.raises(oci.exceptions.ServiceError) as at_offset:
        cursor(client, stream_id, "AT_OFFSET", offset=0)
    assert at_offset.value.status == 400
    kept = client.get_messages(stream_id, cursor(client, stream_id, "TRIM_HORIZON"))
    assert values_of(kept.data) == [b"new"]
    assert kept.data[0].offset == 2


def test_cursor_older_than_ttl_answers_400(tuned_cloud):
    client, admin = clients(tuned_cloud)
    stream_id = fresh_stream(admin, tuned_cloud)
    value = cursor(client, stream_id, "LATEST")

    time.sleep(CURSOR_TTL_SECONDS + 0.5)

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        client.get_messages(stream_id, value)
    assert caught.value.status == 400
    assert "expired" in caught.value.message


# limits


def test_limits_rapid_get_messages_answers_429(tuned_cloud):
    client, admin = clients(tuned_cloud)
    stream_id = fresh_stream(admin, tuned_cloud)
    value = cursor(client, stream_id, "TRIM_HORIZON")

    refused = None
    for _ in range(40):
        try:
            value = client.get_messages(stream_id, value).headers["opc-next-cursor"]
        except oci.exceptions.ServiceError as error:
            refused = error
            break

    assert refused is not None
    assert refused.status == 429
    assert refused.code == "TooManyRequests"
    assert refused.request_id


def test_limits_write_over_1mb_per_second_fails_entries_inside_200(tuned_cloud):
    client, admin = clients(tuned_cloud)
    stream_id = fresh_stream(admin, tuned_cloud)
    filler = [b"x" * 340_000, b"y" * 340_000, b"z" * 340_000]

    first = put(client, stream_id, filler, key=b"one")
    second = put(client, stream_id, [b"w" * 1_000_000, b"ok"], key=b"one")

    assert first.failures == 0
    assert second.failures == 1
    assert second.entries[0].error == "TooManyRequests"
    assert second.entries[0].error_message
    assert second.entries[0].offset is None
    assert second.entries[1].error is None
    assert second.entries[1].offset == 3


def test_limits_publisher_retries_refused_entries_until_all_placed(tuned_cloud, caplog):
    client, admin = clients(tuned_cloud)
    stream_id = fresh_stream(admin, tuned_cloud)
    records = [(b"same-key", f"{index:02d}".encode() * 200_000) for index in range(5)]
    publisher = Publisher(client, stream_id, max_attempts=20, first_backoff_seconds=0.1)

    with caplog.at_level("WARNING", logger="ocifn.streaming"):
        placed = publisher.publish(records)

    assert any("refused" in message for message in caplog.messages)
    assert sorted(record.offset for record in placed) == [0, 1, 2, 3, 4]
    assert len({record.partition for record in placed}) == 1
