"""deploy/oracle/schema.sql creates the tables of docs/internals.md."""

from __future__ import annotations

import re

from deployment_files import REPOSITORY
from ocifn.records import COMMENT_MAX_BYTES, NAME_MAX_BYTES
from ocifn.store import REASON_MAX_CHARS

COLUMNS = {
    "person": [
        "name",
        "age",
        "comment_text",
        "src_partition",
        "src_offset",
        "updated_at",
    ],
    "dead_letter": [
        "src_partition",
        "src_offset",
        "message_key",
        "raw_value",
        "reason",
        "received_at",
    ],
}
PRIMARY_KEYS = {"person": "name", "dead_letter": "src_partition, src_offset"}


def table_bodies() -> dict[str, str]:
    text = (REPOSITORY / "deploy/oracle/schema.sql").read_text()
    return {
        match[1]: match[2]
        for match in re.finditer(
            r"CREATE TABLE (\w+) \((.*?)\n\s*\)\n", text, flags=re.DOTALL
        )
    }


def test_schema_creates_both_tables_with_internals_columns():
    bodies = table_bodies()

    assert sorted(bodies) == sorted(COLUMNS)
    for table, body in bodies.items():
        columns = [
            line.split()[0]
            for line in body.strip().splitlines()
            if not line.strip().startswith("CONSTRAINT")
        ]
        assert columns == COLUMNS[table], table


def test_schema_primary_keys_match_internals():
    bodies = table_bodies()

    for table, key in PRIMARY_KEYS.items():
        assert re.search(rf"PRIMARY KEY \({key}\)", bodies[table]), table


def test_schema_column_types_fit_oracle_and_the_store():
    """Text columns are sized in the units the code counts: bytes, or characters."""
    bodies = table_bodies()

    assert re.search(rf"\bname\s+VARCHAR2\({NAME_MAX_BYTES} BYTE\)", bodies["person"])
    assert re.search(
        rf"comment_text\s+VARCHAR2\({COMMENT_MAX_BYTES} BYTE\)", bodies["person"]
    )
    assert re.search(
        rf"reason\s+VARCHAR2\({REASON_MAX_CHARS} CHAR\)", bodies["dead_letter"]
    )
    assert re.search(r"updated_at\s+TIMESTAMP WITH TIME ZONE", bodies["person"])
    assert re.search(r"src_offset\s+NUMBER\(19\)", bodies["dead_letter"])
    assert re.search(r"raw_value\s+BLOB", bodies["dead_letter"])
    assert re.search(r"message_key\s+RAW\(", bodies["dead_letter"])


def test_schema_is_rerunnable_ignoring_existing_tables():
    text = (REPOSITORY / "deploy/oracle/schema.sql").read_text()

    assert text.count("EXCEPTION_INIT(table_exists, -955)") == 2
    assert text.count("WHEN table_exists THEN") == 2
    assert text.count("\n/\n") == 2
