"""Calls the integration tests make to their local cloud, and the input cases.

Every call goes over HTTP: plain requests to the gateway, the OCI SDK for
Streaming, Vault and invoke. The database is the cloud's real SQLite file.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oci
import yaml
from oci.streaming.models import (
    CreateCursorDetails,
    PutMessagesDetails,
    PutMessagesDetailsEntry,
)

REPOSITORY = Path(__file__).resolve().parents[2]
STREAM_NAME = "people"
GREETING_SECRET = "greeting"
BINARY_SECRET = "binary-greeting"
ABSENT_SECRET = "absent-greeting"
ALLOWED_SECRETS = (GREETING_SECRET, BINARY_SECRET, ABSENT_SECRET)
DRAIN_GROUP = "drain-stream-to-db"
MISSING_STREAM_FUNCTION = "publish-to-missing-stream"
MISSING_STREAM_ID = "ocid1.stream.oc1.local.missingstream"
MAX_DRAIN_RUNS = 20
SUMMARY_FIELDS = {
    "read",
    "upserted",
    "dead_lettered",
    "unchanged",
    "skipped",
    "committed",
    "stopped",
}
GATEWAY_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Reply:
    """One HTTP reply: status, every header value by lower-case name, body."""

    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower()) or []
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def copy_functions(target: Path, endpoint: str) -> Path:
    """The repository's functions for a cloud at ``endpoint``, changed for tests.

    read-secret also allows the test secrets, and one more copy of
    publish-message, MISSING_STREAM_FUNCTION, publishes to a stream that does
    not exist (the local cloud lays its own values only over the real names).
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPOSITORY / "functions", target, ignore=ignore)
    shutil.copytree(
        target / "publish-message", target / MISSING_STREAM_FUNCTION, ignore=ignore
    )

    _change_func_yaml(
        target / "read-secret", {"ALLOWED_SECRETS": ",".join(ALLOWED_SECRETS)}
    )
    _change_func_yaml(
        target / MISSING_STREAM_FUNCTION,
        {"STREAM_OCID": MISSING_STREAM_ID, "STREAM_MESSAGES_ENDPOINT": endpoint},
        name=MISSING_STREAM_FUNCTION,
    )
    return target


def _change_func_yaml(
    directory: Path, config: dict[str, str], *, name: str | None = None
) -> None:
    func_yaml = directory / "func.yaml"
    document = yaml.safe_load(func_yaml.read_text(encoding="utf-8"))
    document["config"].update(config)
    if name is not None:
        document["name"] = name
    func_yaml.write_text(yaml.safe_dump(document), encoding="utf-8")


def json_document(reply: Reply, status: int, *, invoked: bool = False) -> Any:
    """The JSON body of a reply meant to have ``status``, after checking its shape.

    A gateway reply carries the status as its HTTP status; an invoke reply is
    HTTP 200 with the status in ``Fn-Http-Status``. Either has one
    ``application/json`` content type, and a failure is ``{"error": {"code",
    "message"}}``.
    """
    if invoked:
        assert (reply.status, reply.header("fn-http-status")) == (200, str(status))
    else:
        assert reply.status == status, reply.body
    assert reply.headers["content-type"] == ["application/json"]
    document = json.loads(reply.body)
    if status >= 400:
        assert set(document) == {"error"}, document
        error = document["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
    return document


class CloudApi:
    """The local cloud as a client sees it: gateway, invoke, stream, database."""

    def __init__(self, state: dict) -> None:
        self.state = state
        self.config = oci.config.from_file(state["config_file"], state["profile"])
        endpoint = state["endpoint"]
        stream = state["streams"][STREAM_NAME]
        self.stream_id = stream["id"]
        self.stream_client = oci.streaming.StreamClient(
            self.config, service_endpoint=stream["messages_endpoint"]
        )
        self.stream_admin_client = oci.streaming.StreamAdminClient(
            self.config, service_endpoint=endpoint
        )
        self.vaults_client = oci.vault.VaultsClient(
            self.config, service_endpoint=endpoint
        )
        self.secrets_client = oci.secrets.SecretsClient(
            self.config, service_endpoint=endpoint
        )
        self.invoke_client = oci.functions.FunctionsInvokeClient(
            self.config, service_endpoint=endpoint
        )
        self.partitions = self.stream_admin_client.get_stream(
            self.stream_id
        ).data.partitions

    # gateway and invoke

    def gateway(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Reply:
        """A plain, unsigned HTTP request to the gateway."""
        request = urllib.request.Request(
            self.state["gateway"] + path.lstrip("/"), data=body, method=method
        )
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(
                request, timeout=GATEWAY_TIMEOUT_SECONDS
            ) as answer:
                return _reply(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as answer:
            return _reply(answer.code, answer.headers, answer.read())

    def invoke(self, function: str, body: bytes = b"") -> Reply:
        """InvokeFunction through the SDK; the status is the function's own."""
        function_id = self.state["functions"][function]
        response = self.invoke_client.invoke_function(
            function_id, invoke_function_body=body
        )
        headers: dict[str, list[str]] = {}
        for key, value in response.headers.items():
            headers.setdefault(key.lower(), []).append(value)
        return Reply(response.status, headers, response.data.content)

    def drain(self) -> dict:
        """One drain run through invoke; its summary, after checking the reply."""
        reply = self.invoke("drain-stream-to-db")
        assert reply.status == 200, reply.body
        assert reply.header("fn-http-status") == "200"
        assert reply.headers["content-type"] == ["application/json"]
        summary = reply.json()
        assert set(summary) == SUMMARY_FIELDS, summary
        assert summary["skipped"] == {}, summary  # these streams keep everything
        assert summary["stopped"] in ("empty", "deadline")
        assert all(
            partition.isdigit() and isinstance(offset, int)
            for partition, offset in summary["committed"].items()
        ), summary
        assert summary["read"] == (
            summary["upserted"] + summary["dead_lettered"] + summary["unchanged"]
        ), summary
        return summary

    def drain_until_empty(self) -> list[dict]:
        """Drain runs until one reports it stopped because the stream was empty."""
        summaries = []
        for _ in range(MAX_DRAIN_RUNS):
            summaries.append(self.drain())
            if summaries[-1]["stopped"] == "empty":
                return summaries
        raise AssertionError(f"no empty stop in {MAX_DRAIN_RUNS} runs: {summaries}")

    # stream

    def put(self, key: bytes | None, value: bytes) -> tuple[int, int]:
        """Put one message straight on the stream; its (partition, offset)."""
        entry = PutMessagesDetailsEntry(
            key=base64.b64encode(key).decode() if key is not None else None,
            value=base64.b64encode(value).decode(),
        )
        result = self.stream_client.put_messages(
            self.stream_id, PutMessagesDetails(messages=[entry])
        ).data
        assert result.failures == 0, result.entries
        placed = result.entries[0]
        return int(placed.partition), int(placed.offset)

    def latest_cursors(self) -> dict[int, str]:
        """A LATEST cursor per partition: what is put from now on."""
        return {
            partition: self.stream_client.create_cursor(
                self.stream_id,
                CreateCursorDetails(partition=str(partition), type="LATEST"),
            ).data.value
            for partition in range(self.partitions)
        }

    def messages_after(self, cursors: dict[int, str]) -> list[Any]:
        """Every message from the given cursors on, in partition and offset order."""
        messages = []
        for partition in sorted(cursors):
            cursor = cursors[partition]
            while True:
                response = self.stream_client.get_messages(
                    self.stream_id, cursor, limit=10000
                )
                if not response.data:
                    break
                messages.extend(response.data)
                cursor = response.headers["opc-next-cursor"]
        return messages

    def committed_offsets(self, group: str = DRAIN_GROUP) -> dict[int, int | None]:
        """The group's committed offset per partition, from GetGroup."""
        group_info = self.stream_client.get_group(self.stream_id, group).data
        return {
            int(reservation.partition): reservation.committed_offset
            for reservation in group_info.reservations
        }

    # database

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Rows of the app's SQLite file, read by a connection of its own."""
        with sqlite3.connect(self.state["database"]) as connection:
            return connection.execute(sql, parameters).fetchall()


def _reply(status: int, headers: Any, body: bytes) -> Reply:
    collected: dict[str, list[str]] = {}
    for key, value in headers.items():
        collected.setdefault(key.lower(), []).append(value)
    return Reply(status, collected, body)


def read_cases(name: str) -> list[dict]:
    """The input cases of one file of tests/data/cases, one per line."""
    path = REPOSITORY / "tests" / "data" / "cases" / name
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
