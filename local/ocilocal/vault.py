"""OCI Vault: secret bundles (what functions read) and secret management.

Secret bundles follow the SDK's SecretsClient (API version 20190301); secrets and
vaults follow VaultsClient and KmsVaultClient (20180608). Content is always
BASE64. A version's stages are derived: CURRENT (the secret's current version),
LATEST (the newest), PREVIOUS (the one current before), PENDING (added as
pending and not yet promoted) and DEPRECATED (all others).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from ocilocal.context import Cloud, new_ocid
from ocilocal.errors import BadRequest, Conflict, NotFound
from ocilocal.policies import requires
from ocilocal.storage import Row, Storage
from ocilocal.wire import Fields, format_time, json_reply, query_int, read_fields

BUNDLES = "/20190301/secretbundles"
MANAGEMENT = "/20180608"
STAGES = {"CURRENT", "PENDING", "LATEST", "PREVIOUS", "DEPRECATED"}


def version_stages(secret: Row, version: Row, latest: int) -> list[str]:
    """The stages of one version of a secret."""
    number = version["version_number"]
    stages = []
    if number == secret["current_version"]:
        stages.append("CURRENT")
    if version["pending"] and number != secret["current_version"]:
        stages.append("PENDING")
    if number == latest:
        stages.append("LATEST")
    if number == secret["previous_version"]:
        stages.append("PREVIOUS")
    return stages or ["DEPRECATED"]


def secret_attributes(secret: Row) -> dict[str, str]:
    """The policy attributes of a secret."""
    return {
        "target.secret.id": secret["id"],
        "target.secret.name": secret["name"],
        "target.vault.id": secret["vault_id"],
        "target.compartment.id": secret["compartment_id"],
    }


def secret_target(service: Vault, request: web.Request) -> dict[str, str]:
    """The policy attributes of the secret a request names by OCID."""
    return secret_attributes(service._secret(request.match_info["secretId"]))


def named_secret_target(service: Vault, request: web.Request) -> dict[str, str]:
    """The policy attributes of the secret a request names by vault and name."""
    name = request.query.get("secretName", "")
    vault_id = request.query.get("vaultId", "")
    secret = service.storage.secret_by_name(vault_id, name)
    if secret is not None:
        return secret_attributes(secret)
    vault = service.storage.vault(vault_id)
    return {
        "target.secret.name": name,
        "target.vault.id": vault_id,
        "target.compartment.id": vault["compartment_id"] if vault else "",
    }


def vault_target(service: Vault, request: web.Request) -> dict[str, str]:
    """The policy attributes of the vault a request names."""
    vault = service.storage.vault(request.match_info["vaultId"])
    if vault is None:
        raise NotFound("Vault not found or not authorized.")
    return {
        "target.vault.id": vault["id"],
        "target.compartment.id": vault["compartment_id"],
    }


def compartment_target(service: Vault, request: web.Request) -> dict[str, str]:
    """The policy attributes of a list: the compartment asked about."""
    return {"target.compartment.id": request.query.get("compartmentId", "")}


class Vault:
    """The Vault service: secret bundles plus secret and vault management."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.storage: Storage = cloud.require_storage()

    def add_routes(self, app: web.Application) -> None:
        """Register the Vault routes."""
        app.router.add_get(f"{BUNDLES}/{{secretId}}", self.get_secret_bundle)
        app.router.add_get(
            f"{BUNDLES}/{{secretId}}/versions", self.list_bundle_versions
        )
        app.router.add_post(f"{BUNDLES}/actions/getByName", self.get_bundle_by_name)

        secrets = f"{MANAGEMENT}/secrets"
        app.router.add_post(secrets, self.create_secret)
        app.router.add_get(secrets, self.list_secrets)
        app.router.add_get(f"{secrets}/{{secretId}}", self.get_secret)
        app.router.add_put(f"{secrets}/{{secretId}}", self.update_secret)
        app.router.add_get(f"{secrets}/{{secretId}}/versions", self.list_versions)
        app.router.add_get(
            f"{secrets}/{{secretId}}/version/{{versionNumber}}", self.get_version
        )
        app.router.add_get(f"{MANAGEMENT}/vaults/{{vaultId}}", self.get_vault)
        app.router.add_get(f"{MANAGEMENT}/vaults", self.list_vaults)

    async def start(self) -> None:
        """Nothing to start: state lives in storage."""

    async def stop(self) -> None:
        """Nothing to stop."""

    # used at start

    def ensure_vault(self, name: str) -> Row:
        """The vault called `name`, created if missing."""
        for vault in self.storage.vaults():
            if vault["name"] == name:
                return vault
        return self.storage.create_vault(
            new_ocid("vault"), name, self.cloud.compartment_id
        )

    def ensure_secret(self, vault_id: str, name: str, content: bytes) -> Row:
        """The secret `name` holding `content`: created, or given a new version."""
        encoded = base64.b64encode(content).decode()
        secret = self.storage.secret_by_name(vault_id, name)
        if secret is None:
            return self.storage.create_secret(
                new_ocid("vaultsecret"),
                name,
                vault_id=vault_id,
                compartment_id=self.cloud.compartment_id,
                content=encoded,
            )
        if self._version(secret, stage="CURRENT")["content"] != encoded:
            self.storage.add_secret_version(secret["id"], encoded)
        return self._secret(secret["id"])

    # lookups

    def _secret(self, secret_id: str) -> Row:
        secret = self.storage.secret(secret_id)
        if secret is None:
            raise NotFound("Secret not found or not authorized.")
        return secret

    def _version(
        self,
        secret: Row,
        *,
        number: int | None = None,
        name: str | None = None,
        stage: str | None = None,
    ) -> Row:
        """The version matching every selector given; CURRENT when none is."""
        if stage is not None and stage not in STAGES:
            raise BadRequest(f"stage must be one of {sorted(STAGES)}.")
        if number is None and name is None and stage is None:
            stage = "CURRENT"

        versions = self.storage.secret_versions(secret["id"])
        latest = versions[0]["version_number"]
        for version in versions:
            if number is not None and version["version_number"] != number:
                continue
            if name is not None and version["name"] != name:
                continue
            if stage is not None and stage not in version_stages(
                secret, version, latest
            ):
                continue
            return version
        raise NotFound("Secret version not found or not authorized.")

    def _selected_version(self, request: web.Request, secret: Row) -> Row:
        return self._version(
            secret,
            number=query_int(request, "versionNumber"),
            name=request.query.get("secretVersionName"),
            stage=request.query.get("stage"),
        )

    # secret bundles

    def bundle_json(self, secret: Row, version: Row) -> dict[str, Any]:
        """A secret version in the shape of the SDK's SecretBundle."""
        latest = self.storage.secret_versions(secret["id"])[0]["version_number"]
        return {
            "secretId": secret["id"],
            "timeCreated": format_time(version["time_created"]),
            "versionNumber": version["version_number"],
            "versionName": version["name"],
            "secretBundleContent": {
                "contentType": "BASE64",
                "content": version["content"],
            },
            "stages": version_stages(secret, version, latest),
            "metadata": json.loads(secret["metadata"]) if secret["metadata"] else None,
        }

    @requires("read", "secret-bundles", secret_target)
    async def get_secret_bundle(self, request: web.Request) -> web.Response:
        """GetSecretBundle by OCID, version number, version name or stage."""
        secret = self._secret(request.match_info["secretId"])
        version = self._selected_version(request, secret)
        return json_reply(self.bundle_json(secret, version))

    @requires("read", "secret-bundles", named_secret_target)
    async def get_bundle_by_name(self, request: web.Request) -> web.Response:
        """GetSecretBundleByName: secretName and vaultId in the query."""
        name = request.query.get("secretName")
        vault_id = request.query.get("vaultId")
        if not name or not vault_id:
            raise BadRequest("secretName and vaultId are required.")
        secret = self.storage.secret_by_name(vault_id, name)
        if secret is None:
            raise NotFound("Secret not found or not authorized.")
        version = self._selected_version(request, secret)
        return json_reply(self.bundle_json(secret, version))

    @requires("read", "secret-bundles", secret_target)
    async def list_bundle_versions(self, request: web.Request) -> web.Response:
        """ListSecretBundleVersions."""
        secret = self._secret(request.match_info["secretId"])
        body = []
        for version in self.storage.secret_versions(secret["id"]):
            bundle = self.bundle_json(secret, version)
            del bundle["secretBundleContent"], bundle["metadata"]
            body.append(bundle)
        return json_reply(body)

    # secrets

    def secret_json(self, secret: Row) -> dict[str, Any]:
        """A secret in the shape of the SDK's Secret (and SecretSummary)."""
        return {
            "compartmentId": secret["compartment_id"],
            "currentVersionNumber": secret["current_version"],
            "description": secret["description"],
            "freeformTags": {},
            "definedTags": {},
            "id": secret["id"],
            "keyId": None,
            "lifecycleState": "ACTIVE",
            "metadata": json.loads(secret["metadata"]) if secret["metadata"] else None,
            "secretName": secret["name"],
            "timeCreated": format_time(secret["time_created"]),
            "vaultId": secret["vault_id"],
            "isAutoGenerationEnabled": False,
        }

    def version_json(self, secret: Row, version: Row) -> dict[str, Any]:
        """A version in the shape of the SDK's SecretVersion (and its summary)."""
        latest = self.storage.secret_versions(secret["id"])[0]["version_number"]
        return {
            "contentType": "BASE64",
            "name": version["name"],
            "secretId": secret["id"],
            "stages": version_stages(secret, version, latest),
            "timeCreated": format_time(version["time_created"]),
            "versionNumber": version["version_number"],
            "isContentAutoGenerated": False,
        }

    @staticmethod
    def _content(content: Fields) -> tuple[str, str | None, str | None]:
        """(base64 content, version name, stage) of a secretContent object."""
        content.choice("contentType", {"BASE64"})
        text = content.required_string("content")
        try:
            base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise BadRequest(
                f"{content.label('content')} is not valid base64."
            ) from exc
        name = content.string("name")
        stage = content.string("stage")
        if stage not in (None, "CURRENT", "PENDING"):
            raise BadRequest(f"{content.label('stage')} must be CURRENT or PENDING.")
        return text, name, stage

    @requires("manage", "secrets", compartment_target)
    async def create_secret(self, request: web.Request) -> web.Response:
        """CreateSecret: version 1 becomes CURRENT."""
        fields = await read_fields(request)
        name = fields.required_string("secretName")
        vault_id = fields.required_string("vaultId")
        compartment_id = fields.required_string("compartmentId")
        description = fields.string("description")
        metadata = fields.mapping("metadata")
        content = fields.nested("secretContent")
        if content is None:
            raise BadRequest("secretContent is required.")
        text, version_name, _ = self._content(content)

        if self.storage.vault(vault_id) is None:
            raise NotFound("Vault not found or not authorized.")
        if self.storage.secret_by_name(vault_id, name) is not None:
            raise Conflict(f"A secret named {name} already exists in the vault.")
        secret = self.storage.create_secret(
            new_ocid("vaultsecret"),
            name,
            vault_id=vault_id,
            compartment_id=compartment_id,
            content=text,
            description=description,
            metadata=metadata,
            version_name=version_name,
        )
        return json_reply(self.secret_json(secret))

    @requires("use", "secrets", secret_target)
    async def update_secret(self, request: web.Request) -> web.Response:
        """UpdateSecret: new content adds a version (CURRENT unless PENDING).

        Everything is checked before anything is written, and the writes are
        one transaction: a refused update changes nothing.
        """
        secret = self._secret(request.match_info["secretId"])
        fields = await read_fields(request)
        content = fields.nested("secretContent")
        promote = fields.integer("currentVersionNumber", minimum=1)
        description = fields.string("description")
        metadata = fields.mapping("metadata")

        text: str | None = None
        version_name = stage = None
        if content is not None:
            text, version_name, stage = self._content(content)
        if promote is not None:
            numbers = {
                version["version_number"]
                for version in self.storage.secret_versions(secret["id"])
            }
            if text is not None:
                numbers.add(max(numbers) + 1)  # the version this update adds
            if promote not in numbers:
                raise NotFound("Secret version not found or not authorized.")

        self.storage.update_secret(
            secret["id"],
            content=text,
            pending=stage == "PENDING",
            version_name=version_name,
            current_version=promote,
            description=description,
            metadata=metadata,
        )
        return json_reply(self.secret_json(self._secret(secret["id"])))

    @requires("read", "secrets", secret_target)
    async def get_secret(self, request: web.Request) -> web.Response:
        """GetSecret."""
        return json_reply(
            self.secret_json(self._secret(request.match_info["secretId"]))
        )

    @requires("inspect", "secrets", compartment_target)
    async def list_secrets(self, request: web.Request) -> web.Response:
        """ListSecrets, filtered by compartmentId, vaultId and name."""
        query = request.query
        if not query.get("compartmentId"):
            raise BadRequest("compartmentId is required.")
        body = [
            self.secret_json(secret)
            for secret in self.storage.secrets()
            if secret["compartment_id"] == query["compartmentId"]
            and query.get("vaultId") in (None, secret["vault_id"])
            and query.get("name") in (None, secret["name"])
        ]
        return json_reply(body)

    @requires("inspect", "secrets", secret_target)
    async def list_versions(self, request: web.Request) -> web.Response:
        """ListSecretVersions, newest first."""
        secret = self._secret(request.match_info["secretId"])
        versions = self.storage.secret_versions(secret["id"])
        return json_reply([self.version_json(secret, version) for version in versions])

    @requires("read", "secrets", secret_target)
    async def get_version(self, request: web.Request) -> web.Response:
        """GetSecretVersion."""
        secret = self._secret(request.match_info["secretId"])
        try:
            number = int(request.match_info["versionNumber"])
        except ValueError as exc:
            raise BadRequest("The version number must be an integer.") from exc
        version = self._version(secret, number=number)
        return json_reply(self.version_json(secret, version))

    # vaults

    def vault_json(self, vault: Row) -> dict[str, Any]:
        """A vault in the shape of the SDK's Vault."""
        return {
            "compartmentId": vault["compartment_id"],
            "cryptoEndpoint": self.cloud.endpoint,
            "managementEndpoint": self.cloud.endpoint,
            "definedTags": {},
            "freeformTags": {},
            "displayName": vault["name"],
            "id": vault["id"],
            "lifecycleState": "ACTIVE",
            "timeCreated": format_time(vault["time_created"]),
            "vaultType": "DEFAULT",
            "isPrimary": True,
            "isVaultReplicable": False,
        }

    @requires("read", "vaults", vault_target)
    async def get_vault(self, request: web.Request) -> web.Response:
        """GetVault."""
        vault = self.storage.vault(request.match_info["vaultId"])
        if vault is None:
            raise NotFound("Vault not found or not authorized.")
        return json_reply(self.vault_json(vault))

    @requires("inspect", "vaults", compartment_target)
    async def list_vaults(self, request: web.Request) -> web.Response:
        """ListVaults of a compartment."""
        compartment = request.query.get("compartmentId")
        body = [
            self.vault_json(vault)
            for vault in self.storage.vaults()
            if compartment in (None, vault["compartment_id"])
        ]
        return json_reply(body)
