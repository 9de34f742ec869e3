"""Faults: the drain killed, the database locked, a secret rotated, the cloud restarted.

Each scenario runs its own local cloud and ends with the accounting check.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time

import oci
import pytest
from accounting import Ledger, account
from reliability_cloud import CRASH_DRAIN, functions_folder
from scenario import POISON, people, publish, put_poison

GET_LIMIT = 40


def stored_rows(database) -> int:
    with sqlite3.connect(database) as connection:
        persons = connection.execute("SELECT COUNT(*) FROM person").fetchone()[0]
        letters = connection.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0]
    return persons + letters


def committed_count(offsets: dict[int, int | None]) -> int:
    """Messages the group committed, for a stream whose offsets start at 0."""
    return sum(offset + 1 for offset in offsets.values() if offset is not None)


@pytest.mark.parametrize(
    ("point", "rows_after_crash"),
    [("before_database_commit", GET_LIMIT), ("after_database_commit", 2 * GET_LIMIT)],
)
def test_drain_killed_in_second_batch_next_run_catches_up(
    tmp_path, clouds, record_scenario, point, rows_after_crash
):
    """SIGKILL in batch 2, before or after the database commit; nothing is lost.

    The drain here is the crash variant under data/drain-crash: a fake that
    exists only to kill the process at an exact point of the batch.
    """
    plan = tmp_path / "crash-plan"
    functions_dir = functions_folder(
        tmp_path,
        drain_code=CRASH_DRAIN,
        drain_config={"CRASH_PLAN_FILE": str(plan), "GET_LIMIT": str(GET_LIMIT)},
    )
    cloud = clouds(functions_dir).start()
    ledger = Ledger()
    publish(cloud, ledger, people("crash", 100))
    put_poison(cloud, ledger, POISON)
    plan.write_text(f"{point} 2")

    with pytest.raises(oci.exceptions.ServiceError) as crashed:
        cloud.drain()

    assert crashed.value.status == 502
    assert (tmp_path / "crash-plan.fired").is_file()
    assert stored_rows(cloud.database) == rows_after_crash
    assert committed_count(cloud.committed_offsets()) == GET_LIMIT

    summaries = cloud.drain_until_empty()

    read = sum(summary["read"] for summary in summaries)
    unchanged = sum(summary["unchanged"] for summary in summaries)
    assert read == len(ledger) - GET_LIMIT
    assert unchanged == rows_after_crash - GET_LIMIT
    assert committed_count(cloud.committed_offsets()) == len(ledger)
    record_scenario(
        f"drain killed {point.replace('_', ' ')}", account(ledger, cloud.database)
    )


def test_drain_database_locked_answers_error_and_commits_no_cursor(
    tmp_path, clouds, record_scenario
):
    """An exclusive lock on the SQLite file: a 503 JSON error, the cursor stays."""
    cloud = clouds(functions_folder(tmp_path)).start()
    ledger = Ledger()
    publish(cloud, ledger, people("before-lock", 20))
    cloud.drain_until_empty()
    offsets = cloud.committed_offsets()
    publish(cloud, ledger, people("during-lock", 30))
    put_poison(cloud, ledger, POISON)

    lock = sqlite3.connect(cloud.database, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        status, reply = cloud.drain()
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert status == 503
    assert reply["error"]["code"] == "database_error"
    assert "SQLite" in reply["error"]["message"]
    assert cloud.committed_offsets() == offsets
    summaries = cloud.drain_until_empty()
    assert sum(summary["read"] for summary in summaries) == 30 + len(POISON)
    record_scenario("database locked", account(ledger, cloud.database))


def test_drain_after_secret_rotation_writes_where_new_version_says(
    tmp_path, clouds, record_scenario
):
    """A new db-connection version (via VaultsClient) moves the drain's writes."""
    ttl_seconds = 1
    functions_dir = functions_folder(
        tmp_path, drain_config={"SECRET_TTL_SECONDS": str(ttl_seconds)}
    )
    cloud = clouds(functions_dir).start()
    first, second = Ledger(), Ledger()
    publish(cloud, first, people("first-db", 25))
    cloud.drain_until_empty()
    rotated = tmp_path / "rotated" / "app.db"
    rotated.parent.mkdir()

    version = cloud.update_secret(
        "db-connection",
        json.dumps({"backend": "sqlite", "path": str(rotated)}).encode(),
    )
    time.sleep(ttl_seconds * 2)
    publish(cloud, second, people("second-db", 25))
    put_poison(cloud, second, POISON)
    cloud.drain_until_empty()

    assert version >= 2
    old = account(first, cloud.database)
    new = account(second, rotated)
    assert old.ok, old.problems
    record_scenario("db secret rotated", old + new)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_cloud_restarted_mid_stream_keeps_messages_and_offsets(
    tmp_path, clouds, record_scenario, signum
):
    """Stop the cloud between drains, start it on the same data: nothing is lost."""
    cloud = clouds(functions_folder(tmp_path)).start()
    ledger = Ledger()
    publish(cloud, ledger, people("before-stop", 30))
    cloud.drain_until_empty()
    publish(cloud, ledger, people("waiting", 30))
    put_poison(cloud, ledger, POISON)
    offsets = cloud.committed_offsets()

    cloud.stop(signum)
    cloud.start()

    assert cloud.committed_offsets() == offsets
    publish(cloud, ledger, people("after-start", 30))
    summaries = cloud.drain_until_empty()
    assert sum(summary["read"] for summary in summaries) == 60 + len(POISON)
    name = signal.Signals(signum).name
    record_scenario(f"local cloud restarted ({name})", account(ledger, cloud.database))


def test_drain_cursor_expired_before_commit_replays_batch(
    tmp_path, clouds, record_scenario
):
    """A batch outlives its cursor: the commit is refused and the batch comes again.

    The cloud's cursors live 1 s, and a lock held on the SQLite file for 3 s
    keeps the first batch's transaction waiting past that. The run still
    answers 200: it joins the group again and the replayed batch is unchanged.
    """
    functions_dir = functions_folder(tmp_path, drain_config={"GET_LIMIT": "20"})
    cloud = clouds(functions_dir, extra_args=["--cursor-ttl-seconds", "1"]).start()
    cloud.drain_until_empty()
    ledger = Ledger()
    publish(cloud, ledger, people("expiring", 50))
    put_poison(cloud, ledger, POISON)

    lock = sqlite3.connect(
        cloud.database, isolation_level=None, check_same_thread=False
    )
    lock.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(3.0, lambda: lock.execute("ROLLBACK"))
    release.start()
    try:
        status, summary = cloud.drain()
    finally:
        release.join()
        lock.close()

    assert status == 200, summary
    assert summary["unchanged"] >= 20
    assert summary["read"] == len(ledger) + summary["unchanged"]
    assert committed_count(cloud.committed_offsets()) == len(ledger)
    record_scenario("cursor expired before commit", account(ledger, cloud.database))


def test_drain_behind_retention_moves_on_to_kept_messages(
    tmp_path, clouds, record_scenario
):
    """Messages the stream removed before any drain read them do not stall it.

    The cloud keeps messages 3 s. The middle batch is left unread until the
    stream drops it, as OCI does past a stream's retention; the drain then
    carries on from the oldest kept message and reports the gap as skipped
    (in its reply and its log). What was kept is all accounted for; the
    dropped batch is in no table, since its bytes are gone.
    """
    retention_seconds = 3
    cloud = clouds(
        functions_folder(tmp_path),
        extra_args=["--retention-seconds", str(retention_seconds)],
    ).start()
    kept, dropped = Ledger(), Ledger()
    publish(cloud, kept, people("early", 20))
    cloud.drain_until_empty()
    publish(cloud, dropped, people("dropped", 20))
    time.sleep(retention_seconds + 1)
    publish(cloud, kept, people("late", 20))
    put_poison(cloud, kept, POISON)

    summaries = cloud.drain_until_empty()

    skipped = sum(sum(summary["skipped"].values()) for summary in summaries)
    assert sum(summary["read"] for summary in summaries) == 20 + len(POISON)
    assert skipped == len(dropped)
    assert account(dropped, cloud.database).persisted == 0
    assert "left the stream before any drain read them" in cloud.log_text()
    record_scenario(
        "behind retention (20 dropped by the stream, reported as skipped)",
        account(kept, cloud.database),
    )
