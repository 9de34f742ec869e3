"""The gateway under /v1: routes to functions as HTTP-intent calls."""

from __future__ import annotations

import asyncio
import gzip
import json
import urllib.error
import urllib.request
import zlib

import aiohttp
import pytest
import pytest_asyncio
from cloud_harness import running_cloud, write_spec
from ocilocal import gateway, server

SPEC = {
    "routes": [
        {
            "path": "/echo/{word}",
            "methods": ["POST"],
            "backend": {
                "type": "ORACLE_FUNCTIONS_BACKEND",
                "functionId": "${ECHO_FUNCTION_ID}",
            },
        },
        {
            "path": "/broken",
            "methods": ["GET"],
            "backend": {
                "type": "ORACLE_FUNCTIONS_BACKEND",
                "functionId": "${FAILING_FUNCTION_ID}",
            },
        },
    ]
}


@pytest_asyncio.fixture
async def harness(tmp_path):
    write_spec(tmp_path / "deploy" / "gateway" / "deployment.json", SPEC)
    async with running_cloud(tmp_path) as running:
        yield running


async def call(harness, method: str, path: str, body: bytes | None = None):
    url = harness.cloud.state["gateway"] + path
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers={"X-Trace": "t1"}) as reply,
    ):
        return reply.status, reply.headers, await reply.read()


@pytest.mark.asyncio
async def test_gateway_spec_route_reaches_function_with_http_request(harness):
    status, headers, body = await call(harness, "POST", "echo/hello?q=1", b"hi")

    reply = json.loads(body)
    assert status == 200
    assert headers["X-Echo"] == "yes"
    assert headers["Content-Type"] == "application/json"
    assert reply["method"] == "POST"
    assert reply["url"].endswith("/v1/echo/hello?q=1")
    assert reply["http_headers"]["x-trace"] == "t1"


async def call_with_host(harness, host: bytes, target: bytes) -> tuple[bytes, bytes]:
    """A POST with a Host header of the client's choosing; the status line, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", harness.cloud.port)
    writer.write(
        b"POST " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\nhi"
    )
    await writer.drain()
    reply = await reader.read()
    writer.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "host", [b"x:abc", b"x:99999", b"evil/echo/other#", b"evil?", b"127.0.0.1"]
)
async def test_gateway_request_url_is_path_and_query_whatever_the_host(harness, host):
    """The function sees the path and query asked for; the Host header is no part."""
    status, body = await call_with_host(harness, host, b"/v1/echo/hello?q=1")

    assert status.split(b" ")[1] == b"200", (status, body)
    assert json.loads(body)["url"] == "/v1/echo/hello?q=1"


@pytest.mark.asyncio
async def test_gateway_function_status_becomes_reply_status(harness):
    status, headers, body = await call(harness, "POST", "echo/x", b"status 404")

    assert status == 404
    assert headers["X-Echo"] == "yes"
    assert json.loads(body)["body"] == "status 404"


@pytest.mark.asyncio
async def test_gateway_function_raising_returns_502_json(harness):
    status, headers, body = await call(harness, "GET", "broken")

    assert status == 502
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "FunctionFailed"


@pytest.mark.asyncio
async def test_gateway_function_too_slow_returns_504_json(harness):
    status, _, body = await call(harness, "POST", "echo/x", b"sleep 4")

    assert status == 504
    assert json.loads(body)["error"]["code"] == "FunctionTimedOut"


@pytest.mark.asyncio
async def test_gateway_unknown_route_returns_404_json(harness):
    status, _, body = await call(harness, "GET", "nowhere")

    assert status == 404
    assert json.loads(body)["error"]["code"] == "NotFound"


@pytest.mark.asyncio
async def test_gateway_wrong_method_returns_405_json(harness):
    status, _, body = await call(harness, "GET", "echo/x")

    assert status == 405
    assert json.loads(body)["error"]["code"] == "MethodNotAllowed"


@pytest.mark.asyncio
async def test_gateway_body_over_server_limit_returns_413_json(harness):
    """A body the server will not read is refused in the gateway's JSON shape."""
    body = b" " * (server.MAX_BODY_BYTES + 1)

    status, headers, reply = await call(harness, "POST", "echo/x", body)

    assert status == 413
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(reply)["error"]["code"] == "PayloadTooLarge"


@pytest.mark.asyncio
async def test_gateway_no_spec_default_route_without_function_returns_502(tmp_path):
    async with running_cloud(tmp_path) as harness:
        status, _, body = await call(harness, "POST", "messages", b"[]")

    assert status == 502
    assert json.loads(body)["error"]["code"] == "BackendUnavailable"


def test_backend_function_placeholder_matches_function_name():
    known = {"publish-message": "ocid1.fnfunc.a", "read-secret": "ocid1.fnfunc.b"}

    by_placeholder = gateway.backend_function(
        {"functionId": "${PUBLISH_MESSAGE_FUNCTION_ID}"}, known
    )
    by_ocid = gateway.backend_function({"functionId": "ocid1.fnfunc.b"}, known)
    unknown = gateway.backend_function({"functionId": "${OTHER}"}, known)

    assert (by_placeholder, by_ocid, unknown) == (
        "publish-message",
        "read-secret",
        None,
    )


def test_load_routes_repository_spec_maps_both_routes():
    spec = gateway.default_deploy_dir() / "gateway" / "deployment.json"
    known = {"publish-message": "a", "read-secret": "b"}

    routes = gateway.load_routes(spec, known)

    table = {(route.path, route.methods, route.function) for route in routes}
    assert ("/messages", ("POST",), "publish-message") in table
    assert ("/secrets/{name}", ("GET",), "read-secret") in table


@pytest.mark.asyncio
async def test_gateway_path_with_newline_reaches_function(harness):
    """A newline in the path is part of it: the route still matches."""
    status, _, body = await call(harness, "POST", "echo/hel%0Alo", b"hi")

    assert status == 200
    assert json.loads(body)["url"] == "/v1/echo/hel%0Alo"


@pytest.mark.asyncio
async def test_gateway_newline_after_route_path_returns_404_json(harness):
    """``$`` would match before a final newline; the whole path must match."""
    status, _, body = await call(harness, "GET", "broken%0A")

    assert status == 404
    assert json.loads(body)["error"]["code"] == "NotFound"


def send_to_gateway(
    local_cloud: dict, method: str, path: str, body: bytes = b"", headers=None
) -> tuple[int, dict, dict]:
    """A request to the session cloud's gateway: (status, headers, JSON body)."""
    request = urllib.request.Request(
        local_cloud["gateway"] + path,
        data=body or None,
        headers={"content-type": "application/json", **(headers or {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


PERSON = json.dumps({"name": "Ada Byron", "age": 36}).encode()


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(PERSON)),
        ("deflate", zlib.compress(PERSON)),
        ("deflate", zlib.compress(PERSON)[2:-4]),  # raw, as some clients send it
        ("gzip", gzip.compress(PERSON[:5]) + gzip.compress(PERSON[5:])),
        ("gzip, identity", gzip.compress(PERSON)),
    ],
    ids=["gzip", "deflate", "raw-deflate", "gzip-two-members", "gzip-identity"],
)
def test_gateway_encoded_body_is_decoded_for_function(local_cloud, coding, body):
    status, _, reply = send_to_gateway(
        local_cloud, "POST", "messages", body, {"content-encoding": coding}
    )

    assert status == 200, reply
    assert reply["published"] == 1


@pytest.mark.parametrize(
    ("coding", "body", "status", "code"),
    [
        ("gzip", b"not gzip at all", 400, "InvalidBody"),
        ("gzip", gzip.compress(PERSON)[:-12], 400, "InvalidBody"),
        ("gzip", gzip.compress(PERSON) + b"junk", 400, "InvalidBody"),
        ("deflate", b"not deflate", 400, "InvalidBody"),
        ("deflate", zlib.compress(PERSON) + b"junk", 400, "InvalidBody"),
        ("br", PERSON, 415, "UnsupportedContentEncoding"),
        ("zstd", PERSON, 415, "UnsupportedContentEncoding"),
    ],
    ids=[
        "gzip-garbage",
        "gzip-cut",
        "gzip-trailing",
        "deflate-garbage",
        "deflate-trailing",
        "br",
        "zstd",
    ],
)
def test_gateway_body_encoding_refused_returns_json(
    local_cloud, coding, body, status, code
):
    """A body the gateway cannot decode is refused in its JSON shape."""
    got, headers, reply = send_to_gateway(
        local_cloud, "POST", "messages", body, {"content-encoding": coding}
    )

    assert got == status
    assert headers["Content-Type"].startswith("application/json")
    assert reply["error"]["code"] == code


def test_gateway_body_decoding_over_server_limit_returns_413_json(local_cloud):
    """A small gzip body that inflates past the server's limit is refused."""
    body = gzip.compress(b" " * (server.MAX_BODY_BYTES + 1), compresslevel=1)

    status, _, reply = send_to_gateway(
        local_cloud, "POST", "messages", body, {"content-encoding": "gzip"}
    )

    assert status == 413
    assert reply["error"]["code"] == "PayloadTooLarge"


def test_gateway_secret_name_with_newline_is_answered_by_read_secret(local_cloud):
    """The function, not the cloud's OCI-shaped 404, answers such a name."""
    status, _, reply = send_to_gateway(local_cloud, "GET", "secrets/greeting%0a")

    assert 400 <= status < 500
    assert set(reply) == {"error"}
    assert reply["error"]["code"] != "NotFound"
