"""The Functions service: one long-lived fdk process per function, and its API.

Each function found under the functions folder runs as the real ``fdk`` entry
point, listening on a unix socket, with its ``func.yaml`` config overlaid with
local values and a resource-principal environment like OCI Functions gives it.
Calls go to ``POST /call`` on that socket, one at a time per process.
With the ``staged_dir`` option (``ocilocal up --functions-from-staged DIR``)
a function's code and libraries come from ``DIR/<name>/function`` and
``DIR/<name>/python`` instead, as ``deploy/install_function.py`` lays them out:
the base interpreter runs with ``-S`` and a clean environment, so nothing but
that folder and the standard library can be imported.

Invoke over the OCI API (``POST /{version}/functions/{id}/actions/invoke``)
answers as OCI Functions does: the container contract allows the fdk only 200,
502 and 504. A 200 is answered 200 whatever ``Fn-Http-Status`` the function
set; that header travels back unchanged, so a caller that cares reads it. A
502 (the function raised) and a 504 (it ran out of time) become OCI errors
with the same status.

drain-stream-to-db may run as several instances (``--drain-instances N``),
separate fdk processes with ``CONSUMER_INSTANCE`` drain-stream-to-db-1..N in
one consumer group, as OCI Functions runs several containers of one function.
An invoke goes to an idle instance; the scheduler fires each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from ocilocal.context import new_ocid
from ocilocal.identity import load_or_create_key, public_pem, write_private
from ocilocal.storage import now_ms
from ocilocal.wire import format_time

logger = logging.getLogger(__name__)

APPLICATION_NAME = "ocifn-app"
SCALED_FUNCTION = "drain-stream-to-db"
API_VERSIONS = ("20181201", "20260325")
DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MEMORY_MB = 128
TOKEN_TTL_SECONDS = 3600
SOCKET_WAIT_SECONDS = 30.0
# A unix socket path must fit in sockaddr_un (108 bytes on Linux).
MAX_SOCKET_PATH = 100
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-authenticate",
    }
)


class FunctionCallError(Exception):
    """A call that did not produce a function reply; ``status`` is 502, 503 or 504.

    503 means the local cloud is stopping and starts no function any more.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CallResult:
    """What the fdk answered: its status (200, 502, 504), headers and body."""

    fdk_status: int
    headers: dict[str, str]
    body: bytes

    @property
    def status(self) -> int:
        """The status the function meant: ``Fn-Http-Status`` if it set one."""
        value = self.headers.get("fn-http-status")
        if self.fdk_status == 200 and value and value.isdigit():
            return int(value)

        return self.fdk_status

    def http_headers(self) -> dict[str, str]:
        """The function's HTTP reply headers, from ``Fn-Http-H-*``."""
        headers = {}
        for key, value in self.headers.items():
            if key.startswith("fn-http-h-"):
                headers[key[len("fn-http-h-") :]] = value
        if "content-type" in self.headers and "content-type" not in headers:
            headers["content-type"] = self.headers["content-type"]
        return headers


@dataclass
class FunctionSpec:
    """One function folder: its code, its func.yaml and its local identity."""

    name: str
    directory: Path
    entrypoint: str = "handler"
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    config: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_directory(cls, directory: Path) -> FunctionSpec:
        """Read ``func.yaml`` (if any) beside ``func.py``."""
        spec = cls(name=directory.name, directory=directory)
        yaml_path = directory / "func.yaml"
        if not yaml_path.is_file():
            return spec

        document = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
        spec.name = str(document.get("name") or directory.name)
        spec.memory_mb = int(document.get("memory") or DEFAULT_MEMORY_MB)
        spec.timeout_seconds = int(document.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        config = document.get("config") or {}
        spec.config = {str(key): str(value) for key, value in config.items()}
        entrypoint = str(document.get("entrypoint") or "").split()
        if len(entrypoint) >= 3:
            spec.entrypoint = entrypoint[-1]
        return spec


def default_functions_dir() -> Path:
    """``functions`` in the current folder, else the repository's own."""
    here = Path.cwd() / "functions"
    if here.is_dir():
        return here

    return Path(__file__).resolve().parents[2] / "functions"


def discover(functions_dir: Path) -> list[FunctionSpec]:
    """Every sub-folder holding a ``func.py``, sorted by name."""
    if not functions_dir.is_dir():
        return []

    return [
        FunctionSpec.from_directory(path)
        for path in sorted(functions_dir.iterdir())
        if (path / "func.py").is_file()
    ]


def call_headers(timeout_seconds: float) -> dict[str, str]:
    """What the Fn agent sends with a call: a new call id and the call's deadline."""
    return {
        "Fn-Call-Id": uuid.uuid4().hex,
        "Fn-Deadline": format_time((time.time() + timeout_seconds) * 1000),
        "Content-Type": "application/octet-stream",
    }


def fdk_executable() -> Path:
    """The ``fdk`` script installed beside the running interpreter."""
    return Path(sys.executable).parent / "fdk"


def base_python() -> str:
    """The interpreter the running one (perhaps a venv's) was made from."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / version
    return str(candidate) if candidate.is_file() else sys.executable


class FunctionProcess:
    """One function's fdk process: start, call over its socket, restart, stop."""

    def __init__(
        self, service: FunctionsService, spec: FunctionSpec, instance: int = 1
    ) -> None:
        self.service = service
        self.spec = spec
        self.instance = instance
        # the first instance keeps the plain names; others get a ".N" suffix
        suffix = "" if instance == 1 else f".{instance}"
        self.run_dir = service.run_dir / f"{spec.name}{suffix}"
        self.socket_path = self._socket_path()
        self.key_path = self.run_dir / "private.pem"
        self.token_path = self.run_dir / "rpst"
        self.log_path = service.logs_dir / f"{spec.name}{suffix}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()
        self._public_pem: bytes | None = None
        self._token_expires = 0.0

    @property
    def ocid(self) -> str:
        return self.service.function_ids[self.spec.name]

    def _socket_path(self) -> Path:
        path = self.run_dir / "lsnr.sock"
        if len(str(path)) + len("phony") <= MAX_SOCKET_PATH:
            return path

        # NOTE: a deep data folder would overflow sockaddr_un; the socket then
        # lives in a short folder of the temp dir, named after the data folder.
        digest = hashlib.sha256(str(self.run_dir).encode()).hexdigest()[:12]
        short = Path(tempfile.gettempdir()) / f"ocilocal-{digest}"
        return short / "lsnr.sock"

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def ensure_credentials(self) -> None:
        """Create the key pair once and keep a fresh token on disk."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._public_pem is None:
            self._public_pem = public_pem(load_or_create_key(self.key_path))
        if time.time() < self._token_expires - self.service.token_ttl / 2:
            return

        token = await self.service.mint_token(self.ocid, self._public_pem)
        write_private(self.token_path, token.encode("ascii"))
        self._token_expires = time.time() + self.service.token_ttl

    def environment(self) -> dict[str, str]:
        """The process environment: config, Fn variables, resource principal."""
        staged = self.staged_dir()
        if staged is not None:
            # a staged install runs alone: nothing of this process's setup
            environment = {
                key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ
            }
            environment["PYTHONPATH"] = os.pathsep.join(
                [str(staged / "function"), str(staged / "python")]
            )
        else:
            environment = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("OCI_", "FN_"))
            }
            python_path = [str(self.spec.directory)]
            if environment.get("PYTHONPATH"):
                python_path.append(environment["PYTHONPATH"])
            environment["PYTHONPATH"] = os.pathsep.join(python_path)

        environment.update(self.spec.config)
        environment.update(self.service.local_config(self.spec.name))
        if self.spec.name == SCALED_FUNCTION:
            environment["CONSUMER_INSTANCE"] = f"{SCALED_FUNCTION}-{self.instance}"
        environment.update(
            {
                "FN_FORMAT": "http-stream",
                "FN_LISTENER": f"unix:{self.socket_path}",
                "FN_APP_NAME": APPLICATION_NAME,
                "FN_APP_ID": self.service.application_id,
                "FN_FN_NAME": self.spec.name,
                "FN_FN_ID": self.ocid,
                "FN_MEMORY": str(self.spec.memory_mb),
                "FN_TYPE": "sync",
                "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
                "OCI_RESOURCE_PRINCIPAL_RPST": str(self.token_path),
                "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(self.key_path),
                "OCI_RESOURCE_PRINCIPAL_REGION": self.service.cloud.region,
            }
        )
        return environment

    def staged_dir(self) -> Path | None:
        """This function's staged install (``python/``, ``function/``), if any."""
        if self.service.staged_dir is None:
            return None

        return self.service.staged_dir / self.spec.name

    def code_dir(self) -> Path:
        """The folder ``func.py`` runs from."""
        staged = self.staged_dir()
        return self.spec.directory if staged is None else staged / "function"

    def command(self) -> list[str]:
        """The fdk entry point; a staged one under the base interpreter, no site."""
        func = str(self.code_dir() / "func.py")
        staged = self.staged_dir()
        if staged is None:
            return [str(fdk_executable()), func, self.spec.entrypoint]

        fdk = str(staged / "python" / "bin" / "fdk")
        return [base_python(), "-S", fdk, func, self.spec.entrypoint]

    def _end_orphan(self) -> None:
        """End a process a killed local cloud left running on this function."""
        pid_path = self.run_dir / "pid"
        if not pid_path.is_file():
            return

        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_path.read_text())
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(self.code_dir() / "func.py").encode() in command_line:
                os.kill(pid, signal.SIGTERM)
        pid_path.unlink(missing_ok=True)

    def refuse_when_stopping(self) -> None:
        """503 once the service stops: a process started now would outlive it."""
        if self.service.stopping:
            raise FunctionCallError(
                503,
                f"function {self.spec.name} is not available: the cloud is stopping",
            )

    async def start(self) -> None:
        """Start the fdk process and wait until its socket answers."""
        self.refuse_when_stopping()
        await self.ensure_credentials()
        self._end_orphan()
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        # fdk leaves its sockets behind when it dies; a stale one fails its bind.
        for stale in (self.socket_path, self.socket_path.with_name("phonylsnr.sock")):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                cwd=str(self.code_dir()),
                env=self.environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

        (self.run_dir / "pid").write_text(str(self.process.pid))
        if self.service.stopping:
            # the service stopped while this process was being made
            await self.stop()
            self.refuse_when_stopping()
        deadline = time.monotonic() + SOCKET_WAIT_SECONDS
        while not self.socket_path.exists():
            if self.process.returncode is not None:
                raise FunctionCallError(
                    502,
                    f"function {self.spec.name} exited with code "
                    f"{self.process.returncode} at start; see {self.log_path.name}",
                )
            if time.monotonic() > deadline:
                await self.stop()
                raise FunctionCallError(
                    502, f"function {self.spec.name} did not open its socket"
                )
            await asyncio.sleep(0.02)
        logger.info("function %s started, pid %s", self.spec.name, self.process.pid)

    async def stop(self) -> None:
        """Terminate the process, killing it if it lingers."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return

        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=5)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def call(self, body: bytes, headers: dict[str, str]) -> CallResult:
        """One call to ``POST /call``, serialised like one Fn container."""
        async with self.lock:
            self.refuse_when_stopping()
            await self.ensure_credentials()
            if not self.running():
                await self.start()
            return await self._post(body, headers)

    async def _post(self, body: bytes, headers: dict[str, str]) -> CallResult:
        timeout = self.spec.timeout_seconds
        request_headers = {**call_headers(timeout), **headers}

        connector = aiohttp.UnixConnector(path=str(self.socket_path), force_close=True)
        client_timeout = aiohttp.ClientTimeout(total=timeout + 1)
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=client_timeout) as s,
                s.post(
                    "http://localhost/call", data=body, headers=request_headers
                ) as r,
            ):
                reply = await r.read()
                reply_headers = {key.lower(): value for key, value in r.headers.items()}
                return CallResult(r.status, reply_headers, reply)
        except TimeoutError as exc:
            # The Fn contract: a container that timed out cannot continue.
            await self.stop()
            raise FunctionCallError(
                504, f"function {self.spec.name} timed out after {timeout}s"
            ) from exc
        except aiohttp.ClientError as exc:
            if self.process is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.process.wait(), timeout=1)
            await self.stop()
            raise FunctionCallError(
                502, f"function {self.spec.name} failed: {exc.__class__.__name__}"
            ) from exc


class FunctionsService:
    """The Functions plugin: registry, processes, OCI API and ``invoke``."""

    def __init__(self, cloud: Any, options: dict[str, Any] | None = None) -> None:
        options = options or {}
        self.cloud = cloud
        self.data_dir = Path(cloud.data_dir)
        self.run_dir = self.data_dir / "run"
        self.logs_dir = self.data_dir / "logs"
        functions_dir = options.get("functions_dir")
        self.functions_dir = (
            Path(functions_dir) if functions_dir else default_functions_dir()
        )
        self.token_ttl = int(options.get("token_ttl") or TOKEN_TTL_SECONDS)
        staged_dir = options.get("staged_dir")
        self.staged_dir = Path(staged_dir) if staged_dir else None
        self.specs = {spec.name: spec for spec in discover(self.functions_dir)}
        self.application_id = ""
        self.function_ids: dict[str, str] = {}
        self.created: dict[str, str] = {}
        self.drain_instances = int(options.get("drain_instances") or 1)
        self.processes: dict[str, FunctionProcess] = {}
        self.instances: dict[str, list[FunctionProcess]] = {}
        self._turn: dict[str, int] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.stopping = False
        _SERVICES[id(cloud)] = self

    # registry

    def _load_registry(self) -> None:
        """Give the application and each function an OCID that survives restarts."""
        path = self.run_dir / "registry.json"
        registry: dict[str, Any] = {}
        if path.is_file():
            registry = json.loads(path.read_text(encoding="utf-8"))

        self.application_id = registry.get("application_id") or new_ocid("fnapp")
        self.function_ids = dict(registry.get("functions") or {})
        self.created = dict(registry.get("created") or {})
        self.created.setdefault(APPLICATION_NAME, format_time(now_ms()))
        for name in self.specs:
            self.function_ids.setdefault(name, new_ocid("fnfunc"))
            self.created.setdefault(name, format_time(now_ms()))

        self.run_dir.mkdir(parents=True, exist_ok=True)
        registry = {
            "application_id": self.application_id,
            "functions": self.function_ids,
            "created": self.created,
        }
        path.write_text(json.dumps(registry, indent=2) + "\n", encoding="utf-8")

    def local_config(self, name: str) -> dict[str, str]:
        """The local values laid over a function's func.yaml config."""
        state = self.cloud.state
        secrets = state.get("secrets") or {}
        endpoint = self.cloud.endpoint
        if name == "publish-message":
            stream = (state.get("streams") or {}).get("people") or {}
            return {
                "STREAM_OCID": stream.get("id", ""),
                "STREAM_MESSAGES_ENDPOINT": stream.get("messages_endpoint", endpoint),
            }
        if name == "drain-stream-to-db":
            return {
                "STREAM_SECRET_OCID": secrets.get("stream-connection", ""),
                "DB_SECRET_OCID": secrets.get("db-connection", ""),
                "SECRETS_ENDPOINT": endpoint,
            }
        if name == "read-secret":
            return {
                "VAULT_OCID": state.get("vault_id", ""),
                "SECRETS_ENDPOINT": endpoint,
            }
        return {}

    async def mint_token(self, function_id: str, public_pem: bytes) -> str:
        """Ask identity for a resource-principal token for this key."""
        identity = getattr(self.cloud, "identity", None)
        mint = getattr(identity, "mint_resource_principal_token", None)
        if mint is None:
            raise RuntimeError(
                "the local cloud has no identity to mint resource-principal tokens"
            )
        token = mint(
            function_id,
            "fnfunc",
            self.cloud.compartment_id,
            public_pem,
            self.token_ttl,
        )
        if inspect.isawaitable(token):
            token = await token
        return str(token)

    # plugin

    def add_routes(self, app: web.Application) -> None:
        for version in API_VERSIONS:
            base = f"/{version}"
            app.router.add_get(f"{base}/applications", self.list_applications)
            app.router.add_get(
                f"{base}/applications/{{applicationId}}", self.get_application
            )
            app.router.add_get(f"{base}/functions", self.list_functions)
            app.router.add_get(f"{base}/functions/{{functionId}}", self.get_function)
            app.router.add_post(
                f"{base}/functions/{{functionId}}/actions/invoke", self.invoke_endpoint
            )

    async def start(self) -> None:
        """Register the functions, start their processes, record the OCIDs."""
        self._load_registry()
        self.instances = {
            name: [
                FunctionProcess(self, spec, instance)
                for instance in range(1, self.instance_count(name) + 1)
            ]
            for name, spec in self.specs.items()
        }
        self.processes = {name: group[0] for name, group in self.instances.items()}
        every = self.all_processes()
        results = await asyncio.gather(
            *(process.start() for process in every), return_exceptions=True
        )
        for process, result in zip(every, results, strict=True):
            if isinstance(result, BaseException):
                logger.error(
                    "function %s (instance %d) did not start: %s",
                    process.spec.name,
                    process.instance,
                    result,
                )

        self.cloud.state["application_id"] = self.application_id
        self.cloud.state["functions"] = {
            name: self.function_ids[name] for name in self.specs
        }
        self._refresher = asyncio.create_task(self._refresh_tokens())

    async def stop(self) -> None:
        """Refuse calls from now on, then end every function process."""
        self.stopping = True
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(
            *(process.stop() for process in self.all_processes()),
            return_exceptions=True,
        )

    def instance_count(self, name: str) -> int:
        """How many instances of a function run (only the drain scales)."""
        return self.drain_instances if name == SCALED_FUNCTION else 1

    def all_processes(self) -> list[FunctionProcess]:
        """Every instance of every function."""
        return [process for group in self.instances.values() for process in group]

    async def _refresh_tokens(self) -> None:
        """Rewrite each token file well before it expires."""
        interval = max(1.0, self.token_ttl / 4)
        while True:
            await asyncio.sleep(interval)
            for process in self.all_processes():
                try:
                    await process.ensure_credentials()
                except Exception:
                    logger.exception("token refresh for %s failed", process.spec.name)

    # calls

    def name_of(self, function_id: str) -> str | None:
        """The function name for an OCID, or None."""
        for name, ocid in self.function_ids.items():
            if ocid == function_id and name in self.processes:
                return name
        return None

    async def call(
        self,
        name: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        instance: int | None = None,
    ) -> CallResult:
        """Call a function by name; raises FunctionCallError on 502/504-type failure.

        ``instance`` (1-based) picks one instance; by default an idle one.
        """
        group = self.instances.get(name)
        if not group:
            raise KeyError(name)
        if instance is not None:
            process = group[instance - 1]
        else:
            process = self._pick(name, group)

        return await process.call(body, headers or {})

    def _pick(self, name: str, group: list[FunctionProcess]) -> FunctionProcess:
        """An idle instance if there is one, else the next in turn."""
        turn = self._turn.get(name, 0)
        self._turn[name] = turn + 1
        ordered = group[turn % len(group) :] + group[: turn % len(group)]
        for process in ordered:
            if not process.lock.locked():
                return process
        return ordered[0]

    async def invoke(
        self,
        name: str,
        body: bytes,
        *,
        http: dict[str, Any] | None = None,
        instance: int | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Invoke a function; ``http`` (method, url, headers) makes it an HTTP call.

        Returns the status the function meant (``Fn-Http-Status`` when set),
        its headers (for an HTTP call, the decoded ``Fn-Http-H-*`` ones) and
        its body. A crash answers 502 and a timeout 504, with a JSON error.
        """
        headers: dict[str, str] = {}
        if http is not None:
            headers = http_intent_headers(
                http.get("method", "GET"), http.get("url", "/"), http.get("headers")
            )
        try:
            result = await self.call(name, body, headers, instance=instance)
        except KeyError:
            return error_reply(404, "NotFound", f"no function named {name}")
        except FunctionCallError as exc:
            codes = {503: "ServiceUnavailable", 504: "FunctionTimedOut"}
            return error_reply(
                exc.status, codes.get(exc.status, "FunctionFailed"), exc.message
            )

        if result.fdk_status != 200:
            code = "FunctionTimedOut" if result.fdk_status == 504 else "FunctionFailed"
            message = result.body.decode("utf-8", "replace")[:500]
            return error_reply(result.fdk_status, code, message)
        if http is not None:
            return result.status, result.http_headers(), result.body
        return result.status, result.headers, result.body

    # OCI API

    def _application_model(self) -> dict[str, Any]:
        created = self.created.get(APPLICATION_NAME, format_time(now_ms()))
        return {
            "id": self.application_id,
            "compartmentId": self.cloud.compartment_id,
            "displayName": APPLICATION_NAME,
            "lifecycleState": "ACTIVE",
            "config": {},
            "subnetIds": [],
            "networkSecurityGroupIds": [],
            "shape": "GENERIC_X86",
            "freeformTags": {},
            "definedTags": {},
            "timeCreated": created,
            "timeUpdated": created,
        }

    def _function_model(self, name: str) -> dict[str, Any]:
        spec = self.specs[name]
        created = self.created.get(name, format_time(now_ms()))
        return {
            "id": self.function_ids[name],
            "displayName": name,
            "lifecycleState": "ACTIVE",
            "applicationId": self.application_id,
            "compartmentId": self.cloud.compartment_id,
            "shape": "GENERIC_X86",
            "memoryInMBs": spec.memory_mb,
            "timeoutInSeconds": spec.timeout_seconds,
            "config": {**spec.config, **self.local_config(name)},
            "invokeEndpoint": self.cloud.endpoint,
            "freeformTags": {},
            "definedTags": {},
            "timeCreated": created,
            "timeUpdated": created,
        }

    async def list_applications(self, request: web.Request) -> web.Response:
        application = self._application_model()
        wanted = request.query.get("displayName")
        compartment = request.query.get("compartmentId")
        items = [application]
        if wanted and wanted != application["displayName"]:
            items = []
        if compartment and compartment != application["compartmentId"]:
            items = []
        return oci_json(items)

    async def get_application(self, request: web.Request) -> web.Response:
        if request.match_info["applicationId"] != self.application_id:
            return oci_not_found("application")

        return oci_json(self._application_model())

    async def list_functions(self, request: web.Request) -> web.Response:
        application_id = request.query.get("applicationId")
        if not application_id:
            return oci_error(400, "MissingParameter", "applicationId is required")
        if application_id != self.application_id:
            return oci_json([])

        wanted = request.query.get("displayName")
        items = [
            self._function_model(name)
            for name in self.processes
            if not wanted or wanted == name
        ]
        return oci_json(items)

    async def get_function(self, request: web.Request) -> web.Response:
        name = self.name_of(request.match_info["functionId"])
        if name is None:
            return oci_not_found("function")

        return oci_json(self._function_model(name))

    async def invoke_endpoint(self, request: web.Request) -> web.StreamResponse:
        """``InvokeFunction`` as OCI answers it (see the module docstring)."""
        name = self.name_of(request.match_info["functionId"])
        if name is None:
            return oci_not_found("function")
        body = await request.read()
        if request.headers.get("is-dry-run", "").lower() == "true":
            return web.Response(status=200, headers=request_id_header(request))

        headers = {
            "Content-Type": request.headers.get(
                "Content-Type", "application/octet-stream"
            )
        }
        intent = request.headers.get("fn-intent")
        if intent:
            headers["Fn-Intent"] = intent
        if request.headers.get("fn-invoke-type", "sync").lower() == "detached":
            task = asyncio.create_task(self._detached(name, body, headers))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return web.Response(status=202, headers=request_id_header(request))

        try:
            result = await self.call(name, body, headers)
        except FunctionCallError as exc:
            codes = {503: "ServiceUnavailable", 504: "FunctionInvokeTimeout"}
            return oci_error(
                exc.status, codes.get(exc.status, "FunctionFailed"), exc.message
            )
        if result.fdk_status == 504:
            return oci_error(504, "FunctionInvokeTimeout", "function timed out")
        if result.fdk_status != 200:
            return oci_error(502, "FunctionFailed", "function failed")

        reply_headers = {
            key: value
            for key, value in result.headers.items()
            if key not in HOP_BY_HOP and key != "content-type"
        }
        reply_headers.update(request_id_header(request))
        response = web.Response(status=200, body=result.body, headers=reply_headers)
        if "content-type" in result.headers:
            response.headers["Content-Type"] = result.headers["content-type"]
        return response

    async def _detached(self, name: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            await self.call(name, body, headers)
        except Exception:
            logger.exception("detached call to %s failed", name)


def http_intent_headers(
    method: str, url: str, headers: Any | None = None
) -> dict[str, str]:
    """The headers of an HTTP-intent call, as a gateway sends them to the fdk."""
    call_headers = {
        "Fn-Intent": "httprequest",
        "Fn-Http-Method": method.upper(),
        "Fn-Http-Request-Url": url,
    }
    for key, value in (headers or {}).items():
        lower = key.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == "content-type":
            call_headers["Content-Type"] = value
        call_headers[f"Fn-Http-H-{key}"] = value
    return call_headers


def error_reply(
    status: int, code: str, message: str
) -> tuple[int, dict[str, str], bytes]:
    """A JSON error in the bundle's shape, as an ``invoke`` result."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"content-type": "application/json"}, body


def request_id_header(request: web.Request) -> dict[str, str]:
    return {"opc-request-id": request.headers.get("opc-request-id", uuid.uuid4().hex)}


def oci_json(document: Any) -> web.Response:
    return web.json_response(document, headers={"opc-request-id": uuid.uuid4().hex})


def oci_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message},
        status=status,
        headers={"opc-request-id": uuid.uuid4().hex},
    )


def oci_not_found(kind: str) -> web.Response:
    return oci_error(
        404, "NotAuthorizedOrNotFound", f"{kind} not found or not authorized"
    )


_SERVICES: dict[int, FunctionsService] = {}


def service_for(cloud: Any) -> FunctionsService | None:
    """The Functions service of a cloud, for the gateway and the scheduler."""
    return _SERVICES.get(id(cloud))


def create_plugin(cloud: Any, options: dict[str, Any]) -> FunctionsService:
    """The Functions plugin for ``ocilocal up``."""
    return FunctionsService(cloud, options)
