"""Who may call the local cloud, checked the way OCI checks it.

At first start this creates the tenancy, the compartment, an API-key user whose
profile is written to DIR/oci/config, and the cloud's own token-signing key.
It mints resource-principal session tokens (RPST, a JWT signed by that key) for
the functions it runs, and its middleware verifies every request's HTTP
signature (draft-cavage, as the OCI SDK signs) against either the user's API
key or the public key carried in a resource-principal token. Paths under /v1/
(the API gateway) are not signed and are not checked.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ocilocal.context import Cloud, new_ocid
from ocilocal.errors import Handler, NotAuthenticated

logger = logging.getLogger(__name__)

TOKEN_ISSUER = "ocilocal"
TOKEN_AUDIENCE = "oci"
MAX_CLOCK_SKEW_SECONDS = 300
UNSIGNED_PREFIXES = ("/v1/",)
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
# NOTE: OCI lets these operations sign without the body headers (the SDK sends
# them with enforce_content_headers=False), so the check accepts that too.
BODY_UNSIGNED_PATHS = (
    re.compile(r"^/20180418/streams/[^/]+/messages$"),
    re.compile(r"^/20181201/functions/[^/]+/actions/invoke$"),
)
AUTH_FAILED = (
    "The required information to complete authentication was not provided or "
    "was incorrect."
)
_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Principal:
    """Who made a request: an API-key user or a resource (a function)."""

    kind: str
    id: str
    tenancy_id: str
    compartment_id: str | None = None
    resource_type: str | None = None


def principal_of(request: web.Request) -> Principal | None:
    """The verified caller of a request (None on unsigned paths or with auth off)."""
    return request.get("principal")


def new_private_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """The public half of a key as PEM."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint_of(key: rsa.RSAPrivateKey) -> str:
    """OCI's API-key fingerprint: MD5 of the DER public key, colon-separated."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der).hexdigest()  # noqa: S324 - OCI's fingerprint format
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def load_rsa_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from PEM; ValueError for any other kind of key."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"the public key is a {type(key).__name__}, not an RSA key")
    return key


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (mode 0600), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def load_or_create_key(path: Path, *, label: str = "") -> rsa.RSAPrivateKey:
    """The RSA key at `path`, created (mode 0600, `label` as a last line) if missing."""
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path} holds a {type(loaded).__name__}, not an RSA key")
        return loaded
    key = new_private_key()
    write_private(path, private_pem(key) + (f"{label}\n".encode() if label else b""))
    return key


class Identity:
    """Tenancy, API-key user, token minting and request signature checks."""

    def __init__(self, cloud: Cloud, *, enabled: bool = True) -> None:
        self.cloud = cloud
        self.enabled = enabled
        self.user_id = ""
        self.token_key: rsa.RSAPrivateKey | None = None

    @property
    def key_file(self) -> Path:
        """The API user's private key."""
        return self.cloud.data_dir / "oci" / "key.pem"

    @property
    def token_key_file(self) -> Path:
        """The key the cloud signs resource-principal tokens with."""
        return self.cloud.data_dir / "identity" / "token_key.pem"

    def setup(self) -> None:
        """Create (once) or load the tenancy, user and keys; write DIR/oci/config."""
        storage = self.cloud.require_storage()
        for name, kind in (
            ("tenancy_id", "tenancy"),
            ("compartment_id", "compartment"),
            ("user_id", "user"),
        ):
            if storage.get_meta(name) is None:
                storage.set_meta(name, new_ocid(kind, regional=False))
        self.cloud.tenancy_id = self._meta("tenancy_id")
        self.cloud.compartment_id = self._meta("compartment_id")
        self.user_id = self._meta("user_id")

        self.token_key = load_or_create_key(self.token_key_file)
        # NOTE: the OCI_API_KEY last line marks an API signing key; the CLI warns
        # on every call without it.
        user_key = load_or_create_key(self.key_file, label="OCI_API_KEY")
        fingerprint = fingerprint_of(user_key)
        storage.add_api_key(self.user_id, fingerprint, public_pem(user_key).decode())
        self._write_config(fingerprint)

    def _meta(self, name: str) -> str:
        value = self.cloud.require_storage().get_meta(name)
        if value is None:
            raise RuntimeError(f"the setting {name} is missing from the storage")
        return value

    def _signing_key(self) -> rsa.RSAPrivateKey:
        if self.token_key is None:
            raise RuntimeError("the token key is not loaded: call setup() first")
        return self.token_key

    def _write_config(self, fingerprint: str) -> None:
        profile = (
            "[DEFAULT]\n"
            f"user={self.user_id}\n"
            f"fingerprint={fingerprint}\n"
            f"key_file={self.key_file}\n"
            f"tenancy={self.cloud.tenancy_id}\n"
            f"region={self.cloud.region}\n"
        )
        write_private(self.cloud.config_file, profile.encode())

    # resource principals

    def mint_resource_principal_token(
        self,
        resource_id: str,
        resource_type: str,
        compartment_id: str,
        public_key_pem: bytes,
        ttl_seconds: int = 3600,
    ) -> str:
        """A resource-principal session token for a resource holding the key pair.

        The claims are the ones the OCI SDK's resource principal signer (v2.2)
        reads (`res_tenant`, `res_compartment`) plus `res_id`, `res_type` and
        the resource's public key as a JWK, which signatures are checked against.
        """
        public_key = load_rsa_public_key(public_key_pem)
        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": resource_id,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + ttl_seconds,
            "ttype": "res",
            "ptype": "resource",
            "tenant": self.cloud.tenancy_id,
            "res_tenant": self.cloud.tenancy_id,
            "res_compartment": compartment_id,
            "res_id": resource_id,
            "res_type": resource_type,
            "jwk": jwt.algorithms.RSAAlgorithm.to_jwk(public_key),
        }
        return jwt.encode(claims, self._signing_key(), algorithm="RS256")

    def resource_principal_environment(
        self,
        directory: Path,
        resource_id: str,
        resource_type: str,
        *,
        compartment_id: str | None = None,
        ttl_seconds: int = 3600,
    ) -> dict[str, str]:
        """Write a session key and token under `directory`; return RP v2.2 env vars.

        Call again before `ttl_seconds` pass: the SDK rereads both files when its
        token nears expiry, so rewriting them renews a running function.
        """
        key = new_private_key()
        token = self.mint_resource_principal_token(
            resource_id,
            resource_type,
            compartment_id or self.cloud.compartment_id,
            public_pem(key),
            ttl_seconds,
        )
        key_path = Path(directory) / "rp_private.pem"
        token_path = Path(directory) / "rpst"
        write_private(key_path, private_pem(key))
        write_private(token_path, token.encode())
        return {
            "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
            "OCI_RESOURCE_PRINCIPAL_RPST": str(token_path.resolve()),
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(key_path.resolve()),
            "OCI_RESOURCE_PRINCIPAL_REGION": self.cloud.region,
        }

    def verify_token(self, token: str) -> dict[str, Any]:
        """The claims of a token this cloud minted and that has not expired."""
        return jwt.decode(
            token,
            self._signing_key().public_key(),
            algorithms=["RS256"],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "iat", "jwk", "res_id"]},
        )

    # request signatures

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Reject requests whose OCI signature does not verify (401)."""
        if self.enabled and not request.path.startswith(UNSIGNED_PREFIXES):
            request["principal"] = await self.authenticate(request)
        return await handler(request)

    async def authenticate(self, request: web.Request) -> Principal:
        """Verify the request's signature; return who signed it."""
        try:
            return await self._authenticate(request)
        except NotAuthenticated as exc:
            logger.info("401 %s %s: %s", request.method, request.path_qs, exc.message)
            raise NotAuthenticated(AUTH_FAILED) from exc

    async def _authenticate(self, request: web.Request) -> Principal:
        parameters = parse_authorization(request.headers.get("Authorization"))
        signed = parameters.get("headers", "date").lower().split()
        self._check_signed_headers(request, signed)
        self._check_date(request)

        principal, public_key = self._signer(parameters["keyId"])
        signing_string = build_signing_string(request, signed)
        try:
            signature = base64.b64decode(parameters["signature"], validate=True)
            public_key.verify(
                signature, signing_string.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError) as exc:
            raise NotAuthenticated("the signature does not verify") from exc

        if "x-content-sha256" in signed:
            await self._check_body(request, signed)
        return principal

    def _check_signed_headers(self, request: web.Request, signed: list[str]) -> None:
        required = ["(request-target)", "host"]
        has_body = request.method in ("POST", "PUT", "PATCH")
        exempt = any(pattern.match(request.path) for pattern in BODY_UNSIGNED_PATHS)
        if has_body and not exempt:
            required += BODY_HEADERS
        missing = [name for name in required if name not in signed]
        if "date" not in signed and "x-date" not in signed:
            missing.append("date")
        if missing:
            raise NotAuthenticated(f"headers not signed: {', '.join(missing)}")

        absent = [
            name
            for name in signed
            if name != "(request-target)" and name not in request.headers
        ]
        if absent:
            raise NotAuthenticated(f"signed headers missing: {', '.join(absent)}")

    def _check_date(self, request: web.Request) -> None:
        text = request.headers.get("x-date") or request.headers.get("date")
        if text is None:
            raise NotAuthenticated("the date header is not an HTTP date")
        try:
            sent = email.utils.parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError) as exc:
            raise NotAuthenticated("the date header is not an HTTP date") from exc
        if abs(time.time() - sent) > MAX_CLOCK_SKEW_SECONDS:
            raise NotAuthenticated("the date is more than 5 minutes off")

    def _signer(self, key_id: str) -> tuple[Principal, rsa.RSAPublicKey]:
        """The principal named by keyId and the public key to verify with."""
        if key_id.startswith("ST$"):
            try:
                claims = self.verify_token(key_id[3:])
                public_key = jwt.algorithms.RSAAlgorithm.from_jwk(claims["jwk"])
                if not isinstance(public_key, rsa.RSAPublicKey):
                    raise ValueError("the token's jwk is not a public key")
            except (jwt.PyJWTError, ValueError, KeyError) as exc:
                raise NotAuthenticated(
                    f"the session token is not valid: {exc}"
                ) from exc
            principal = Principal(
                kind="resource",
                id=claims["res_id"],
                tenancy_id=claims.get("res_tenant", ""),
                compartment_id=claims.get("res_compartment"),
                resource_type=claims.get("res_type"),
            )
            return principal, public_key

        parts = key_id.split("/")
        if len(parts) != 3:
            raise NotAuthenticated("keyId is not tenancy/user/fingerprint")
        tenancy_id, user_id, fingerprint = parts
        pem = self.cloud.require_storage().api_key(user_id, fingerprint)
        if tenancy_id != self.cloud.tenancy_id or pem is None:
            raise NotAuthenticated("unknown tenancy, user or key fingerprint")
        api_key = serialization.load_pem_public_key(pem.encode())
        if not isinstance(api_key, rsa.RSAPublicKey):
            raise NotAuthenticated("the API key is not an RSA key")
        return Principal(kind="user", id=user_id, tenancy_id=tenancy_id), api_key

    async def _check_body(self, request: web.Request, signed: list[str]) -> None:
        body = await request.read()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if request.headers["x-content-sha256"] != digest:
            raise NotAuthenticated("x-content-sha256 does not match the body")
        if "content-length" in signed and request.headers["content-length"] != str(
            len(body)
        ):
            raise NotAuthenticated("content-length does not match the body")


def parse_authorization(header: str | None) -> dict[str, str]:
    """The parameters of an `Authorization: Signature k="v",...` header."""
    if not header:
        raise NotAuthenticated("no Authorization header")
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "signature":
        raise NotAuthenticated("the Authorization scheme is not Signature")
    parameters = dict(_PARAMETER.findall(rest))
    if not parameters.get("keyId") or not parameters.get("signature"):
        raise NotAuthenticated("keyId and signature are required")
    if parameters.get("algorithm", "rsa-sha256").lower() != "rsa-sha256":
        raise NotAuthenticated("only rsa-sha256 signatures are accepted")
    if parameters.get("version", "1") != "1":
        raise NotAuthenticated("only signature version 1 is accepted")
    return parameters


def build_signing_string(request: web.Request, signed: list[str]) -> str:
    """The text the client signed, rebuilt from the request as received."""
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(
                f"(request-target): {request.method.lower()} {request.raw_path}"
            )
        else:
            lines.append(f"{name}: {request.headers[name]}")
    return "\n".join(lines)
