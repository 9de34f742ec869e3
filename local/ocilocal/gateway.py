"""The API gateway deployment: public routes under ``/v1`` backed by functions.

Routes come from ``deploy/gateway/deployment.json`` (or ``.yaml``) when that
file exists, in the shape of an OCI API Gateway deployment specification
(``routes`` of ``path``, ``methods`` and an ``ORACLE_FUNCTIONS_BACKEND``);
otherwise ``POST /messages`` goes to publish-message and
``GET /secrets/{name}`` to read-secret. The prefix stays ``/v1`` either way.
Calls are HTTP-intent calls: the reply takes its status from
``Fn-Http-Status`` and its headers from ``Fn-Http-H-*``. Like a public
gateway, nothing here is signed.

Every reply of the gateway's own is JSON, ``{"error": {"code", "message"}}``:
404 for a path no route matches (any path under ``/v1``, even one holding a
newline), 405, 413, 502 for a function not deployed, and for the body: a
``Content-Encoding`` of gzip or deflate is decoded here (400 when it does not
decode, 413 when it decodes to more than the server takes), any other coding
is refused with 415.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ocilocal import functions
from ocilocal.server import MAX_BODY_BYTES

logger = logging.getLogger(__name__)

PREFIX = "/v1"
DEFAULT_ROUTES = (
    ("/messages", ("POST",), "publish-message"),
    ("/secrets/{name}", ("GET",), "read-secret"),
)
SPEC_NAMES = ("deployment.json", "deployment.yaml", "deployment.yml")
GZIP_WBITS = 16 + zlib.MAX_WBITS


@dataclass(frozen=True)
class Route:
    """One gateway route: a path template, its methods, its backend function."""

    path: str
    methods: tuple[str, ...]
    function: str
    pattern: re.Pattern[str]

    @classmethod
    def build(cls, path: str, methods: tuple[str, ...], function: str) -> Route:
        """Compile ``/a/{name}`` (one segment) and ``/a/{rest*}`` (the rest)."""
        regex = ""
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{") and part.endswith("}"):
                name = part[1:-1]
                if name.endswith("*"):
                    regex += f"(?P<{name[:-1]}>[\\s\\S]*)"
                else:
                    regex += f"(?P<{name}>[^/]+)"
            else:
                regex += re.escape(part)
        upper = tuple(method.upper() for method in methods) or ("ANY",)
        return cls(path, upper, function, re.compile(f"{regex}/?"))

    def matches(self, path: str) -> bool:
        """Whether the whole path fits the template (a newline is no end)."""
        return self.pattern.fullmatch(path) is not None

    def allows(self, method: str) -> bool:
        return "ANY" in self.methods or method.upper() in self.methods


def default_deploy_dir() -> Path:
    """``deploy`` in the current folder, else the repository's own."""
    here = Path.cwd() / "deploy"
    if (here / "gateway").is_dir():
        return here

    return Path(__file__).resolve().parents[2] / "deploy"


def backend_function(backend: dict[str, Any], known: dict[str, str]) -> str | None:
    """The function name a route's backend points at, by OCID or by name."""
    for key in ("functionName", "function", "name"):
        if backend.get(key) in known:
            return str(backend[key])
    function_id = str(backend.get("functionId") or "")
    for name, ocid in known.items():
        if function_id == ocid:
            return name

    # A spec kept in the repository names its functions through placeholders,
    # such as ${PUBLISH_MESSAGE_FUNCTION_ID}; match on the function's name.
    normalised = function_id.lower().replace("_", "-")
    matches = [name for name in known if name in normalised]
    return max(matches, key=len) if matches else None


def load_routes(spec_path: Path, known: dict[str, str]) -> list[Route]:
    """Routes from a deployment specification file."""
    text = spec_path.read_text(encoding="utf-8")
    document = json.loads(text) if spec_path.suffix == ".json" else yaml.safe_load(text)
    document = document or {}
    specification = document.get("specification", document)
    routes = []
    for entry in specification.get("routes") or []:
        function = backend_function(entry.get("backend") or {}, known)
        if function is None:
            logger.warning("gateway route %s has no known function", entry.get("path"))
            continue
        methods = tuple(entry.get("methods") or ("ANY",))
        routes.append(Route.build(str(entry["path"]), methods, function))
    return routes


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status
    )


class BodyRefused(Exception):
    """A request body the gateway cannot pass on: its status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def reply(self) -> web.Response:
        return json_error(self.status, self.code, self.message)


def decode_body(body: bytes, content_encoding: str, *, limit: int) -> bytes:
    """The body with its Content-Encoding undone (gzip, deflate), at most `limit`."""
    codings = [part.strip().lower() for part in content_encoding.split(",")]
    for coding in reversed([part for part in codings if part]):
        if coding == "identity" or not body:
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise BodyRefused(
                415,
                "UnsupportedContentEncoding",
                f"Content-Encoding {coding} is not supported; send gzip, deflate"
                " or an unencoded body",
            )
        body = _inflate(body, coding, limit)
    return body


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    """Decompress one coding; gzip may hold several members, one after another."""
    if coding == "deflate":
        # NOTE: deflate is zlib-wrapped (RFC 9110), but some clients send it
        # raw; the first byte tells which, as aiohttp itself decides.
        wbits = zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        wbits = GZIP_WBITS

    decoded = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits)
        try:
            decoded += inflater.decompress(data, limit + 1 - len(decoded))
        except zlib.error as exc:
            raise BodyRefused(
                400, "InvalidBody", f"the body is not valid {coding} data"
            ) from exc
        if len(decoded) > limit:
            raise BodyRefused(
                413, "PayloadTooLarge", "the decoded body is over the gateway's limit"
            )
        if not inflater.eof:
            raise BodyRefused(
                400, "InvalidBody", f"the body ends inside its {coding} data"
            )
        data = inflater.unused_data
        if data and coding == "deflate":
            raise BodyRefused(
                400, "InvalidBody", "the body goes on after its deflate data"
            )
    return bytes(decoded)


class Gateway:
    """The gateway plugin: one catch-all handler under ``/v1``."""

    def __init__(self, cloud: Any, options: dict[str, Any] | None = None) -> None:
        options = options or {}
        self.cloud = cloud
        deploy_dir = options.get("deploy_dir")
        self.deploy_dir = Path(deploy_dir) if deploy_dir else default_deploy_dir()
        self._spec_seen: tuple[Path, float] | None = None
        self._routes: list[Route] = []

    @property
    def base_url(self) -> str:
        return f"{self.cloud.endpoint}{PREFIX}/"

    def add_routes(self, app: web.Application) -> None:
        # [\s\S], not ".": a path holding a newline is still the gateway's
        app.router.add_route("*", PREFIX + "/{tail:[\\s\\S]*}", self.handle)

    async def start(self) -> None:
        self.cloud.state.setdefault("gateway", self.base_url)
        self.routes()

    async def stop(self) -> None:
        return None

    def spec_path(self) -> Path | None:
        for name in SPEC_NAMES:
            path = self.deploy_dir / "gateway" / name
            if path.is_file():
                return path
        return None

    def routes(self) -> list[Route]:
        """The current routes, re-read when the specification file changes."""
        path = self.spec_path()
        if path is None:
            self._spec_seen = None
            return [Route.build(*route) for route in DEFAULT_ROUTES]

        seen = (path, path.stat().st_mtime)
        if seen != self._spec_seen:
            known = dict(self.cloud.state.get("functions") or {})
            try:
                self._routes = load_routes(path, known)
            except (OSError, ValueError, KeyError, yaml.YAMLError) as exc:
                logger.error("gateway specification %s unusable: %s", path.name, exc)
                self._routes = [Route.build(*route) for route in DEFAULT_ROUTES]
            self._spec_seen = seen
        return self._routes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Match a route, call its function over HTTP intent, relay the reply."""
        path = "/" + request.match_info["tail"]
        candidates = [route for route in self.routes() if route.matches(path)]
        if not candidates:
            return json_error(404, "NotFound", f"no route for {path}")
        route = next((r for r in candidates if r.allows(request.method)), None)
        if route is None:
            return json_error(405, "MethodNotAllowed", f"{request.method} {path}")

        service = functions.service_for(self.cloud)
        if service is None or route.function not in service.processes:
            return json_error(
                502, "BackendUnavailable", f"function {route.function} is not deployed"
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return json_error(
                413, "PayloadTooLarge", "the body is over the gateway's size limit"
            )
        headers = dict(request.headers)
        encoding = request.headers.get("Content-Encoding")
        if encoding is not None:
            try:
                body = decode_body(body, encoding, limit=MAX_BODY_BYTES)
            except BodyRefused as refused:
                return refused.reply()
            # the function gets the body decoded, so no coding travels with it
            headers = {
                key: value
                for key, value in headers.items()
                if key.lower() != "content-encoding"
            }
        http = {
            "method": request.method,
            # the path and query asked for, as OCI's gateway passes them; the
            # Host header is the client's own and no part of it
            "url": str(request.rel_url),
            "headers": headers,
        }
        status, headers, reply = await service.invoke(route.function, body, http=http)

        response = web.Response(status=status, body=reply)
        for key, value in headers.items():
            if key.lower() in functions.HOP_BY_HOP:
                continue
            if key.lower() == "content-type":
                response.headers["Content-Type"] = value
            else:
                response.headers.add(key, value)
        return response


def create_plugin(cloud: Any, options: dict[str, Any]) -> Gateway:
    """The gateway plugin for ``ocilocal up``."""
    return Gateway(cloud, options)
