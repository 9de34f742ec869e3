"""The Functions service: fdk processes, resource-principal files, OCI API."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import oci
import pytest
import pytest_asyncio
from cloud_harness import COMPARTMENT_ID, running_cloud, sdk_config
from ocilocal import functions


@pytest_asyncio.fixture
async def harness(tmp_path, monkeypatch):
    monkeypatch.setenv("OCI_CONFIG_FILE", str(tmp_path / "must-not-leak"))
    async with running_cloud(tmp_path) as running:
        yield running


def invoke_client(harness) -> oci.functions.FunctionsInvokeClient:
    return oci.functions.FunctionsInvokeClient(
        sdk_config(harness.cloud.data_dir), service_endpoint=harness.endpoint
    )


@pytest.mark.asyncio
async def test_start_functions_found_records_ocids_in_state(harness):
    state = harness.cloud.state

    assert set(state["functions"]) == {"echo", "failing"}
    assert state["functions"]["echo"].startswith("ocid1.fnfunc.")
    assert state["application_id"].startswith("ocid1.fnapp.")


@pytest.mark.asyncio
async def test_invoke_plain_call_returns_body_and_function_headers(harness):
    status, headers, body = await harness.functions.invoke("echo", b"hello")

    reply = json.loads(body)
    assert status == 200
    assert headers["x-echo"] == "yes"
    assert reply["body"] == "hello"
    assert reply["fn_id"] == harness.cloud.state["functions"]["echo"]
    assert reply["config"]["GREETING"] == "hello"
    assert reply["config"]["FN_TYPE"] == "sync"


@pytest.mark.asyncio
async def test_invoke_http_intent_passes_request_and_decodes_reply(harness):
    http = {
        "method": "post",
        "url": "http://127.0.0.1/v1/things?x=1",
        "headers": {"X-Trace": "abc", "Content-Type": "text/plain"},
    }

    status, headers, body = await harness.functions.invoke(
        "echo", b"status 404", http=http
    )

    reply = json.loads(body)
    assert status == 404
    assert headers["x-echo"] == "yes"
    assert headers["content-type"] == "application/json"
    assert reply["method"] == "POST"
    assert reply["url"] == "http://127.0.0.1/v1/things?x=1"
    assert reply["http_headers"]["x-trace"] == "abc"


@pytest.mark.asyncio
async def test_invoke_plain_call_status_travels_only_in_header(harness):
    enforced, _, _ = await harness.functions.invoke("echo", b"status 404")
    meant, headers, _ = await harness.functions.invoke("echo", b"header-status 404")

    assert enforced == 200
    assert meant == 404
    assert headers["fn-http-status"] == "404"


@pytest.mark.asyncio
async def test_invoke_function_raises_returns_502_json_error(harness):
    status, headers, body = await harness.functions.invoke("echo", b"crash")

    assert status == 502
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "FunctionFailed"


@pytest.mark.asyncio
async def test_invoke_past_timeout_returns_504_and_next_call_works(harness):
    status, _, body = await harness.functions.invoke("echo", b"sleep 4")
    again, _, _ = await harness.functions.invoke("echo", b"hello")

    assert status == 504
    assert json.loads(body)["error"]["code"] == "FunctionTimedOut"
    assert again == 200


@pytest.mark.asyncio
async def test_invoke_process_died_restarts_it_on_next_call(harness):
    _, _, first = await harness.functions.invoke("echo", b"hello")
    crashed, _, _ = await harness.functions.invoke("echo", b"exit")
    status, _, second = await harness.functions.invoke("echo", b"hello")

    assert crashed == 502
    assert status == 200
    assert json.loads(first)["pid"] != json.loads(second)["pid"]


@pytest.mark.asyncio
async def test_invoke_concurrent_calls_run_one_at_a_time(harness):
    calls = [harness.functions.invoke("echo", b"sleep 0.3") for _ in range(3)]

    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*calls)
    elapsed = asyncio.get_running_loop().time() - started

    assert [status for status, _, _ in results] == [200, 200, 200]
    assert elapsed >= 0.9


@pytest.mark.asyncio
async def test_environment_resource_principal_files_are_private(harness):
    _, _, body = await harness.functions.invoke("echo", b"hello")

    config = json.loads(body)["config"]
    token_path = config["OCI_RESOURCE_PRINCIPAL_RPST"]
    key_path = config["OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"]
    assert config["OCI_RESOURCE_PRINCIPAL_VERSION"] == "2.2"
    assert config["OCI_RESOURCE_PRINCIPAL_REGION"] == harness.cloud.region
    assert config["OCI_CONFIG_FILE"] is None
    assert os.path.isabs(token_path) and os.path.isabs(key_path)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(token_path).st_mode) == 0o600
    request = harness.identity.requests[0]
    assert request["resource_type"] == "fnfunc"
    assert request["compartment_id"] == COMPARTMENT_ID
    assert b"PUBLIC KEY" in request["public_key_pem"]


@pytest.mark.asyncio
async def test_token_near_expiry_file_is_rewritten(tmp_path):
    async with running_cloud(tmp_path, token_ttl=2) as harness:
        token_file = harness.cloud.data_dir / "run" / "echo" / "rpst"
        first = token_file.read_text()
        await asyncio.sleep(2.5)
        later = token_file.read_text()

    assert first != later


@pytest.mark.asyncio
async def test_restart_same_data_keeps_ocids(tmp_path):
    async with running_cloud(tmp_path) as harness:
        first = dict(harness.cloud.state["functions"])
        application = harness.cloud.state["application_id"]
    async with running_cloud(tmp_path) as harness:
        second = dict(harness.cloud.state["functions"])

        assert harness.cloud.state["application_id"] == application
    assert first == second


@pytest.mark.asyncio
async def test_sdk_invoke_function_returns_function_body(harness):
    client = invoke_client(harness)
    function_id = harness.cloud.state["functions"]["echo"]

    response = await asyncio.to_thread(
        client.invoke_function, function_id, invoke_function_body=b"from the sdk"
    )

    assert response.status == 200
    assert json.loads(response.data.content)["body"] == "from the sdk"


@pytest.mark.asyncio
async def test_sdk_invoke_function_status_set_stays_200_with_header(harness):
    client = invoke_client(harness)
    function_id = harness.cloud.state["functions"]["echo"]

    response = await asyncio.to_thread(
        client.invoke_function, function_id, invoke_function_body=b"header-status 404"
    )

    assert response.status == 200
    assert response.headers["fn-http-status"] == "404"


@pytest.mark.asyncio
async def test_sdk_invoke_function_raising_is_service_error_502(harness):
    client = invoke_client(harness)
    function_id = harness.cloud.state["functions"]["failing"]

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        await asyncio.to_thread(
            client.invoke_function, function_id, invoke_function_body=b"x"
        )

    assert caught.value.status == 502


@pytest.mark.asyncio
async def test_sdk_invoke_detached_answers_202(harness):
    client = invoke_client(harness)
    function_id = harness.cloud.state["functions"]["echo"]

    response = await asyncio.to_thread(
        client.invoke_function,
        function_id,
        invoke_function_body=b"hello",
        fn_invoke_type="detached",
    )

    assert response.status == 202


@pytest.mark.asyncio
async def test_sdk_list_and_get_functions_return_models(harness):
    client = oci.functions.FunctionsManagementClient(
        sdk_config(harness.cloud.data_dir), service_endpoint=harness.endpoint
    )
    application_id = harness.cloud.state["application_id"]

    applications = await asyncio.to_thread(client.list_applications, COMPARTMENT_ID)
    listed = await asyncio.to_thread(client.list_functions, application_id)
    echo = await asyncio.to_thread(
        client.get_function, harness.cloud.state["functions"]["echo"]
    )

    assert [app.display_name for app in applications.data] == ["ocifn-app"]
    assert sorted(item.display_name for item in listed.data) == ["echo", "failing"]
    assert echo.data.invoke_endpoint == harness.endpoint
    assert echo.data.timeout_in_seconds == 2
    assert echo.data.config["GREETING"] == "hello"


@pytest.mark.asyncio
async def test_sdk_get_function_unknown_id_is_404(harness):
    client = oci.functions.FunctionsManagementClient(
        sdk_config(harness.cloud.data_dir), service_endpoint=harness.endpoint
    )

    with pytest.raises(oci.exceptions.ServiceError) as caught:
        await asyncio.to_thread(client.get_function, "ocid1.fnfunc.oc1.iad.nothing")

    assert caught.value.status == 404


def test_function_spec_func_yaml_read_into_spec():
    spec = functions.FunctionSpec.from_directory(
        functions.Path(__file__).parent / "data" / "echo"
    )

    assert spec.name == "echo"
    assert spec.timeout_seconds == 2
    assert spec.entrypoint == "handler"
    assert spec.config == {"GREETING": "hello"}
