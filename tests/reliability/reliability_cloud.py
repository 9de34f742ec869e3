"""A local cloud the reliability tests can stop, kill and start again.

``functions_folder`` lays out a functions folder for ``ocilocal up
--functions-dir``: the real publish-message and read-secret, and a
drain-stream-to-db whose ``func.py`` is the real one (or the crash variant
under ``data/``) with its ``func.yaml`` config overridden. ``Cloud`` runs
``ocilocal up`` on it and talks to it as a client would: the gateway over
plain HTTP, everything else through the OCI SDK.
"""

from __future__ import annotations

import base64
import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import oci
import yaml
from ocilocal.launcher import CloudProcess

REPOSITORY = Path(__file__).resolve().parents[2]
FUNCTIONS = REPOSITORY / "functions"
DRAIN = "drain-stream-to-db"
CRASH_DRAIN = Path(__file__).resolve().parent / "data" / "drain-crash" / "func.py"
PARTITIONS = 2
HTTP_TIMEOUT_SECONDS = 120


def functions_folder(
    root: Path,
    *,
    drain_code: Path = FUNCTIONS / DRAIN / "func.py",
    drain_config: dict[str, str] | None = None,
    other_config: dict[str, str] | None = None,
) -> Path:
    """A functions folder: real functions, the drain's code and config chosen."""
    folder = root / "functions"
    folder.mkdir(parents=True)
    for name in ("publish-message", "read-secret", DRAIN):
        target = folder / name
        target.mkdir()
        code = drain_code if name == DRAIN else FUNCTIONS / name / "func.py"
        (target / "func.py").symlink_to(code)
        document = yaml.safe_load((FUNCTIONS / name / "func.yaml").read_text())
        overrides = drain_config if name == DRAIN else other_config
        document["config"].update(overrides or {})
        (target / "func.yaml").write_text(yaml.safe_dump(document))

    return folder


def iam_folder(
    root: Path, *, replace: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> Path:
    """The repository's IAM files with texts replaced and statements added."""
    folder = root / "iam"
    folder.mkdir(parents=True)
    source = REPOSITORY / "deploy" / "iam"
    (folder / "dynamic-groups.json").write_text(
        (source / "dynamic-groups.json").read_text()
    )
    policies = (source / "policies.txt").read_text()
    for old, new in (replace or {}).items():
        if old not in policies:
            raise ValueError(f"policies.txt has no {old!r}")
        policies = policies.replace(old, new)
    (folder / "policies.txt").write_text(policies + "".join(f"{s}\n" for s in extra))
    return folder


class Cloud:
    """``ocilocal up`` as a subprocess on a fixed data folder and port."""

    def __init__(
        self, data_dir: Path, functions_dir: Path, *, extra_args: tuple = ()
    ) -> None:
        self.data_dir = data_dir
        self.functions_dir = functions_dir
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        options = ["--partitions", str(PARTITIONS), "--drain-every", "0"]
        options += ["--functions-dir", str(functions_dir), *extra_args]
        self.process = CloudProcess(data_dir, log_path=self.log_path, options=options)
        self.state: dict[str, Any] = {}

    # lifecycle

    def start(self) -> Cloud:
        """Start, on the same port every time, and wait for its state.json."""
        self.state = self.process.start()
        return self

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop with ``signum``: SIGTERM shuts down in order, SIGKILL does not."""
        self.process.stop(signum)

    def __enter__(self) -> Cloud:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # clients

    @property
    def database(self) -> Path:
        return Path(self.state["database"])

    def config(self) -> dict[str, Any]:
        return oci.config.from_file(self.state["config_file"], self.state["profile"])

    def stream_client(self) -> oci.streaming.StreamClient:
        return oci.streaming.StreamClient(
            self.config(), service_endpoint=self.state["endpoint"]
        )

    def vaults_client(self) -> oci.vault.VaultsClient:
        return oci.vault.VaultsClient(
            self.config(), service_endpoint=self.state["endpoint"]
        )

    @property
    def stream_id(self) -> str:
        return self.state["streams"]["people"]["id"]

    # calls

    def gateway(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """An unsigned call to the gateway: status, headers, body."""
        request = urllib.request.Request(
            self.state["gateway"] + path.lstrip("/"),
            data=body,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()

    def publish(self, body: bytes) -> tuple[int, Any]:
        """POST /messages; the status and the JSON reply (or the raw text)."""
        status, _, reply = self.gateway("POST", "messages", body)
        try:
            return status, json.loads(reply)
        except ValueError:
            return status, reply.decode("utf-8", "replace")

    def put_raw(
        self, messages: list[tuple[bytes | None, bytes]]
    ) -> list[tuple[int, int]]:
        """Put (key, value) messages straight on the stream; their positions."""
        entries = [
            oci.streaming.models.PutMessagesDetailsEntry(
                key=None if key is None else base64.b64encode(key).decode(),
                value=base64.b64encode(value).decode(),
            )
            for key, value in messages
        ]
        result = self.stream_client().put_messages(
            self.stream_id, oci.streaming.models.PutMessagesDetails(messages=entries)
        )
        positions = []
        for entry in result.data.entries:
            if entry.error:
                raise AssertionError(f"the stream refused a message: {entry.error}")
            positions.append((int(entry.partition), int(entry.offset)))
        return positions

    def drain(self) -> tuple[int, Any]:
        """Invoke the drain through the Functions API: its status and JSON reply.

        A crashed function comes back as the SDK's ServiceError (502).
        """
        client = oci.functions.FunctionsInvokeClient(
            self.config(), service_endpoint=self.state["endpoint"], timeout=300
        )
        reply = client.invoke_function(
            self.state["functions"][DRAIN], invoke_function_body=b""
        )
        status = int(reply.headers.get("fn-http-status", reply.status))
        return status, json.loads(reply.data.content)

    def drain_until_empty(self, *, most_runs: int = 20) -> list[dict]:
        """Drain until a run reads nothing; every run must answer 200."""
        summaries = []
        for _ in range(most_runs):
            status, summary = self.drain()
            if status != 200:
                raise AssertionError(f"drain answered {status}: {summary}")
            summaries.append(summary)
            if summary["read"] == 0:
                return summaries
        raise AssertionError(f"the drain still read messages after {most_runs} runs")

    def stream_contents(self) -> list[tuple[int, int, bytes]]:
        """Every message on the stream: (partition, offset, value), from the start."""
        client = self.stream_client()
        contents = []
        for partition in range(PARTITIONS):
            details = oci.streaming.models.CreateCursorDetails(
                partition=str(partition), type="TRIM_HORIZON"
            )
            cursor = client.create_cursor(self.stream_id, details).data.value
            while True:
                try:
                    reply = client.get_messages(self.stream_id, cursor, limit=10000)
                except oci.exceptions.ServiceError as error:
                    if error.status != 429:
                        raise
                    time.sleep(0.5)
                    continue
                for message in reply.data:
                    value = base64.b64decode(message.value)
                    contents.append((message.partition, message.offset, value))
                cursor = reply.headers["opc-next-cursor"]
                if not reply.data:
                    break
        return [(int(p), int(o), value) for p, o, value in contents]

    def committed_offsets(self, group: str = DRAIN) -> dict[int, int | None]:
        """The group's committed offset per partition (empty if it never joined)."""
        try:
            group_model = self.stream_client().get_group(self.stream_id, group).data
        except oci.exceptions.ServiceError as error:
            if error.status == 404:
                return {}
            raise
        return {
            int(reservation.partition): reservation.committed_offset
            for reservation in group_model.reservations or []
        }

    def update_secret(self, name: str, content: bytes) -> int:
        """Give the secret a new CURRENT version; its version number."""
        details = oci.vault.models.UpdateSecretDetails(
            secret_content=oci.vault.models.Base64SecretContentDetails(
                content_type="BASE64", content=base64.b64encode(content).decode()
            )
        )
        secret = self.vaults_client().update_secret(
            self.state["secrets"][name], details
        )
        return secret.data.current_version_number

    def log_text(self) -> str:
        """Everything the cloud and its functions logged so far."""
        parts = [self.log_path.read_text(errors="replace")]
        for path in sorted((self.data_dir / "logs").glob("*")):
            parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)
