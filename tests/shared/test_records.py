"""Tests of ocifn.records: the Person schema and the parsing of every input case."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from ocifn import records
from ocifn.errors import InputError, PayloadTooLarge
from ocifn.records import Person, decode_message, parse_person, parse_publish_body

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
MAX_RECORDS = 1000
MAX_BYTES = 4 * 1024 * 1024
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_IN_PERSON = b'{"name": "Deep", "age": 1, "extra": ' + DEEP_ARRAY + b"}"


def load_cases(name: str) -> list[dict]:
    lines = (CASES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


DRAIN_CASES = load_cases("drain_cases.jsonl") + load_cases("seed_messages.jsonl")
PUBLISH_CASES = load_cases("publish_cases.jsonl")


@pytest.mark.parametrize("case", DRAIN_CASES, ids=lambda case: case["id"])
def test_decode_message_drain_case_gives_expected_outcome(case):
    """Each message on the stream becomes a Person or a dead-letter reason."""
    decoded = decode_message(case["value_b64"])

    if case["expect"] == "person":
        assert isinstance(decoded, Person)
    else:
        assert isinstance(decoded, str)
        assert decoded


def test_decode_message_unicode_keeps_text_byte_for_byte():
    """Non-ASCII names and emoji survive decoding unchanged."""
    value = base64.b64encode('{"name":"Zoë","age":29,"comment":"☃ 😀"}'.encode())

    decoded = decode_message(value)

    assert decoded == Person(name="Zoë", age=29, comment="☃ 😀")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not base64!", records.REASON_NOT_BASE64),
        (base64.b64encode(b"\xff\xfe{}").decode(), records.REASON_NOT_UTF8),
        (base64.b64encode(b"not json").decode(), records.REASON_NOT_JSON),
        (base64.b64encode(b"").decode(), records.REASON_NOT_JSON),
        (base64.b64encode(b"NaN").decode(), records.REASON_NOT_JSON),
        (base64.b64encode(b"[1, 2]").decode(), records.REASON_NOT_OBJECT),
        (base64.b64encode(b"[" * 100_000).decode(), records.REASON_NOT_JSON),
        (
            base64.b64encode(b'{"name": "a", "age": 1, "name": "b"}').decode(),
            records.REASON_DUPLICATE_KEY,
        ),
        (
            base64.b64encode(
                b'{"name": "a", "age": 1, "x": {"k": 1, "k": 2}}'
            ).decode(),
            records.REASON_DUPLICATE_KEY,
        ),
        (base64.b64encode(DEEP_ARRAY).decode(), records.REASON_NOT_JSON),
        (base64.b64encode(DEEP_IN_PERSON).decode(), records.REASON_NOT_JSON),
        (base64.b64encode(b'{"age": 3}').decode(), "invalid_field:name"),
        (base64.b64encode(b'{"name": "x", "age": true}').decode(), "invalid_field:age"),
        (
            base64.b64encode(b'{"name": "x", "age": 3, "comment": 5}').decode(),
            "invalid_field:comment",
        ),
    ],
)
def test_decode_message_bad_data_names_the_failed_step(value, reason):
    """The first step that fails names the reason; nothing raises."""
    assert decode_message(value) == reason


@pytest.mark.parametrize("case", PUBLISH_CASES, ids=lambda case: case["id"])
def test_parse_publish_body_publish_case_gives_expected_status(case):
    """Valid bodies give one Person per record; invalid ones raise a 400."""
    body = base64.b64decode(case["body_b64"])

    if case["expect_status"] == 200:
        persons = parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=MAX_BYTES)
        assert len(persons) == case["published"]
    else:
        with pytest.raises(InputError) as raised:
            parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=MAX_BYTES)
        assert raised.value.status == case["expect_status"]


def test_parse_publish_body_one_bad_record_names_index_and_field():
    """A batch is all or nothing and the error says which record and field."""
    body = b'[{"name": "Good", "age": 1}, {"name": "", "age": 2}]'

    with pytest.raises(InputError) as raised:
        parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=MAX_BYTES)

    assert raised.value.status == 400
    assert "record 1" in raised.value.message
    assert "name" in raised.value.message
    assert raised.value.context == {"index": 1, "field": "name"}


@pytest.mark.parametrize(
    "body", [b"[" * 100_000, DEEP_ARRAY, DEEP_IN_PERSON, b"[" + DEEP_IN_PERSON + b"]"]
)
def test_parse_publish_body_nested_too_deeply_is_400(body):
    """JSON nested deeper than the parser can follow is the caller's mistake."""
    with pytest.raises(InputError) as raised:
        parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=MAX_BYTES)

    assert raised.value.status == 400
    assert "nested too deeply" in raised.value.message


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a", "age": 1, "name": "b"}',
        b'[{"name": "a", "age": 1}, {"name": "b", "age": 900, "age": 9}]',
        b'{"name": "a", "age": 1, "extra": [{"k": 1, "k": 1}]}',
    ],
)
def test_parse_publish_body_duplicate_key_is_400(body):
    """A key twice in one object is refused: which value counts is unclear."""
    with pytest.raises(InputError) as raised:
        parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=MAX_BYTES)

    assert raised.value.status == 400
    assert "duplicate key" in raised.value.message


HUGE_DIGITS = "7" * 5000


@pytest.mark.parametrize("number", [HUGE_DIGITS, "-" + HUGE_DIGITS])
def test_parse_publish_body_huge_integer_outside_the_fields_is_ignored(number):
    """An integer of any length in a field a Person does not use is still JSON."""
    body = f'{{"name": "Big Id", "age": 1, "id": {number}, "n": [{number}]}}'

    persons = parse_publish_body(
        body.encode(), max_records=MAX_RECORDS, max_bytes=MAX_BYTES
    )

    assert persons == [Person(name="Big Id", age=1)]


@pytest.mark.parametrize("number", [HUGE_DIGITS, "-" + HUGE_DIGITS])
def test_parse_publish_body_huge_integer_age_is_out_of_range(number):
    """An age of thousands of digits is an integer out of range, not bad JSON."""
    body = f'{{"name": "Old", "age": {number}}}'.encode()

    with pytest.raises(InputError) as raised:
        parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=MAX_BYTES)

    assert raised.value.context == {"index": 0, "field": "age"}
    assert "from 0 to 150" in raised.value.message


def test_decode_message_huge_integers_decide_by_field():
    """A huge integer in an unused field keeps the person; as the age it fails."""
    kept = f'{{"name": "Big Id", "age": 2, "id": {HUGE_DIGITS}}}'.encode()
    refused = f'{{"name": "Old", "age": {HUGE_DIGITS}}}'.encode()

    assert decode_message(base64.b64encode(kept)) == Person(name="Big Id", age=2)
    assert decode_message(base64.b64encode(refused)) == "invalid_field:age"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'\xef\xbb\xbf{"name": "x", "age": 1}', "byte order mark"),
        (b'{"name": "x", "age": NaN}', "NaN"),
        (b'{"name": "x", "age": -Infinity}', "-Infinity"),
        (b'{"name": "x",\n "age": 1,}', "line 2 column 11"),
        (b'{"name": "x", "age": 1} {}', "line 1 column 25"),
    ],
)
def test_parse_publish_body_not_json_names_the_problem(body, named):
    """The refusal of text that is not JSON says what is wrong and where."""
    with pytest.raises(InputError) as raised:
        parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=MAX_BYTES)

    assert raised.value.status == 400
    assert raised.value.message.startswith("body is not valid JSON: ")
    assert named in raised.value.message


def test_parse_publish_body_over_max_bytes_is_413():
    """A body over the byte limit is refused before it is parsed."""
    body = b'{"name": "x", "age": 1}'

    with pytest.raises(PayloadTooLarge) as raised:
        parse_publish_body(body, max_records=MAX_RECORDS, max_bytes=len(body) - 1)

    assert raised.value.status == 413


def test_parse_publish_body_over_max_records_is_413():
    """A batch with more records than allowed is refused whole."""
    body = json.dumps([{"name": f"n{i}", "age": 1} for i in range(3)]).encode()

    with pytest.raises(PayloadTooLarge) as raised:
        parse_publish_body(body, max_records=2, max_bytes=MAX_BYTES)

    assert raised.value.status == 413


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": "x" * (records.NAME_MAX_BYTES + 1), "age": 1}, "name"),
        ({"name": "é" * 128, "age": 1}, "name"),
        ({"name": "   ", "age": 1}, "name"),
        ({"name": "\ud800", "age": 1}, "name"),
        ({"name": "x", "age": 151}, "age"),
        ({"name": "x", "age": 3.0}, "age"),
        ({"name": "x", "age": False}, "age"),
        ({"name": "x", "age": 1, "comment": "c" * 4001}, "comment"),
        ({"name": "x", "age": 1, "comment": ["a"]}, "comment"),
    ],
)
def test_parse_person_out_of_limits_names_field(document, field):
    """Limits follow the Oracle columns, counted in UTF-8 bytes."""
    with pytest.raises(records.InvalidField) as raised:
        parse_person(document)

    assert raised.value.field == field
    assert raised.value.status == 400


def test_parse_person_at_limits_is_accepted():
    """Values exactly at each limit fit."""
    document = {
        "name": "x" * records.NAME_MAX_BYTES,
        "age": records.AGE_MAX,
        "comment": "€" * (records.COMMENT_MAX_BYTES // 3),
    }

    person = parse_person(document)

    assert person.age == records.AGE_MAX


def test_person_to_json_bytes_is_compact_utf8_and_parses_back():
    """The message value is compact UTF-8 JSON that decodes to the same person."""
    person = Person(name="Zoë", age=29, comment=None)

    value = person.to_json_bytes()

    assert value == '{"name":"Zoë","age":29,"comment":null}'.encode()
    assert decode_message(base64.b64encode(value)) == person
