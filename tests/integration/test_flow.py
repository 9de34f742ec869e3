"""The whole flow: publish through the gateway, drain by invoke, read secrets.

Every reply is checked as JSON with its status where the caller finds it: the
HTTP status through the gateway, ``Fn-Http-Status`` through invoke.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
from cloud_api import (
    ABSENT_SECRET,
    BINARY_SECRET,
    GREETING_SECRET,
    MISSING_STREAM_FUNCTION,
    json_document,
)
from oci.vault.models import Base64SecretContentDetails, CreateSecretDetails

BATCH_SIZE = 240
# Names outside ASCII: accents, CJK, an emoji, right-to-left script.
NAME_STEMS = ("Ada", "Zoë Ångström", "张伟", "Grüße 😀", "سارة", "Łukasz")
BINARY_CONTENT = b"\xff\xfe\x00binary\x80"
DISALLOWED_CONTENT = b"never through read-secret"
KEY_ID = "ocid1.key.oc1.local.integration"


def create_secret(api, name: str, content: bytes) -> str:
    """A secret in the cloud's vault, made with the SDK; its OCID."""
    details = CreateSecretDetails(
        compartment_id=api.state["compartment_id"],
        vault_id=api.state["vault_id"],
        secret_name=name,
        key_id=KEY_ID,
        secret_content=Base64SecretContentDetails(
            content_type="BASE64", content=base64.b64encode(content).decode()
        ),
    )
    return api.vaults_client.create_secret(details).data.id


@pytest.fixture(scope="module")
def binary_secret_id(api) -> str:
    return create_secret(api, BINARY_SECRET, BINARY_CONTENT)


@pytest.fixture(scope="module")
def disallowed_secret(api) -> tuple[str, str]:
    name = f"not-allowed-{uuid.uuid4().hex[:8]}"
    return name, create_secret(api, name, DISALLOWED_CONTENT)


def vault_text(api, name: str) -> tuple[str, int]:
    """A secret's current text and version as Vault itself gives them."""
    bundle = api.secrets_client.get_secret_bundle_by_name(
        name, vault_id=api.state["vault_id"]
    ).data
    content = base64.b64decode(bundle.secret_bundle_content.content)
    return content.decode("utf-8"), bundle.version_number


@pytest.mark.integration
def test_flow_batch_through_gateway_drains_to_rows_and_committed_offsets(api):
    """A batch of people ends as rows; the summary's offsets are the group's."""
    api.drain_until_empty()
    run = uuid.uuid4().hex[:6]
    people = [
        {
            "name": f"{NAME_STEMS[index % len(NAME_STEMS)]} {run}-{index}",
            "age": index % 151,
            "comment": None if index % 5 == 0 else f"comment № {index} ☃",
        }
        for index in range(BATCH_SIZE)
    ]
    body = json.dumps(people, ensure_ascii=False).encode("utf-8")

    reply = api.gateway("POST", "messages", body, "application/json; charset=utf-8")
    summaries = api.drain_until_empty()

    published = json_document(reply, 200)
    assert published["published"] == BATCH_SIZE
    assert [record["index"] for record in published["records"]] == list(
        range(BATCH_SIZE)
    )
    assert sum(summary["read"] for summary in summaries) == BATCH_SIZE
    assert sum(summary["upserted"] for summary in summaries) == BATCH_SIZE
    assert summaries[-1]["stopped"] == "empty"
    for person, record in zip(people, published["records"], strict=True):
        rows = api.query(
            "SELECT age, comment_text, src_partition, src_offset FROM person "
            "WHERE name = ?",
            (person["name"],),
        )
        assert rows == [
            (person["age"], person["comment"], record["partition"], record["offset"])
        ]
    reported: dict[int, int] = {}
    for summary in summaries:
        for partition, offset in summary["committed"].items():
            reported[int(partition)] = max(reported.get(int(partition), -1), offset)
    last_published: dict[int, int] = {}
    for record in published["records"]:
        partition = record["partition"]
        last_published[partition] = max(
            last_published.get(partition, -1), record["offset"]
        )
    group = api.committed_offsets()
    assert reported == last_published
    assert {partition: group[partition] for partition in reported} == reported


@pytest.mark.integration
def test_flow_read_secret_gateway_allowed_name_answers_text_no_store(api):
    """An allowed text secret comes back with its version, never to be cached."""
    reply = api.gateway("GET", f"secrets/{GREETING_SECRET}")

    document = json_document(reply, 200)
    text, version = vault_text(api, GREETING_SECRET)
    assert reply.header("cache-control") == "no-store"
    assert document == {
        "name": GREETING_SECRET,
        "version": version,
        "encoding": "text",
        "content": text,
    }


@pytest.mark.integration
def test_flow_read_secret_gateway_name_not_allowed_answers_403(api, disallowed_secret):
    """A secret that exists but is not on ALLOWED_SECRETS is refused."""
    name, _ = disallowed_secret

    reply = api.gateway("GET", f"secrets/{name}")

    json_document(reply, 403)
    assert DISALLOWED_CONTENT not in reply.body


@pytest.mark.integration
def test_flow_read_secret_gateway_allowed_but_missing_answers_404(api):
    """An allowed name that the vault does not hold is not found."""
    reply = api.gateway("GET", f"secrets/{ABSENT_SECRET}")

    json_document(reply, 404)


@pytest.mark.integration
def test_flow_read_secret_gateway_binary_content_answers_base64(api, binary_secret_id):
    """Content that is not UTF-8 comes back base64, byte for byte."""
    reply = api.gateway("GET", f"secrets/{BINARY_SECRET}")

    document = json_document(reply, 200)
    assert document["encoding"] == "base64"
    assert base64.b64decode(document["content"]) == BINARY_CONTENT
    assert reply.header("cache-control") == "no-store"


@pytest.mark.integration
def test_flow_read_secret_invoke_by_name_and_by_id_answer_the_same(api):
    """Invoke with {"name": ...} and {"secret_id": ...} gives one and the same reply."""
    secret_id = api.state["secrets"][GREETING_SECRET]

    by_name = api.invoke("read-secret", json.dumps({"name": GREETING_SECRET}).encode())
    by_id = api.invoke("read-secret", json.dumps({"secret_id": secret_id}).encode())

    text, version = vault_text(api, GREETING_SECRET)
    expected = {
        "name": GREETING_SECRET,
        "version": version,
        "encoding": "text",
        "content": text,
    }
    assert json_document(by_name, 200, invoked=True) == expected
    assert json_document(by_id, 200, invoked=True) == expected
    assert by_name.header("cache-control") == "no-store"


@pytest.mark.integration
def test_flow_read_secret_invoke_disallowed_name_or_id_answers_403(
    api, disallowed_secret
):
    """Neither the name nor the OCID of a secret off the allow-list is answered."""
    name, secret_id = disallowed_secret

    by_name = api.invoke("read-secret", json.dumps({"name": name}).encode())
    by_id = api.invoke("read-secret", json.dumps({"secret_id": secret_id}).encode())

    json_document(by_name, 403, invoked=True)
    json_document(by_id, 403, invoked=True)
    assert DISALLOWED_CONTENT not in by_name.body + by_id.body


@pytest.mark.integration
def test_flow_read_secret_invoke_without_a_name_answers_400(api):
    """A body naming no secret is the caller's mistake."""
    reply = api.invoke("read-secret", b"{}")

    json_document(reply, 400, invoked=True)


@pytest.mark.integration
def test_flow_read_secret_invoke_body_nested_too_deeply_answers_400(api):
    """A body nested deeper than the parser follows is a bad body, never a 500."""
    reply = api.invoke("read-secret", b'{"name": ' + b"[" * 100_000 + b"}")

    json_document(reply, 400, invoked=True)


@pytest.mark.integration
def test_flow_read_secret_invoke_name_given_twice_answers_400(api, disallowed_secret):
    """A body naming two secrets under one key is refused, whichever comes last."""
    name, _ = disallowed_secret
    for names in ((name, GREETING_SECRET), (GREETING_SECRET, name)):
        body = '{{"name": "{}", "name": "{}"}}'.format(*names).encode()

        reply = api.invoke("read-secret", body)

        json_document(reply, 400, invoked=True)
        assert DISALLOWED_CONTENT not in reply.body


@pytest.mark.integration
def test_flow_publish_invoke_person_lands_on_stream(api):
    """publish-message through invoke answers the record's place on the stream."""
    person = {"name": f"Invoked {uuid.uuid4().hex[:6]}", "age": 40, "comment": "hi"}
    before = api.latest_cursors()

    reply = api.invoke("publish-message", json.dumps(person).encode())

    document = json_document(reply, 200, invoked=True)
    [message] = api.messages_after(before)
    [record] = document["records"]
    assert (record["partition"], record["offset"]) == (
        int(message.partition),
        int(message.offset),
    )
    assert json.loads(base64.b64decode(message.value)) == person


@pytest.mark.integration
def test_flow_publish_invoke_invalid_person_answers_400(api):
    """A refused body through invoke keeps its 400 in Fn-Http-Status."""
    before = api.latest_cursors()

    reply = api.invoke("publish-message", b'{"name": "No Age"}')

    json_document(reply, 400, invoked=True)
    assert api.messages_after(before) == []


@pytest.mark.integration
def test_flow_publish_to_missing_stream_answers_503(api):
    """A stream the service does not know makes publishing answer 503 as JSON.

    The function is a copy of publish-message configured with a stream OCID
    that does not exist; the stream service's refusal is real.
    """
    reply = api.invoke(MISSING_STREAM_FUNCTION, b'{"name": "Nowhere", "age": 1}')

    document = json_document(reply, 503, invoked=True)
    assert document["error"]["code"] == "stream_error"


def test_function_log_invocation_line_written_once_per_call(api):
    """Each call leaves exactly one invocation line in the function's log.

    fdk's handler on the root logger writes every line; a second handler of
    the function's own would write each one twice.
    """
    for _ in range(2):
        api.invoke("read-secret", json.dumps({"name": GREETING_SECRET}).encode())

    log = Path(api.state["data_dir"]) / "logs" / "read-secret.log"
    call_ids = re.findall(r"function=read-secret call_id=(\S+)", log.read_text())
    assert len(call_ids) >= 2
    assert len(call_ids) == len(set(call_ids)), call_ids
