"""Autonomous Database wallet files and python-oracledb connect arguments.

python-oracledb in thin mode needs two files of the wallet the console hands
out: ``tnsnames.ora`` (the aliases) and ``ewallet.pem`` (the certificates and,
encrypted, the key). This module writes them from a Vault secret into a private
folder under ``/tmp``, rewrites them only when the secret's version changes,
and builds the keyword arguments of ``oracledb.connect``.

A wallet secret holds one of:

- the wallet zip as downloaded (the secret's content is the zip, base64-encoded
  once, as Vault stores any binary content);
- a JSON object naming the files: ``{"tnsnames.ora": "...", "ewallet.pem":
  "..."}`` (``sqlnet.ora`` optional).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocifn.errors import ConfigError, DatabaseError, SecretError

__all__ = [
    "DEFAULT_WALLET_ROOT",
    "OracleConnection",
    "WalletLocation",
    "connect_arguments",
    "materialize_wallet",
    "oracle_connect_arguments",
    "parse_oracle_connection",
    "wallet_files",
]

DEFAULT_WALLET_ROOT = Path("/tmp/ocifn-wallets")
REQUIRED_FILES = ("tnsnames.ora", "ewallet.pem")
OPTIONAL_FILES = ("sqlnet.ora",)
WALLET_FILES = REQUIRED_FILES + OPTIONAL_FILES
MAX_FILE_BYTES = 1024 * 1024
MAX_CONNECT_TIMEOUT_SECONDS = 10.0
VERSION_FILE = ".version"

_ZIP_MAGIC = b"PK\x03\x04"
_BASE64_TEXT = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
_TNS_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")

WalletContent = bytes | str | Mapping[str, bytes | str]
SecretReader = Callable[[str], tuple[WalletContent, int | str]]


@dataclass(frozen=True)
class WalletLocation:
    """Where a wallet was written, for ``config_dir`` and ``wallet_location``."""

    config_dir: str
    wallet_location: str
    version: str


@dataclass(frozen=True)
class OracleConnection:
    """The Oracle connection secret, validated; ``repr`` hides the password."""

    user: str
    password: str
    dsn: str
    wallet_secret_ocid: str | None = None
    wallet_password_secret_ocid: str | None = None

    def __repr__(self) -> str:
        return (
            f"OracleConnection(user={self.user!r}, password='***', "
            f"dsn={self.dsn!r}, wallet_secret_ocid={self.wallet_secret_ocid!r})"
        )


def materialize_wallet(
    content: WalletContent,
    *,
    version: int | str,
    root: str | os.PathLike[str] | None = None,
    name: str = "default",
) -> WalletLocation:
    """Write the wallet files under ``root/name`` unless this version is there."""
    version_text = str(version)
    folder = Path(root if root is not None else DEFAULT_WALLET_ROOT) / name
    _ensure_private_folder(folder)

    if _current_version(folder) == version_text and _has_required_files(folder):
        return _location(folder, version_text)

    files = wallet_files(content)
    for file_name in WALLET_FILES:
        target = folder / file_name
        if file_name in files:
            _write_private_file(target, files[file_name])
        elif target.exists():
            target.unlink()

    # the version marker goes last: a crash midway leaves a folder rewritten
    # on the next call
    _write_private_file(folder / VERSION_FILE, version_text.encode())
    return _location(folder, version_text)


def wallet_files(content: WalletContent) -> dict[str, bytes]:
    """Return the thin-mode wallet files held by a secret's content."""
    if isinstance(content, Mapping):
        files = {key: _to_bytes(value) for key, value in content.items()}
    else:
        files = _files_from_bytes(_content_bytes(content))

    files = {key: value for key, value in files.items() if key in WALLET_FILES}
    missing = [file_name for file_name in REQUIRED_FILES if file_name not in files]
    if missing:
        raise _unusable(
            f"wallet lacks {', '.join(missing)}: store the Autonomous Database "
            "wallet zip, or a JSON object with tnsnames.ora and ewallet.pem"
        )
    for file_name, data in files.items():
        if len(data) > MAX_FILE_BYTES:
            raise _unusable(f"wallet file {file_name} is larger than 1 MiB")
    if b"-----BEGIN" not in files["ewallet.pem"]:
        raise _unusable("wallet file ewallet.pem holds no PEM block")
    return files


def parse_oracle_connection(
    secret: str | bytes | Mapping[str, Any],
) -> OracleConnection:
    """Validate the database connection secret of the Oracle backend."""
    if isinstance(secret, Mapping):
        document: Any = secret
    else:
        try:
            document = json.loads(secret)
        except ValueError as exc:
            raise _unusable("database connection secret is not JSON") from exc
    if not isinstance(document, Mapping):
        raise _unusable("database connection secret is not a JSON object")
    if document.get("backend") != "oracle":
        raise ConfigError('database connection secret has no "backend": "oracle"')

    values: dict[str, str | None] = {}
    for key in ("user", "password", "dsn"):
        value = document.get(key)
        if not isinstance(value, str) or not value:
            raise _unusable(f'database connection secret lacks a string "{key}"')
        values[key] = value
    for key in ("wallet_secret_ocid", "wallet_password_secret_ocid"):
        value = document.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise _unusable(f'database connection secret has a malformed "{key}"')
        values[key] = value

    connection = OracleConnection(**values)  # type: ignore[arg-type]
    if connection.wallet_password_secret_ocid and not connection.wallet_secret_ocid:
        raise _unusable(
            'database connection secret names "wallet_password_secret_ocid" '
            'without "wallet_secret_ocid"'
        )
    if _TNS_ALIAS.match(connection.dsn) and not connection.wallet_secret_ocid:
        raise ConfigError(
            f"dsn {connection.dsn!r} is a tnsnames alias, which needs a wallet: "
            'set "wallet_secret_ocid" or use the full TLS connect string'
        )
    return connection


def connect_arguments(
    connection: OracleConnection,
    *,
    deadline_seconds: float,
    wallet: WalletLocation | None = None,
    wallet_password: str | None = None,
) -> dict[str, Any]:
    """Build ``oracledb.connect`` keyword arguments that fail before the deadline."""
    if deadline_seconds <= 1.0:
        raise DatabaseError(
            f"only {deadline_seconds:.1f} s left: not enough to open a connection"
        )

    arguments: dict[str, Any] = {
        "user": connection.user,
        "password": connection.password,
        "dsn": connection.dsn,
        "tcp_connect_timeout": min(MAX_CONNECT_TIMEOUT_SECONDS, deadline_seconds / 2),
        "retry_count": 0,
    }
    if wallet is not None:
        arguments["config_dir"] = wallet.config_dir
        arguments["wallet_location"] = wallet.wallet_location
    if wallet_password is not None:
        arguments["wallet_password"] = wallet_password
    return arguments


def oracle_connect_arguments(
    secret: str | bytes | Mapping[str, Any],
    *,
    deadline_seconds: float,
    read_secret: SecretReader,
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Turn the connection secret into ``oracledb.connect`` keyword arguments.

    ``read_secret(ocid)`` returns ``(content, version)`` of a secret: content as
    the secret bundle's base64 text (or already decoded bytes), version its
    version number. It is called for the wallet and its password when the
    connection secret names them.
    """
    connection = parse_oracle_connection(secret)
    if connection.wallet_secret_ocid is None:
        return connect_arguments(connection, deadline_seconds=deadline_seconds)

    content, version = read_secret(connection.wallet_secret_ocid)
    wallet = materialize_wallet(
        content, version=version, root=root, name=_folder_name(connection)
    )
    wallet_password = None
    if connection.wallet_password_secret_ocid is not None:
        password_content, _ = read_secret(connection.wallet_password_secret_ocid)
        wallet_password = _password_text(password_content)
    return connect_arguments(
        connection,
        deadline_seconds=deadline_seconds,
        wallet=wallet,
        wallet_password=wallet_password,
    )


def _unusable(message: str) -> SecretError:
    """A secret whose content cannot be used: reading it again will not help."""
    return SecretError(message, retryable=False)


def _files_from_bytes(raw: bytes) -> dict[str, bytes]:
    if raw.startswith(_ZIP_MAGIC):
        return _files_from_zip(raw)

    stripped = raw.strip()
    if stripped.startswith(b"{"):
        try:
            document = json.loads(stripped)
        except ValueError as exc:
            raise _unusable("wallet secret looks like JSON but does not parse") from exc
        if not isinstance(document, dict):
            raise _unusable("wallet secret JSON is not an object of file names")
        return {key: _to_bytes(value) for key, value in document.items()}

    if stripped and _BASE64_TEXT.match(stripped):
        try:
            inner = base64.b64decode(stripped, validate=False)
        except (binascii.Error, ValueError):
            inner = b""
        if inner.startswith(_ZIP_MAGIC) or inner.lstrip().startswith(b"{"):
            raise _unusable(
                "wallet secret is base64-encoded twice: store the zip itself as the "
                "secret's content (oci vault secret create-base64 takes the base64 "
                "of the zip once)"
            )
    raise _unusable("wallet secret is neither a wallet zip nor a JSON object")


def _files_from_zip(raw: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise _unusable("wallet zip is damaged") from exc

    files: dict[str, bytes] = {}
    with archive:
        for info in archive.infolist():
            base_name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or base_name not in WALLET_FILES:
                continue
            if info.file_size > MAX_FILE_BYTES:
                raise _unusable(f"wallet file {base_name} is larger than 1 MiB")
            files[base_name] = archive.read(info)
    return files


def _content_bytes(content: bytes | str) -> bytes:
    if isinstance(content, bytes):
        return content
    if content.lstrip().startswith("{"):
        return content.encode()
    return _decode_once(content)


def _decode_once(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise _unusable("wallet secret content is not base64") from exc


def _to_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise _unusable("wallet file content is neither text nor bytes")


def _password_text(content: WalletContent) -> str:
    if isinstance(content, Mapping):
        raise _unusable("wallet password secret holds an object, not text")
    raw = _decode_once(content) if isinstance(content, str) else content
    try:
        return raw.decode().strip()
    except UnicodeDecodeError as exc:
        raise _unusable("wallet password secret is not UTF-8 text") from exc


def _folder_name(connection: OracleConnection) -> str:
    ocid = connection.wallet_secret_ocid or "default"
    return re.sub(r"[^A-Za-z0-9_-]", "_", ocid.rsplit(".", 1)[-1])[-48:]


def _ensure_private_folder(folder: Path) -> None:
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)

    details = os.lstat(folder)
    if not stat.S_ISDIR(details.st_mode):
        raise ConfigError(f"wallet folder {folder} exists and is not a folder")
    if details.st_uid != os.geteuid():
        raise ConfigError(f"wallet folder {folder} belongs to another user")
    os.chmod(folder, 0o700)


def _current_version(folder: Path) -> str | None:
    try:
        return (folder / VERSION_FILE).read_text().strip()
    except FileNotFoundError:
        return None


def _has_required_files(folder: Path) -> bool:
    return all((folder / file_name).is_file() for file_name in REQUIRED_FILES)


def _write_private_file(target: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _location(folder: Path, version: str) -> WalletLocation:
    return WalletLocation(
        config_dir=str(folder), wallet_location=str(folder), version=version
    )
