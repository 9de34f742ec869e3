"""Each drain input case, put raw on the stream and drained through invoke.

The database checked is the local cloud's real SQLite file.
"""

from __future__ import annotations

import base64
import json

import pytest
from cloud_api import DRAIN_GROUP, read_cases
from oci.streaming.models import UpdateGroupDetails

CASES = read_cases("drain_cases.jsonl") + read_cases("seed_messages.jsonl")
ORDER_CASES = ("order-1", "order-2")
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
# Messages a parser can choke on rather than refuse: each must become a dead
# letter with its reason, and the message after them on the partition a row.
POISON_VALUES = {
    "deep-open-arrays": b"[" * 100_000,
    "deep-closed-arrays": DEEP_ARRAY,
    "deep-in-person": b'{"name": "Poison", "age": 1, "extra": ' + DEEP_ARRAY + b"}",
}
POISON_KEY = b"Poison Partition"


def case_message(case: dict) -> tuple[bytes | None, bytes]:
    """The raw key and value bytes of a case."""
    key = case["key"].encode("utf-8") if case["key"] is not None else None
    return key, base64.b64decode(case["value_b64"])


def person_row(api, name: str) -> tuple:
    """(name as stored bytes, age, comment, src_partition, src_offset) of a name."""
    rows = api.query(
        "SELECT CAST(name AS BLOB), age, comment_text, src_partition, src_offset "
        "FROM person WHERE name = ?",
        (name,),
    )
    assert len(rows) == 1, rows
    return rows[0]


def dead_letters_at(api, partition: int, offset: int) -> list[tuple]:
    return api.query(
        "SELECT message_key, raw_value, reason FROM dead_letter "
        "WHERE src_partition = ? AND src_offset = ?",
        (partition, offset),
    )


def table_counts(api) -> tuple[int, int]:
    persons = api.query("SELECT COUNT(*) FROM person")[0][0]
    letters = api.query("SELECT COUNT(*) FROM dead_letter")[0][0]
    return persons, letters


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_drain_case_ends_as_person_or_dead_letter(api, case):
    """A person case is a row of exactly its fields; any other a dead letter."""
    api.drain_until_empty()
    key, value = case_message(case)
    partition, offset = api.put(key, value)

    summary = api.drain()

    assert summary["read"] == 1
    assert summary["stopped"] == "empty"
    assert summary["committed"] == {str(partition): offset}
    assert api.committed_offsets()[partition] == offset
    if case["expect"] == "person":
        document = json.loads(value.decode("utf-8"))
        stored_name, age, comment, source_partition, source_offset = person_row(
            api, document["name"]
        )
        assert stored_name == document["name"].encode("utf-8")
        assert (age, comment) == (document["age"], document.get("comment"))
        assert (source_partition, source_offset) >= (partition, offset)
        written = (source_partition, source_offset) == (partition, offset)
        assert summary["upserted"] == (1 if written else 0)
        assert summary["dead_lettered"] == 0
        assert dead_letters_at(api, partition, offset) == []
    else:
        [(stored_key, raw_value, reason)] = dead_letters_at(api, partition, offset)
        assert stored_key == key
        assert raw_value == value
        assert isinstance(reason, str) and reason.strip()
        assert summary["dead_lettered"] == 1
        assert summary["upserted"] == 0


@pytest.mark.integration
def test_drain_order_pair_redelivered_keeps_later_and_duplicates_nothing(api):
    """The later of two messages for one name wins, also after a full redelivery."""
    api.drain_until_empty()
    pair = {case["id"]: case for case in CASES if case["id"] in ORDER_CASES}
    for case_id in ORDER_CASES:
        api.put(*case_message(pair[case_id]))

    api.drain_until_empty()
    first = person_row(api, "Order Test")
    counts = table_counts(api)
    committed = api.committed_offsets()
    api.stream_client.update_group(
        api.stream_id, DRAIN_GROUP, UpdateGroupDetails(type="TRIM_HORIZON")
    )
    redelivered = api.drain_until_empty()

    assert first[1:3] == (21, "second")
    assert person_row(api, "Order Test") == first
    assert table_counts(api) == counts
    assert sum(summary["read"] for summary in redelivered) >= len(ORDER_CASES)
    assert sum(summary["upserted"] for summary in redelivered) == 0
    assert sum(summary["dead_lettered"] for summary in redelivered) == 0
    assert api.committed_offsets() == committed


@pytest.mark.integration
def test_drain_poison_messages_dead_lettered_and_partition_moves_on(api):
    """Messages that break a parser are dead letters; the next one is stored."""
    api.drain_until_empty()
    positions = {
        case_id: api.put(POISON_KEY, value) for case_id, value in POISON_VALUES.items()
    }
    after = {"name": "After Poison", "age": 7, "comment": None}
    after_position = api.put(POISON_KEY, json.dumps(after).encode())

    summaries = api.drain_until_empty()

    assert sum(summary["read"] for summary in summaries) == len(POISON_VALUES) + 1
    assert sum(summary["dead_lettered"] for summary in summaries) == len(POISON_VALUES)
    for case_id, (partition, offset) in positions.items():
        [(stored_key, raw_value, reason)] = dead_letters_at(api, partition, offset)
        assert (stored_key, reason) == (POISON_KEY, "not_json"), case_id
        assert raw_value == POISON_VALUES[case_id], case_id
    stored_name, age, comment, *source = person_row(api, after["name"])
    assert (age, comment, tuple(source)) == (7, None, after_position)
    assert api.committed_offsets()[after_position[0]] == after_position[1]


@pytest.mark.integration
def test_drain_huge_integer_decides_by_field(api):
    """A huge integer in an unused field keeps the person; as the age, a letter."""
    api.drain_until_empty()
    digits = b"7" * 5000
    kept = api.put(
        None, b'{"name": "Huge Id Drained", "age": 4, "id": ' + digits + b"}"
    )
    refused = api.put(None, b'{"name": "Huge Age", "age": ' + digits + b"}")

    summaries = api.drain_until_empty()

    assert sum(summary["upserted"] for summary in summaries) == 1
    _, age, comment, *source = person_row(api, "Huge Id Drained")
    assert (age, comment, tuple(source)) == (4, None, kept)
    [(_, _, reason)] = dead_letters_at(api, *refused)
    assert reason == "invalid_field:age"
