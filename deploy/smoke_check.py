"""Smoke check of a deployed bundle: publish through the gateway, see it drained.

The check cannot reach the database, so it watches what the drain does to the
stream: it commits the consumer group's offsets only after the database has
committed. The check:

1. reads the group's committed offsets (none yet is fine);
2. posts a few people to ``POST <gateway>/messages`` and expects 200;
3. posts an invalid body and expects 400 with ``{"error": {...}}``;
4. optionally reads a secret through ``GET <gateway>/secrets/{name}``, with
   and without a bearer token (expects 200 and 401);
5. optionally invokes drain-stream-to-db once and prints its summary;
6. polls the group until its committed offsets moved by at least the number
   of people published, or the timeout passes.

It uses an OCI config profile, as every script here does. Every option can
also come from the environment variable named in ``--help``. Exit status 0
means every check passed; 1 means one failed; 2 means bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GROUP = "drain-stream-to-db"
DEFAULT_COUNT = 3
DEFAULT_TIMEOUT_SECONDS = 180.0
POLL_SECONDS = 5.0
HTTP_TIMEOUT_SECONDS = 30.0

OPTIONS = (
    # flag, environment variable, help, required
    (
        "--gateway-url",
        "OCIFN_GATEWAY_URL",
        "deployment endpoint, e.g. https://…/v1",
        True,
    ),
    ("--stream-id", "OCIFN_STREAM_ID", "OCID of the stream", True),
    (
        "--messages-endpoint",
        "OCIFN_STREAM_MESSAGES_ENDPOINT",
        "the stream's messages endpoint",
        True,
    ),
    ("--group", "OCIFN_CONSUMER_GROUP", "consumer group of the drain", False),
    ("--drain-function-id", "OCIFN_DRAIN_FUNCTION_ID", "invoke the drain once", False),
    ("--secret-name", "OCIFN_SMOKE_SECRET_NAME", "an allow-listed secret", False),
    ("--token", "OCIFN_GATEWAY_TOKEN", "bearer token for /secrets/{name}", False),
    ("--config-file", "OCI_CONFIG_FILE", "OCI config file", False),
    ("--profile", "OCI_CLI_PROFILE", "profile in the OCI config file", False),
)


@dataclass
class Report:
    """What each step found; ``ok`` only when every check passed."""

    checks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, passed: bool, **details: Any) -> bool:
        self.checks.append({"check": name, "passed": passed, **details})
        return passed

    @property
    def ok(self) -> bool:
        return all(check["passed"] for check in self.checks)


def build_parser() -> argparse.ArgumentParser:
    """The command line; each option falls back to its environment variable."""
    parser = argparse.ArgumentParser(
        prog="smoke_check.py",
        description="Publish people through a deployed gateway and wait for the "
        "drain to commit them.",
    )
    for flag, variable, text, _required in OPTIONS:
        parser.add_argument(
            flag, default=os.environ.get(variable), help=f"{text} [{variable}]"
        )
    parser.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help="people to publish"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to wait for the drain",
    )
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check that every required option has a value."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    missing = [
        f"{flag} (or {variable})"
        for flag, variable, _text, required in OPTIONS
        if required and not getattr(arguments, flag[2:].replace("-", "_"))
    ]
    if missing:
        parser.error("missing " + ", ".join(missing))
    if arguments.count < 1:
        parser.error("--count must be at least 1")
    arguments.group = arguments.group or DEFAULT_GROUP
    arguments.gateway_url = arguments.gateway_url.rstrip("/")
    return arguments


def smoke_people(count: int, run_id: str) -> list[dict[str, Any]]:
    """People with names unique to this run, so a replay cannot hide a loss."""
    return [
        {"name": f"smoke-{run_id}-{index}", "age": 20 + index, "comment": "smoke check"}
        for index in range(count)
    ]


def committed_offsets(group: Any) -> dict[str, int]:
    """Committed offset per partition of a ``Group`` (``-1``: nothing yet)."""
    offsets: dict[str, int] = {}
    for reservation in getattr(group, "reservations", None) or []:
        offset = reservation.committed_offset
        offsets[str(reservation.partition)] = -1 if offset is None else int(offset)
    return offsets


def committed_advance(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    """How many messages the group committed between two readings."""
    return sum(
        max(0, offset - before.get(partition, -1))
        for partition, offset in after.items()
    )


def http_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
) -> tuple[int, Any]:
    """Send one request; return the status and the JSON reply (or its text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")[:200]


def read_group(stream_client: Any, stream_id: str, group: str) -> dict[str, int]:
    """The group's committed offsets; empty while the group does not exist."""
    import oci

    try:
        return committed_offsets(stream_client.get_group(stream_id, group).data)
    except oci.exceptions.ServiceError as exc:
        if exc.status == 404:
            return {}
        raise


def run(
    arguments: argparse.Namespace,
    *,
    stream_client: Any,
    invoke_client: Any | None = None,
    request: Callable[..., tuple[int, Any]] = http_json,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Run every check against the deployed bundle and return the report."""
    report = Report()
    run_id = uuid.uuid4().hex[:8]
    before = read_group(stream_client, arguments.stream_id, arguments.group)

    # publish
    people = smoke_people(arguments.count, run_id)
    status, reply = request("POST", f"{arguments.gateway_url}/messages", people)
    report.add("publish", status == 200, status=status, reply=reply)
    status, reply = request("POST", f"{arguments.gateway_url}/messages", {"age": "x"})
    shaped = isinstance(reply, dict) and isinstance(reply.get("error"), dict)
    report.add("publish_invalid", status == 400 and shaped, status=status)

    # read a secret, with and without a token
    if arguments.secret_name:
        url = f"{arguments.gateway_url}/secrets/{arguments.secret_name}"
        status, _ = request("GET", url, token=arguments.token)
        report.add("read_secret", status == 200, status=status)
        status, _ = request("GET", url)
        report.add("read_secret_without_token", status == 401, status=status)

    # drain once on request, then wait for the group to commit
    if invoke_client is not None and arguments.drain_function_id:
        reply = invoke_client.invoke_function(
            arguments.drain_function_id, invoke_function_body="{}"
        )
        summary = json.loads(reply.data.text or "null")
        report.add("drain_invoke", reply.status == 200, summary=summary)

    deadline = clock() + arguments.timeout
    advance = 0
    while True:
        after = read_group(stream_client, arguments.stream_id, arguments.group)
        advance = committed_advance(before, after)
        if advance >= arguments.count or clock() >= deadline:
            break
        sleep(POLL_SECONDS)
    report.add(
        "drained",
        advance >= arguments.count,
        committed=advance,
        expected=arguments.count,
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: build the SDK clients from the profile and run."""
    arguments = parse_arguments(argv)
    import oci

    config = oci.config.from_file(
        file_location=arguments.config_file or oci.config.DEFAULT_LOCATION,
        profile_name=arguments.profile or oci.config.DEFAULT_PROFILE,
    )
    stream_client = oci.streaming.StreamClient(
        config, service_endpoint=arguments.messages_endpoint
    )
    invoke_client = None
    if arguments.drain_function_id:
        functions = oci.functions.FunctionsManagementClient(config)
        function = functions.get_function(arguments.drain_function_id).data
        invoke_client = oci.functions.FunctionsInvokeClient(
            config, service_endpoint=function.invoke_endpoint
        )

    report = run(arguments, stream_client=stream_client, invoke_client=invoke_client)
    print(json.dumps({"ok": report.ok, "checks": report.checks}, indent=2, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
