"""Publish throughput: 1000-record bodies through publish-message, beside one
PutMessages per record straight from the SDK."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from typing import Any

from oci.streaming.models import PutMessagesDetails, PutMessagesDetailsEntry

from bench.cloud import LocalCloud, local_cloud
from bench.people import person, publish_body
from bench.progress import Reporter
from bench.results import Measurement, ratio_at_least
from bench.sizes import Sizes

SECTION = "publish"
FUNCTION = "publish-message"
GOAL = 20.0
PARTITIONS = 2
GATEWAY_TIMEOUT_SECONDS = 60


def run(reporter: Reporter, sizes: Sizes) -> list[Measurement]:
    """publish-message over invoke and over the gateway, each vs single puts."""
    with local_cloud(partitions=PARTITIONS) as cloud:
        return _measure(reporter, sizes, cloud)


def _measure(reporter: Reporter, sizes: Sizes, cloud: LocalCloud) -> list[Measurement]:
    bodies, per_body = sizes.publish_bodies, sizes.publish_body_records
    records = bodies * per_body
    invoke = cloud.invoke_client()
    function_id = cloud.function_id(FUNCTION)
    gateway = cloud.state["gateway"].rstrip("/") + "/messages"
    next_index = 0

    with reporter.step("publish: warm the function up"):
        _expect_published(invoke_publish(invoke, function_id, publish_body(1)), 1)
        next_index += 1

    # NOTE: the local cloud's cost per request grows with the messages it holds,
    # so the three ways take turns, round by round: each sees the same stream.
    stream = cloud.stream_client()
    singles_per_round = max(1, sizes.single_puts // bodies)
    singles = singles_per_round * bodies
    seconds = {"invoke": 0.0, "gateway": 0.0, "single": 0.0}
    senders = {
        "invoke": lambda body: invoke_publish(invoke, function_id, body),
        "gateway": lambda body: gateway_publish(gateway, body),
    }
    with reporter.step("publish: bodies and single puts, in turns", bodies) as advance:
        for _ in range(bodies):
            for route, send in senders.items():
                body = publish_body(per_body, start=next_index)
                next_index += per_body
                started = time.perf_counter()
                _expect_published(send(body), per_body)
                seconds[route] += time.perf_counter() - started

            started = time.perf_counter()
            for index in range(next_index, next_index + singles_per_round):
                put_one(stream, cloud.stream_id, index)
            seconds["single"] += time.perf_counter() - started
            next_index += singles_per_round
            advance(1)

    single_seconds = seconds.pop("single")
    timings = seconds
    single_rate = singles / single_seconds
    return [
        Measurement(
            SECTION,
            f"publish-message via {route}",
            records / seconds,
            "records/s",
            baseline_name="one PutMessages per record",
            baseline_value=single_rate,
            goal=ratio_at_least(GOAL, "single puts"),
            details={
                "bodies": bodies,
                "records_per_body": per_body,
                "seconds": round(seconds, 3),
                "single_puts": singles,
                "single_seconds": round(single_seconds, 3),
            },
        )
        for route, seconds in timings.items()
    ]


def invoke_publish(client: Any, function_id: str, body: bytes) -> dict[str, Any]:
    """One InvokeFunction of publish-message; its status and JSON reply."""
    response = client.invoke_function(function_id, invoke_function_body=body)
    status = int(response.headers.get("fn-http-status", "200"))

    return {"status": status, "reply": json.loads(response.data.content)}


def gateway_publish(url: str, body: bytes) -> dict[str, Any]:
    """One ``POST /messages`` on the gateway; its status and JSON reply."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=GATEWAY_TIMEOUT_SECONDS) as response:
        return {"status": response.status, "reply": json.loads(response.read())}


def put_one(client: Any, stream_id: str, index: int) -> None:
    """One PutMessages holding one person, as a client without batching sends it."""
    record = person(index)
    details = PutMessagesDetails(
        messages=[
            PutMessagesDetailsEntry(
                key=_base64(record.name.encode()), value=_base64(record.to_json_bytes())
            )
        ]
    )
    result = client.put_messages(stream_id, details).data
    if result.failures:
        raise RuntimeError(f"the stream refused a single put: {result.entries[0]}")


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _expect_published(answer: dict[str, Any], count: int) -> None:
    published = answer["reply"].get("published")
    if answer["status"] != 200 or published != count:
        raise RuntimeError(f"publish-message answered {answer['status']}: {answer}")
