"""Where drained records end up: one small interface, one backend per database.

``write_batch`` writes a batch of persons and dead letters in ONE transaction:
all of it is kept or none of it. A person replaces the stored row only when
its source ``(src_partition, src_offset)`` is greater than the stored one, so
a replay changes nothing. The connection secret's ``backend`` field picks the
backend (see ``open_store``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ocifn.errors import (
    ConfigError,
    ConnectionLost,
    DatabaseAuthError,
    DatabaseError,
)
from ocifn.records import Person

logger = logging.getLogger(__name__)

BACKEND_FIELD = "backend"
SQLITE_BUSY_TIMEOUT_MS = 10_000
DEFAULT_CONNECT_DEADLINE_SECONDS = 30.0
ORACLE_AUTH_ERROR_CODES = frozenset({1017, 1005, 28000, 28001})
ORACLE_DUPLICATE_KEY_CODE = 1
# NOTE: errors that mean the session is gone (closed by the driver, the server
# or the network), not that the statement was wrong: reconnecting may help.
ORACLE_CONNECTION_LOST_CODES = frozenset(
    {
        "DPY-1001",  # not connected
        "DPY-4011",  # the database or network closed the connection
        "ORA-03113",  # end-of-file on communication channel
        "ORA-03114",  # not connected to ORACLE
        "ORA-03135",  # connection lost contact
        "ORA-02396",  # exceeded maximum idle time
    }
)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS person (
    name TEXT PRIMARY KEY,
    age INTEGER NOT NULL CHECK (age BETWEEN 0 AND 150),
    comment_text TEXT,
    src_partition INTEGER NOT NULL,
    src_offset INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter (
    src_partition INTEGER NOT NULL,
    src_offset INTEGER NOT NULL,
    message_key BLOB,
    raw_value BLOB NOT NULL,
    reason TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (src_partition, src_offset)
);
"""

SQLITE_UPSERT_PERSON = """
INSERT INTO person (name, age, comment_text, src_partition, src_offset, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
    age = excluded.age,
    comment_text = excluded.comment_text,
    src_partition = excluded.src_partition,
    src_offset = excluded.src_offset,
    updated_at = excluded.updated_at
WHERE (excluded.src_partition, excluded.src_offset)
    > (person.src_partition, person.src_offset)
"""

SQLITE_INSERT_DEAD_LETTER = """
INSERT OR IGNORE INTO dead_letter
    (src_partition, src_offset, message_key, raw_value, reason, received_at)
VALUES (?, ?, ?, ?, ?, ?)
"""

ORACLE_MERGE_PERSON = """
MERGE INTO person p
USING (
    SELECT :name AS name, :age AS age, :comment_text AS comment_text,
           :src_partition AS src_partition, :src_offset AS src_offset
    FROM dual
) s
ON (p.name = s.name)
WHEN MATCHED THEN UPDATE SET
    p.age = s.age,
    p.comment_text = s.comment_text,
    p.src_partition = s.src_partition,
    p.src_offset = s.src_offset,
    p.updated_at = SYSTIMESTAMP
    WHERE s.src_partition > p.src_partition
       OR (s.src_partition = p.src_partition AND s.src_offset > p.src_offset)
WHEN NOT MATCHED THEN INSERT
    (name, age, comment_text, src_partition, src_offset, updated_at)
    VALUES (s.name, s.age, s.comment_text, s.src_partition, s.src_offset,
            SYSTIMESTAMP)
"""

# NOTE: dead letters are plain inserts run with batch errors; a duplicate key
# (ORA-00001) means the message was already kept and is ignored. A MERGE would
# need the BLOB in a SELECT FROM dual, which binds poorly for large values.
ORACLE_INSERT_DEAD_LETTER = """
INSERT INTO dead_letter
    (src_partition, src_offset, message_key, raw_value, reason, received_at)
VALUES (:src_partition, :src_offset, :message_key, :raw_value, :reason,
        SYSTIMESTAMP)
"""

ORACLE_COUNT_PERSONS = "SELECT COUNT(*) FROM person"
ORACLE_COUNT_DEAD_LETTERS = "SELECT COUNT(*) FROM dead_letter"

REASON_MAX_CHARS = 400


@dataclass(frozen=True)
class SourcedPerson:
    """A person and the stream position it was read from."""

    person: Person
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be used, kept with why."""

    partition: int
    offset: int
    key: bytes | None
    raw_value: bytes = field(repr=False)
    reason: str


@dataclass(frozen=True)
class BatchCounts:
    """What one batch did; the three add up to the records of the batch.

    ``upserted`` counts the persons written (new, or newer than the stored
    row), ``dead_lettered`` the dead letters stored for the first time, and
    ``unchanged`` the rest: records already stored as new or newer (a replay),
    which the database left as they were.
    """

    upserted: int = 0
    dead_lettered: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class TableCounts:
    """Rows in each table."""

    persons: int
    dead_letters: int


class Store(Protocol):
    """A database that keeps persons and dead letters."""

    def write_batch(
        self, persons: Sequence[SourcedPerson], dead_letters: Sequence[DeadLetter]
    ) -> BatchCounts:
        """Write everything in one transaction; DatabaseError and nothing kept."""
        ...

    def counts(self) -> TableCounts:
        """How many rows each table holds."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def open_store(
    connection: Mapping[str, Any],
    *,
    read_secret: Callable[[str], tuple[bytes, int]] | None = None,
    deadline_seconds: float = DEFAULT_CONNECT_DEADLINE_SECONDS,
) -> Store:
    """The backend the connection secret's ``backend`` field names.

    ``read_secret(ocid)`` gives ``(content, version)`` of the wallet secrets an
    Oracle connection secret may name; ``deadline_seconds`` bounds the connect.
    """
    backend = connection.get(BACKEND_FIELD)
    if backend == "sqlite":
        path = connection.get("path")
        if not isinstance(path, str) or not path:
            raise ConfigError(
                "database connection secret field 'path' should hold the SQLite "
                "file path"
            )
        return SqliteStore(path)

    if backend == "oracle":
        from ocifn import wallet

        arguments = wallet.oracle_connect_arguments(
            connection,
            deadline_seconds=deadline_seconds,
            read_secret=read_secret or _no_wallet_reader,
        )
        return OracleStore.connect(arguments)

    raise ConfigError(
        f"database connection secret field {BACKEND_FIELD!r} should hold "
        "'sqlite' or 'oracle'"
    )


def _no_wallet_reader(secret_id: str) -> tuple[bytes, int]:
    raise ConfigError(
        "the database connection secret names a wallet secret, "
        "but no secret reader was given to read it"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _reason(reason: str) -> str:
    return reason[:REASON_MAX_CHARS]


class SqliteStore:
    """SQLite in WAL mode; creates the tables when they are missing."""

    def __init__(self, path: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS):
        self._path = path
        try:
            self._connection = sqlite3.connect(
                path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.executescript(SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            raise DatabaseError(
                "could not open the SQLite database",
                context={"operation": "open", "error": type(exc).__name__},
            ) from exc

    def write_batch(
        self, persons: Sequence[SourcedPerson], dead_letters: Sequence[DeadLetter]
    ) -> BatchCounts:
        now = _now()
        person_rows = [
            (
                item.person.name,
                item.person.age,
                item.person.comment,
                item.partition,
                item.offset,
                now,
            )
            for item in persons
        ]
        dead_letter_rows = [
            (
                letter.partition,
                letter.offset,
                letter.key,
                letter.raw_value,
                _reason(letter.reason),
                now,
            )
            for letter in dead_letters
        ]

        try:
            cursor = self._connection.cursor()
        except sqlite3.ProgrammingError as exc:
            raise ConnectionLost(
                "the SQLite connection is closed",
                context={"operation": "write_batch"},
            ) from exc
        try:
            cursor.execute("BEGIN IMMEDIATE")
            changed = self._changes()
            cursor.executemany(SQLITE_UPSERT_PERSON, person_rows)
            persons_changed = self._changes() - changed
            cursor.executemany(SQLITE_INSERT_DEAD_LETTER, dead_letter_rows)
            letters_changed = self._changes() - changed - persons_changed
            cursor.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            raise DatabaseError(
                "the SQLite transaction failed and was rolled back",
                context={"operation": "write_batch", "error": type(exc).__name__},
            ) from exc
        finally:
            cursor.close()

        return BatchCounts(
            upserted=persons_changed,
            dead_lettered=letters_changed,
            unchanged=len(person_rows)
            - persons_changed
            + len(dead_letter_rows)
            - letters_changed,
        )

    def counts(self) -> TableCounts:
        persons = self._connection.execute("SELECT COUNT(*) FROM person").fetchone()
        letters = self._connection.execute(
            "SELECT COUNT(*) FROM dead_letter"
        ).fetchone()

        return TableCounts(persons=persons[0], dead_letters=letters[0])

    def close(self) -> None:
        self._connection.close()

    def _changes(self) -> int:
        return self._connection.total_changes


class OracleStore:
    """Oracle Database through python-oracledb in thin mode (no Instant Client)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @classmethod
    def connect(cls, arguments: Mapping[str, Any]) -> OracleStore:
        """Connect with ``oracledb.connect`` keyword arguments.

        They are user, password and dsn, plus config_dir, wallet_location and
        wallet_password for a wallet (see ``ocifn.wallet``).
        """
        import oracledb

        try:
            database = oracledb.connect(**arguments)
        except oracledb.Error as exc:
            raise _oracle_error("connect", exc) from exc

        return cls(database)

    def write_batch(
        self, persons: Sequence[SourcedPerson], dead_letters: Sequence[DeadLetter]
    ) -> BatchCounts:
        import oracledb

        person_rows = [
            {
                "name": item.person.name,
                "age": item.person.age,
                "comment_text": item.person.comment,
                "src_partition": item.partition,
                "src_offset": item.offset,
            }
            for item in persons
        ]
        dead_letter_rows = [
            {
                "src_partition": letter.partition,
                "src_offset": letter.offset,
                "message_key": letter.key,
                "raw_value": letter.raw_value,
                "reason": _reason(letter.reason),
            }
            for letter in dead_letters
        ]

        try:
            with self._connection.cursor() as cursor:
                persons_changed = 0
                if person_rows:
                    cursor.executemany(
                        ORACLE_MERGE_PERSON, person_rows, batcherrors=True
                    )
                    _raise_batch_errors(
                        cursor.getbatcherrors(), table="person", ignore=frozenset()
                    )
                    persons_changed = cursor.rowcount
                duplicates = 0
                if dead_letter_rows:
                    cursor.setinputsizes(
                        message_key=oracledb.DB_TYPE_RAW,
                        raw_value=oracledb.DB_TYPE_BLOB,
                    )
                    cursor.executemany(
                        ORACLE_INSERT_DEAD_LETTER, dead_letter_rows, batcherrors=True
                    )
                    duplicates = _raise_batch_errors(
                        cursor.getbatcherrors(),
                        table="dead_letter",
                        ignore=frozenset({ORACLE_DUPLICATE_KEY_CODE}),
                    )
            self._connection.commit()
        except oracledb.Error as exc:
            self._rollback()
            raise _oracle_error("write_batch", exc) from exc
        except DatabaseError:
            self._rollback()
            raise

        return BatchCounts(
            upserted=persons_changed,
            dead_lettered=len(dead_letter_rows) - duplicates,
            unchanged=len(person_rows) - persons_changed + duplicates,
        )

    def counts(self) -> TableCounts:
        import oracledb

        try:
            with self._connection.cursor() as cursor:
                persons = cursor.execute(ORACLE_COUNT_PERSONS).fetchone()[0]
                letters = cursor.execute(ORACLE_COUNT_DEAD_LETTERS).fetchone()[0]
        except oracledb.Error as exc:
            raise _oracle_error("counts", exc) from exc

        return TableCounts(persons=persons, dead_letters=letters)

    def close(self) -> None:
        self._connection.close()

    def _rollback(self) -> None:
        try:
            self._connection.rollback()
        except Exception:
            logger.warning("rollback failed; the connection will be dropped")


def _raise_batch_errors(
    errors: Sequence[Any], *, table: str, ignore: frozenset[int]
) -> int:
    """Count the batch errors with an ignored code; DatabaseError for any other.

    The error names the table, the row's index in the batch and the Oracle
    code (``ORA-nnnnn``), never the driver's message, which may quote values.
    """
    ignored = 0
    for error in errors:
        if error.code in ignore:
            ignored += 1
            continue
        raise DatabaseError(
            "a row of the batch was refused; the transaction was rolled back",
            context={
                "operation": "write_batch",
                "table": table,
                "row": error.offset,
                "error": error.full_code,
            },
        )

    return ignored


def _oracle_error(operation: str, exc: Exception) -> DatabaseError:
    error = exc.args[0] if exc.args else None
    code = getattr(error, "code", None)
    full_code = getattr(error, "full_code", None)
    context = {"operation": operation, "error": full_code or type(exc).__name__}
    if code in ORACLE_AUTH_ERROR_CODES:
        return DatabaseAuthError(
            "the database refused the credentials of the connection secret",
            context=context,
        )
    if full_code in ORACLE_CONNECTION_LOST_CODES:
        return ConnectionLost("the database connection was lost", context=context)

    return DatabaseError("the database call failed", context=context)
