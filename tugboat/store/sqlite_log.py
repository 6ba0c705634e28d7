"""The SQLite file behind SqliteBackend: one append-only log table, like kine's.

Every row is one revision (id = revision), so a write is a single INSERT and recovery is a
replay in id order. Nothing here reads the log to answer API reads: the backend serves those
from memory. All methods are blocking and run in a worker thread, one at a time (the backend
holds a lock), so one connection with check_same_thread=False is safe.

Durability: WAL with synchronous=FULL fsyncs the WAL on every COMMIT, so a committed batch
survives SIGKILL and power loss.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

# (id, key, created, deleted, create_revision, prev_revision, value)
Row = tuple[int, str, int, int, int, int, bytes]

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def open_db(path: str, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN/COMMIT) with WAL and the given sync level."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # The database holds every Secret: owner-only, like an etcd data dir (CIS 1.1.11). SQLite
    # gives the -wal/-shm files the database file's mode.
    if path != ":memory:":
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class SqliteLog:
    def __init__(self, path: str):
        self.path = path
        self.conn = open_db(path)
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # ---- recovery -----------------------------------------------------------------------
    def compacted(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE name = 'compact_rev'").fetchone()
        return int(row[0]) if row else 0

    def rows(self, batch: int = 5000) -> Iterator[Row]:
        cur = self.conn.execute(
            "SELECT id, key, created, deleted, create_revision, prev_revision, value FROM log ORDER BY id"
        )
        while chunk := cur.fetchmany(batch):
            yield from chunk

    # ---- writes -------------------------------------------------------------------------
    def append(self, rows: list[Row]) -> None:
        """Insert a batch in one transaction: one fsync for the whole group commit."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def compact_range(self, lo: int, hi: int) -> int:
        """Drop rows superseded by a row in (lo, hi], and tombstones in (lo, hi]; record hi.

        A superseded row is the `prev_revision` of a later row, so after this no row at or below
        `hi` remains except each live key's value as of `hi`. Returns the rows deleted.
        """
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            n = c.execute(
                "DELETE FROM log WHERE id IN "
                "(SELECT prev_revision FROM log WHERE id > ? AND id <= ? AND prev_revision > 0)",
                (lo, hi),
            ).rowcount
            n += c.execute("DELETE FROM log WHERE id > ? AND id <= ? AND deleted = 1", (lo, hi)).rowcount
            c.execute(
                "INSERT INTO meta(name, value) VALUES ('compact_rev', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (hi,),
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return n

    def checkpoint(self) -> None:
        """Copy the WAL into the main file and truncate it, so the WAL does not grow unbounded."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
