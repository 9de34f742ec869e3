"""What every part of the local cloud shares: the `Cloud` and the `Plugin` protocol."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web

    from ocilocal.identity import Identity
    from ocilocal.storage import Storage

REGION = "us-ashburn-1"
REGION_KEY = "iad"


def new_ocid(resource_type: str, *, regional: bool = True) -> str:
    """Return a fresh OCID shaped like OCI's, e.g. `ocid1.stream.oc1.iad.<random>`."""
    region_part = REGION_KEY if regional else ""
    return f"ocid1.{resource_type}.oc1.{region_part}.amaaaaaa{secrets.token_hex(26)}"


@dataclass
class Cloud:
    """One running local cloud: where it keeps data, how it is reached, its parts."""

    data_dir: Path
    port: int
    region: str = REGION
    tenancy_id: str = ""
    compartment_id: str = ""
    storage: Storage | None = None
    identity: Identity | None = None
    state: dict[str, Any] = field(default_factory=dict)
    endpoint: str = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def require_storage(self) -> Storage:
        """The cloud's storage; RuntimeError when the server has not set it up."""
        if self.storage is None:
            raise RuntimeError("the local cloud's storage is not set up yet")
        return self.storage

    @property
    def database_path(self) -> Path:
        """The application's database (not the cloud's own state)."""
        return self.data_dir / "app.db"

    @property
    def config_file(self) -> Path:
        """The OCI config file with the API-key profile for SDK and CLI."""
        return self.data_dir / "oci" / "config"


class Plugin(Protocol):
    """A part of the local cloud added at start: routes plus a lifecycle."""

    def add_routes(self, app: web.Application) -> None:
        """Register this part's routes on the server's application."""

    async def start(self) -> None:
        """Start after the services are ready; may fill `cloud.state`."""

    async def stop(self) -> None:
        """Stop on shutdown, before the server closes."""
