"""Tests of ocifn.responses through fdk's own request handling."""

from __future__ import annotations

import asyncio
import json
import logging

from fdk import constants, event_handler, fixtures
from ocifn import logs, responses
from ocifn.errors import InputError, StreamError


class Request:
    """The two attributes fdk's HTTP handler reads from a request."""

    def __init__(self, headers, body=b""):
        self.headers = headers
        self.body = body


def run(handler, *, gateway, body=b""):
    """Drive a handler through fdk's event handler, as the runtime does."""
    headers = fixtures.setup_headers(gateway=gateway)
    pure_handler = event_handler.event_handle(fixtures.code(handler))

    return asyncio.run(pure_handler(Request(headers, body)))


def test_success_direct_invoke_sets_status_header_and_json_type():
    """A 201 reply keeps its status in Fn-Http-Status and one JSON content type."""

    def handler(ctx, data=None):
        return responses.handle(ctx, lambda: responses.success(ctx, {"a": 1}, 201))

    reply = run(handler, gateway=False)

    assert reply.status == 200
    assert reply.headers.get(constants.FN_HTTP_STATUS) == "201"
    assert reply.headers.get("content-type") == "application/json"
    assert json.loads(reply.body) == {"a": 1}


def test_failure_through_gateway_status_header_and_error_body():
    """Through the gateway fdk carries the status; the body names the error."""

    def handler(ctx, data=None):
        def body():
            raise InputError("body is empty")

        return responses.handle(ctx, body)

    reply = run(handler, gateway=True)

    assert reply.headers.get(constants.FN_HTTP_STATUS) == "400"
    assert reply.headers.get("content-type") == "application/json"
    assert "fn-http-h-fn-http-status" not in reply.headers
    assert json.loads(reply.body) == {
        "error": {"code": "invalid_input", "message": "body is empty"}
    }


def test_failure_with_details_puts_them_in_error_not_context():
    """Details reach the caller inside the error; context stays in the log."""

    def handler(ctx, data=None):
        def body():
            raise StreamError(
                "2 of 3 records were refused",
                context={"stream_id": "ocid1.stream.oc1..secretive"},
                details={"published": 1, "refused": 2},
            )

        return responses.handle(ctx, body)

    reply = run(handler, gateway=True)

    assert reply.headers.get(constants.FN_HTTP_STATUS) == "503"
    assert json.loads(reply.body) == {
        "error": {
            "code": "stream_error",
            "message": "2 of 3 records were refused",
            "details": {"published": 1, "refused": 2},
        }
    }


def test_handle_unexpected_exception_is_generic_500_logged(caplog):
    """Any other exception becomes 500 internal, logged at ERROR, text hidden."""

    def handler(ctx, data=None):
        def body():
            raise RuntimeError("password=hunter2")

        return responses.handle(ctx, body, function="demo")

    with caplog.at_level(logging.INFO):
        reply = run(handler, gateway=False)

    assert reply.status == 200
    assert reply.headers.get(constants.FN_HTTP_STATUS) == "500"
    error = json.loads(reply.body)["error"]
    assert error["code"] == "internal"
    assert "hunter2" not in error["message"]
    records = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert records and records[0].exc_info is not None


def test_handle_writes_one_invocation_line_with_annotations(caplog):
    """Each invocation ends with one INFO line of key=value pairs."""

    def handler(ctx, data=None):
        def body():
            logs.annotate(read=3, committed={0: 7})
            return responses.success(ctx, {})

        return responses.handle(ctx, body, function="demo")

    with caplog.at_level(logging.INFO, logger=logs.INVOCATION_LOGGER):
        run(handler, gateway=False)

    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == logs.INVOCATION_LOGGER
    ]
    assert len(lines) == 1
    assert lines[0].startswith("function=demo ")
    assert "read=3" in lines[0]
    assert "committed={0:7}" in lines[0]
    assert "status=200" in lines[0]
    assert "duration_ms=" in lines[0]


def test_success_extra_headers_pass_through_gateway():
    """Extra headers reach a gateway caller encapsulated the way fdk expects."""

    def handler(ctx, data=None):
        return responses.success(ctx, {}, headers={"Cache-Control": "no-store"})

    reply = run(handler, gateway=True)

    assert reply.headers.get("fn-http-h-cache-control") == "no-store"
    assert reply.headers.get(constants.FN_HTTP_STATUS) == "200"


def test_read_body_bytesio_gives_bytes():
    """fdk hands the body over as a BytesIO."""
    import io

    assert responses.read_body(io.BytesIO(b"abc")) == b"abc"
    assert responses.read_body(None) == b""
