"""Notes: create, list, read and delete, with FastAPI's validation on what comes in."""

import os
import sqlite3
from typing import List

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

DB = os.path.join(os.environ.get("APPPKG_DATA_DIR", "."), "notes.sqlite3")

app = FastAPI(title="notes", version="1.0")


class NoteIn(BaseModel):
    title: str = Field(..., min_length=1, max_length=200)
    body: str = Field("", max_length=10_000)


class Note(NoteIn):
    id: int


def connect() -> sqlite3.Connection:
    # One connection per request: the handlers below are sync, so FastAPI runs them on the
    # worker's thread pool (`threads` in the environment file), and sqlite3 objects stay on one thread.
    db = sqlite3.connect(DB)
    db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
    return db


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}


@app.post("/notes", response_model=Note, status_code=201)
def create(note: NoteIn) -> Note:
    with connect() as db:
        cursor = db.execute("INSERT INTO notes (title, body) VALUES (?, ?)", (note.title, note.body))
        return Note(id=cursor.lastrowid, title=note.title, body=note.body)


@app.get("/notes", response_model=List[Note])
def list_notes() -> List[Note]:
    with connect() as db:
        rows = db.execute("SELECT id, title, body FROM notes ORDER BY id").fetchall()
    return [Note(id=i, title=t, body=b) for i, t, b in rows]


@app.get("/notes/{note_id}", response_model=Note)
def read(note_id: int) -> Note:
    with connect() as db:
        row = db.execute("SELECT id, title, body FROM notes WHERE id = ?", (note_id,)).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="no such note")
    return Note(id=row[0], title=row[1], body=row[2])


@app.delete("/notes/{note_id}", status_code=204)
def delete(note_id: int) -> None:
    with connect() as db:
        if db.execute("DELETE FROM notes WHERE id = ?", (note_id,)).rowcount == 0:
            raise HTTPException(status_code=404, detail="no such note")
