"""The accounting check itself: it passes a clean drain and catches each fault."""

from __future__ import annotations

import json
import sqlite3

from accounting import Ledger, account
from ocifn.records import Person
from ocifn.store import DeadLetter, SourcedPerson, SqliteStore


def person_value(name: str, age: int) -> bytes:
    return json.dumps({"name": name, "age": age, "comment": None}).encode()


def stored(tmp_path, persons, letters=()):
    """A real SQLite store holding these rows; the file path."""
    path = tmp_path / "app.db"
    store = SqliteStore(str(path))
    store.write_batch(
        [SourcedPerson(Person(name, age), p, o) for name, age, p, o in persons],
        [DeadLetter(p, o, None, raw, "not_json") for p, o, raw in letters],
    )
    store.close()
    return path


def test_account_clean_database_counts_every_record(tmp_path):
    ledger = Ledger()
    ledger.add(0, 0, person_value("Ann", 30), valid=True)
    ledger.add(0, 1, person_value("Ann", 31), valid=True)
    ledger.add(1, 0, b"junk", valid=False)
    path = stored(tmp_path, [("Ann", 31, 0, 1)], [(1, 0, b"junk")])

    result = account(ledger, path)

    assert result.ok, result.problems
    assert (result.records_in, result.persisted, result.dead_lettered) == (3, 2, 1)


def test_account_missing_row_counts_lost(tmp_path):
    ledger = Ledger()
    ledger.add(0, 0, person_value("Ann", 30))
    ledger.add(0, 1, person_value("Bob", 30))
    path = stored(tmp_path, [("Ann", 30, 0, 0)])

    result = account(ledger, path)

    assert not result.ok
    assert result.lost == 1


def test_account_older_record_overwrote_newer_counts_stale(tmp_path):
    ledger = Ledger()
    ledger.add(0, 0, person_value("Ann", 30))
    ledger.add(0, 1, person_value("Ann", 31))
    path = stored(tmp_path, [("Ann", 30, 0, 0)])

    result = account(ledger, path)

    assert (result.stale, result.lost) == (1, 2)


def test_account_dead_letter_without_reason_or_other_bytes_counts_lost(tmp_path):
    ledger = Ledger()
    ledger.add(0, 0, b"junk")
    ledger.add(0, 1, b"more junk")
    path = stored(tmp_path, [], [(0, 0, b"junk"), (0, 1, b"changed")])
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE dead_letter SET reason = '' WHERE src_offset = 0")

    result = account(ledger, path)

    assert result.lost == 2


def test_account_valid_record_dead_lettered_counts_misfiled(tmp_path):
    ledger = Ledger()
    value = person_value("Ann", 30)
    ledger.add(0, 0, value, valid=True)
    path = stored(tmp_path, [], [(0, 0, value)])

    result = account(ledger, path)

    assert result.misfiled == 1
    assert not result.ok


def test_account_row_never_sent_is_a_problem(tmp_path):
    ledger = Ledger()
    ledger.add(0, 0, person_value("Ann", 30))
    path = stored(tmp_path, [("Ann", 30, 0, 0), ("Zed", 5, 0, 9)], [(1, 4, b"x")])

    result = account(ledger, path)

    assert result.lost == 0
    assert not result.ok
    assert len(result.problems) == 2
