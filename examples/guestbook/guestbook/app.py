"""A guestbook on the standard library alone: sqlite3 for storage, wsgiref-free WSGI."""
import html
import os
import sqlite3
import threading
from urllib.parse import parse_qs

MAX_BODY = 64 * 1024
_local = threading.local()


def _db():
    # One connection per thread: sqlite3 connections must not cross threads.
    conn = getattr(_local, "conn", None)
    if conn is None:
        path = os.path.join(os.environ["APPPKG_DATA_DIR"], "guestbook.sqlite3")
        conn = sqlite3.connect(path, timeout=10)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS entries ("
            " id INTEGER PRIMARY KEY, name TEXT NOT NULL, message TEXT NOT NULL,"
            " created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        conn.commit()
        _local.conn = conn
    return conn


def _page(environ, entries):
    base = html.escape(environ.get("SCRIPT_NAME", ""), quote=True)
    items = "\n".join(
        "<li><b>{}</b>: {}</li>".format(html.escape(name), html.escape(message))
        for name, message in entries
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Guestbook</title>"
        "<link rel='stylesheet' href='{base}/static/style.css'></head><body>"
        "<h1>Guestbook</h1>"
        "<form method='post' action='{base}/sign'>"
        "<input name='name' placeholder='Your name' required> "
        "<input name='message' placeholder='Your message' required> "
        "<button>Sign</button></form>"
        "<ul>{items}</ul></body></html>"
    ).format(base=base, items=items).encode("utf-8")


def _read_form(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(min(length, MAX_BODY)) if length else b""
    form = parse_qs(body.decode("utf-8", "replace"))
    return form.get("name", [""])[0].strip(), form.get("message", [""])[0].strip()


def application(environ, start_response):
    path = environ.get("PATH_INFO") or "/"
    method = environ["REQUEST_METHOD"]
    if path == "/healthz":
        _db()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    if path == "/" and method in ("GET", "HEAD"):
        rows = _db().execute("SELECT name, message FROM entries ORDER BY id").fetchall()
        body = _page(environ, rows)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/sign" and method == "POST":
        name, message = _read_form(environ)
        if not name or not message:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"name and message are both required\n"]
        conn = _db()
        conn.execute("INSERT INTO entries (name, message) VALUES (?, ?)", (name[:200], message[:2000]))
        conn.commit()
        # 303 so that a reload of the result page does not post the form again.
        start_response("303 See Other", [("Location", environ.get("SCRIPT_NAME", "") + "/"), ("Content-Length", "0")])
        return [b""]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found\n"]
