"""Tests of ocifn.store: SQLite on a real file, Oracle statements as text."""

from __future__ import annotations

import sqlite3

import pytest
from ocifn import store
from ocifn.errors import ConfigError, DatabaseError
from ocifn.records import Person
from ocifn.store import DeadLetter, SourcedPerson, SqliteStore, open_store


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
    """The MERGE updates only when the incoming (partition, offset) is greater."""
    statement = " ".join(store.ORACLE_MERGE_PERSON.split())

    assert statement.startswith("MERGE INTO person p USING (")
    assert "ON (p.name = s.name)" in statement
    assert (
        "WHERE s.src_partition > p.src_partition OR (s.src_partition = "
        "p.src_partition AND s.src_offset > p.src_offset)"
    ) in statement
    assert "WHEN NOT MATCHED THEN INSERT" in statement
    assert "comment_text" in statement


def test_oracle_dead_letter_insert_binds_every_column():
    """Dead letters are inserted by name; duplicates are left to batch errors."""
    statement = " ".join(store.ORACLE_INSERT_DEAD_LETTER.split())

    assert statement.startswith("INSERT INTO dead_letter")
    for bind in (":src_partition", ":src_offset", ":message_key", ":raw_value"):
        assert bind in statement
    assert store.ORACLE_DUPLICATE_KEY_CODE == 1


def test_oracle_store_write_batch_uses_executemany_with_batch_errors():
    """Both statements go through executemany(..., batcherrors=True)."""
    import inspect

    source = inspect.getsource(store.OracleStore.write_batch)

    assert "ORACLE_MERGE_PERSON, person_rows, batcherrors=True" in source
    assert "ORACLE_INSERT_DEAD_LETTER, dead_letter_rows, batcherrors=True" in source
    assert "getbatcherrors()" in source


def test_store_module_import_leaves_oracledb_unimported():
    """SQLite users never import the Oracle driver."""
    import subprocess
    import sys

    check = (
        "import sys, ocifn.store, ocifn.drain; "
        "sys.exit(1 if 'oracledb' in sys.modules else 0)"
    )

    assert subprocess.run([sys.executable, "-c", check]).returncode == 0
