"""Each function, installed and slimmed by deploy/install_function.py, run alone.

The local cloud runs every function from its staged folder under the base
interpreter with ``-S`` and a clean environment; these tests check that nothing
else is on its path and that each function still does its real job.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import oci
import pytest
import yaml
from oci.streaming.models import CreateCursorDetails

REPOSITORY = Path(__file__).resolve().parents[2]
FUNCTION_NAMES = ("publish-message", "drain-stream-to-db", "read-secret")
MODULES_OF = {
    "publish-message": ("fdk", "ocifn", "oci", "oci.streaming", "func"),
    "drain-stream-to-db": (
        "fdk",
        "ocifn",
        "oci",
        "oci.streaming",
        "oci.secrets",
        "oracledb",
        "func",
    ),
    "read-secret": ("fdk", "ocifn", "oci", "oci.secrets", "func"),
}
ENVIRONMENT_PREFIXES = ("FN_", "OCI_RESOURCE_PRINCIPAL_")
HTTP_TIMEOUT_SECONDS = 120
MAX_DRAIN_RUNS = 5


def function_pid(state: dict, name: str) -> int:
    return int((Path(state["data_dir"]) / "run" / name / "pid").read_text())


def process_environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (entry.decode().partition("=") for entry in raw if entry)
    return {key: value for key, _, value in pairs}


def process_command(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return [part.decode() for part in raw if part]


def is_inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def http(state: dict, method: str, path: str, body: bytes | None = None):
    """A plain request to the local cloud's gateway: (status, JSON body)."""
    request = urllib.request.Request(state["gateway"] + path, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read())


def publish_person(state: dict) -> tuple[dict, dict]:
    """POST one new person through the gateway; (person, publish reply)."""
    person = {"name": f"staged-{uuid.uuid4().hex[:12]}", "age": 41, "comment": "x"}
    status, reply = http(state, "POST", "messages", json.dumps(person).encode())
    assert status == 200, reply
    return person, reply


def sdk_config(state: dict) -> dict:
    return oci.config.from_file(state["config_file"], state["profile"])


def test_staged_install_slimmed_is_under_a_quarter_of_pip_install(staged_reports):
    for name in FUNCTION_NAMES:
        report = staged_reports[name]

        assert report["function"] == name
        assert 0 < report["bytes"] < report["bytes_before_slim"] / 4, report


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_staged_install_layout_mirrors_image_python_and_function(staged_root, name):
    folder = staged_root / name

    assert (folder / "function" / "func.py").read_bytes() == (
        REPOSITORY / "functions" / name / "func.py"
    ).read_bytes()
    assert (folder / "python" / "bin" / "fdk").is_file()
    assert (folder / "python" / "ocifn" / "__init__.py").is_file()
    assert not (folder / "python" / "oci" / "core").exists()
    assert not (folder / "python" / "pytest").exists()


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_staged_function_process_runs_alone_on_its_folder(
    staged_cloud, staged_root, name
):
    """Command line, environment and loaded extensions of the running fdk."""
    folder = staged_root / name
    pid = function_pid(staged_cloud, name)
    command = process_command(pid)
    environment = process_environment(pid)
    config = yaml.safe_load(
        (REPOSITORY / "functions" / name / "func.yaml").read_text()
    )["config"]
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    mapped = {line.split()[-1] for line in maps if line.split()[-1].startswith("/")}

    assert command[1:3] == ["-S", str(folder / "python" / "bin" / "fdk")]
    assert command[3] == str(folder / "function" / "func.py")
    unexpected = {
        key
        for key in environment
        if key not in {"PATH", "HOME", "PYTHONPATH", *config}
        and not key.startswith(ENVIRONMENT_PREFIXES)
    }
    assert not unexpected
    assert environment["PYTHONPATH"].split(":") == [
        str(folder / "function"),
        str(folder / "python"),
    ]
    extensions = [path for path in mapped if ".cpython-" in path or ".abi3." in path]
    assert extensions
    assert all(
        is_inside(path, folder) or is_inside(path, Path(sys.base_prefix))
        for path in extensions
    ), extensions
    assert not [path for path in mapped if is_inside(path, REPOSITORY)]


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_staged_function_modules_resolve_inside_folder(staged_cloud, staged_root, name):
    """The same interpreter, flags and environment import every module from the
    folder, and its path holds nothing but the folder and the standard library."""
    folder = staged_root / name
    pid = function_pid(staged_cloud, name)
    command = process_command(pid)
    probe = (
        "import importlib, json, sys\n"
        f"names = {list(MODULES_OF[name])!r}\n"
        "files = {n: importlib.import_module(n).__file__ for n in names}\n"
        "print(json.dumps({'files': files, 'path': sys.path}))\n"
    )

    result = subprocess.run(
        [command[0], "-S", "-c", probe],
        env=process_environment(pid),
        cwd=folder / "function",
        capture_output=True,
        check=True,
    )
    found = json.loads(result.stdout)

    assert all(is_inside(path, folder) for path in found["files"].values()), found
    outside = [
        entry
        for entry in found["path"]
        if entry
        and not is_inside(entry, folder)
        and not is_inside(entry, Path(sys.base_prefix))
    ]
    assert not outside
    assert not [entry for entry in found["path"] if "site-packages" in entry]


def test_staged_publish_message_puts_person_on_stream(staged_cloud):
    person, reply = publish_person(staged_cloud)
    record = reply["records"][0]
    stream = staged_cloud["streams"]["people"]
    client = oci.streaming.StreamClient(
        sdk_config(staged_cloud), service_endpoint=stream["messages_endpoint"]
    )

    cursor = client.create_cursor(
        stream["id"],
        CreateCursorDetails(
            partition=str(record["partition"]),
            type="AT_OFFSET",
            offset=record["offset"],
        ),
    ).data.value
    message = client.get_messages(stream["id"], cursor, limit=1).data[0]

    assert reply["published"] == 1
    assert base64.b64decode(message.key).decode() == person["name"]
    assert json.loads(base64.b64decode(message.value)) == person


def test_staged_drain_stream_to_db_upserts_person_into_sqlite(staged_cloud):
    person, _ = publish_person(staged_cloud)
    invoke = oci.functions.FunctionsInvokeClient(
        sdk_config(staged_cloud), service_endpoint=staged_cloud["endpoint"]
    )
    drain_id = staged_cloud["functions"]["drain-stream-to-db"]

    row = None
    summaries = []
    for _ in range(MAX_DRAIN_RUNS):
        answer = invoke.invoke_function(drain_id, invoke_function_body=b"{}")
        summaries.append(json.loads(answer.data.content))
        with sqlite3.connect(staged_cloud["database"]) as database:
            row = database.execute(
                "SELECT age, comment_text FROM person WHERE name = ?",
                (person["name"],),
            ).fetchone()
        if row is not None:
            break

    assert row == (person["age"], person["comment"]), summaries
    assert sum(summary["upserted"] for summary in summaries) >= 1, summaries


def test_staged_read_secret_returns_greeting_from_vault(staged_cloud):
    secrets = oci.secrets.SecretsClient(
        sdk_config(staged_cloud), service_endpoint=staged_cloud["endpoint"]
    )
    bundle = secrets.get_secret_bundle(staged_cloud["secrets"]["greeting"]).data
    expected = base64.b64decode(bundle.secret_bundle_content.content).decode()

    status, reply = http(staged_cloud, "GET", "secrets/greeting")

    assert status == 200, reply
    assert reply["name"] == "greeting"
    assert reply["content"] == expected
