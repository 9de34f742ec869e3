"""deploy/smoke_check.py: its command line here; its live run needs a tenancy."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import SimpleNamespace

import pytest
from deployment_files import REPOSITORY

SCRIPT = REPOSITORY / "deploy" / "smoke_check.py"
REQUIRED = [
    "--gateway-url",
    "https://gw.example/v1/",
    "--stream-id",
    "ocid1.stream.oc1..s",
    "--messages-endpoint",
    "https://cell-1.streaming.example",
]


@pytest.fixture(scope="module")
def smoke_check():
    spec = importlib.util.spec_from_file_location("smoke_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["smoke_check"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("smoke_check", None)


def test_smoke_check_help_exits_zero_and_names_variables():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True
    )

    assert result.returncode == 0
    assert "OCIFN_GATEWAY_URL" in result.stdout
    assert "--messages-endpoint" in result.stdout


def test_smoke_check_missing_options_exit_two_naming_them(smoke_check, monkeypatch):
    for variable in ("OCIFN_GATEWAY_URL", "OCIFN_STREAM_ID"):
        monkeypatch.delenv(variable, raising=False)

    with pytest.raises(SystemExit) as caught:
        smoke_check.parse_arguments(["--messages-endpoint", "https://x"])

    assert caught.value.code == 2


def test_smoke_check_arguments_fall_back_to_environment(smoke_check, monkeypatch):
    monkeypatch.setenv("OCIFN_GATEWAY_URL", "https://gw.example/v1/")
    monkeypatch.setenv("OCIFN_STREAM_ID", "ocid1.stream.oc1..s")
    monkeypatch.setenv("OCIFN_STREAM_MESSAGES_ENDPOINT", "https://cell-1.example")
    monkeypatch.delenv("OCIFN_CONSUMER_GROUP", raising=False)

    arguments = smoke_check.parse_arguments([])

    assert arguments.gateway_url == "https://gw.example/v1"
    assert arguments.group == "drain-stream-to-db"
    assert arguments.count == 3


def test_smoke_check_committed_advance_counts_new_partitions(smoke_check):
    group = SimpleNamespace(
        reservations=[
            SimpleNamespace(partition="0", committed_offset=12),
            SimpleNamespace(partition="1", committed_offset=None),
            SimpleNamespace(partition="2", committed_offset=4),
        ]
    )

    after = smoke_check.committed_offsets(group)

    assert after == {"0": 12, "1": -1, "2": 4}
    assert smoke_check.committed_advance({"0": 10, "1": -1}, after) == 2 + 5


def test_smoke_check_people_names_are_unique_per_run(smoke_check):
    people = smoke_check.smoke_people(3, "abc")

    assert [person["name"] for person in people] == [
        "smoke-abc-0",
        "smoke-abc-1",
        "smoke-abc-2",
    ]


@pytest.mark.skip(
    reason="needs a deployed bundle: a gateway URL, a stream and an OCI profile; "
    "no OCI service is reachable from the test machines"
)
def test_smoke_check_live_bundle_passes(smoke_check):
    assert smoke_check.main(REQUIRED) == 0


class ScriptedGroups:
    """Answers get_group with one reading after another, then the last forever."""

    def __init__(self, *readings):
        self.readings = list(readings)

    def get_group(self, stream_id, group_name):
        reading = self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
        reservations = [
            SimpleNamespace(partition=partition, committed_offset=offset)
            for partition, offset in reading.items()
        ]
        return SimpleNamespace(data=SimpleNamespace(reservations=reservations))


def scripted_gateway(calls):
    def request(method, url, body=None, *, token=None):
        calls.append((method, url.rsplit("/v1", 1)[-1]))
        if isinstance(body, list):
            return 200, {"published": len(body)}
        return 400, {"error": {"code": "invalid_input", "message": "age"}}

    return request


def test_smoke_check_run_drained_batch_passes(smoke_check):
    arguments = smoke_check.parse_arguments(REQUIRED)
    calls = []
    groups = ScriptedGroups({"0": 5}, {"0": 6}, {"0": 8})

    report = smoke_check.run(
        arguments,
        stream_client=groups,
        request=scripted_gateway(calls),
        sleep=lambda seconds: None,
    )

    assert report.ok, report.checks
    assert calls == [("POST", "/messages"), ("POST", "/messages")]
    assert report.checks[-1]["committed"] == 3


def test_smoke_check_run_stalled_drain_fails_at_timeout(smoke_check):
    arguments = smoke_check.parse_arguments([*REQUIRED, "--timeout", "10"])
    ticks = iter(range(0, 100, 4))

    report = smoke_check.run(
        arguments,
        stream_client=ScriptedGroups({"0": 5}),
        request=scripted_gateway([]),
        sleep=lambda seconds: None,
        clock=lambda: next(ticks),
    )

    assert not report.ok
    assert report.checks[-1] == {
        "check": "drained",
        "passed": False,
        "committed": 0,
        "expected": 3,
    }
