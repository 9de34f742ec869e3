"""The schedule: periodic runs through invoke, one JSON line per run."""

from __future__ import annotations

import asyncio
import json

import pytest
from cloud_harness import running_cloud, write_spec
from ocilocal import scheduler


def schedule_for(placeholder: str) -> dict:
    return {
        "displayName": "test-schedule",
        "action": "START_RESOURCE",
        "resources": [
            {
                "id": placeholder,
                "parameters": [
                    {"parameterType": "BODY", "value": {"trigger": "schedule"}}
                ],
            }
        ],
    }


def runs_in(harness) -> list[dict]:
    path = harness.cloud.data_dir / "logs" / "scheduler.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.asyncio
async def test_scheduler_interval_set_logs_each_run_with_parsed_body(tmp_path):
    write_spec(
        tmp_path / "deploy" / "schedule" / "s.json", schedule_for("${ECHO_FUNCTION_ID}")
    )
    async with running_cloud(tmp_path, drain_every=0.3) as harness:
        await asyncio.sleep(1.2)
        runs = runs_in(harness)

    assert len(runs) >= 2
    assert runs[0]["schedule"] == "test-schedule"
    assert runs[0]["function"] == "echo"
    assert runs[0]["status"] == 200
    assert json.loads(runs[0]["body"]["body"]) == {"trigger": "schedule"}
    assert runs[0]["time"] <= runs[0]["finished"]


@pytest.mark.asyncio
async def test_scheduler_failing_function_logs_502_and_keeps_going(tmp_path):
    write_spec(
        tmp_path / "deploy" / "schedule" / "s.json",
        schedule_for("${FAILING_FUNCTION_ID}"),
    )
    async with running_cloud(tmp_path, drain_every=0.3) as harness:
        await asyncio.sleep(1.5)
        runs = runs_in(harness)

    assert len(runs) >= 2
    assert {run["status"] for run in runs} == {502}
    assert runs[-1]["body"]["error"]["code"] == "FunctionFailed"


@pytest.mark.asyncio
async def test_scheduler_zero_interval_never_fires(tmp_path):
    async with running_cloud(tmp_path, drain_every=0) as harness:
        await asyncio.sleep(0.5)
        runs = runs_in(harness)

    assert runs == []


@pytest.mark.asyncio
async def test_scheduler_target_not_deployed_run_once_skips(tmp_path):
    async with running_cloud(tmp_path) as harness:
        record = await harness.scheduler.run_once()

    assert harness.scheduler.target == "drain-stream-to-db"
    assert record is None


def test_read_schedule_repository_file_targets_drain():
    schedule_dir = scheduler.gateway.default_deploy_dir() / "schedule"
    name, target, body = scheduler.read_schedule(
        schedule_dir, {"drain-stream-to-db": "ocid1.fnfunc.x"}
    )

    assert (name, target) == ("drain-stream-to-db", "drain-stream-to-db")
    assert json.loads(body) == {"trigger": "schedule"}
