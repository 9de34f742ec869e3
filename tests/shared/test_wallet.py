"""Tests of ocifn.wallet: wallet files on disk and oracledb connect arguments."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import oracledb
import pytest
from ocifn import wallet
from ocifn.errors import ConfigError, DatabaseError, OcifnError, SecretError

TNSNAMES = (
    "demo_high = (description= (retry_count=20)(retry_delay=3)"
    "(address=(protocol=tcps)(port=1522)(host=adb.example.oraclecloud.com))"
    "(connect_data=(service_name=abc_demo_high.adb.oraclecloud.com))"
    "(security=(ssl_server_dn_match=yes)))\n"
)
EWALLET_PEM = (
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"
)
TLS_DSN = (
    "(description=(address=(protocol=tcps)(port=1521)"
    "(host=adb.example.oraclecloud.com))"
    "(connect_data=(service_name=abc_demo_high.adb.oraclecloud.com))"
    "(security=(ssl_server_dn_match=yes)))"
)


def console_zip(tnsnames: str = TNSNAMES, *, extra: bool = True) -> bytes:
    """A zip laid out like the one the console downloads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tnsnames.ora", tnsnames)
        archive.writestr("ewallet.pem", EWALLET_PEM)
        archive.writestr("sqlnet.ora", "SSL_SERVER_DN_MATCH=yes\n")
        if extra:
            archive.writestr("cwallet.sso", b"\x00binary")
            archive.writestr("ojdbc.properties", "oracle.net.wallet_location=x\n")
            archive.writestr("README", "wallet readme\n")
    return buffer.getvalue()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_materialize_wallet_console_zip_writes_private_files(tmp_path):
    location = wallet.materialize_wallet(console_zip(), version=1, root=tmp_path)

    folder = Path(location.config_dir)
    assert folder.parent == tmp_path
    assert location.wallet_location == location.config_dir
    assert mode_of(folder) == 0o700
    names = sorted(path.name for path in folder.iterdir())
    assert names == [".version", "ewallet.pem", "sqlnet.ora", "tnsnames.ora"]
    for path in folder.iterdir():
        assert mode_of(path) == 0o600, path.name
    assert (folder / "tnsnames.ora").read_text() == TNSNAMES


def test_materialize_wallet_bundle_base64_text_decodes_once(tmp_path):
    bundle_content = base64.b64encode(console_zip()).decode()

    location = wallet.materialize_wallet(bundle_content, version="3", root=tmp_path)

    assert (Path(location.config_dir) / "ewallet.pem").read_text() == EWALLET_PEM
    assert location.version == "3"


def test_materialize_wallet_individual_files_writes_both(tmp_path):
    files = {"tnsnames.ora": TNSNAMES, "ewallet.pem": EWALLET_PEM.encode()}

    location = wallet.materialize_wallet(files, version=1, root=tmp_path)

    folder = Path(location.config_dir)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "ewallet.pem",
        "tnsnames.ora",
    ]


def test_materialize_wallet_json_files_secret_writes_both(tmp_path):
    document = json.dumps({"tnsnames.ora": TNSNAMES, "ewallet.pem": EWALLET_PEM})
    bundle_content = base64.b64encode(document.encode()).decode()

    location = wallet.materialize_wallet(bundle_content, version=1, root=tmp_path)

    assert (Path(location.config_dir) / "tnsnames.ora").read_text() == TNSNAMES


def test_materialize_wallet_zip_encoded_twice_says_so(tmp_path):
    twice = base64.b64encode(base64.b64encode(console_zip())).decode()

    with pytest.raises(SecretError, match="base64-encoded twice") as caught:
        wallet.materialize_wallet(twice, version=1, root=tmp_path)

    assert caught.value.retryable is False


def test_materialize_wallet_decoded_bytes_still_base64_says_twice(tmp_path):
    decoded_once = base64.b64encode(console_zip())

    with pytest.raises(SecretError, match="base64-encoded twice"):
        wallet.materialize_wallet(decoded_once, version=1, root=tmp_path)


def test_materialize_wallet_zip_without_pem_names_missing_file(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tnsnames.ora", TNSNAMES)

    with pytest.raises(SecretError, match="ewallet.pem"):
        wallet.materialize_wallet(buffer.getvalue(), version=1, root=tmp_path)

    assert not any((tmp_path / "default").glob("*.ora"))


def test_materialize_wallet_garbage_raises_ocifn_error(tmp_path):
    with pytest.raises(OcifnError, match="neither a wallet zip nor a JSON"):
        wallet.materialize_wallet(b"\x00\x01not a wallet", version=1, root=tmp_path)


def test_materialize_wallet_same_version_leaves_files_alone(tmp_path):
    first = wallet.materialize_wallet(console_zip(), version=7, root=tmp_path)
    tnsnames = Path(first.config_dir) / "tnsnames.ora"
    inode_before = os.stat(tnsnames).st_ino

    second = wallet.materialize_wallet(
        console_zip("other = (description=)\n"), version=7, root=tmp_path
    )

    assert second == first
    assert os.stat(tnsnames).st_ino == inode_before
    assert tnsnames.read_text() == TNSNAMES


def test_materialize_wallet_new_version_rewrites_files(tmp_path):
    wallet.materialize_wallet(console_zip(), version=7, root=tmp_path)
    new_tnsnames = "other = (description=(address=(host=h)(port=1)))\n"

    location = wallet.materialize_wallet(
        {"tnsnames.ora": new_tnsnames, "ewallet.pem": EWALLET_PEM},
        version=8,
        root=tmp_path,
    )

    folder = Path(location.config_dir)
    assert (folder / "tnsnames.ora").read_text() == new_tnsnames
    assert not (folder / "sqlnet.ora").exists()
    assert (folder / ".version").read_text() == "8"
    assert mode_of(folder / "tnsnames.ora") == 0o600
    assert not [p for p in folder.iterdir() if p.name.startswith(".tnsnames")]


def test_materialize_wallet_loose_folder_mode_is_tightened(tmp_path):
    folder = tmp_path / "default"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)

    wallet.materialize_wallet(console_zip(), version=1, root=tmp_path)

    assert mode_of(folder) == 0o700


def test_materialize_wallet_symlinked_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "default").symlink_to(elsewhere)

    with pytest.raises(ConfigError, match="not a folder"):
        wallet.materialize_wallet(console_zip(), version=1, root=root)

    assert list(elsewhere.iterdir()) == []


def test_materialize_wallet_default_root_is_under_tmp():
    assert wallet.DEFAULT_WALLET_ROOT.parts[:2] == ("/", "tmp")


def test_parse_oracle_connection_wallet_secret_keeps_ocids():
    secret = json.dumps(
        {
            "backend": "oracle",
            "user": "APP",
            "password": "s3cret-Passw0rd",
            "dsn": "demo_high",
            "wallet_secret_ocid": "ocid1.vaultsecret.oc1..wallet",
            "wallet_password_secret_ocid": "ocid1.vaultsecret.oc1..walletpw",
        }
    )

    connection = wallet.parse_oracle_connection(secret)

    assert connection.wallet_secret_ocid == "ocid1.vaultsecret.oc1..wallet"
    assert "s3cret" not in repr(connection)


def test_parse_oracle_connection_alias_without_wallet_raises_config_error():
    secret = {"backend": "oracle", "user": "APP", "password": "pw", "dsn": "demo_high"}

    with pytest.raises(ConfigError, match="wallet_secret_ocid"):
        wallet.parse_oracle_connection(secret)


def test_parse_oracle_connection_missing_password_hides_values():
    secret = {"backend": "oracle", "user": "APP", "dsn": TLS_DSN}

    with pytest.raises(SecretError, match='"password"') as caught:
        wallet.parse_oracle_connection(secret)

    assert "APP" not in str(caught.value)


def test_parse_oracle_connection_sqlite_backend_raises_config_error():
    with pytest.raises(ConfigError, match="oracle"):
        wallet.parse_oracle_connection({"backend": "sqlite", "path": "/x.db"})


def test_connect_arguments_tls_string_has_timeout_below_deadline():
    connection = wallet.parse_oracle_connection(
        {"backend": "oracle", "user": "APP", "password": "pw", "dsn": TLS_DSN}
    )

    arguments = wallet.connect_arguments(connection, deadline_seconds=6.0)

    assert arguments["tcp_connect_timeout"] == 3.0
    assert "config_dir" not in arguments
    params = oracledb.ConnectParams(
        **{key: value for key, value in arguments.items() if key != "dsn"}
    )
    params.parse_connect_string(arguments["dsn"])
    assert params.host == "adb.example.oraclecloud.com"
    assert params.protocol == "tcps"


def test_connect_arguments_long_deadline_caps_timeout():
    connection = wallet.OracleConnection(user="u", password="p", dsn=TLS_DSN)

    arguments = wallet.connect_arguments(connection, deadline_seconds=240.0)

    assert arguments["tcp_connect_timeout"] == wallet.MAX_CONNECT_TIMEOUT_SECONDS


def test_connect_arguments_spent_deadline_raises_database_error():
    connection = wallet.OracleConnection(user="u", password="p", dsn=TLS_DSN)

    with pytest.raises(DatabaseError, match="not enough"):
        wallet.connect_arguments(connection, deadline_seconds=0.5)


def test_oracle_connect_arguments_wallet_alias_resolves_in_oracledb(tmp_path):
    secrets = {
        "ocid1.vaultsecret.oc1..wallet": (
            base64.b64encode(console_zip()).decode(),
            4,
        ),
        "ocid1.vaultsecret.oc1..walletpw": (
            base64.b64encode(b"W4llet-pw\n").decode(),
            1,
        ),
    }
    calls: list[str] = []

    def read_secret(ocid: str):
        calls.append(ocid)
        return secrets[ocid]

    connection_secret = {
        "backend": "oracle",
        "user": "APP",
        "password": "pw",
        "dsn": "demo_high",
        "wallet_secret_ocid": "ocid1.vaultsecret.oc1..wallet",
        "wallet_password_secret_ocid": "ocid1.vaultsecret.oc1..walletpw",
    }

    arguments = wallet.oracle_connect_arguments(
        connection_secret, deadline_seconds=30.0, read_secret=read_secret, root=tmp_path
    )

    assert calls == list(secrets)
    assert arguments["wallet_password"] == "W4llet-pw"
    assert Path(arguments["config_dir"]).parent == tmp_path
    params = oracledb.ConnectParams(
        **{key: value for key, value in arguments.items() if key != "dsn"}
    )
    params.parse_connect_string(arguments["dsn"])
    assert params.host == "adb.example.oraclecloud.com"
    assert params.port == 1522
    assert params.service_name == "abc_demo_high.adb.oraclecloud.com"


def test_oracle_connect_arguments_without_wallet_reads_no_secret():
    def read_secret(ocid: str):
        raise AssertionError(f"unexpected read of {ocid}")

    arguments = wallet.oracle_connect_arguments(
        {"backend": "oracle", "user": "APP", "password": "pw", "dsn": TLS_DSN},
        deadline_seconds=30.0,
        read_secret=read_secret,
    )

    assert arguments["dsn"] == TLS_DSN
