"""Tests of ocifn.store: SQLite on a real file, Oracle through a driver stand-in.

No Oracle Database can run on this machine, so OracleStore talks to
StandInConnection below, which keeps python-oracledb's API and hands back the
driver's own error objects. tests/integration/test_oracle.py runs the Oracle
store against a real database when one is configured.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import oracledb
import pytest
from cloud_process import free_port
from ocifn import store
from ocifn.errors import ConfigError, ConnectionLost, DatabaseError
from ocifn.records import Person
from ocifn.store import (
    DeadLetter,
    OracleStore,
    SourcedPerson,
    SqliteStore,
    open_store,
)

BIND_NAME = re.compile(r":(\w+)")


def ora(code: int, text: str) -> oracledb._Error:
    """The error object python-oracledb makes of an ORA-nnnnn from the database."""
    return oracledb._Error(f"ORA-{code:05}: {text}", code=code)


@dataclass(frozen=True)
class Outcome:
    """What the database does with one executemany.

    ``refused`` maps a row's index to its error; ``unchanged`` holds rows that
    succeed but change nothing (a MERGE whose condition is false).
    """

    refused: Mapping[int, oracledb._Error] = field(default_factory=dict)
    unchanged: frozenset[int] = frozenset()
    raises: Exception | None = None


@dataclass(frozen=True)
class Execution:
    """One executemany as the stand-in received it."""

    statement: str
    rows: list[dict[str, Any]]
    batcherrors: bool
    input_sizes: dict[str, Any]


class StandInConnection:
    """Stands in for a python-oracledb connection: no Oracle Database can run here.

    ``outcomes`` says what each statement does (every row changed by default);
    ``calls`` lists statements, commits and rollbacks in order.
    """

    def __init__(
        self,
        outcomes: Mapping[str, Outcome] | None = None,
        *,
        commit_raises: Exception | None = None,
        rollback_raises: Exception | None = None,
        query_results: Mapping[str, int] | None = None,
    ) -> None:
        self.outcomes = dict(outcomes or {})
        self.commit_raises = commit_raises
        self.rollback_raises = rollback_raises
        self.query_results = dict(query_results or {})
        self.executions: list[Execution] = []
        self.calls: list[str] = []

    def cursor(self) -> StandInCursor:
        return StandInCursor(self)

    def commit(self) -> None:
        self.calls.append("commit")
        if self.commit_raises is not None:
            raise self.commit_raises

    def rollback(self) -> None:
        self.calls.append("rollback")
        if self.rollback_raises is not None:
            raise self.rollback_raises

    def close(self) -> None:
        self.calls.append("close")


class StandInCursor:
    """Stands in for a python-oracledb cursor (no Oracle Database can run here).

    It keeps the driver's rules: named binds must match the placeholders,
    ``setinputsizes`` holds for the next execute only, a refused row raises
    unless ``batcherrors=True`` and is then returned by ``getbatcherrors()``
    with its ``offset``, and ``rowcount`` counts the rows changed.
    """

    def __init__(self, connection: StandInConnection) -> None:
        self._connection = connection
        self._input_sizes: dict[str, Any] = {}
        self._batch_errors: list[oracledb._Error] = []
        self._result = 0
        self._open = True
        self.rowcount = 0

    def __enter__(self) -> StandInCursor:
        self._verify_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._verify_open()
        self._open = False

    def setinputsizes(self, **sizes: Any) -> dict[str, Any]:
        self._verify_open()
        self._input_sizes = dict(sizes)
        return self._input_sizes

    def executemany(
        self,
        statement: str,
        parameters: list[dict[str, Any]],
        *,
        batcherrors: bool = False,
        arraydmlrowcounts: bool = False,
    ) -> None:
        self._verify_open()
        input_sizes, self._input_sizes = self._input_sizes, {}
        self._check_binds(statement, parameters, input_sizes)
        self._connection.executions.append(
            Execution(statement, list(parameters), batcherrors, input_sizes)
        )
        self._connection.calls.append(" ".join(statement.split()[:3]))
        outcome = self._connection.outcomes.get(statement, Outcome())
        if outcome.raises is not None:
            raise outcome.raises

        refused = []
        for offset, error in sorted(outcome.refused.items()):
            if not batcherrors:
                raise error.exc_type(error)
            refused.append(
                oracledb._Error(error.message, code=error.code, offset=offset)
            )
        self._batch_errors = refused
        self.rowcount = len(parameters) - len(refused) - len(outcome.unchanged)

    def getbatcherrors(self) -> list[oracledb._Error]:
        self._verify_open()
        return self._batch_errors

    def execute(self, statement: str) -> StandInCursor:
        self._verify_open()
        self._result = self._connection.query_results[statement]
        return self

    def fetchone(self) -> tuple[int]:
        return (self._result,)

    def _verify_open(self) -> None:
        if not self._open:
            raise oracledb.errors._create_exception(oracledb.errors.ERR_CURSOR_NOT_OPEN)

    @staticmethod
    def _check_binds(
        statement: str, rows: list[dict[str, Any]], input_sizes: dict[str, Any]
    ) -> None:
        placeholders = set(BIND_NAME.findall(statement))
        for name in input_sizes:
            if name not in placeholders:
                raise oracledb.errors._create_exception(
                    oracledb.errors.ERR_INVALID_BIND_NAME, name=name
                )
        for row in rows:
            for name in row:
                if name not in placeholders:
                    raise oracledb.errors._create_exception(
                        oracledb.errors.ERR_INVALID_BIND_NAME, name=name
                    )
            if set(row) != placeholders:
                error = ora(1008, "not all variables bound")
                raise error.exc_type(error)


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "app.db"
    opened = SqliteStore(str(path))
    yield opened, path
    opened.close()


def person_row(path, name):
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT age, comment_text, src_partition, src_offset FROM person "
            "WHERE name = ?",
            (name,),
        ).fetchone()


def sourced(name, age, partition, offset, comment=None):
    return SourcedPerson(Person(name, age, comment), partition, offset)


def test_sqlite_store_new_file_creates_both_tables_in_wal_mode(database):
    """Opening a missing file creates the schema; the journal is WAL."""
    _, path = database

    with sqlite3.connect(path) as connection:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master")
            if not row[0].startswith("sqlite_")
        }
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]

    assert {"person", "dead_letter"} <= tables
    assert mode == "wal"


def test_sqlite_store_newer_offset_replaces_row(database):
    """A later message for a name wins."""
    opened, path = database

    opened.write_batch([sourced("Order Test", 20, 0, 5, "first")], [])
    opened.write_batch([sourced("Order Test", 21, 0, 6, "second")], [])

    assert person_row(path, "Order Test") == (21, "second", 0, 6)


def test_sqlite_store_older_offset_leaves_row(database):
    """A redelivered older message never overwrites a newer one."""
    opened, path = database
    opened.write_batch([sourced("Order Test", 21, 0, 6, "second")], [])

    counts = opened.write_batch([sourced("Order Test", 20, 0, 5, "first")], [])

    assert person_row(path, "Order Test") == (21, "second", 0, 6)
    assert counts == store.BatchCounts(upserted=0, dead_lettered=0, unchanged=1)


def test_sqlite_store_pair_compares_as_integers(database):
    """Offsets compare as numbers (10 > 9), partitions before offsets."""
    opened, path = database
    opened.write_batch([sourced("A", 1, 0, 9)], [])

    opened.write_batch([sourced("A", 2, 0, 10)], [])
    opened.write_batch([sourced("A", 3, 0, 100), sourced("A", 4, 1, 1)], [])

    assert person_row(path, "A") == (4, None, 1, 1)


def test_sqlite_store_same_batch_two_versions_keeps_later(database):
    """Two messages for one name in one batch end with the later one."""
    opened, path = database

    opened.write_batch(
        [sourced("Order Test", 20, 0, 5, "first"), sourced("Order Test", 21, 0, 6)],
        [],
    )

    assert person_row(path, "Order Test") == (21, None, 0, 6)


def test_sqlite_store_replayed_batch_changes_nothing(database):
    """Writing the same batch twice leaves the same rows and counts it unchanged."""
    opened, path = database
    batch = [sourced("A", 1, 0, 1), sourced("B", 2, 0, 2)]
    letters = [DeadLetter(0, 3, b"k", b"not json", "not_json")]
    opened.write_batch(batch, letters)

    counts = opened.write_batch(batch, letters)

    assert counts == store.BatchCounts(upserted=0, dead_lettered=0, unchanged=3)
    assert opened.counts() == store.TableCounts(persons=2, dead_letters=1)
    assert person_row(path, "B") == (2, None, 0, 2)


def test_sqlite_store_dead_letter_keeps_raw_bytes_key_and_reason(database):
    """A dead letter keeps the exact bytes, the key and why; duplicates once."""
    opened, path = database
    letter = DeadLetter(2, 7, None, b"\xff\xfe", "not_utf8")

    opened.write_batch([], [letter])
    opened.write_batch([], [letter])

    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT src_partition, src_offset, message_key, raw_value, reason "
            "FROM dead_letter"
        ).fetchall()
    assert rows == [(2, 7, None, b"\xff\xfe", "not_utf8")]


def test_sqlite_store_failure_mid_batch_keeps_nothing(database):
    """One refused row rolls the whole batch back, persons and dead letters."""
    opened, _ = database
    batch = [sourced("Kept?", 30, 0, 1), sourced("Too Old", 999, 0, 2)]
    letters = [DeadLetter(0, 3, None, b"x", "not_json")]

    with pytest.raises(DatabaseError) as raised:
        opened.write_batch(batch, letters)

    assert raised.value.status == 503
    assert opened.counts() == store.TableCounts(persons=0, dead_letters=0)


def test_sqlite_store_after_failure_next_batch_commits(database):
    """The connection is usable again after a rolled-back batch."""
    opened, _ = database
    with pytest.raises(DatabaseError):
        opened.write_batch([sourced("Bad", 999, 0, 1)], [])

    opened.write_batch([sourced("Good", 1, 0, 2)], [])

    assert opened.counts().persons == 1


def test_open_store_sqlite_secret_opens_sqlite(tmp_path):
    """The connection secret's backend field picks SQLite."""
    opened = open_store({"backend": "sqlite", "path": str(tmp_path / "x.db")})

    assert isinstance(opened, SqliteStore)
    opened.close()


@pytest.mark.parametrize(
    ("connection", "field"),
    [
        ({"path": "x.db"}, "backend"),
        ({"backend": "postgres"}, "backend"),
        ({"backend": "sqlite"}, "path"),
    ],
)
def test_open_store_bad_secret_names_the_field(connection, field):
    """An unusable connection secret fails naming the field."""
    with pytest.raises(ConfigError) as raised:
        open_store(connection)

    assert repr(field) in raised.value.message


def test_oracle_merge_person_only_replaces_with_newer_pair():
    """The MERGE updates only when the incoming (partition, offset) is greater.

    No Oracle Database runs here, so the condition is checked as text;
    tests/integration/test_oracle.py proves it on a database when one is set.
    """
    statement = " ".join(store.ORACLE_MERGE_PERSON.split())

    assert statement.startswith("MERGE INTO person p USING (")
    assert "ON (p.name = s.name)" in statement
    assert (
        "WHERE s.src_partition > p.src_partition OR (s.src_partition = "
        "p.src_partition AND s.src_offset > p.src_offset)"
    ) in statement
    assert "WHEN NOT MATCHED THEN INSERT" in statement


def test_oracle_store_persons_are_merged_by_name_with_their_position():
    """Each person is one named-bind row of the MERGE, sent with batch errors on."""
    database = StandInConnection()
    persons = [sourced("Ada", 36, 0, 5, "counts well"), sourced("Zoë", 29, 1, 6)]

    counts = OracleStore(database).write_batch(persons, [])

    [merge] = database.executions
    assert merge.statement == store.ORACLE_MERGE_PERSON
    assert merge.batcherrors is True
    assert merge.rows == [
        {
            "name": "Ada",
            "age": 36,
            "comment_text": "counts well",
            "src_partition": 0,
            "src_offset": 5,
        },
        {
            "name": "Zoë",
            "age": 29,
            "comment_text": None,
            "src_partition": 1,
            "src_offset": 6,
        },
    ]
    assert merge.input_sizes == {}
    assert counts == store.BatchCounts(upserted=2, dead_lettered=0, unchanged=0)


def test_oracle_store_dead_letters_are_inserted_with_raw_and_blob_sizes():
    """Dead letters bind key as RAW and value as BLOB; the reason is cut to size."""
    database = StandInConnection()
    letters = [
        DeadLetter(2, 7, b"key", b"\xff\xfenot json", "not_utf8"),
        DeadLetter(2, 8, None, b"{}", "x" * 500),
    ]

    counts = OracleStore(database).write_batch([], letters)

    [insert] = database.executions
    assert insert.statement == store.ORACLE_INSERT_DEAD_LETTER
    assert insert.batcherrors is True
    assert insert.input_sizes == {
        "message_key": oracledb.DB_TYPE_RAW,
        "raw_value": oracledb.DB_TYPE_BLOB,
    }
    assert insert.rows == [
        {
            "src_partition": 2,
            "src_offset": 7,
            "message_key": b"key",
            "raw_value": b"\xff\xfenot json",
            "reason": "not_utf8",
        },
        {
            "src_partition": 2,
            "src_offset": 8,
            "message_key": None,
            "raw_value": b"{}",
            "reason": "x" * store.REASON_MAX_CHARS,
        },
    ]
    assert counts == store.BatchCounts(upserted=0, dead_lettered=2, unchanged=0)


def test_oracle_store_batch_commits_once_after_both_statements():
    """Persons, then dead letters, then one commit; nothing is rolled back."""
    database = StandInConnection()

    OracleStore(database).write_batch(
        [sourced("A", 1, 0, 1)], [DeadLetter(0, 2, None, b"x", "not_json")]
    )

    assert database.calls == ["MERGE INTO person", "INSERT INTO dead_letter", "commit"]


def test_oracle_store_empty_batch_sends_no_statement():
    """An empty batch commits its empty transaction and sends no statement."""
    database = StandInConnection()

    counts = OracleStore(database).write_batch([], [])

    assert database.calls == ["commit"]
    assert counts == store.BatchCounts()


def test_oracle_store_older_person_counts_as_unchanged_from_rowcount():
    """Upserted is the MERGE's rowcount; rows it left alone count as unchanged."""
    database = StandInConnection(
        {store.ORACLE_MERGE_PERSON: Outcome(unchanged=frozenset({0, 2}))}
    )
    persons = [sourced("A", 1, 0, 1), sourced("B", 2, 0, 2), sourced("C", 3, 0, 3)]

    counts = OracleStore(database).write_batch(persons, [])

    assert counts == store.BatchCounts(upserted=1, dead_lettered=0, unchanged=2)


def test_oracle_store_duplicate_dead_letter_counts_as_already_stored():
    """ORA-00001 on a dead letter means it is kept already: counted, committed."""
    database = StandInConnection(
        {
            store.ORACLE_INSERT_DEAD_LETTER: Outcome(
                refused={1: ora(1, "unique constraint (APP.DEAD_LETTER_PK) violated")}
            )
        }
    )
    letters = [
        DeadLetter(0, 1, None, b"a", "not_json"),
        DeadLetter(0, 2, None, b"b", "not_json"),
        DeadLetter(0, 3, None, b"c", "not_json"),
    ]

    counts = OracleStore(database).write_batch([sourced("A", 1, 0, 4)], letters)

    assert counts == store.BatchCounts(upserted=1, dead_lettered=2, unchanged=1)
    assert database.calls[-1] == "commit"
    assert "rollback" not in database.calls


@pytest.mark.parametrize(
    ("statement", "error", "table"),
    [
        (
            store.ORACLE_MERGE_PERSON,
            ora(12899, 'value too large for column "APP"."PERSON"."NAME"'),
            "person",
        ),
        (
            store.ORACLE_MERGE_PERSON,
            ora(1, "unique constraint (APP.PERSON_PK) violated"),
            "person",
        ),
        (
            store.ORACLE_INSERT_DEAD_LETTER,
            ora(12899, 'value too large for column "APP"."DEAD_LETTER"."MESSAGE_KEY"'),
            "dead_letter",
        ),
    ],
    ids=["person-too-large", "person-duplicate", "dead-letter-too-large"],
)
def test_oracle_store_refused_row_rolls_back_and_names_it(statement, error, table):
    """A refused row rolls back the batch, naming table, index and code, no value.

    ORA-00001 is ignored for dead letters alone: on the person MERGE it is a
    failure like any other.
    """
    database = StandInConnection({statement: Outcome(refused={1: error})})
    persons = [sourced("Secret Name", 30, 0, 1), sourced("Other", 31, 0, 2)]
    letters = [
        DeadLetter(0, 3, b"k", b"payload-bytes", "not_json"),
        DeadLetter(0, 4, None, b"more-payload", "not_json"),
    ]

    with pytest.raises(DatabaseError) as raised:
        OracleStore(database).write_batch(persons, letters)

    assert type(raised.value) is DatabaseError
    assert raised.value.retryable is True
    assert raised.value.context == {
        "operation": "write_batch",
        "table": table,
        "row": 1,
        "error": error.full_code,
    }
    for payload in ("Secret Name", "Other", "payload", "APP"):
        assert payload not in str(raised.value)
    assert database.calls[-1] == "rollback"
    assert "commit" not in database.calls


def test_oracle_store_lost_connection_mid_batch_raises_connection_lost():
    """A driver error during the batch rolls back and becomes ConnectionLost."""
    lost = ora(3113, "end-of-file on communication channel")
    database = StandInConnection(
        {store.ORACLE_INSERT_DEAD_LETTER: Outcome(raises=lost.exc_type(lost))}
    )

    with pytest.raises(ConnectionLost) as raised:
        OracleStore(database).write_batch(
            [sourced("A", 1, 0, 1)], [DeadLetter(0, 2, None, b"x", "not_json")]
        )

    assert raised.value.context == {"operation": "write_batch", "error": "DPY-4011"}
    assert database.calls == [
        "MERGE INTO person",
        "INSERT INTO dead_letter",
        "rollback",
    ]


def test_oracle_store_failed_commit_rolls_back_and_raises(caplog):
    """A refused commit is a DatabaseError; a failing rollback is only logged."""
    refused = ora(2091, "transaction rolled back")
    gone = ora(3113, "end-of-file on communication channel")
    database = StandInConnection(
        commit_raises=refused.exc_type(refused), rollback_raises=gone.exc_type(gone)
    )

    with pytest.raises(DatabaseError) as raised:
        OracleStore(database).write_batch([sourced("A", 1, 0, 1)], [])

    assert raised.value.context == {"operation": "write_batch", "error": "ORA-02091"}
    assert database.calls == ["MERGE INTO person", "commit", "rollback"]
    assert "rollback failed" in caplog.text


def test_oracle_store_counts_reads_both_tables():
    """counts() asks each table for COUNT(*)."""
    database = StandInConnection(
        query_results={
            store.ORACLE_COUNT_PERSONS: 3,
            store.ORACLE_COUNT_DEAD_LETTERS: 1,
        }
    )

    counts = OracleStore(database).counts()

    assert counts == store.TableCounts(persons=3, dead_letters=1)


def test_oracle_store_connect_unreachable_database_raises_database_error():
    """The real driver failing to connect becomes a DatabaseError without secrets."""
    arguments = {
        "user": "APP",
        "password": "Hunter2-secret",
        "dsn": f"127.0.0.1:{free_port()}/nowhere",
        "tcp_connect_timeout": 2.0,
    }

    with pytest.raises(DatabaseError) as raised:
        OracleStore.connect(arguments)

    assert type(raised.value) is DatabaseError
    assert raised.value.context == {"operation": "connect", "error": "DPY-6005"}
    assert "Hunter2-secret" not in str(raised.value)


def test_store_module_import_leaves_oracledb_unimported():
    """SQLite users never import the Oracle driver."""
    import subprocess
    import sys

    check = (
        "import sys, ocifn.store, ocifn.drain; "
        "sys.exit(1 if 'oracledb' in sys.modules else 0)"
    )

    assert subprocess.run([sys.executable, "-c", check]).returncode == 0
