"""The real drain-stream-to-db, made to SIGKILL itself at one exact point.

A test-only fake: it exists only to force a crash at a point no outside
signal can hit reliably. It loads the real ``func.py`` of drain-stream-to-db
and gives its ``DrainFunction`` a store whose writes check a plan file (named
by the ``CRASH_PLAN_FILE`` config key). The plan reads ``POINT BATCH``:

- ``before_database_commit N``: the N-th batch's rows are written inside the
  transaction, then the process dies as SQLite starts the COMMIT;
- ``after_database_commit N``: the N-th batch is committed, then the process
  dies before the consumer group's commit.

The plan file is renamed to ``*.fired`` just before the kill, so the next run
(a fresh process) is the real drain, untouched.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

from ocifn.drain import DrainFunction
from ocifn.store import open_store

REAL_FUNC = Path(__file__).resolve().parents[4] / "functions/drain-stream-to-db/func.py"
BEFORE_COMMIT = "before_database_commit"
AFTER_COMMIT = "after_database_commit"

_spec = importlib.util.spec_from_file_location("real_drain_func", REAL_FUNC)
real = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real)


def _plan() -> tuple[str, int] | None:
    path = os.environ.get("CRASH_PLAN_FILE")
    if not path or not os.path.isfile(path):
        return None

    point, batch = Path(path).read_text().split()
    return point, int(batch)


def _die() -> None:
    path = os.environ["CRASH_PLAN_FILE"]
    os.replace(path, path + ".fired")
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingStore:
    """The real store, with the planned crash around its N-th batch."""

    def __init__(self, store) -> None:
        self._store = store
        self._batches = 0

    def write_batch(self, persons, dead_letters):
        self._batches += 1
        plan = _plan()
        if plan == (BEFORE_COMMIT, self._batches):
            # NOTE: the store's connection is private; only this fake reaches it.
            self._store._connection.set_trace_callback(_die_on_commit)

        counts = self._store.write_batch(persons, dead_letters)

        if plan == (AFTER_COMMIT, self._batches):
            _die()
        return counts

    def counts(self):
        return self._store.counts()

    def close(self) -> None:
        self._store.close()


def _die_on_commit(statement: str) -> None:
    if statement.strip().upper() == "COMMIT":
        _die()


def _crashing_open_store(connection, **options):
    return CrashingStore(open_store(connection, **options))


class CrashingDrainFunction(DrainFunction):
    """The real drain function with the crashing store."""

    def __init__(self, settings, secret_reader, **options) -> None:
        options.setdefault("store_opener", _crashing_open_store)
        super().__init__(settings, secret_reader, **options)


real.DrainFunction = CrashingDrainFunction
handler = real.handler
