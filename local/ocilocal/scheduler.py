"""The schedule: fires drain-stream-to-db every few seconds, one run at a time.

Each run goes through the Functions service's ``invoke``, as the Resource
Scheduler's call would; with several drain instances each one is fired, and
each run appends one JSON line (with its ``instance`` number) to
``DIR/logs/scheduler.jsonl``: when it started and ended, the status and the
function's body (parsed when it is JSON). A failed run is logged and the
schedule goes on. A schedule file in ``deploy/schedule/`` may name the
schedule and its target function; the interval stays a local option
(``--drain-every``, 0 turns the schedule off).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import yaml

from ocilocal import functions, gateway
from ocilocal.wire import format_time

logger = logging.getLogger(__name__)

DEFAULT_TARGET = "drain-stream-to-db"
DEFAULT_NAME = "drain-stream-to-db-schedule"


def read_schedule(schedule_dir: Path, known: dict[str, str]) -> tuple[str, str, bytes]:
    """The schedule's name, target function and call body from its file, if any."""
    if not schedule_dir.is_dir():
        return DEFAULT_NAME, DEFAULT_TARGET, b""

    for path in sorted(schedule_dir.iterdir()):
        if path.suffix not in (".json", ".yaml", ".yml"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
            document = (
                json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            )
        except (OSError, ValueError, yaml.YAMLError) as exc:
            logger.warning("schedule file %s unusable: %s", path.name, exc)
            continue
        if not isinstance(document, dict):
            continue

        name = str(document.get("displayName") or document.get("name") or DEFAULT_NAME)
        for resource in document.get("resources") or []:
            if not isinstance(resource, dict):
                continue
            backend = {"functionId": resource.get("id", ""), **resource}
            target = gateway.backend_function(backend, known)
            if target:
                return name, target, resource_body(resource)
        return name, DEFAULT_TARGET, b""
    return DEFAULT_NAME, DEFAULT_TARGET, b""


def resource_body(resource: dict[str, Any]) -> bytes:
    """The BODY parameter a schedule passes to its function, as bytes."""
    for parameter in resource.get("parameters") or []:
        if isinstance(parameter, dict) and parameter.get("parameterType") == "BODY":
            value = parameter.get("value")
            if isinstance(value, str):
                return value.encode("utf-8")
            return json.dumps(value).encode("utf-8")
    return b""


class Scheduler:
    """The scheduler plugin: an interval timer calling one function."""

    def __init__(self, cloud: Any, options: dict[str, Any] | None = None) -> None:
        options = options or {}
        self.cloud = cloud
        self.interval = float(options.get("drain_every") or 0)
        deploy_dir = options.get("deploy_dir")
        self.deploy_dir = (
            Path(deploy_dir) if deploy_dir else gateway.default_deploy_dir()
        )
        self.log_path = Path(cloud.data_dir) / "logs" / "scheduler.jsonl"
        self.name = DEFAULT_NAME
        self.target = DEFAULT_TARGET
        self.body = b""
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add_routes(self, app: Any) -> None:
        return None

    async def start(self) -> None:
        known = dict(self.cloud.state.get("functions") or {})
        self.name, self.target, self.body = read_schedule(
            self.deploy_dir / "schedule", known
        )
        self.cloud.state["schedule"] = {
            "name": self.name,
            "function": self.target,
            "every_seconds": self.interval,
            "log": str(self.log_path),
        }
        if self.interval > 0:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is None:
            return

        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.run_once()

    async def run_once(self) -> dict[str, Any] | None:
        """Fire every instance of the target once and log each run; never raises.

        Returns the record of the first instance's run.
        """
        async with self._lock:
            service = functions.service_for(self.cloud)
            if service is None or self.target not in service.processes:
                return None

            count = len(service.instances.get(self.target) or [None])
            records = await asyncio.gather(
                *(self._run(service, number) for number in range(1, count + 1))
            )
            return records[0]

    async def _run(self, service: Any, instance: int) -> dict[str, Any]:
        """One instance's run, logged as one line."""
        started = time.time()
        try:
            status, _, body = await service.invoke(
                self.target, self.body, instance=instance
            )
            parsed = parse_body(body)
        except Exception as exc:  # a run may fail; the schedule goes on
            logger.exception("scheduled run of %s failed", self.target)
            status, parsed = 500, {"error": {"code": type(exc).__name__}}
        finished = time.time()

        record = {
            "time": format_time(started * 1000),
            "finished": format_time(finished * 1000),
            "duration_ms": round((finished - started) * 1000),
            "schedule": self.name,
            "function": self.target,
            "instance": instance,
            "status": status,
            "body": parsed,
        }
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError:
            logger.exception("could not write %s", self.log_path.name)
        return record


def parse_body(body: bytes) -> Any:
    """JSON when the body is JSON, else its text."""
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def create_plugin(cloud: Any, options: dict[str, Any]) -> Scheduler:
    """The scheduler plugin for ``ocilocal up``."""
    return Scheduler(cloud, options)
