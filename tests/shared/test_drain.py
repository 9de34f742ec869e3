"""Tests of ocifn.drain: decoding batches, the deadline, commit after the database."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import oci
import pytest
import vault_secrets
from cloud_process import free_port, running_cloud
from ocifn.drain import DrainFunction, drain, retry_stream, split_batch, stop_time
from ocifn.errors import DatabaseAuthError, DatabaseError, StreamError
from ocifn.secrets import SecretReader
from ocifn.settings import DrainSettings
from ocifn.store import SqliteStore, open_store
from ocifn.streaming import Consumer, Publisher, StreamMessage

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
STREAM_ID = "ocid1.stream.oc1.phx.example"


def load_cases(name):
    lines = (CASES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


DRAIN_CASES = load_cases("drain_cases.jsonl") + load_cases("seed_messages.jsonl")


def stream_message(offset, case):
    key = case["key"].encode() if case["key"] is not None else None
    return StreamMessage(partition=0, offset=offset, key=key, value=case["value_b64"])


def test_split_batch_all_cases_counts_add_up():
    """Every case lands as a person or a dead letter with its raw bytes."""
    messages = [stream_message(offset, case) for offset, case in enumerate(DRAIN_CASES)]

    persons, dead_letters = split_batch(messages)

    expected_persons = [
        case["id"] for case in DRAIN_CASES if case["expect"] == "person"
    ]
    assert len(persons) == len(expected_persons)
    assert len(persons) + len(dead_letters) == len(DRAIN_CASES)
    for letter in dead_letters:
        case = DRAIN_CASES[letter.offset]
        assert case["expect"] == "dead_letter"
        assert letter.raw_value == base64.b64decode(case["value_b64"])
        assert letter.reason


def test_stop_time_uses_fraction_of_remaining_deadline():
    """The run may use DEADLINE_FRACTION of the time until Fn-Deadline."""
    deadline = (datetime.now(UTC) + timedelta(seconds=100)).isoformat()

    stop_at = stop_time(deadline, 0.5, clock=lambda: 1000.0)

    assert 1049.0 < stop_at <= 1050.0


def test_stop_time_past_deadline_stops_at_once():
    """A deadline already passed leaves no time."""
    deadline = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()

    assert stop_time(deadline, 0.8, clock=lambda: 10.0) == 10.0


@pytest.fixture
def one_partition(local_cloud, oci_config, new_stream):
    """A fresh one-partition stream on the local cloud, its client and a consumer."""
    stream_id = new_stream(partitions=1)
    client = oci.streaming.StreamClient(
        oci_config,
        service_endpoint=local_cloud["endpoint"],
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )

    return SimpleNamespace(
        stream_id=stream_id,
        client=client,
        consumer=Consumer(client, stream_id, group="g", instance="i"),
        put=lambda values: Publisher(client, stream_id).publish(
            [(None, value) for value in values]
        ),
        committed=lambda: Consumer(
            client, stream_id, group="g", instance="i"
        ).committed_offsets(),
    )


def test_drain_poison_and_persons_commit_after_each_batch(tmp_path, one_partition):
    """Persons and poison both land; the group's offset is committed to the last."""
    one_partition.put([b'{"name": "Ada", "age": 36}', b"not json"])
    one_partition.put([b'{"name": "Ada", "age": 37}'])
    store = SqliteStore(str(tmp_path / "app.db"))

    summary = drain(one_partition.consumer, store, get_limit=2, stop_at=float("inf"))

    assert summary.to_dict() == {
        "read": 3,
        "upserted": 2,
        "dead_lettered": 1,
        "unchanged": 0,
        "committed": {"0": 2},
        "skipped": {},
        "stopped": "empty",
    }
    assert one_partition.committed() == {0: 2}
    store.close()


def test_drain_database_failure_commits_nothing(tmp_path, one_partition):
    """When the transaction fails, the group's offsets are not committed."""
    one_partition.put([b'{"name": "A", "age": 1}'])
    path = tmp_path / "app.db"
    store = SqliteStore(str(path))
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE dead_letter")
        connection.execute("DROP TABLE person")

    with pytest.raises(DatabaseError):
        drain(one_partition.consumer, store, get_limit=100, stop_at=float("inf"))

    assert one_partition.committed() == {0: None}
    store.close()


def test_drain_deadline_reached_stops_before_reading(tmp_path, one_partition):
    """With no time left the run stops without reading; the next run reads it."""
    one_partition.put([b'{"name": "A", "age": 1}'])
    store = SqliteStore(str(tmp_path / "app.db"))

    late = drain(
        one_partition.consumer, store, get_limit=100, stop_at=0.0, clock=lambda: 1.0
    )
    one_partition.consumer.restart()
    next_run = drain(one_partition.consumer, store, get_limit=100, stop_at=float("inf"))

    assert (late.stopped, late.read) == ("deadline", 0)
    assert (next_run.stopped, next_run.read) == ("empty", 1)
    store.close()


def test_retry_stream_retryable_errors_retried_with_backoff():
    """A retryable stream error is tried again, waiting longer each time."""
    outcomes = [StreamError("throttled"), StreamError("throttled"), "read"]
    sleeps = []

    def call():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = retry_stream(call, stop_at=float("inf"), sleep=sleeps.append)

    assert result == "read"
    assert sleeps == [0.5, 1.0]


def test_retry_stream_not_retryable_raises_at_once():
    """An error a retry cannot help is raised without waiting."""
    sleeps = []

    def call():
        raise StreamError("refused", retryable=False)

    with pytest.raises(StreamError):
        retry_stream(call, stop_at=float("inf"), sleep=sleeps.append)

    assert sleeps == []


def test_retry_stream_wait_past_stop_time_raises_last_error():
    """No wait goes past the run's stop time: the last error is raised instead."""
    sleeps = []

    def call():
        raise StreamError("throttled")

    with pytest.raises(StreamError):
        retry_stream(call, stop_at=10.3, clock=lambda: 10.0, sleep=sleeps.append)

    assert sleeps == []


def test_retry_stream_attempts_spent_raises_last_error():
    """After the last attempt the error is raised, whatever time is left."""
    calls = []

    def call():
        calls.append(1)
        raise StreamError("throttled")

    with pytest.raises(StreamError):
        retry_stream(call, stop_at=float("inf"), sleep=lambda _: None, attempts=3)

    assert len(calls) == 3


def person_records(prefix, count):
    return [
        (
            f"{prefix}-{index}".encode(),
            json.dumps({"name": f"{prefix}-{index}", "age": 1}).encode(),
        )
        for index in range(count)
    ]


def put_records(stream_client, stream_id, records):
    Publisher(stream_client, stream_id).publish(records)


@pytest.fixture(scope="module")
def limits_cloud(tmp_path_factory):
    """A local cloud that throttles as OCI Streaming does (--enforce-limits)."""
    data_dir = tmp_path_factory.mktemp("ocilocal-limits")
    log_path = tmp_path_factory.mktemp("ocilocal-limits-log") / "server.log"
    with running_cloud(
        data_dir, free_port(), log_path, options=["--enforce-limits"]
    ) as state:
        yield state


def test_drain_throttled_reads_back_off_and_read_everything(limits_cloud):
    """GetMessages answered 429 is retried with backoff; every record is read.

    One record per read on one partition asks for more than the 5 reads a
    second OCI allows, so the local cloud in limits mode throttles for real.
    """
    config = oci.config.from_file(limits_cloud["config_file"], limits_cloud["profile"])
    admin = oci.streaming.StreamAdminClient(
        config, service_endpoint=limits_cloud["endpoint"]
    )
    stream_id = admin.create_stream(
        oci.streaming.models.CreateStreamDetails(
            name=f"throttle-{uuid.uuid4().hex[:8]}",
            partitions=1,
            compartment_id=limits_cloud["compartment_id"],
        )
    ).data.id
    client = oci.streaming.StreamClient(
        config,
        service_endpoint=limits_cloud["endpoint"],
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )
    put_records(client, stream_id, person_records("throttled", 15))
    consumer = Consumer(client, stream_id, group="g", instance="i")
    store = SqliteStore(str(Path(limits_cloud["data_dir"]) / "throttle.db"))
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(seconds)

    summary = drain(consumer, store, get_limit=1, stop_at=float("inf"), sleep=sleep)

    assert sleeps, "the local cloud never throttled the reads"
    assert (summary.read, summary.upserted, summary.stopped) == (15, 15, "empty")
    assert store.counts().persons == 15
    store.close()


@pytest.fixture
def drain_rig(
    local_cloud, oci_config, secrets_client, vaults_client, new_stream, tmp_path
):
    """A DrainFunction on a fresh stream and SQLite file, secrets in the local Vault.

    Its store opener records every store it opens, so a test can reach the
    open connection the way a database server would: by closing it. An error
    put in ``refusals`` is raised by the next open instead: SQLite has no
    credentials to refuse, and no Oracle Database can run here.
    """
    stream_id = new_stream(partitions=1)
    stream_secret = create_json_secret(
        local_cloud,
        vaults_client,
        {"streamMessagesEndpoint": local_cloud["endpoint"], "streamOCID": stream_id},
    )
    database = tmp_path / "app.db"
    db_secret = create_json_secret(
        local_cloud, vaults_client, {"backend": "sqlite", "path": str(database)}
    )
    settings = DrainSettings.from_mapping(
        {"STREAM_SECRET_OCID": stream_secret, "DB_SECRET_OCID": db_secret}
    )
    opened = []
    refusals = []

    def store_opener(connection, **options):
        if refusals:
            raise refusals.pop()
        store = open_store(connection, **options)
        opened.append(store)
        return store

    def stream_client_factory(endpoint):
        return oci.streaming.StreamClient(
            oci_config,
            service_endpoint=endpoint,
            retry_strategy=oci.retry.NoneRetryStrategy(),
        )

    function = DrainFunction(
        settings,
        SecretReader(secrets_client),
        stream_client_factory=stream_client_factory,
        store_opener=store_opener,
    )
    publish_client = stream_client_factory(local_cloud["endpoint"])
    rig = SimpleNamespace(
        function=function,
        opened=opened,
        refusals=refusals,
        db_secret=db_secret,
        database=database,
        put=lambda records: put_records(publish_client, stream_id, records),
    )
    yield rig
    function.close()


def create_json_secret(local_cloud, vaults_client, document):
    content = json.dumps(document).encode()

    return vault_secrets.create_secret(vaults_client, local_cloud, content)


def test_drain_function_lost_connection_reconnects_once_and_drains(drain_rig):
    """A cached connection closed under the drain is replaced within the run."""
    drain_rig.put(person_records("before", 3))
    first = drain_rig.function.run(None)
    drain_rig.opened[0].close()
    drain_rig.put(person_records("after", 2))

    second = drain_rig.function.run(None)

    assert (first["read"], second["read"], second["upserted"]) == (3, 2, 2)
    assert second["stopped"] == "empty"
    assert len(drain_rig.opened) == 2
    with sqlite3.connect(drain_rig.database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM person").fetchone() == (5,)


def test_drain_function_credentials_refused_reads_secret_again(
    drain_rig, vaults_client
):
    """Refused credentials make the drain read the connection secret anew.

    The cached secret still names the old database when the refusal comes;
    the fresh read finds the rotated version and the run writes there.
    """
    drain_rig.put(person_records("first", 2))
    drain_rig.function.run(None)
    drain_rig.function.close()
    rotated = drain_rig.database.with_name("rotated.db")
    content = json.dumps({"backend": "sqlite", "path": str(rotated)}).encode()
    vault_secrets.new_version(vaults_client, drain_rig.db_secret, content)
    drain_rig.refusals.append(DatabaseAuthError("the database refused the password"))
    drain_rig.put(person_records("second", 3))

    summary = drain_rig.function.run(None)

    assert (summary["read"], summary["upserted"]) == (3, 3)
    with sqlite3.connect(rotated) as connection:
        assert connection.execute("SELECT COUNT(*) FROM person").fetchone() == (3,)
