"""``ocilocal demo``: the whole flow once, against a local cloud it starts.

Starts ``ocilocal up`` on a free port, publishes ``examples/people.jsonl``
through the gateway, puts ``examples/seed_messages.jsonl`` straight onto the
stream with the OCI SDK, waits until the schedule has drained it all into the
database, reads the ``greeting`` secret through the gateway, prints a
summary and stops the server. It can be run again on the same data folder.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from ocilocal.launcher import CloudDidNotStart, CloudProcess, free_port
from ocilocal.storage import now_ms
from ocilocal.wire import format_time

BATCH_SIZE = 100
DRAIN_EVERY_SECONDS = 2
START_TIMEOUT_SECONDS = 30
DRAIN_TIMEOUT_SECONDS = 30
# the drain's reply says why the run ended: "empty" or "deadline"
STOPPED_EMPTY = "empty"


class DemoError(click.ClickException):
    """A step of the demo failed; the message says which and why."""


def start_cloud(cloud: CloudProcess) -> dict[str, Any]:
    """Start the local cloud; DemoError, with the end of its log, if it fails."""
    try:
        return cloud.start()
    except CloudDidNotStart as exc:
        raise DemoError(str(exc)) from exc


def examples_dir() -> Path:
    """``examples`` in the current folder, else the repository's own."""
    here = Path.cwd() / "examples"
    if (here / "people.jsonl").is_file():
        return here

    return Path(__file__).resolve().parents[2] / "examples"


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    """One plain HTTP call; the reply body parsed as JSON when it is JSON."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except urllib.error.URLError as exc:
        raise DemoError(f"{method} {url} failed: {exc.reason}") from exc
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def publish_people(gateway: str, people: list[dict[str, Any]]) -> None:
    """POST the people to the gateway in batches."""
    for start in range(0, len(people), BATCH_SIZE):
        batch = people[start : start + BATCH_SIZE]
        body = json.dumps(batch, ensure_ascii=False).encode("utf-8")
        status, reply = http("POST", gateway + "messages", body)
        if not 200 <= status < 300:
            raise DemoError(f"POST {gateway}messages answered {status}: {reply}")
        click.echo(
            f"  published {start + len(batch)}/{len(people)} through the gateway"
        )


def put_seed_messages(
    state: dict[str, Any], seeds: list[dict[str, Any]]
) -> list[tuple[str, int]]:
    """Put the raw seed messages on the stream; return their (partition, offset)."""
    import oci

    config = oci.config.from_file(state["config_file"], state["profile"])
    stream = state["streams"]["people"]
    client = oci.streaming.StreamClient(
        config, service_endpoint=stream["messages_endpoint"]
    )
    entries = [
        oci.streaming.models.PutMessagesDetailsEntry(
            key=(
                base64.b64encode(seed["key"].encode("utf-8")).decode("ascii")
                if seed.get("key") is not None
                else None
            ),
            value=seed["value_b64"],
        )
        for seed in seeds
    ]
    details = oci.streaming.models.PutMessagesDetails(messages=entries)
    result = client.put_messages(stream["id"], details).data
    if result.failures:
        raise DemoError(f"{result.failures} seed messages were refused by the stream")
    return [(str(entry.partition), int(entry.offset)) for entry in result.entries]


def drained_after(log_path: Path, since: str) -> dict[str, Any] | None:
    """The first scheduled run started after ``since`` that stopped on empty."""
    if not log_path.is_file():
        return None

    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            run = json.loads(line)
        except ValueError:
            continue
        if run["time"] <= since or run["status"] != 200:
            continue
        if run["body"]["stopped"] == STOPPED_EMPTY:
            return run
    return None


def database_counts(database: Path) -> tuple[int, int]:
    """Rows in ``person`` and in ``dead_letter``."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        people = connection.execute("SELECT COUNT(*) FROM person").fetchone()[0]
        dead = connection.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0]
    return people, dead


def check_database(
    database: Path, names: set[str], dead_letter_positions: list[tuple[str, int]]
) -> None:
    """Every published name is a person; every bad seed is a dead letter."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        stored = {row[0] for row in connection.execute("SELECT name FROM person")}
        letters = {
            (str(partition), int(offset))
            for partition, offset in connection.execute(
                "SELECT src_partition, src_offset FROM dead_letter"
            )
        }
    missing = names - stored
    if missing:
        raise DemoError(f"{len(missing)} published people are not in the database")
    absent = [position for position in dead_letter_positions if position not in letters]
    if absent:
        raise DemoError(f"seed messages at {absent} are not dead letters")


def wait_for_drain(
    state: dict[str, Any],
    data_dir: Path,
    since: str,
    names: set[str],
    dead_letter_positions: list[tuple[str, int]],
) -> dict[str, Any]:
    """Wait for a run that began after the last publish and found the stream empty."""
    log_path = data_dir / "logs" / "scheduler.jsonl"
    database = Path(state["database"])
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run = drained_after(log_path, since)
        if run is not None:
            check_database(database, names, dead_letter_positions)
            return run
        time.sleep(0.5)
    raise DemoError(
        f"the schedule did not drain the stream within {DRAIN_TIMEOUT_SECONDS}s;"
        f" see {log_path}"
    )


def run_demo(data_dir: Path, port: int) -> None:
    """Every step of the demo; raises DemoError on the first failure."""
    started = time.monotonic()
    examples = examples_dir()
    people = read_jsonl(examples / "people.jsonl")
    seeds = read_jsonl(examples / "seed_messages.jsonl")
    cloud = CloudProcess(
        data_dir,
        log_path=data_dir / "logs" / "demo-server.log",
        port=port,
        options=["--drain-every", str(DRAIN_EVERY_SECONDS)],
        start_timeout=START_TIMEOUT_SECONDS,
    )

    click.echo(f"starting the local cloud on port {port} (data in {data_dir})")
    try:
        state = start_cloud(cloud)
        gateway = state["gateway"]
        click.echo(f"  ready: endpoint {state['endpoint']}, gateway {gateway}")

        click.echo(f"publishing {len(people)} people in batches of {BATCH_SIZE}")
        publish_people(gateway, people)
        click.echo(f"putting {len(seeds)} raw seed messages on the stream")
        positions = put_seed_messages(state, seeds)
        since = format_time(now_ms())

        click.echo("waiting for the schedule to drain the stream")
        dead_letter_positions = [
            position
            for position, seed in zip(positions, seeds, strict=True)
            if seed.get("expect") == "dead_letter"
        ]
        names = {person["name"] for person in people}
        run = wait_for_drain(state, data_dir, since, names, dead_letter_positions)
        click.echo(f"  drained: run at {run['time']} stopped on an empty stream")

        click.echo("reading the greeting secret through the gateway")
        status, secret = http("GET", gateway + "secrets/greeting")
        if status != 200:
            raise DemoError(
                f"GET {gateway}secrets/greeting answered {status}: {secret}"
            )

        people_rows, dead_rows = database_counts(Path(state["database"]))
    finally:
        cloud.stop()

    click.echo("summary")
    click.echo(f"  rows in person:      {people_rows}")
    click.echo(f"  rows in dead_letter: {dead_rows}")
    click.echo(f"  secret:              {secret['name']} v{secret['version']}")
    click.echo(f"  time taken:          {time.monotonic() - started:.1f}s")


@click.command(name="demo")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".ocilocal"),
    show_default=True,
    help="Data folder of the local cloud.",
)
@click.option("--port", type=int, default=0, help="Port to serve on; 0 picks one.")
def command(data_dir: Path, port: int) -> None:
    """Run the whole flow once against a local cloud, then stop it."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_demo(data_dir, port or free_port())
    click.echo("demo finished")
