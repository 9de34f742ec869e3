"""Runs the Functions, gateway and scheduler plugins on a loopback port.

The functions are the tiny fdk functions under ``tests/local/data``. Identity
is a stand-in that hands out a plain token: these functions never call OCI,
and the token's own checks belong to identity's tests.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from ocilocal import functions, gateway, scheduler
from ocilocal.context import Cloud
from ocilocal.identity import load_or_create_key
from ocilocal.launcher import free_port

DATA = Path(__file__).parent / "data"
COMPARTMENT_ID = "ocid1.compartment.oc1..localtests"


@dataclass
class StandInIdentity:
    """Records each token request and answers a numbered token."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    def mint_resource_principal_token(
        self,
        resource_id: str,
        resource_type: str,
        compartment_id: str,
        public_key_pem: bytes,
        ttl_seconds: int,
    ) -> str:
        self.requests.append(
            {
                "resource_id": resource_id,
                "resource_type": resource_type,
                "compartment_id": compartment_id,
                "public_key_pem": public_key_pem,
                "ttl_seconds": ttl_seconds,
            }
        )
        return f"token-{len(self.requests)}"


@dataclass
class Harness:
    cloud: Cloud
    identity: StandInIdentity
    functions: functions.FunctionsService
    gateway: gateway.Gateway
    scheduler: scheduler.Scheduler

    @property
    def endpoint(self) -> str:
        return self.cloud.endpoint


def write_spec(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")


@asynccontextmanager
async def running_cloud(
    root: Path, *, drain_every: float = 0, token_ttl: int = 3600
) -> AsyncIterator[Harness]:
    """Start the three plugins against the test functions; stop them after."""
    identity = StandInIdentity()
    cloud = Cloud(
        data_dir=root / "data",
        port=free_port(),
        tenancy_id="ocid1.tenancy.oc1..localtests",
        compartment_id=COMPARTMENT_ID,
        identity=identity,
    )
    options = {
        "functions_dir": str(DATA),
        "deploy_dir": str(root / "deploy"),
        "drain_every": drain_every,
        "token_ttl": token_ttl,
    }
    harness = Harness(
        cloud,
        identity,
        functions.create_plugin(cloud, options),
        gateway.create_plugin(cloud, options),
        scheduler.create_plugin(cloud, options),
    )
    plugins = (harness.functions, harness.gateway, harness.scheduler)

    app = web.Application()
    for plugin in plugins:
        plugin.add_routes(app)
    # as the server runs it: bodies as sent, the gateway decodes them
    runner = web.AppRunner(app, auto_decompress=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", cloud.port).start()
    try:
        for plugin in plugins:
            await plugin.start()
        yield harness
    finally:
        for plugin in reversed(plugins):
            await plugin.stop()
        await runner.cleanup()


def sdk_config(directory: Path) -> dict[str, str]:
    """An API-key profile with a throwaway key, as a CLI user would have."""
    key_file = directory / "sdk_key.pem"
    load_or_create_key(key_file)
    return {
        "user": "ocid1.user.oc1..localtests",
        "tenancy": "ocid1.tenancy.oc1..localtests",
        "fingerprint": "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
        "key_file": str(key_file),
        "region": "us-ashburn-1",
    }
