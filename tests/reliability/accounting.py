"""The accounting check: every record sent ends in the database, or is kept with why.

What was sent is a ``Ledger`` of ``SentRecord``: the stream position the service
replied and the value's bytes. ``account`` reads the SQLite file and sorts each
record into exactly one of:

- persisted: the ``person`` row of its name holds it, or a newer record of the
  ledger with the same name (newer by ``(partition, offset)``, the store's rule);
- dead-lettered: a ``dead_letter`` row at its position holds its bytes and a
  reason;
- lost: neither. A person row holding an older record than the newest one of
  its name (``stale``) makes that newest record lost, as does a row whose
  fields differ from the record it names.

``duplicates`` counts dead-letter rows beyond one per position (and ledger
records sharing a position); ``misfiled`` counts records the sender knew to be
valid (or invalid) that ended on the other side. Rows no record explains are
problems too; ``ok`` holds only when there is no problem at all.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SentRecord:
    """One record the stream accepted: where it went and what it held.

    ``valid`` is what the sender knows: True for a Person, False for a message
    that must become a dead letter, None when the sender does not say.
    """

    partition: int
    offset: int
    value: bytes
    valid: bool | None = None

    @property
    def position(self) -> tuple[int, int]:
        return self.partition, self.offset


@dataclass
class Ledger:
    """Everything sent in one scenario."""

    records: list[SentRecord] = field(default_factory=list)

    def add(
        self, partition: int, offset: int, value: bytes, valid: bool | None = None
    ) -> None:
        self.records.append(SentRecord(int(partition), int(offset), value, valid))

    def add_published(self, documents: list[dict], reply: dict) -> None:
        """Records publish-message accepted: the body's objects and its reply."""
        placed = reply["records"]
        if len(placed) != len(documents):
            raise AssertionError(
                f"publish replied {len(placed)} positions for {len(documents)} records"
            )
        for document, position in zip(documents, placed, strict=True):
            value = json.dumps(document, ensure_ascii=False).encode("utf-8")
            self.add(position["partition"], position["offset"], value, True)

    def extend(self, other: Ledger) -> None:
        self.records.extend(other.records)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class Accounting:
    """Counts of one check; ``ok`` when nothing is lost, stale, doubled or misfiled."""

    records_in: int
    persisted: int
    dead_lettered: int
    lost: int
    duplicates: int
    stale: int
    misfiled: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems and self.duplicates == 0

    def row(self) -> dict[str, int]:
        """The counts for the report (problems left out)."""
        counts = asdict(self)
        counts.pop("problems")
        return counts

    def __add__(self, other: Accounting) -> Accounting:
        return Accounting(
            records_in=self.records_in + other.records_in,
            persisted=self.persisted + other.persisted,
            dead_lettered=self.dead_lettered + other.dead_lettered,
            lost=self.lost + other.lost,
            duplicates=self.duplicates + other.duplicates,
            stale=self.stale + other.stale,
            misfiled=self.misfiled + other.misfiled,
            problems=self.problems + other.problems,
        )


def account(ledger: Ledger, database: Path | str) -> Accounting:
    """Check the ledger against the database file; see the module docstring."""
    persons, letters, letter_counts = _read_database(Path(database))
    problems: list[str] = []

    # records that are dead letters, and duplicate dead-letter rows
    duplicates = sum(count - 1 for count in letter_counts.values() if count > 1)
    positions = [record.position for record in ledger.records]
    repeated = len(positions) - len(set(positions))
    if repeated:
        problems.append(f"{repeated} ledger records share a position")
    dead: set[tuple[int, int]] = set()
    for record in ledger.records:
        letter = letters.get(record.position)
        if letter is None:
            continue
        raw_value, reason = letter
        if raw_value != record.value:
            problems.append(f"dead letter {record.position} holds other bytes")
            continue
        if not reason:
            problems.append(f"dead letter {record.position} has no reason")
            continue
        dead.add(record.position)

    # the newest record of each name among those that are not dead letters
    newest: dict[str, SentRecord] = {}
    documents: dict[tuple[int, int], dict[str, Any]] = {}
    for record in ledger.records:
        if record.position in dead:
            continue
        document = _person_document(record.value)
        if document is None:
            continue
        documents[record.position] = document
        current = newest.get(document["name"])
        if current is None or record.position > current.position:
            newest[document["name"]] = record

    stale = 0
    held: set[str] = set()
    for name, record in newest.items():
        row = persons.get(name)
        if row is None:
            problems.append(f"no person row for the record at {record.position}")
            continue
        row_position = (row["src_partition"], row["src_offset"])
        if row_position < record.position:
            stale += 1
            problems.append(
                f"person row at {row_position} is older than {record.position}"
            )
            continue
        if row_position > record.position:
            problems.append(f"person row at {row_position} was never sent")
            continue
        if not _same_fields(row, documents[record.position]):
            problems.append(f"person row for {record.position} differs from it")
            continue
        held.add(name)

    persisted = dead_lettered = lost = misfiled = 0
    for record in ledger.records:
        if record.position in dead:
            dead_lettered += 1
            if record.valid is True:
                misfiled += 1
                problems.append(f"valid record at {record.position} dead-lettered")
            continue
        document = documents.get(record.position)
        if document is not None and document["name"] in held:
            persisted += 1
            if record.valid is False:
                misfiled += 1
                problems.append(f"invalid record at {record.position} persisted")
            continue
        lost += 1
        problems.append(f"record at {record.position} is lost")

    # rows that no record of the ledger explains
    sent = set(positions)
    for position in letters:
        if position not in sent:
            problems.append(f"dead letter at {position} was never sent")
    for name, row in persons.items():
        if name not in newest:
            position = (row["src_partition"], row["src_offset"])
            problems.append(f"person row at {position} was never sent")

    return Accounting(
        records_in=len(ledger),
        persisted=persisted,
        dead_lettered=dead_lettered,
        lost=lost,
        duplicates=duplicates + repeated,
        stale=stale,
        misfiled=misfiled,
        problems=tuple(problems[:20]),
    )


def _read_database(path: Path):
    if not path.exists():
        return {}, {}, {}

    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        connection.row_factory = sqlite3.Row
        persons = {
            row["name"]: dict(row)
            for row in connection.execute(
                "SELECT name, age, comment_text, src_partition, src_offset FROM person"
            )
        }
        letters: dict[tuple[int, int], tuple[bytes, str]] = {}
        letter_counts: dict[tuple[int, int], int] = {}
        for row in connection.execute(
            "SELECT src_partition, src_offset, raw_value, reason FROM dead_letter"
        ):
            position = (row["src_partition"], row["src_offset"])
            letters[position] = (bytes(row["raw_value"]), row["reason"])
            letter_counts[position] = letter_counts.get(position, 0) + 1
    finally:
        connection.close()

    return persons, letters, letter_counts


def _person_document(value: bytes) -> dict[str, Any] | None:
    """The JSON object of a value with a string name, else None."""
    try:
        # Decimal reads integers of any length, as JSON allows
        document = json.loads(value.decode("utf-8"), parse_int=_any_integer)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        return None

    return document


def _any_integer(text: str) -> int:
    return int(Decimal(text))


def _same_fields(row: dict[str, Any], document: dict[str, Any]) -> bool:
    return row["age"] == document.get("age") and row["comment_text"] == document.get(
        "comment"
    )
