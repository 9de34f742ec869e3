"""Each publish input case, POSTed to the gateway; the stream says what arrived."""

from __future__ import annotations

import base64
import json
import re

import pytest
from cloud_api import read_cases

CASES = read_cases("publish_cases.jsonl")
# The record each all-or-nothing batch case fails on: (index, field).
BATCH_FAILURES = {"one-bad-in-batch": (1, "name")}


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

    assert reply.status == case["expect_status"], reply.body
    assert reply.headers["content-type"] == ["application/json"]
    document = reply.json()
    assert len(arrived) == case["published"]
    if reply.status != 200:
        error = document["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
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

    message = reply.json()["error"]["message"]
    assert reply.status == 400
    assert re.search(rf"\b{index}\b", message), message
    assert field in message
