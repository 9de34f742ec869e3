"""Tests of ocifn.auth: choosing the credentials."""

from __future__ import annotations

import pytest
from ocifn import auth
from ocifn.errors import ConfigError
from ocilocal.identity import load_or_create_key


def test_load_credentials_nothing_set_is_config_error(tmp_path):
    """Without resource principal or config file, the error says what to set."""
    absent = str(tmp_path / "no-such-config")

    with pytest.raises(ConfigError) as raised:
        auth.load_credentials({}, default_config_file=absent)

    assert auth.RESOURCE_PRINCIPAL_VERSION in raised.value.message
    assert auth.CONFIG_FILE in raised.value.message
    assert absent in raised.value.message


def write_config(tmp_path, profile):
    """An API-key config file with one profile in us-phoenix-1."""
    key_file = tmp_path / "key.pem"
    load_or_create_key(key_file)
    config_file = tmp_path / "config"
    config_file.write_text(
        f"[{profile}]\n"
        "user=ocid1.user.oc1..example\n"
        "tenancy=ocid1.tenancy.oc1..example\n"
        "fingerprint=aa:bb:cc\n"
        f"key_file={key_file}\n"
        "region=us-phoenix-1\n"
    )
    return config_file


def test_load_credentials_config_profile_gives_region(tmp_path):
    """An API-key profile gives a signer and the profile's region."""
    config_file = write_config(tmp_path, "LOCAL")

    credentials = auth.load_credentials(
        {auth.CONFIG_FILE: str(config_file), auth.CONFIG_PROFILE: "LOCAL"}
    )

    assert credentials.kind == "config_profile"
    assert credentials.region == "us-phoenix-1"


def test_load_credentials_default_config_file_used_when_none_named(tmp_path):
    """With no OCI_CONFIG_FILE, the default file's DEFAULT profile is used."""
    config_file = write_config(tmp_path, "DEFAULT")

    credentials = auth.load_credentials({}, default_config_file=str(config_file))

    assert credentials.kind == "config_profile"
    assert credentials.region == "us-phoenix-1"


def test_load_credentials_missing_profile_is_config_error(tmp_path):
    """A profile that is not in the file fails with a ConfigError."""
    config_file = tmp_path / "config"
    config_file.write_text("[DEFAULT]\nregion=us-phoenix-1\n")

    with pytest.raises(ConfigError):
        auth.load_credentials(
            {auth.CONFIG_FILE: str(config_file), auth.CONFIG_PROFILE: "MISSING"}
        )
