"""Who the code is to OCI: a signer and the config that goes with it.

A function uses its resource principal (OCI Functions, and the local cloud,
set ``OCI_RESOURCE_PRINCIPAL_VERSION``); scripts and tests use an OCI config
profile (the file ``OCI_CONFIG_FILE`` names, else ``~/.oci/config``; the
profile ``OCI_CLI_PROFILE`` names, else DEFAULT). The credentials are built
once per process, on first use, and reused by every client.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import oci

from ocifn.errors import ConfigError

RESOURCE_PRINCIPAL_VERSION = "OCI_RESOURCE_PRINCIPAL_VERSION"
CONFIG_FILE = "OCI_CONFIG_FILE"
CONFIG_PROFILE = "OCI_CLI_PROFILE"
DEFAULT_PROFILE = "DEFAULT"
DEFAULT_CONFIG_FILE = "~/.oci/config"

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_credentials: Credentials | None = None


@dataclass(frozen=True)
class Credentials:
    """A request signer and the SDK config (at least the region) to pair it with."""

    config: dict[str, Any]
    signer: Any
    kind: str

    @property
    def region(self) -> str | None:
        return self.config.get("region")

    def client_kwargs(self) -> dict[str, Any]:
        """The keyword arguments every SDK client constructor takes."""
        return {"config": self.config, "signer": self.signer}


def get_credentials() -> Credentials:
    """The process-wide credentials, built on first call."""
    global _credentials
    with _lock:
        if _credentials is None:
            _credentials = load_credentials(os.environ)

        return _credentials


def reset_credentials() -> None:
    """Forget the process-wide credentials so the next call builds them again."""
    global _credentials
    with _lock:
        _credentials = None


def load_credentials(
    environ: Mapping[str, str], *, default_config_file: str = DEFAULT_CONFIG_FILE
) -> Credentials:
    """Resource principal when its variables are set, else a config profile.

    The profile's file is the one ``OCI_CONFIG_FILE`` names, else
    ``default_config_file`` when it exists, as the OCI CLI does.
    """
    if environ.get(RESOURCE_PRINCIPAL_VERSION):
        return _resource_principal()

    config_file = environ.get(CONFIG_FILE)
    if not config_file and os.path.isfile(os.path.expanduser(default_config_file)):
        config_file = default_config_file
    if config_file:
        profile = environ.get(CONFIG_PROFILE) or DEFAULT_PROFILE
        return _config_profile(config_file, profile)

    raise ConfigError(
        "no OCI credentials: set the resource principal variables "
        f"({RESOURCE_PRINCIPAL_VERSION} and the rest, as OCI Functions does), "
        f"or {CONFIG_FILE} (and optionally {CONFIG_PROFILE}) to an OCI config "
        f"file, or create {default_config_file}"
    )


def _resource_principal() -> Credentials:
    try:
        signer = oci.auth.signers.get_resource_principals_signer()
    except Exception as exc:
        raise ConfigError(
            "the resource principal variables are set but unusable; "
            "check the session token, private key and region they point to",
            context={"operation": "resource_principal_signer"},
        ) from exc
    logger.debug("using resource principal in region %s", signer.region)

    return Credentials(
        config={"region": signer.region}, signer=signer, kind="resource_principal"
    )


def _config_profile(config_file: str, profile: str) -> Credentials:
    try:
        config = oci.config.from_file(file_location=config_file, profile_name=profile)
        signer = oci.signer.Signer(
            tenancy=config["tenancy"],
            user=config["user"],
            fingerprint=config["fingerprint"],
            private_key_file_location=config.get("key_file"),
            pass_phrase=oci.config.get_config_value_or_default(config, "pass_phrase"),
            private_key_content=config.get("key_content"),
        )
    except Exception as exc:
        raise ConfigError(
            f"the OCI config profile {profile!r} in {CONFIG_FILE} is unusable; "
            "check the file, the profile name and the key it names",
            context={"operation": "config_profile"},
        ) from exc
    logger.debug("using config profile %s in region %s", profile, config["region"])

    return Credentials(config=config, signer=signer, kind="config_profile")
