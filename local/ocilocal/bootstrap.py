"""What the bundle needs at start, created once and kept up to date.

Stream pool DefaultPool with stream `people`; vault `local-vault` with secrets
`stream-connection`, `db-connection` and `greeting`. A secret whose content
should change (the port or the data folder moved) gets a new CURRENT version.
"""

from __future__ import annotations

import json

from ocilocal.context import Cloud
from ocilocal.streaming import Streaming
from ocilocal.vault import Vault

POOL_NAME = "DefaultPool"
STREAM_NAME = "people"
VAULT_NAME = "local-vault"
GREETING = "hello from the local vault"


def bootstrap(
    cloud: Cloud, streaming: Streaming, vault: Vault, *, partitions: int
) -> None:
    """Create the bundle's resources if missing and fill `cloud.state` with them."""
    pool = streaming.ensure_pool(POOL_NAME)
    stream = streaming.ensure_stream(
        STREAM_NAME, partitions=partitions, pool_id=pool["id"]
    )

    local_vault = vault.ensure_vault(VAULT_NAME)
    contents = {
        "stream-connection": {
            "streamMessagesEndpoint": cloud.endpoint,
            "streamOCID": stream["id"],
        },
        "db-connection": {"backend": "sqlite", "path": str(cloud.database_path)},
    }
    secret_ids = {
        name: vault.ensure_secret(
            local_vault["id"], name, json.dumps(content).encode()
        )["id"]
        for name, content in contents.items()
    }
    secret_ids["greeting"] = vault.ensure_secret(
        local_vault["id"], "greeting", GREETING.encode()
    )["id"]

    cloud.state.update(
        {
            "endpoint": cloud.endpoint,
            "gateway": f"{cloud.endpoint}/v1/",
            "region": cloud.region,
            "tenancy_id": cloud.tenancy_id,
            "compartment_id": cloud.compartment_id,
            "config_file": str(cloud.config_file),
            "profile": "DEFAULT",
            "streams": {
                STREAM_NAME: {"id": stream["id"], "messages_endpoint": cloud.endpoint}
            },
            "stream_pool_id": pool["id"],
            "vault_id": local_vault["id"],
            "secrets": secret_ids,
            "functions": {},
            "database": str(cloud.database_path),
        }
    )
