"""A tiny fdk function for the runner's tests: echoes what it was given."""

from __future__ import annotations

import json
import os
import time

from fdk import response


def handler(ctx, data=None):
    """Answer the call's details; the body picks a behaviour."""
    body = data.getvalue() if data is not None else b""
    if body == b"crash":
        raise RuntimeError("asked to crash")
    if body == b"exit":
        os._exit(3)
    if body.startswith(b"sleep "):
        time.sleep(float(body.split()[1]))
    status = int(body.split()[1]) if body.startswith(b"status ") else 200

    reply = {
        "body": body.decode("utf-8", "replace"),
        "pid": os.getpid(),
        "fn_id": ctx.FnID(),
        "app_id": ctx.AppID(),
        "method": ctx.Method(),
        "url": ctx.RequestURL(),
        "http_headers": {
            key: value for key, value in ctx.HTTPHeaders().items() if key != "host"
        },
        "config": {
            key: os.environ.get(key)
            for key in (
                "GREETING",
                "FN_MEMORY",
                "FN_TYPE",
                "OCI_RESOURCE_PRINCIPAL_VERSION",
                "OCI_RESOURCE_PRINCIPAL_RPST",
                "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
                "OCI_RESOURCE_PRINCIPAL_REGION",
                "OCI_CONFIG_FILE",
            )
        },
        "deadline": ctx.Deadline(),
    }
    headers = {"Content-Type": "application/json", "X-Echo": "yes"}
    if body.startswith(b"header-status "):
        headers["Fn-Http-Status"] = body.split()[1].decode()
    return response.Response(
        ctx,
        response_data=json.dumps(reply),
        headers=headers,
        status_code=status,
    )
