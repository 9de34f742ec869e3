"""Load against the limits: throttling storms, and two drain instances in one group.

These use ``ocilocal up --enforce-limits`` (5 GetMessages/s per partition per
group, 1 MB/s writes per partition) and ``--drain-instances 2``.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from accounting import Ledger, account
from reliability_cloud import functions_folder
from scenario import POISON, people, publish, put_poison

STORM_BODIES = 12
STORM_RECORDS = 200
COMMENT = "c" * 3000


def storm_body(index: int) -> list[dict]:
    documents = people(f"storm-{index:02d}", STORM_RECORDS)
    for document in documents:
        document["comment"] = COMMENT
    return documents


def stream_ledger(cloud) -> Ledger:
    """Every message the stream holds, as the ledger to account for."""
    ledger = Ledger()
    for partition, offset, value in cloud.stream_contents():
        ledger.add(partition, offset, value)
    return ledger


def test_throttling_storm_publish_and_drain_lose_nothing(
    tmp_path, clouds, record_scenario
):
    """Concurrent ~600 KB bodies and a drain reading 50 at a time, with limits on.

    Publish answers 200 or a JSON 503 (records the stream took before it gave
    up are still on the stream, so the ledger is the stream's content; the
    positions each reply gives, a 503's included, are checked against it);
    the drain backs off when its reads are throttled and always answers 200.
    """
    functions_dir = functions_folder(tmp_path, drain_config={"GET_LIMIT": "50"})
    cloud = clouds(functions_dir, extra_args=("--enforce-limits",)).start()
    bodies = [storm_body(index) for index in range(STORM_BODIES)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(
            pool.map(lambda body: cloud.publish(json.dumps(body).encode()), bodies)
        )
    statuses = [status for status, _ in replies]
    drain_statuses = []
    for _ in range(200):
        status, summary = cloud.drain()
        drain_statuses.append(status)
        if status == 200 and summary["read"] == 0:
            break

    ledger = stream_ledger(cloud)
    on_stream = {(p, o): value for p, o, value in cloud.stream_contents()}
    for documents, (status, reply) in zip(bodies, replies, strict=True):
        if status == 200:
            placed_records = reply["records"]
        else:
            details = reply["error"]["details"]
            assert details["published"] + details["not_published"] == len(documents)
            placed_records = details["records"]
            assert len(placed_records) == details["published"]
        for placed in placed_records:
            value = on_stream[(placed["partition"], placed["offset"])]
            assert json.loads(value)["name"] == documents[placed["index"]]["name"]
    assert set(statuses) <= {200, 503}, statuses
    assert all(reply.get("error") for status, reply in replies if status != 200)
    assert set(drain_statuses) == {200}, drain_statuses
    assert "stream refused" in cloud.log_text()  # the limits did throttle
    record_scenario(
        "throttling storm (--enforce-limits)", account(ledger, cloud.database)
    )


def test_two_drain_instances_at_once_share_group_without_loss(
    tmp_path, clouds, record_scenario
):
    """Two drain instances at once in one group: nothing twice, nothing lost."""
    functions_dir = functions_folder(tmp_path, drain_config={"GET_LIMIT": "25"})
    cloud = clouds(functions_dir, extra_args=("--drain-instances", "2")).start()
    ledger = Ledger()
    for batch in range(4):
        publish(cloud, ledger, people(f"pair-{batch}", 100))
    put_poison(cloud, ledger, POISON)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: cloud.drain(), range(2)))
    later = cloud.drain_until_empty() + cloud.drain_until_empty()

    assert [status for status, _ in runs] == [200, 200]
    assert all(summary["read"] > 0 for _, summary in runs)
    # partitions moving between the instances are no gap in the stream
    assert all(not summary["skipped"] for summary in [s for _, s in runs] + later)
    record_scenario("two drain instances at once", account(ledger, cloud.database))
