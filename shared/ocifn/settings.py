"""Typed configuration of each function, read once from a mapping.

fdk's ``ctx.Config()`` is the process environment, so the mapping is
``os.environ`` in a function and a plain dict in tests. A missing or malformed
key raises ConfigError naming the key and what it should hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ocifn.errors import ConfigError

STREAM_OCID = "STREAM_OCID"
STREAM_MESSAGES_ENDPOINT = "STREAM_MESSAGES_ENDPOINT"
MAX_BATCH_RECORDS = "MAX_BATCH_RECORDS"
MAX_BODY_BYTES = "MAX_BODY_BYTES"
STREAM_SECRET_OCID = "STREAM_SECRET_OCID"
DB_SECRET_OCID = "DB_SECRET_OCID"
CONSUMER_GROUP = "CONSUMER_GROUP"
CONSUMER_INSTANCE = "CONSUMER_INSTANCE"
GET_LIMIT = "GET_LIMIT"
DEADLINE_FRACTION = "DEADLINE_FRACTION"
VAULT_OCID = "VAULT_OCID"
ALLOWED_SECRETS = "ALLOWED_SECRETS"
SECRETS_ENDPOINT = "SECRETS_ENDPOINT"
SECRET_TTL_SECONDS = "SECRET_TTL_SECONDS"
LOG_LEVEL = "LOG_LEVEL"

DEFAULT_MAX_BATCH_RECORDS = 1000
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_CONSUMER_GROUP = "drain-stream-to-db"
DEFAULT_CONSUMER_INSTANCE = "drain-stream-to-db-1"
DEFAULT_GET_LIMIT = 10000
DEFAULT_DEADLINE_FRACTION = 0.8
DEFAULT_SECRET_TTL_SECONDS = 300
DEFAULT_LOG_LEVEL = "INFO"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class PublishSettings:
    """Configuration of publish-message."""

    stream_id: str
    messages_endpoint: str
    max_batch_records: int = DEFAULT_MAX_BATCH_RECORDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_level: str = DEFAULT_LOG_LEVEL

    @classmethod
    def from_mapping(cls, config: Mapping[str, str]) -> PublishSettings:
        return cls(
            stream_id=_ocid(config, STREAM_OCID, "stream"),
            messages_endpoint=_url(config, STREAM_MESSAGES_ENDPOINT),
            max_batch_records=_integer(
                config, MAX_BATCH_RECORDS, DEFAULT_MAX_BATCH_RECORDS, 1, 100_000
            ),
            max_body_bytes=_integer(
                config, MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, 1, 64 * 1024 * 1024
            ),
            log_level=_log_level(config),
        )


@dataclass(frozen=True)
class DrainSettings:
    """Configuration of drain-stream-to-db."""

    stream_secret_id: str
    db_secret_id: str
    consumer_group: str = DEFAULT_CONSUMER_GROUP
    consumer_instance: str = DEFAULT_CONSUMER_INSTANCE
    get_limit: int = DEFAULT_GET_LIMIT
    deadline_fraction: float = DEFAULT_DEADLINE_FRACTION
    secrets_endpoint: str | None = None
    secret_ttl_seconds: int = DEFAULT_SECRET_TTL_SECONDS
    log_level: str = DEFAULT_LOG_LEVEL

    @classmethod
    def from_mapping(cls, config: Mapping[str, str]) -> DrainSettings:
        return cls(
            stream_secret_id=_ocid(config, STREAM_SECRET_OCID, "vaultsecret"),
            db_secret_id=_ocid(config, DB_SECRET_OCID, "vaultsecret"),
            consumer_group=_text(config, CONSUMER_GROUP, DEFAULT_CONSUMER_GROUP),
            consumer_instance=_text(
                config, CONSUMER_INSTANCE, DEFAULT_CONSUMER_INSTANCE
            ),
            get_limit=_integer(config, GET_LIMIT, DEFAULT_GET_LIMIT, 1, 10000),
            deadline_fraction=_fraction(config, DEADLINE_FRACTION),
            secrets_endpoint=_optional_url(config, SECRETS_ENDPOINT),
            secret_ttl_seconds=_integer(
                config, SECRET_TTL_SECONDS, DEFAULT_SECRET_TTL_SECONDS, 0, 86400
            ),
            log_level=_log_level(config),
        )


@dataclass(frozen=True)
class ReadSecretSettings:
    """Configuration of read-secret."""

    vault_id: str
    allowed_secrets: frozenset[str]
    secrets_endpoint: str | None = None
    secret_ttl_seconds: int = DEFAULT_SECRET_TTL_SECONDS
    log_level: str = DEFAULT_LOG_LEVEL

    @classmethod
    def from_mapping(cls, config: Mapping[str, str]) -> ReadSecretSettings:
        return cls(
            vault_id=_ocid(config, VAULT_OCID, "vault"),
            allowed_secrets=_name_list(config, ALLOWED_SECRETS),
            secrets_endpoint=_optional_url(config, SECRETS_ENDPOINT),
            secret_ttl_seconds=_integer(
                config, SECRET_TTL_SECONDS, DEFAULT_SECRET_TTL_SECONDS, 0, 86400
            ),
            log_level=_log_level(config),
        )


def _raw(config: Mapping[str, str], key: str) -> str | None:
    value = config.get(key)
    if value is None or not value.strip():
        return None

    return value.strip()


def _required(config: Mapping[str, str], key: str, meaning: str) -> str:
    value = _raw(config, key)
    if value is None:
        raise ConfigError(f"{key} is not set: it should hold {meaning}")

    return value


def _ocid(config: Mapping[str, str], key: str, resource: str) -> str:
    meaning = f"the OCID of a {resource} (ocid1.{resource}...)"
    value = _required(config, key, meaning)
    if not value.startswith("ocid1."):
        raise ConfigError(f"{key} is malformed: it should hold {meaning}")

    return value


def _url(config: Mapping[str, str], key: str) -> str:
    meaning = "an http(s) endpoint URL"
    value = _required(config, key, meaning)
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"{key} is malformed: it should hold {meaning}")

    return value.rstrip("/")


def _optional_url(config: Mapping[str, str], key: str) -> str | None:
    if _raw(config, key) is None:
        return None

    return _url(config, key)


def _text(config: Mapping[str, str], key: str, default: str) -> str:
    return _raw(config, key) or default


def _integer(
    config: Mapping[str, str], key: str, default: int, lowest: int, highest: int
) -> int:
    value = _raw(config, key)
    if value is None:
        return default

    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not lowest <= number <= highest:
        raise ConfigError(
            f"{key} is malformed: it should hold an integer from {lowest} to {highest}"
        )

    return number


def _fraction(config: Mapping[str, str], key: str) -> float:
    value = _raw(config, key)
    if value is None:
        return DEFAULT_DEADLINE_FRACTION

    try:
        number = float(value)
    except ValueError:
        number = None
    if number is None or not 0.0 < number <= 1.0:
        raise ConfigError(
            f"{key} is malformed: it should hold a number above 0 and at most 1"
        )

    return number


def _name_list(config: Mapping[str, str], key: str) -> frozenset[str]:
    meaning = "comma-separated secret names"
    value = _required(config, key, meaning)
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise ConfigError(f"{key} is malformed: it should hold {meaning}")

    return names


def _log_level(config: Mapping[str, str]) -> str:
    value = (_raw(config, LOG_LEVEL) or DEFAULT_LOG_LEVEL).upper()
    if value not in LOG_LEVELS:
        raise ConfigError(
            f"{LOG_LEVEL} is malformed: it should hold one of {', '.join(LOG_LEVELS)}"
        )

    return value
