"""The local cloud's server: services and plugins on one loopback port.

Start order: storage, identity, the services and bootstrap, listening, plugins,
the IAM policies (`ocilocal.policies`, read from the deployment's iam folder),
then DIR/state.json (written atomically) and one ready line on stdout. On
SIGINT or SIGTERM the server stops taking requests, the plugins stop, the
server closes and DIR/state.json is deleted, so a script never reads the state
of a cloud that is gone; the data (DIR/cloud.db, keys, DIR/oci/config) stays
for the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ocilocal.bootstrap import bootstrap
from ocilocal.context import Cloud, Plugin
from ocilocal.datalock import DataDirLock
from ocilocal.errors import error_middleware
from ocilocal.identity import Identity
from ocilocal.policies import Policies, placeholder_values
from ocilocal.storage import Storage
from ocilocal.streaming import CURSOR_TTL_SECONDS, Streaming
from ocilocal.vault import Vault

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024

PluginFactory = Callable[[Cloud], Plugin]


def default_iam_dir() -> Path:
    """`deploy/iam` in the current folder, else the repository's own."""
    here = Path.cwd() / "deploy" / "iam"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "deploy" / "iam"


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write state.json atomically (a reader sees the old file or the new one)."""
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(temporary, path)


class Server:
    """One local cloud process."""

    def __init__(
        self,
        cloud: Cloud,
        *,
        partitions: int = 2,
        plugin_factories: list[PluginFactory] | None = None,
        auth: bool = True,
        iam_dir: Path | None = None,
        retention_seconds: float | None = None,
        enforce_limits: bool = False,
        cursor_ttl_seconds: float = CURSOR_TTL_SECONDS,
    ) -> None:
        self.cloud = cloud
        self.partitions = partitions
        self.plugin_factories = plugin_factories or []
        self.auth = auth
        self.iam_dir = iam_dir or default_iam_dir()
        self.retention_seconds = retention_seconds
        self.enforce_limits = enforce_limits
        self.cursor_ttl_seconds = cursor_ttl_seconds
        self.plugins: list[Plugin] = []
        self.runner: web.AppRunner | None = None
        self.lock = DataDirLock(cloud.data_dir)

    @property
    def state_file(self) -> Path:
        return self.cloud.data_dir / "state.json"

    async def start(self) -> None:
        """Bring the cloud up and announce it."""
        cloud = self.cloud
        cloud.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        self.state_file.unlink(missing_ok=True)

        cloud.storage = Storage(cloud.data_dir / "cloud.db")
        cloud.storage.open()
        cloud.identity = Identity(cloud, enabled=self.auth)
        cloud.identity.setup()

        streaming = Streaming(
            cloud,
            retention_seconds=self.retention_seconds,
            enforce_limits=self.enforce_limits,
            cursor_ttl_seconds=self.cursor_ttl_seconds,
        )
        vault = Vault(cloud)
        bootstrap(cloud, streaming, vault, partitions=self.partitions)
        self.plugins = [factory(cloud) for factory in self.plugin_factories]
        policies = Policies.from_directory(
            self.iam_dir, lambda: placeholder_values(cloud)
        )
        logger.info(
            "%d policy statements, %d dynamic groups from %s",
            len(policies.statements),
            len(policies.dynamic_groups),
            self.iam_dir,
        )

        app = web.Application(
            middlewares=[
                error_middleware,
                cloud.identity.middleware,
                policies.middleware,
            ],
            client_max_size=MAX_BODY_BYTES,
        )
        parts: list[Plugin] = [streaming, vault, *self.plugins]
        for part in parts:
            part.add_routes(app)
        # NOTE: bodies arrive as sent; aiohttp would otherwise decode them while
        # parsing and answer an encoding it cannot decode (br, zstd) in plain
        # text before any handler runs. The gateway decodes bodies itself.
        self.runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", cloud.port).start()

        for plugin in self.plugins:
            await plugin.start()
        cloud.state["pid"] = os.getpid()
        write_state(self.state_file, cloud.state)
        print(f"ocilocal ready on {cloud.endpoint} (data {cloud.data_dir})", flush=True)

    async def stop(self) -> None:
        """Stop taking requests, stop plugins, close server and storage, drop state."""
        if not self.lock.held:
            return  # never started: the folder and its state are another's
        if self.runner is not None:
            # no new connections, and kept-alive ones close after their current
            # request, so no call reaches a plugin that is stopping
            for site in list(self.runner.sites):
                await site.stop()
            if self.runner.server is not None:
                self.runner.server.pre_shutdown()
        for plugin in reversed(self.plugins):
            try:
                await plugin.stop()
            except Exception:
                logger.exception("plugin %r failed to stop", plugin)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.cloud.storage is not None:
            self.cloud.storage.close()
        self.state_file.unlink(missing_ok=True)
        self.lock.release()

    async def run(self) -> None:
        """Start, wait for SIGINT or SIGTERM, stop."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        try:
            await self.start()
            await stopping.wait()
        finally:
            await self.stop()
