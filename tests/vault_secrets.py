"""Secrets made in a local cloud's vault through the OCI SDK's VaultsClient."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from oci.vault.models import (
    Base64SecretContentDetails,
    CreateSecretDetails,
    UpdateSecretDetails,
)

KEY_ID = "ocid1.key.oc1.iad.local"


def new_secret_name() -> str:
    """A secret name no other test uses."""
    return f"test-{uuid.uuid4().hex[:8]}"


def create_secret(
    vaults_client: Any, state: dict, content: bytes, *, name: str | None = None
) -> str:
    """A new secret holding ``content`` in the cloud's vault; its OCID."""
    details = CreateSecretDetails(
        compartment_id=state["compartment_id"],
        vault_id=state["vault_id"],
        secret_name=name or new_secret_name(),
        key_id=KEY_ID,
        secret_content=Base64SecretContentDetails(
            content_type="BASE64", content=base64.b64encode(content).decode()
        ),
    )

    return vaults_client.create_secret(details).data.id


def new_version(
    vaults_client: Any, secret_id: str, content: bytes, *, stage: str = "CURRENT"
) -> Any:
    """Add ``content`` as a new version in ``stage``; the updated secret."""
    details = UpdateSecretDetails(
        secret_content=Base64SecretContentDetails(
            content_type="BASE64",
            content=base64.b64encode(content).decode(),
            stage=stage,
        )
    )

    return vaults_client.update_secret(secret_id, details).data
