"""Request signatures and resource-principal tokens, checked as OCI checks them."""

from __future__ import annotations

import email.utils
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import oci
from oci.auth.signers import SecurityTokenSigner
from ocilocal.context import Cloud
from ocilocal.identity import (
    Identity,
    load_or_create_key,
    new_private_key,
    private_pem,
    public_pem,
)

FUNCTION_ID = "ocid1.fnfunc.oc1.iad.testfunction"
READ_GREETING = """
import base64, sys
import oci
signer = oci.auth.signers.get_resource_principals_signer()
client = oci.secrets.SecretsClient({}, signer=signer, service_endpoint=sys.argv[1])
bundle = client.get_secret_bundle(sys.argv[2]).data
print(base64.b64decode(bundle.secret_bundle_content.content).decode())
"""


class Outgoing:
    """The parts of an HTTP request the SDK's signers read and write."""

    def __init__(self, method: str, url: str, body: bytes | None, headers: dict):
        self.method = method
        self.url = url
        self.body = body
        self.headers = dict(headers)
        parts = urllib.parse.urlsplit(url)
        self.path_url = parts.path + (f"?{parts.query}" if parts.query else "")


def send(method, url, *, signer=None, body=None, headers=None, tamper=None):
    """Send a request signed by an SDK signer over urllib: (status, JSON, headers)."""
    headers = dict(headers or {})
    if body is not None:
        headers.setdefault("content-length", str(len(body)))
    outgoing = Outgoing(method, url, body, headers)
    if signer is not None:
        signer(outgoing)
    data = tamper if tamper is not None else outgoing.body
    request = urllib.request.Request(url, data=data, method=method)
    for name, value in outgoing.headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers


def token_minter(local_cloud: dict) -> Identity:
    """An Identity holding the running cloud's token key (read from its folder)."""
    cloud = Cloud(data_dir=Path(local_cloud["data_dir"]), port=0)
    cloud.tenancy_id = local_cloud["tenancy_id"]
    cloud.compartment_id = local_cloud["compartment_id"]
    identity = Identity(cloud)
    identity.token_key = load_or_create_key(identity.token_key_file)
    return identity


def bundle_url(local_cloud: dict) -> str:
    secret_id = local_cloud["secrets"]["greeting"]
    return f"{local_cloud['endpoint']}/20190301/secretbundles/{secret_id}"


def assert_not_authenticated(reply) -> None:
    status, body, headers = reply
    assert status == 401
    assert body["code"] == "NotAuthenticated"
    assert body["message"]
    assert headers["opc-request-id"]


def test_middleware_unsigned_request_answers_401(local_cloud):
    reply = send("GET", bundle_url(local_cloud))

    assert_not_authenticated(reply)


def test_middleware_forged_signature_answers_401(local_cloud, oci_config):
    forged = oci.signer.Signer(
        tenancy=oci_config["tenancy"],
        user=oci_config["user"],
        fingerprint=oci_config["fingerprint"],
        private_key_file_location=None,
        private_key_content=private_pem(new_private_key()).decode(),
    )

    reply = send("GET", bundle_url(local_cloud), signer=forged)

    assert_not_authenticated(reply)


def test_middleware_stale_date_answers_401(local_cloud, oci_config):
    signer = oci.signer.Signer.from_config(oci_config)
    stale = email.utils.formatdate(time.time() - 600, usegmt=True)

    reply = send("GET", bundle_url(local_cloud), signer=signer, headers={"date": stale})

    assert_not_authenticated(reply)


def test_middleware_valid_signature_answers_200(local_cloud, oci_config):
    signer = oci.signer.Signer.from_config(oci_config)

    status, body, headers = send("GET", bundle_url(local_cloud), signer=signer)

    assert status == 200
    assert body["secretId"] == local_cloud["secrets"]["greeting"]
    assert headers["opc-request-id"]


def test_middleware_body_changed_after_signing_answers_401(local_cloud, oci_config):
    signer = oci.signer.Signer.from_config(oci_config)
    url = f"{local_cloud['endpoint']}/20180608/secrets"
    reply = send("POST", url, signer=signer, body=b'{"a": 1}', tamper=b'{"a": 2}')

    assert_not_authenticated(reply)


def test_middleware_gateway_paths_are_not_checked(local_cloud):
    request = urllib.request.Request(f"{local_cloud['endpoint']}/v1/no-such-route")

    try:
        status = urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as error:
        status = error.code

    assert status != 401


def test_resource_principal_token_signer_reaches_secret_bundle(local_cloud, tmp_path):
    """The token names read-secret, whose policy lets it read `greeting`."""
    identity = token_minter(local_cloud)
    environment = identity.resource_principal_environment(
        tmp_path, local_cloud["functions"]["read-secret"], "fnfunc"
    )

    completed = subprocess.run(
        [sys.executable, "-c", READ_GREETING, local_cloud["endpoint"]]
        + [local_cloud["secrets"]["greeting"]],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "hello from the local vault"
    assert (
        oct(os.stat(environment["OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"]).st_mode)[-3:]
        == "600"
    )


def test_resource_principal_token_claims_are_what_the_sdk_reads(local_cloud):
    identity = token_minter(local_cloud)
    key = new_private_key()

    token = identity.mint_resource_principal_token(
        FUNCTION_ID, "fnfunc", local_cloud["compartment_id"], public_pem(key), 60
    )
    signer = oci.auth.signers.EphemeralResourcePrincipalSigner(
        session_token=token,
        private_key=private_pem(key).decode(),
        region="us-ashburn-1",
    )

    assert signer.tenancy_id == local_cloud["tenancy_id"]
    assert signer.compartment_id == local_cloud["compartment_id"]
    assert signer.get_claim("res_id") == FUNCTION_ID
    assert signer.get_claim("res_type") == "fnfunc"


def test_resource_principal_expired_token_answers_401(local_cloud):
    identity = token_minter(local_cloud)
    key = new_private_key()
    token = identity.mint_resource_principal_token(
        FUNCTION_ID, "fnfunc", local_cloud["compartment_id"], public_pem(key), -10
    )

    reply = send("GET", bundle_url(local_cloud), signer=SecurityTokenSigner(token, key))

    assert_not_authenticated(reply)


def test_resource_principal_token_from_another_key_answers_401(local_cloud, tmp_path):
    identity = token_minter(local_cloud)
    identity.token_key = new_private_key()
    key = new_private_key()
    token = identity.mint_resource_principal_token(
        FUNCTION_ID, "fnfunc", local_cloud["compartment_id"], public_pem(key), 60
    )

    reply = send("GET", bundle_url(local_cloud), signer=SecurityTokenSigner(token, key))

    assert_not_authenticated(reply)
