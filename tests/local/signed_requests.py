"""Signed requests with bodies the SDK's models would never send."""

from __future__ import annotations

import json
from typing import Any

from oci._vendor import requests


def send_json(
    client: Any, method: str, path: str, body: Any = None, *, query: dict | None = None
) -> requests.Response:
    """`method` on the client's endpoint + `path`, signed by its signer."""
    base = client.base_client
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if data is not None else {}
    return requests.request(
        method,
        base.endpoint + path,
        params=query,
        data=data,
        auth=base.signer,
        headers=headers,
        timeout=30,
    )


def assert_invalid_parameter(reply: requests.Response, field: str) -> None:
    """A 400 InvalidParameter in OCI's shape whose message names `field`."""
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == "InvalidParameter"
    assert field in body["message"]
    assert reply.headers["opc-request-id"]
