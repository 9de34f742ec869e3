"""Each function's func.py through fdk's loader and request handling, no cloud."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

import pytest
from fdk import constants, customer_code, event_handler, fixtures

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
PUBLISH_CONFIG = {
    "STREAM_OCID": "ocid1.stream.oc1.phx.example",
    "STREAM_MESSAGES_ENDPOINT": "http://127.0.0.1:9",
}
READ_SECRET_CONFIG = {
    "VAULT_OCID": "ocid1.vault.oc1.phx.example",
    "ALLOWED_SECRETS": "greeting",
}
# NOTE: fdk's own loader uses importlib's deprecated load_module().
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")

BAD_PUBLISH_CASES = [
    json.loads(line)
    for line in (CASES / "publish_cases.jsonl").read_text().splitlines()
    if line.strip() and json.loads(line)["expect_status"] != 200
]


class Request:
    """The two attributes fdk's HTTP handler reads from a request."""

    def __init__(self, headers, body=b""):
        self.headers = headers
        self.body = body


@pytest.fixture
def load_function(monkeypatch):
    """Load a func.py the way fdk does, with its config in the environment."""

    def load(name, config):
        for key, value in config.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delitem(sys.modules, "func", raising=False)
        return customer_code.Function(str(FUNCTIONS / name / "func.py"), "handler")

    yield load
    sys.modules.pop("func", None)


def call(function, *, body=b"", gateway=False, url="/", method="POST", headers=None):
    request_headers = fixtures.setup_headers(
        headers=headers, request_url=url, method=method, gateway=gateway
    )
    reply = asyncio.run(
        event_handler.event_handle(function)(Request(request_headers, body))
    )

    return reply, json.loads(reply.body)


@pytest.mark.parametrize("case", BAD_PUBLISH_CASES, ids=lambda case: case["id"])
def test_publish_bad_body_through_gateway_is_json_error(load_function, case):
    """Invalid bodies answer their status in Fn-Http-Status with a JSON error."""
    function = load_function("publish-message", PUBLISH_CONFIG)

    reply, body = call(
        function,
        body=base64.b64decode(case["body_b64"]),
        gateway=True,
        url="/v1/messages",
        headers={"content-type": case["content_type"]},
    )

    assert reply.status == 200
    assert reply.headers.get(constants.FN_HTTP_STATUS) == str(case["expect_status"])
    assert reply.headers.get("content-type") == "application/json"
    assert set(body["error"]) == {"code", "message"}


def test_publish_one_bad_in_batch_direct_invoke_names_index(load_function):
    """Through invoke the status is in Fn-Http-Status and the index is named."""
    function = load_function("publish-message", PUBLISH_CONFIG)

    reply, body = call(
        function, body=b'[{"name": "Good", "age": 1}, {"name": "", "age": 2}]'
    )

    assert reply.headers.get(constants.FN_HTTP_STATUS) == "400"
    assert body["error"]["message"].startswith("record 1:")


def test_publish_missing_config_is_json_500_naming_key(load_function, monkeypatch):
    """A missing key answers a JSON config error, not fdk's 502."""
    monkeypatch.delenv("STREAM_OCID", raising=False)
    function = load_function(
        "publish-message", {"STREAM_MESSAGES_ENDPOINT": "http://127.0.0.1:9"}
    )

    reply, body = call(function, body=b'{"name": "A", "age": 1}')

    assert reply.status == 200
    assert reply.headers.get(constants.FN_HTTP_STATUS) == "500"
    assert body["error"]["code"] == "config_error"
    assert "STREAM_OCID" in body["error"]["message"]


def test_read_secret_disallowed_name_through_gateway_is_403(load_function):
    """GET /secrets/{name} for a name off the allow-list answers 403."""
    function = load_function("read-secret", READ_SECRET_CONFIG)

    reply, body = call(
        function, gateway=True, url="/v1/secrets/db-connection", method="GET"
    )

    assert reply.headers.get(constants.FN_HTTP_STATUS) == "403"
    assert reply.headers.get("content-type") == "application/json"
    assert body["error"]["code"] == "not_allowed"


def test_read_secret_disallowed_name_in_invoke_body_is_403(load_function):
    """A body naming a secret off the allow-list answers 403."""
    function = load_function("read-secret", READ_SECRET_CONFIG)

    reply, body = call(function, body=b'{"name": "stream-connection"}')

    assert reply.headers.get(constants.FN_HTTP_STATUS) == "403"
    assert body["error"]["code"] == "not_allowed"


def test_read_secret_no_name_is_400(load_function):
    """A request that names no secret is refused."""
    function = load_function("read-secret", READ_SECRET_CONFIG)

    reply, body = call(function)

    assert reply.headers.get(constants.FN_HTTP_STATUS) == "400"
    assert body["error"]["code"] == "invalid_input"


def test_drain_missing_config_is_json_500_naming_key(load_function, monkeypatch):
    """The drain with no secrets configured answers a JSON config error."""
    monkeypatch.delenv("STREAM_SECRET_OCID", raising=False)
    monkeypatch.delenv("DB_SECRET_OCID", raising=False)
    function = load_function("drain-stream-to-db", {})

    reply, body = call(function)

    assert reply.headers.get(constants.FN_HTTP_STATUS) == "500"
    assert "STREAM_SECRET_OCID" in body["error"]["message"]


@pytest.mark.parametrize(
    "name", ["publish-message", "drain-stream-to-db", "read-secret"]
)
def test_func_yaml_names_the_fdk_entry_point(name):
    """Each func.yaml runs func.py's handler under fdk with the pinned runtime."""
    import yaml

    spec = yaml.safe_load((FUNCTIONS / name / "func.yaml").read_text())
    requirements = (FUNCTIONS / name / "requirements.txt").read_text().split()

    assert spec["name"] == name
    assert spec["entrypoint"] == "/python/bin/fdk /function/func.py handler"
    assert spec["runtime"] == "python"
    assert "fdk==0.1.128" in requirements
    assert "oci==2.189.0" in requirements
    assert ("oracledb==26.1.0" in requirements) == (name == "drain-stream-to-db")
