"""Each publish input case, POSTed to the gateway; the stream says what arrived."""

from __future__ import annotations

import base64
import json
import re

import pytest
import yaml
from cloud_api import REPOSITORY, json_document, read_cases

CASES = read_cases("publish_cases.jsonl")
PUBLISH_CONFIG = yaml.safe_load(
    (REPOSITORY / "functions" / "publish-message" / "func.yaml").read_text()
)["config"]
MAX_BODY_BYTES = int(PUBLISH_CONFIG["MAX_BODY_BYTES"])
MAX_RECORDS = int(PUBLISH_CONFIG["MAX_BATCH_RECORDS"])
# The record each all-or-nothing batch case fails on: (index, field).
BATCH_FAILURES = {"one-bad-in-batch": (1, "name")}
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
# Bodies a JSON parser chokes on rather than refuses; each is a 400.
DEEP_BODIES = {
    "deep-open-arrays": b"[" * 100_000,
    "deep-closed-arrays": DEEP_ARRAY,
    "deep-in-person": b'{"name": "Deep", "age": 1, "extra": ' + DEEP_ARRAY + b"}",
}


def expected_persons(body: bytes) -> list[dict]:
    """The persons a valid body holds, as the stream should carry them."""
    document = json.loads(body.decode("utf-8"))
    documents = document if isinstance(document, list) else [document]
    return [
        {"name": item["name"], "age": item["age"], "comment": item.get("comment")}
        for item in documents
    ]


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_publish_case_through_gateway_answers_and_publishes_as_expected(api, case):
    """The status, a JSON body, and exactly the expected messages on the stream."""
    body = base64.b64decode(case["body_b64"])
    before = api.latest_cursors()

    reply = api.gateway("POST", "messages", body, case["content_type"])
    arrived = api.messages_after(before)

    document = json_document(reply, case["expect_status"])
    assert len(arrived) == case["published"]
    if reply.status != 200:
        return

    assert document["published"] == case["published"]
    by_position = {(int(m.partition), int(m.offset)): m for m in arrived}
    persons = expected_persons(body)
    assert [record["index"] for record in document["records"]] == list(
        range(len(persons))
    )
    for record, person in zip(document["records"], persons, strict=True):
        message = by_position[(record["partition"], record["offset"])]
        assert base64.b64decode(message.key) == person["name"].encode("utf-8")
        assert json.loads(base64.b64decode(message.value)) == person


@pytest.mark.integration
@pytest.mark.parametrize("case_id", sorted(BATCH_FAILURES))
def test_publish_batch_with_one_bad_record_names_index_and_field(api, case_id):
    """The refusal of an all-or-nothing batch says which record and field failed."""
    case = next(case for case in CASES if case["id"] == case_id)
    index, field = BATCH_FAILURES[case_id]

    reply = api.gateway(
        "POST", "messages", base64.b64decode(case["body_b64"]), case["content_type"]
    )

    message = json_document(reply, 400)["error"]["message"]
    assert re.search(rf"\b{index}\b", message), message
    assert field in message


@pytest.mark.integration
def test_publish_body_over_size_limit_answers_413_and_publishes_nothing(api):
    """A body one byte over the function's MAX_BODY_BYTES is refused whole."""
    person = json.dumps({"name": "Big", "age": 1, "comment": ""}).encode()
    body = person[:-2] + b" " * (MAX_BODY_BYTES + 1 - len(person)) + person[-2:]
    before = api.latest_cursors()

    reply = api.gateway("POST", "messages", body, "application/json")

    assert len(body) == MAX_BODY_BYTES + 1
    assert json_document(reply, 413)["error"]["code"] == "payload_too_large"
    assert api.messages_after(before) == []


@pytest.mark.integration
def test_publish_batch_over_record_limit_answers_413_and_publishes_nothing(api):
    """A batch one record over the function's MAX_BATCH_RECORDS is refused whole."""
    batch = [{"name": f"Over {index}", "age": 1} for index in range(MAX_RECORDS + 1)]
    before = api.latest_cursors()

    reply = api.gateway(
        "POST", "messages", json.dumps(batch).encode(), "application/json"
    )

    assert json_document(reply, 413)["error"]["code"] == "payload_too_large"
    assert api.messages_after(before) == []


@pytest.mark.integration
@pytest.mark.parametrize("body_id", sorted(DEEP_BODIES))
@pytest.mark.parametrize("route", ["gateway", "invoke"])
def test_publish_body_nested_too_deeply_answers_400_and_publishes_nothing(
    api, route, body_id
):
    """Nesting deeper than the parser follows is a bad body, never a 500."""
    before = api.latest_cursors()

    if route == "gateway":
        reply = api.gateway(
            "POST", "messages", DEEP_BODIES[body_id], "application/json"
        )
    else:
        reply = api.invoke("publish-message", DEEP_BODIES[body_id])

    document = json_document(reply, 400, invoked=route == "invoke")
    assert "nested too deeply" in document["error"]["message"]
    assert api.messages_after(before) == []


@pytest.mark.integration
def test_publish_huge_integer_outside_the_fields_publishes_the_person(api):
    """An integer too long for Python's int() in an unused field is still JSON."""
    body = b'{"name": "Huge Id", "age": 3, "id": ' + b"7" * 5000 + b"}"
    before = api.latest_cursors()

    reply = api.gateway("POST", "messages", body, "application/json")

    assert json_document(reply, 200)["published"] == 1
    [message] = api.messages_after(before)
    assert json.loads(base64.b64decode(message.value)) == {
        "name": "Huge Id",
        "age": 3,
        "comment": None,
    }
