"""Cold start: from starting a function's fdk process to its first answer.

Each function runs as the local cloud runs it (the real ``fdk`` entry point on
a unix socket, its func.yaml config with the local values, a resource
principal minted by the local cloud), but in a process this benchmark starts,
so the clock covers process start, imports, clients and the first call. The
baseline is ``bench/bare_function``, an fdk function that answers "ok".
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from ocilocal.functions import call_headers

from bench.cloud import LocalCloud, local_cloud
from bench.people import person
from bench.progress import Reporter
from bench.results import Measurement, ratio_at_most, value_below
from bench.sizes import Sizes

SECTION = "coldstart"
ROOT = Path(__file__).resolve().parents[1]
BARE = "bare"
BARE_DIRECTORY = Path(__file__).resolve().parent / "bare_function"
FIRST_CALLS = {
    "publish-message": person(0).to_json_bytes(),
    "drain-stream-to-db": b"",
    "read-secret": b'{"name": "greeting"}',
    BARE: b"",
}
START_GOAL = 2.5
RSS_GOAL_MB = 90.0
SOCKET_WAIT_SECONDS = 60.0
CALL_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.002
# What any function that talks to OCI through the SDK must import.
SDK_IMPORTS = "import fdk, oci.streaming, oci.secrets"


@dataclass(frozen=True)
class ColdStart:
    """One cold start: seconds to the first answer and resident memory after it."""

    seconds: float
    ready_seconds: float
    rss_mb: float


def run(reporter: Reporter, sizes: Sizes) -> list[Measurement]:
    """Each function's cold start and RSS, beside the bare function's."""
    names = [name for name in FIRST_CALLS if name != BARE]
    samples: dict[str, list[ColdStart]] = {name: [] for name in FIRST_CALLS}
    with local_cloud(partitions=1) as cloud:
        environments = {name: function_environment(cloud, name) for name in names}
        environments[BARE] = function_environment(cloud, BARE)
        rounds = sizes.coldstart_repeats
        steps = rounds * (len(samples) + 1)
        imports: list[float] = []
        with reporter.step("cold start: all functions", steps) as advance:
            for _ in range(rounds):
                for name in samples:
                    samples[name].append(cold_start(name, environments[name]))
                    advance(1)
                imports.append(import_seconds(SDK_IMPORTS))
                advance(1)

    bare_seconds = statistics.median(sample.seconds for sample in samples[BARE])
    bare_rss = statistics.median(sample.rss_mb for sample in samples[BARE])
    measurements = [
        Measurement(
            SECTION,
            "SDK import alone (python -c 'import fdk, oci...')",
            statistics.median(imports),
            "s",
            baseline_name="bare fdk function",
            baseline_value=bare_seconds,
            goal=ratio_at_most(START_GOAL, "bare"),
            note=(
                "the floor under any function that uses the OCI SDK: a process "
                f"that only runs {SDK_IMPORTS!r}; median of {len(imports)}"
            ),
            details={"seconds": [round(seconds, 4) for seconds in imports]},
        )
    ]
    for name in names:
        details = {
            "samples": len(samples[name]),
            "seconds": [round(sample.seconds, 4) for sample in samples[name]],
            "ready_seconds": [
                round(sample.ready_seconds, 4) for sample in samples[name]
            ],
            "rss_mb": [round(sample.rss_mb, 1) for sample in samples[name]],
            "bare_seconds": [round(sample.seconds, 4) for sample in samples[BARE]],
            "bare_ready_seconds": [
                round(sample.ready_seconds, 4) for sample in samples[BARE]
            ],
            "bare_rss_mb": [round(sample.rss_mb, 1) for sample in samples[BARE]],
        }
        median_note = f"median of {len(samples[name])} cold starts"
        measurements += [
            Measurement(
                SECTION,
                f"{name} cold start",
                statistics.median(sample.seconds for sample in samples[name]),
                "s",
                baseline_name="bare fdk function",
                baseline_value=bare_seconds,
                goal=ratio_at_most(START_GOAL, "bare"),
                note=median_note,
                details=details,
            ),
            Measurement(
                SECTION,
                f"{name} RSS after first call",
                statistics.median(sample.rss_mb for sample in samples[name]),
                "MB",
                baseline_name="bare fdk function",
                baseline_value=bare_rss,
                goal=value_below(RSS_GOAL_MB, "MB"),
                note=median_note,
            ),
        ]

    return measurements


def function_environment(cloud: LocalCloud, name: str) -> dict[str, str]:
    """The environment the local cloud gives a function, config included."""
    identity = "publish-message" if name == BARE else name
    run_dir = cloud.data_dir / "run" / identity
    config: dict[str, str] = {}
    if name != BARE:
        function = cloud.management_client().get_function(cloud.function_id(name))
        config = dict(function.data.config or {})

    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OCI_", "FN_"))
    }
    environment.update(config)
    environment.update(
        {
            "FN_FORMAT": "http-stream",
            "FN_APP_NAME": "ocifn-app",
            "FN_FN_NAME": name,
            "FN_MEMORY": "256",
            "FN_TYPE": "sync",
            "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
            "OCI_RESOURCE_PRINCIPAL_RPST": str(run_dir / "rpst"),
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(run_dir / "private.pem"),
            "OCI_RESOURCE_PRINCIPAL_REGION": cloud.state["region"],
        }
    )
    return environment


def function_directory(name: str) -> Path:
    return BARE_DIRECTORY if name == BARE else ROOT / "functions" / name


def cold_start(name: str, environment: dict[str, str]) -> ColdStart:
    """Start the function's fdk process, call it once, stop it."""
    directory = function_directory(name)
    with tempfile.TemporaryDirectory(prefix="ocifn-cs-") as folder:
        socket_path = Path(folder) / "lsnr.sock"
        environment = {
            **environment,
            "FN_LISTENER": f"unix:{socket_path}",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(directory), environment.get("PYTHONPATH")])
            ),
        }
        with (Path(folder) / "fdk.log").open("wb") as log:
            started = time.perf_counter()
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "fdk"), "func.py", "handler"],
                cwd=directory,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_socket(process, socket_path, Path(folder) / "fdk.log")
            ready_seconds = time.perf_counter() - started
            status, headers, body = asyncio.run(call(socket_path, FIRST_CALLS[name]))
            seconds = time.perf_counter() - started
            rss_mb = resident_mb(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    function_status = headers.get("fn-http-status", str(status))
    if status != 200 or function_status != "200":
        raise RuntimeError(f"{name} answered {function_status}: {body[:300]!r}")

    return ColdStart(seconds, ready_seconds, rss_mb)


def _wait_for_socket(
    process: subprocess.Popen[bytes], socket_path: Path, log_path: Path
) -> None:
    deadline = time.monotonic() + SOCKET_WAIT_SECONDS
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            output = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the fdk process did not open its socket:\n{output}")
        time.sleep(POLL_SECONDS)


async def call(socket_path: Path, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """``POST /call`` on the function's socket, as the Fn agent sends it."""
    headers = call_headers(CALL_TIMEOUT_SECONDS)
    connector = aiohttp.UnixConnector(path=str(socket_path), force_close=True)
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.post("http://localhost/call", data=body, headers=headers) as reply,
    ):
        content = await reply.read()
        reply_headers = {key.lower(): value for key, value in reply.headers.items()}
        return reply.status, reply_headers, content


def import_seconds(statement: str) -> float:
    """Wall time of a fresh interpreter that only runs ``statement``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)

    return time.perf_counter() - started


def resident_mb(pid: int) -> float:
    """The process's resident set size (VmRSS), in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1_000_000

    raise RuntimeError(f"no VmRSS for process {pid}")
