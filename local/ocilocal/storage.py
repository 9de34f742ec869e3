"""The local cloud's own durable state, in SQLite at DIR/cloud.db.

Streams, partitions and their messages, consumer groups with committed offsets
and reservations, vaults, secrets and secret versions, API keys and a few
settings. The server is one asyncio process, so calls run one at a time on the
event loop and each method is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_key (
    user_id TEXT NOT NULL, fingerprint TEXT NOT NULL, public_pem TEXT NOT NULL,
    PRIMARY KEY (user_id, fingerprint));
CREATE TABLE IF NOT EXISTS stream_pool (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, compartment_id TEXT NOT NULL,
    time_created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stream (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, stream_pool_id TEXT NOT NULL,
    compartment_id TEXT NOT NULL, partitions INTEGER NOT NULL,
    retention_in_hours INTEGER NOT NULL, time_created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS message (
    stream_id TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, timestamp INTEGER NOT NULL,
    PRIMARY KEY (stream_id, partition, offset));
CREATE INDEX IF NOT EXISTS message_time ON message (stream_id, partition, timestamp);
CREATE TABLE IF NOT EXISTS partition_head (
    stream_id TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (stream_id, partition));
CREATE TABLE IF NOT EXISTS group_partition (
    stream_id TEXT NOT NULL, group_name TEXT NOT NULL, partition INTEGER NOT NULL,
    committed_offset INTEGER, reserved_instance TEXT, reserved_until INTEGER,
    PRIMARY KEY (stream_id, group_name, partition));
CREATE TABLE IF NOT EXISTS group_instance (
    stream_id TEXT NOT NULL, group_name TEXT NOT NULL, instance_name TEXT NOT NULL,
    alive_until INTEGER NOT NULL, PRIMARY KEY (stream_id, group_name, instance_name));
CREATE TABLE IF NOT EXISTS vault (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, compartment_id TEXT NOT NULL,
    time_created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS secret (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, vault_id TEXT NOT NULL,
    compartment_id TEXT NOT NULL, description TEXT, metadata TEXT,
    current_version INTEGER NOT NULL DEFAULT 0,
    previous_version INTEGER, time_created INTEGER NOT NULL,
    UNIQUE (vault_id, name));
CREATE TABLE IF NOT EXISTS secret_version (
    secret_id TEXT NOT NULL, version_number INTEGER NOT NULL, name TEXT,
    content TEXT NOT NULL, pending INTEGER NOT NULL DEFAULT 0,
    time_created INTEGER NOT NULL, PRIMARY KEY (secret_id, version_number));
"""

# Columns added after the first release: (table, column, definition).
ADDED_COLUMNS = (
    ("stream_pool", "lifecycle_state", "TEXT NOT NULL DEFAULT 'ACTIVE'"),
    ("stream_pool", "state_changed_at", "INTEGER NOT NULL DEFAULT 0"),
    ("stream", "lifecycle_state", "TEXT NOT NULL DEFAULT 'ACTIVE'"),
    ("stream", "state_changed_at", "INTEGER NOT NULL DEFAULT 0"),
)

Row = sqlite3.Row


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return int(time.time() * 1000)


class Storage:
    """The cloud's state in one SQLite file; every method is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db: sqlite3.Connection | None = None

    def open(self) -> None:
        """Open (and create) the database."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self.db = sqlite3.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        for table, column, definition in ADDED_COLUMNS:
            present = {row["name"] for row in self._all(f"PRAGMA table_info({table})")}
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def close(self) -> None:
        """Close the database."""
        if self.db is not None:
            self.db.close()
            self.db = None

    @property
    def connection(self) -> sqlite3.Connection:
        """The open database; RuntimeError before `open` or after `close`."""
        if self.db is None:
            raise RuntimeError(f"the storage at {self.path} is not open")
        return self.db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an exception.

        The connection is in autocommit mode (``isolation_level=None``), where
        ``with connection`` opens no transaction; this one makes a method's
        writes one atomic commit instead of a commit per statement.
        """
        db = self.connection
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self.connection.execute(sql, args).fetchone()
        return row

    def _single(self, sql: str, *args: Any) -> Row:
        """The row of a query that always has one (an aggregate, a row just written)."""
        row = self._one(sql, *args)
        if row is None:
            raise RuntimeError(f"no row where one must be: {sql}")
        return row

    def _all(self, sql: str, *args: Any) -> list[Row]:
        return self.connection.execute(sql, args).fetchall()

    def _write(self, sql: str, *args: Any) -> None:
        with self._transaction() as db:
            db.execute(sql, args)

    # settings

    def get_meta(self, key: str) -> str | None:
        """A stored setting, or None."""
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self._write(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value
        )

    # API keys

    def add_api_key(self, user_id: str, fingerprint: str, public_pem: str) -> None:
        """Register a user's API public key."""
        self._write(
            "INSERT OR REPLACE INTO api_key VALUES (?, ?, ?)",
            user_id,
            fingerprint,
            public_pem,
        )

    def api_key(self, user_id: str, fingerprint: str) -> str | None:
        """The PEM public key of a user's API key, or None."""
        row = self._one(
            "SELECT public_pem FROM api_key WHERE user_id = ? AND fingerprint = ?",
            user_id,
            fingerprint,
        )
        return row["public_pem"] if row else None

    # stream pools and streams

    def create_stream_pool(
        self, pool_id: str, name: str, compartment_id: str, *, state: str = "ACTIVE"
    ) -> Row:
        """Create a stream pool in lifecycle state `state`."""
        stamp = now_ms()
        self._write(
            "INSERT INTO stream_pool (id, name, compartment_id, time_created,"
            " lifecycle_state, state_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
            pool_id,
            name,
            compartment_id,
            stamp,
            state,
            stamp,
        )
        return self._single("SELECT * FROM stream_pool WHERE id = ?", pool_id)

    def set_lifecycle_state(self, table: str, resource_id: str, state: str) -> None:
        """Move a stream or stream pool to a lifecycle state, stamped now."""
        if table not in ("stream", "stream_pool"):
            raise ValueError(f"no lifecycle in table {table}")
        self._write(
            f"UPDATE {table} SET lifecycle_state = ?, state_changed_at = ?"
            " WHERE id = ?",
            state,
            now_ms(),
            resource_id,
        )

    def stream_pool(self, pool_id: str) -> Row | None:
        """A stream pool by OCID."""
        return self._one("SELECT * FROM stream_pool WHERE id = ?", pool_id)

    def stream_pools(self, *, compartment_id: str | None = None) -> list[Row]:
        """All stream pools, optionally of one compartment."""
        rows = self._all("SELECT * FROM stream_pool ORDER BY time_created")
        return [r for r in rows if compartment_id in (None, r["compartment_id"])]

    def create_stream(
        self,
        stream_id: str,
        name: str,
        *,
        stream_pool_id: str,
        compartment_id: str,
        partitions: int,
        retention_in_hours: int = 24,
        state: str = "ACTIVE",
    ) -> Row:
        """Create a stream in lifecycle state `state`."""
        stamp = now_ms()
        self._write(
            "INSERT INTO stream (id, name, stream_pool_id, compartment_id, partitions,"
            " retention_in_hours, time_created, lifecycle_state, state_changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            stream_id,
            name,
            stream_pool_id,
            compartment_id,
            partitions,
            retention_in_hours,
            stamp,
            state,
            stamp,
        )
        return self._single("SELECT * FROM stream WHERE id = ?", stream_id)

    def stream(self, stream_id: str) -> Row | None:
        """A stream by OCID."""
        return self._one("SELECT * FROM stream WHERE id = ?", stream_id)

    def streams(self) -> list[Row]:
        """All streams, oldest first."""
        return self._all("SELECT * FROM stream ORDER BY time_created, name")

    # messages

    def append_messages(
        self, stream_id: str, entries: list[tuple[int, bytes | None, bytes]]
    ) -> list[tuple[int, int, int]]:
        """Append (partition, key, value) entries; return (partition, offset, ms)."""
        stamp = now_ms()
        placed = []
        with self._transaction() as db:
            next_offsets: dict[int, int] = {}
            for partition, key, value in entries:
                if partition not in next_offsets:
                    next_offsets[partition] = self._next_offset(stream_id, partition)
                offset = next_offsets[partition]
                next_offsets[partition] = offset + 1
                db.execute(
                    "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)",
                    (stream_id, partition, offset, key, value, stamp),
                )
                placed.append((partition, offset, stamp))
            for partition, following in next_offsets.items():
                db.execute(
                    "INSERT OR REPLACE INTO partition_head VALUES (?, ?, ?)",
                    (stream_id, partition, following),
                )
        return placed

    def _next_offset(self, stream_id: str, partition: int) -> int:
        """The offset the partition's next message gets (kept past retention)."""
        head = self._one(
            "SELECT next_offset FROM partition_head WHERE stream_id = ?"
            " AND partition = ?",
            stream_id,
            partition,
        )
        row = self._single(
            "SELECT MAX(offset) AS last FROM message"
            " WHERE stream_id = ? AND partition = ?",
            stream_id,
            partition,
        )
        after_last = 0 if row["last"] is None else row["last"] + 1
        return max(after_last, head["next_offset"] if head else 0)

    def partition_bounds(self, stream_id: str, partition: int) -> tuple[int, int]:
        """(first offset kept, offset the next message will get)."""
        following = self._next_offset(stream_id, partition)
        row = self._single(
            "SELECT MIN(offset) AS first FROM message"
            " WHERE stream_id = ? AND partition = ?",
            stream_id,
            partition,
        )
        first = following if row["first"] is None else row["first"]
        return first, following

    def purge_messages(self, stream_id: str, partitions: int, before_ms: int) -> int:
        """Delete a stream's messages older than `before_ms`; return how many.

        Each partition is probed through the (partition, timestamp) index
        first, so a stream with nothing to purge costs one lookup a partition.
        """
        deleted = 0
        with self._transaction() as db:
            for partition in range(partitions):
                if not self._one(
                    "SELECT 1 FROM message WHERE stream_id = ? AND partition = ?"
                    " AND timestamp < ? LIMIT 1",
                    stream_id,
                    partition,
                    before_ms,
                ):
                    continue
                db.execute(
                    "INSERT OR IGNORE INTO partition_head VALUES (?, ?, ?)",
                    (stream_id, partition, self._next_offset(stream_id, partition)),
                )
                cursor = db.execute(
                    "DELETE FROM message WHERE stream_id = ? AND partition = ?"
                    " AND timestamp < ?",
                    (stream_id, partition, before_ms),
                )
                deleted += cursor.rowcount
        return deleted

    def offset_at_time(self, stream_id: str, partition: int, epoch_ms: int) -> int:
        """The first offset whose timestamp is at or after `epoch_ms`."""
        row = self._single(
            "SELECT MIN(offset) AS offset FROM message"
            " WHERE stream_id = ? AND partition = ? AND timestamp >= ?",
            stream_id,
            partition,
            epoch_ms,
        )
        if row["offset"] is None:
            return self.partition_bounds(stream_id, partition)[1]
        return row["offset"]

    def read_messages(
        self, stream_id: str, partition: int, from_offset: int, limit: int
    ) -> list[Row]:
        """Up to `limit` messages of a partition from `from_offset` on."""
        return self._all(
            "SELECT * FROM message WHERE stream_id = ? AND partition = ?"
            " AND offset >= ? ORDER BY offset LIMIT ?",
            stream_id,
            partition,
            from_offset,
            limit,
        )

    # consumer groups

    def group_partitions(self, stream_id: str, group_name: str) -> list[Row]:
        """The group's row per partition (committed offset and reservation)."""
        return self._all(
            "SELECT * FROM group_partition WHERE stream_id = ? AND group_name = ?"
            " ORDER BY partition",
            stream_id,
            group_name,
        )

    def ensure_group(self, stream_id: str, group_name: str, partitions: int) -> None:
        """Create the group's partition rows if missing."""
        with self._transaction() as db:
            for partition in range(partitions):
                db.execute(
                    "INSERT OR IGNORE INTO group_partition (stream_id, group_name,"
                    " partition) VALUES (?, ?, ?)",
                    (stream_id, group_name, partition),
                )

    def save_group_partitions(
        self, stream_id: str, group_name: str, rows: list[dict[str, Any]]
    ) -> None:
        """Write back committed offsets and reservations of a group's partitions."""
        with self._transaction() as db:
            for row in rows:
                db.execute(
                    "UPDATE group_partition SET committed_offset = ?,"
                    " reserved_instance = ?, reserved_until = ?"
                    " WHERE stream_id = ? AND group_name = ? AND partition = ?",
                    (
                        row["committed_offset"],
                        row["reserved_instance"],
                        row["reserved_until"],
                        stream_id,
                        group_name,
                        row["partition"],
                    ),
                )

    def touch_instance(
        self, stream_id: str, group_name: str, instance_name: str, alive_until: int
    ) -> None:
        """Record that a group instance is alive until `alive_until` (ms)."""
        self._write(
            "INSERT OR REPLACE INTO group_instance VALUES (?, ?, ?, ?)",
            stream_id,
            group_name,
            instance_name,
            alive_until,
        )

    def live_instances(
        self, stream_id: str, group_name: str, at_ms: int
    ) -> dict[str, int]:
        """The group's instances alive at `at_ms`: name -> alive until, by name."""
        rows = self._all(
            "SELECT instance_name, alive_until FROM group_instance WHERE stream_id = ?"
            " AND group_name = ? AND alive_until > ? ORDER BY instance_name",
            stream_id,
            group_name,
            at_ms,
        )
        return {row["instance_name"]: row["alive_until"] for row in rows}

    # vaults and secrets

    def create_vault(self, vault_id: str, name: str, compartment_id: str) -> Row:
        """Create a vault."""
        self._write(
            "INSERT INTO vault VALUES (?, ?, ?, ?)",
            vault_id,
            name,
            compartment_id,
            now_ms(),
        )
        return self._single("SELECT * FROM vault WHERE id = ?", vault_id)

    def vault(self, vault_id: str) -> Row | None:
        """A vault by OCID."""
        return self._one("SELECT * FROM vault WHERE id = ?", vault_id)

    def vaults(self) -> list[Row]:
        """All vaults."""
        return self._all("SELECT * FROM vault ORDER BY time_created")

    def create_secret(
        self,
        secret_id: str,
        name: str,
        *,
        vault_id: str,
        compartment_id: str,
        content: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        version_name: str | None = None,
    ) -> Row:
        """Create a secret whose version 1 (base64 `content`) is CURRENT."""
        stamp = now_ms()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO secret VALUES (?, ?, ?, ?, ?, ?, 1, NULL, ?)",
                (
                    secret_id,
                    name,
                    vault_id,
                    compartment_id,
                    description,
                    json.dumps(metadata) if metadata else None,
                    stamp,
                ),
            )
            db.execute(
                "INSERT INTO secret_version VALUES (?, 1, ?, ?, 0, ?)",
                (secret_id, version_name, content, stamp),
            )
        return self._single("SELECT * FROM secret WHERE id = ?", secret_id)

    def secret(self, secret_id: str) -> Row | None:
        """A secret by OCID."""
        return self._one("SELECT * FROM secret WHERE id = ?", secret_id)

    def secret_by_name(self, vault_id: str, name: str) -> Row | None:
        """A secret by vault and name."""
        return self._one(
            "SELECT * FROM secret WHERE vault_id = ? AND name = ?", vault_id, name
        )

    def secrets(self) -> list[Row]:
        """All secrets, oldest first."""
        return self._all("SELECT * FROM secret ORDER BY time_created, name")

    def add_secret_version(
        self,
        secret_id: str,
        content: str,
        *,
        pending: bool = False,
        version_name: str | None = None,
    ) -> int:
        """Add a version; unless pending it becomes CURRENT. Return its number."""
        with self._transaction():
            return self._add_version(
                secret_id, content, pending=pending, version_name=version_name
            )

    def update_secret(
        self,
        secret_id: str,
        *,
        content: str | None = None,
        pending: bool = False,
        version_name: str | None = None,
        current_version: int | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Apply an UpdateSecret in one transaction: all of it, or none of it.

        `content` adds a version (CURRENT unless `pending`); `current_version`
        then promotes a version, the old CURRENT becoming PREVIOUS; a
        description or metadata given replaces the secret's.
        """
        with self._transaction() as db:
            if content is not None:
                self._add_version(
                    secret_id, content, pending=pending, version_name=version_name
                )
            if current_version is not None:
                self._make_current(secret_id, current_version)
            if description is not None:
                db.execute(
                    "UPDATE secret SET description = ? WHERE id = ?",
                    (description, secret_id),
                )
            if metadata is not None:
                db.execute(
                    "UPDATE secret SET metadata = ? WHERE id = ?",
                    (json.dumps(metadata), secret_id),
                )

    def _add_version(
        self,
        secret_id: str,
        content: str,
        *,
        pending: bool,
        version_name: str | None,
    ) -> int:
        """Insert the next version inside the caller's transaction."""
        row = self._single(
            "SELECT MAX(version_number) AS last FROM secret_version"
            " WHERE secret_id = ?",
            secret_id,
        )
        number = (row["last"] or 0) + 1
        self.connection.execute(
            "INSERT INTO secret_version VALUES (?, ?, ?, ?, ?, ?)",
            (secret_id, number, version_name, content, int(pending), now_ms()),
        )
        if not pending:
            self._make_current(secret_id, number)
        return number

    def _make_current(self, secret_id: str, version_number: int) -> None:
        self.connection.execute(
            "UPDATE secret SET previous_version = current_version,"
            " current_version = ? WHERE id = ? AND current_version != ?",
            (version_number, secret_id, version_number),
        )
        self.connection.execute(
            "UPDATE secret_version SET pending = 0"
            " WHERE secret_id = ? AND version_number = ?",
            (secret_id, version_number),
        )

    def secret_versions(self, secret_id: str) -> list[Row]:
        """All versions of a secret, newest first."""
        return self._all(
            "SELECT * FROM secret_version WHERE secret_id = ?"
            " ORDER BY version_number DESC",
            secret_id,
        )
