"""The Oracle store against a real Oracle Database, when one is configured.

Set ORACLE_USER, ORACLE_PASSWORD and ORACLE_DSN (a wallet-less TLS connect
string works for Autonomous Database) to run it. The tables are created from
deploy/oracle/schema.sql when missing; the rows the test writes carry a name
prefix and a partition of their own, and are deleted afterwards.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from cloud_api import REPOSITORY
from ocifn.records import Person
from ocifn.store import BatchCounts, DeadLetter, OracleStore, SourcedPerson, open_store

VARIABLES = ("ORACLE_USER", "ORACLE_PASSWORD", "ORACLE_DSN")
SCHEMA = REPOSITORY / "deploy" / "oracle" / "schema.sql"

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(
        not all(os.environ.get(name) for name in VARIABLES),
        reason="set ORACLE_USER, ORACLE_PASSWORD and ORACLE_DSN to run the Oracle "
        "store against a database",
    ),
]


def schema_blocks(text: str) -> list[str]:
    """The PL/SQL blocks of a SQL*Plus script: text up to each lone '/' line."""
    blocks = re.split(r"^\s*/\s*$", text, flags=re.MULTILINE)
    statements = []
    for block in blocks:
        lines = [line for line in block.splitlines() if not line.startswith("--")]
        statement = "\n".join(lines).strip()
        if statement:
            statements.append(statement)
    return statements


@pytest.fixture
def oracle_store() -> Iterator[tuple[OracleStore, Any, str, int]]:
    """A store, a connection of the test's own, a name prefix and a partition."""
    import oracledb

    arguments = {
        "user": os.environ["ORACLE_USER"],
        "password": os.environ["ORACLE_PASSWORD"],
        "dsn": os.environ["ORACLE_DSN"],
    }
    with oracledb.connect(**arguments) as admin:
        with admin.cursor() as cursor:
            for block in schema_blocks(SCHEMA.read_text(encoding="utf-8")):
                cursor.execute(block)

        prefix = f"ocifn-it-{secrets.token_hex(4)}-"
        # NOTE: a partition far above any real stream's keeps these dead letters
        # apart from a shared database's own rows.
        partition = 1_000_000_000 + secrets.randbelow(1_000_000_000)
        store = open_store({"backend": "oracle", **arguments})
        try:
            yield store, admin, prefix, partition
        finally:
            store.close()
            with admin.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM person WHERE name LIKE :prefix || '%'", prefix=prefix
                )
                cursor.execute(
                    "DELETE FROM dead_letter WHERE src_partition = :partition",
                    partition=partition,
                )
            admin.commit()


def person_row(connection: Any, name: str) -> tuple | None:
    with connection.cursor() as cursor:
        return cursor.execute(
            "SELECT age, comment_text, src_partition, src_offset FROM person "
            "WHERE name = :name",
            name=name,
        ).fetchone()


def dead_letter_rows(connection: Any, partition: int) -> list[tuple]:
    with connection.cursor() as cursor:
        rows = cursor.execute(
            "SELECT src_offset, message_key, raw_value, reason FROM dead_letter "
            "WHERE src_partition = :partition ORDER BY src_offset",
            partition=partition,
        ).fetchall()
        return [
            (offset, key, value.read(), reason) for offset, key, value, reason in rows
        ]


def test_oracle_store_batch_written_twice_changes_nothing_the_second_time(
    oracle_store,
):
    """A replayed batch leaves rows and dead letters as the first write left them."""
    store, admin, prefix, partition = oracle_store
    ada, zoe = f"{prefix}Ada", f"{prefix}Zoë 😀"
    persons = [
        SourcedPerson(Person(ada, 36, "counts well"), partition, 5),
        SourcedPerson(Person(zoe, 29, None), partition, 6),
    ]
    letters = [DeadLetter(partition, 7, b"key", b"\xff\xfenot json", "not_utf8")]

    first = store.write_batch(persons, letters)
    second = store.write_batch(persons, letters)

    assert first == BatchCounts(upserted=2, dead_lettered=1, unchanged=0)
    assert second == BatchCounts(upserted=0, dead_lettered=0, unchanged=3)
    assert person_row(admin, ada) == (36, "counts well", partition, 5)
    assert person_row(admin, zoe) == (29, None, partition, 6)
    assert dead_letter_rows(admin, partition) == [
        (7, b"key", b"\xff\xfenot json", "not_utf8")
    ]


def test_oracle_store_older_offset_never_overwrites_newer(oracle_store):
    """An older (partition, offset) is ignored; a newer one replaces the row."""
    store, admin, prefix, partition = oracle_store
    name = f"{prefix}Order Test"
    store.write_batch([SourcedPerson(Person(name, 21, "second"), partition, 6)], [])

    older = store.write_batch(
        [SourcedPerson(Person(name, 20, "first"), partition, 5)], []
    )
    after_older = person_row(admin, name)
    newer = store.write_batch(
        [SourcedPerson(Person(name, 22, "third"), partition, 10)], []
    )

    assert older == BatchCounts(upserted=0, dead_lettered=0, unchanged=1)
    assert after_older == (21, "second", partition, 6)
    assert newer == BatchCounts(upserted=1, dead_lettered=0, unchanged=0)
    assert person_row(admin, name) == (22, "third", partition, 10)
