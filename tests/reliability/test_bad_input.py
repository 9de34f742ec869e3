"""Bad input, generated: publish bodies through the gateway, raw messages to the drain.

Every answer must be the status the rules give (``expectations``), as JSON,
never a 5xx; whatever was accepted must pass the accounting check.
"""

from __future__ import annotations

import json

from accounting import Ledger, account
from expectations import message_is_person, parse_json, publish_status
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reliability_cloud import functions_folder

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.one_of(
    st.text(min_size=1, max_size=30),
    st.sampled_from(["", "   ", "a" * 255, "a" * 256, "é" * 127, "é" * 128]),
    st.integers(),
    st.none(),
)
ages = st.one_of(
    st.integers(min_value=-3, max_value=153),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.none(),
)
comments = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["x" * 4000, "x" * 4001, "€" * 1333, "€" * 1334]),
    st.integers(),
)
valid_persons = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=30).filter(str.strip),
        "age": st.integers(min_value=0, max_value=150),
    },
    optional={"comment": st.none() | st.text(max_size=40)},
)
BAD_FIELDS = {"name": names, "age": ages, "comment": comments}
PERSON_FIELDS = ("name", "age", "comment")


@st.composite
def near_persons(draw) -> dict:
    """A valid person, then at most one change: a field bad, dropped or added."""
    person = draw(valid_persons)
    change = draw(st.sampled_from(["none", "name", "age", "comment", "drop", "add"]))
    if change in BAD_FIELDS:
        person[change] = draw(BAD_FIELDS[change])
    elif change == "drop":
        person.pop(draw(st.sampled_from(sorted(person))))
    elif change == "add":
        person[draw(st.text(max_size=8))] = draw(json_values)
    return person


near_bodies = st.one_of(near_persons(), st.lists(near_persons(), max_size=4))


def check_publish(cloud, ledger: Ledger, body: bytes) -> None:
    """One POST /messages: the expected status, JSON, and the ledger kept."""
    expected = publish_status(body)

    status, reply = cloud.publish(body)

    assert status == expected, (status, reply)
    assert isinstance(reply, dict), reply
    if status != 200:
        assert set(reply) == {"error"}
        assert isinstance(reply["error"]["code"], str)
        assert isinstance(reply["error"]["message"], str)
        return
    _, document = parse_json(body)
    documents = document if isinstance(document, list) else [document]
    assert reply["published"] == len(documents)
    # only a person's fields travel on, and other fields may not even print
    fields = [{key: item.get(key) for key in PERSON_FIELDS} for item in documents]
    ledger.add_published(fields, reply)


def finish(cloud, ledger: Ledger, record_scenario, scenario: str) -> None:
    cloud.drain_until_empty()
    record_scenario(scenario, account(ledger, cloud.database))


def test_publish_arbitrary_bytes_answers_rule_status(tmp_path, clouds, record_scenario):
    cloud = clouds(functions_folder(tmp_path)).start()
    ledger = Ledger()

    @SETTINGS
    @given(body=st.binary(max_size=600))
    @example(body=b" " * (4 * 1024 * 1024 + 1))
    @example(body=b'{"name": "Bytes", "age": 7}')
    @example(body=b"[" * 100_000)
    @example(body=b'{"name": "Twice", "age": 7, "name": "Other"}')
    @example(body=b'\xef\xbb\xbf{"name": "Marked", "age": 7}')
    @example(body=b'{"name": "Long Id", "age": 7, "id": ' + b"7" * 5000 + b"}")
    @example(body=b'{"name": "Old", "age": ' + b"7" * 5000 + b"}")
    def check(body: bytes) -> None:
        check_publish(cloud, ledger, body)

    check()
    finish(cloud, ledger, record_scenario, "publish: arbitrary bytes")


def test_publish_arbitrary_json_answers_rule_status(tmp_path, clouds, record_scenario):
    cloud = clouds(functions_folder(tmp_path)).start()
    ledger = Ledger()

    @SETTINGS
    @given(document=json_values)
    @example(document=[{"name": "Many", "age": 1}] * 1001)
    @example(document=float("nan"))
    def check(document) -> None:
        check_publish(cloud, ledger, json.dumps(document).encode())

    check()
    finish(cloud, ledger, record_scenario, "publish: arbitrary JSON")


def test_publish_near_valid_persons_answers_rule_status(
    tmp_path, clouds, record_scenario
):
    cloud = clouds(functions_folder(tmp_path)).start()
    ledger = Ledger()

    @SETTINGS
    @given(document=near_bodies, ascii_only=st.booleans())
    def check(document, ascii_only: bool) -> None:
        body = json.dumps(document, ensure_ascii=ascii_only)
        check_publish(cloud, ledger, body.encode("utf-8", "surrogatepass"))

    check()
    assert len(ledger) > 0
    finish(cloud, ledger, record_scenario, "publish: near-valid persons")


raw_values = st.one_of(
    st.binary(min_size=1, max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    near_persons().map(lambda value: json.dumps(value).encode()),
)
raw_messages = st.lists(
    st.tuples(st.none() | st.binary(min_size=1, max_size=16), raw_values),
    min_size=1,
    max_size=5,
)


def test_drain_arbitrary_raw_messages_persists_or_dead_letters_each(
    tmp_path, clouds, record_scenario
):
    cloud = clouds(functions_folder(tmp_path)).start()
    ledger = Ledger()

    @SETTINGS
    @given(messages=raw_messages)
    @example(messages=[(None, b"[" * 100_000), (b"k", b'{"name": "N", "age": 1}')])
    @example(messages=[(None, b'{"name": "Twice", "age": 7, "name": "Other"}')])
    @example(messages=[(None, b'{"name": "Id", "age": 7, "id": ' + b"7" * 5000 + b"}")])
    def check(messages) -> None:
        positions = cloud.put_raw(messages)
        for (partition, offset), (_, value) in zip(positions, messages, strict=True):
            ledger.add(partition, offset, value, valid=message_is_person(value))

        status, summary = cloud.drain()

        assert status == 200, summary
        assert summary["read"] == len(messages)

    check()
    finish(cloud, ledger, record_scenario, "drain: arbitrary raw messages")
