"""Tests of ocifn.settings: keys, defaults and errors naming the key."""

from __future__ import annotations

import pytest
from ocifn import settings
from ocifn.errors import ConfigError
from ocifn.settings import DrainSettings, PublishSettings, ReadSecretSettings

STREAM_ID = "ocid1.stream.oc1.phx.example"
SECRET_ID = "ocid1.vaultsecret.oc1.phx.example"
VAULT_ID = "ocid1.vault.oc1.phx.example"


def test_publish_settings_required_keys_only_uses_defaults():
    """Only the stream is required; limits default as documented."""
    loaded = PublishSettings.from_mapping(
        {
            settings.STREAM_OCID: STREAM_ID,
            settings.STREAM_MESSAGES_ENDPOINT: "https://cell-1.example.com/",
        }
    )

    assert loaded.stream_id == STREAM_ID
    assert loaded.messages_endpoint == "https://cell-1.example.com"
    assert loaded.max_batch_records == 1000
    assert loaded.max_body_bytes == 4194304
    assert loaded.log_level == "INFO"


def test_publish_settings_missing_stream_names_the_key():
    """A missing key fails at load with its name and what it should hold."""
    with pytest.raises(ConfigError) as raised:
        PublishSettings.from_mapping(
            {settings.STREAM_MESSAGES_ENDPOINT: "https://x.example.com"}
        )

    assert "STREAM_OCID" in raised.value.message
    assert "OCID" in raised.value.message


@pytest.mark.parametrize("value", ["many", "0", "-3", "1.5"])
def test_publish_settings_bad_max_records_names_the_key(value):
    """A malformed number fails with the key and its allowed range."""
    with pytest.raises(ConfigError) as raised:
        PublishSettings.from_mapping(
            {
                settings.STREAM_OCID: STREAM_ID,
                settings.STREAM_MESSAGES_ENDPOINT: "https://x.example.com",
                settings.MAX_BATCH_RECORDS: value,
            }
        )

    assert "MAX_BATCH_RECORDS" in raised.value.message


def test_drain_settings_defaults_match_documentation():
    """Group, instance, limit and deadline share default as documented in internals."""
    loaded = DrainSettings.from_mapping(
        {settings.STREAM_SECRET_OCID: SECRET_ID, settings.DB_SECRET_OCID: SECRET_ID}
    )

    assert loaded.consumer_group == "drain-stream-to-db"
    assert loaded.consumer_instance == "drain-stream-to-db-1"
    assert loaded.get_limit == 10000
    assert loaded.deadline_fraction == 0.8
    assert loaded.secrets_endpoint is None
    assert loaded.secret_ttl_seconds == 300


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (settings.GET_LIMIT, "10001"),
        (settings.DEADLINE_FRACTION, "0"),
        (settings.DEADLINE_FRACTION, "1.5"),
        (settings.SECRETS_ENDPOINT, "vault.example.com"),
        (settings.LOG_LEVEL, "LOUD"),
        (settings.DB_SECRET_OCID, "db-secret"),
    ],
)
def test_drain_settings_malformed_key_names_the_key(key, value):
    """Out-of-range and malformed values fail with the key's name."""
    config = {
        settings.STREAM_SECRET_OCID: SECRET_ID,
        settings.DB_SECRET_OCID: SECRET_ID,
        key: value,
    }

    with pytest.raises(ConfigError) as raised:
        DrainSettings.from_mapping(config)

    assert key in raised.value.message


def test_read_secret_settings_allowed_list_is_split_and_trimmed():
    """ALLOWED_SECRETS is a comma-separated list of names."""
    loaded = ReadSecretSettings.from_mapping(
        {
            settings.VAULT_OCID: VAULT_ID,
            settings.ALLOWED_SECRETS: " greeting, other ,,",
            settings.SECRETS_ENDPOINT: "http://127.0.0.1:8080",
        }
    )

    assert loaded.allowed_secrets == frozenset({"greeting", "other"})
    assert loaded.secrets_endpoint == "http://127.0.0.1:8080"


def test_read_secret_settings_empty_allowed_list_names_the_key():
    """An allow-list with no names is refused."""
    with pytest.raises(ConfigError) as raised:
        ReadSecretSettings.from_mapping(
            {settings.VAULT_OCID: VAULT_ID, settings.ALLOWED_SECRETS: " , "}
        )

    assert "ALLOWED_SECRETS" in raised.value.message


def test_settings_are_frozen():
    """A loaded settings object cannot be changed."""
    loaded = ReadSecretSettings.from_mapping(
        {settings.VAULT_OCID: VAULT_ID, settings.ALLOWED_SECRETS: "greeting"}
    )

    with pytest.raises(AttributeError):
        loaded.vault_id = "other"  # type: ignore[misc]
