"""The host's own SQLite database: clients and session notes, note text included.

The note text lives only here. The plugin gets ids, times, the note type and the progress
tags through its hooks, never the text.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import contextmanager

SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    note_type TEXT NOT NULL,
    session_at TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    ratings TEXT NOT NULL DEFAULT '[]',
    signed INTEGER NOT NULL DEFAULT 0,
    saved_at TEXT NOT NULL,
    vocabulary_version INTEGER
);
"""


class NotesDB:
    def __init__(self, path: str):
        self.path = path
        with self.connect() as c:
            c.executescript(SCHEMA)
            columns = {row["name"] for row in c.execute("PRAGMA table_info(notes)")}
            if "vocabulary_version" not in columns:        # a database made before the column
                c.execute("ALTER TABLE notes ADD COLUMN vocabulary_version INTEGER")
            if "ratings" not in columns:                   # a database made before ratings per goal
                c.execute("ALTER TABLE notes ADD COLUMN ratings TEXT NOT NULL DEFAULT '[]'")

    @contextmanager
    def connect(self):
        conn = sqlite3.connect(self.path)
        conn.row_factory = sqlite3.Row
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    # -- clients --------------------------------------------------------------------------
    def add_client(self, name: str) -> str:
        client_id = "client-" + uuid.uuid4().hex[:10]
        with self.connect() as c:
            c.execute("INSERT INTO clients (id, name) VALUES (?, ?)", (client_id, name))
        return client_id

    def clients(self) -> list[sqlite3.Row]:
        with self.connect() as c:
            return c.execute("SELECT * FROM clients ORDER BY name").fetchall()

    def client(self, client_id: str) -> sqlite3.Row | None:
        with self.connect() as c:
            return c.execute("SELECT * FROM clients WHERE id = ?", (client_id,)).fetchone()

    # -- notes ----------------------------------------------------------------------------
    def save_note(self, note_id: str, client_id: str, note_type: str, session_at: str, author: str,
                  text: str, tags: list, saved_at: str, ratings: list | None = None) -> None:
        with self.connect() as c:
            c.execute("INSERT INTO notes (id, client_id, note_type, session_at, author, text, tags, ratings, "
                      "saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (note_id, client_id, note_type, session_at, author, text, json.dumps(tags),
                       json.dumps(ratings or []), saved_at))

    def notes(self, client_id: str) -> list[dict]:
        with self.connect() as c:
            rows = c.execute("SELECT * FROM notes WHERE client_id = ? ORDER BY session_at, id", (client_id,)).fetchall()
        return [self._note(r) for r in rows]

    def note(self, note_id: str) -> dict | None:
        with self.connect() as c:
            row = c.execute("SELECT * FROM notes WHERE id = ?", (note_id,)).fetchone()
        return self._note(row) if row else None

    def set_vocabulary_version(self, note_id: str, version: int) -> None:
        """The vocabulary version the plugin recorded the note's tags with (to show their labels later)."""
        with self.connect() as c:
            c.execute("UPDATE notes SET vocabulary_version = ? WHERE id = ?", (version, note_id))

    def sign(self, note_id: str) -> None:
        with self.connect() as c:
            c.execute("UPDATE notes SET signed = 1 WHERE id = ?", (note_id,))

    def delete(self, note_id: str) -> None:
        with self.connect() as c:
            c.execute("DELETE FROM notes WHERE id = ?", (note_id,))

    @staticmethod
    def _note(row) -> dict:
        note = dict(row)
        note["tags"] = json.loads(note["tags"])
        note["ratings"] = json.loads(note["ratings"])
        note["signed"] = bool(note["signed"])
        return note
