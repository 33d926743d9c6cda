"""A support desk's inbox: mail arrives from the gateway as a POST to /_mail (SPEC 5.3).

Each delivery is the raw RFC 822 message. The desk trusts it only when X-Apppkg-Signature is
the HMAC-SHA256 of the body keyed by APPPKG_MAIL_SECRET (anyone can POST to this path through
the public listener), and keeps it once per X-Apppkg-Delivery-Id: the gateway retries a
delivery whose answer it did not get, with the same id, so a repeat is answered 200 and dropped.
"""
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import tempfile

from flask import Flask, abort, render_template_string, request

app = Flask(__name__)

INBOX = os.path.join(os.environ.get("APPPKG_DATA_DIR", "."), "inbox")
DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def signature_ok(body, signature):
    secret = os.environ.get("APPPKG_MAIL_SECRET", "")
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def write_atomically(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@app.post("/_mail")
def receive():
    body = request.get_data()
    if not signature_ok(body, request.headers.get("X-Apppkg-Signature", "")):
        abort(403)
    delivery_id = request.headers.get("X-Apppkg-Delivery-Id", "")
    if not DELIVERY_ID.match(delivery_id):
        abort(400)
    os.makedirs(INBOX, exist_ok=True)
    message_file = os.path.join(INBOX, delivery_id + ".eml")
    if os.path.exists(message_file):
        return "already have it\n", 200
    message = email.message_from_bytes(body, policy=email.policy.default)
    entry = {
        "id": delivery_id,
        "subject": str(message.get("Subject", "(no subject)")),
        "from": str(message.get("From", "")),
        "envelope_from": request.headers.get("X-Apppkg-Mail-From", ""),
        "to": request.headers.get("X-Apppkg-Rcpt-To", ""),
        "date": str(message.get("Date", "")),
    }
    # The entry first, the message last: the message file is what marks the delivery as kept.
    write_atomically(os.path.join(INBOX, delivery_id + ".json"), json.dumps(entry).encode())
    write_atomically(message_file, body)
    return "kept\n", 201


def inbox():
    if not os.path.isdir(INBOX):
        return []
    entries = []
    for name in os.listdir(INBOX):
        if name.endswith(".json") and os.path.exists(os.path.join(INBOX, name[:-5] + ".eml")):
            with open(os.path.join(INBOX, name)) as f:
                entries.append(json.load(f))
    return sorted(entries, key=lambda e: e["id"])


PAGE = """<!doctype html>
<title>Support desk</title>
<h1>Support desk: {{ entries|length }} message{{ '' if entries|length == 1 else 's' }}</h1>
<table>
<tr><th>From</th><th>Subject</th><th>To</th></tr>
{% for e in entries %}<tr><td>{{ e.from }}</td><td><a href="messages/{{ e.id }}">{{ e.subject }}</a></td><td>{{ e.to }}</td></tr>
{% endfor %}</table>
"""

MESSAGE = """<!doctype html>
<title>{{ subject }}</title>
<p><a href="../">inbox</a></p>
<h1>{{ subject }}</h1>
<p>From {{ sender }}</p>
<pre>{{ text }}</pre>
"""


@app.get("/")
def index():
    return render_template_string(PAGE, entries=inbox())


@app.get("/inbox.json")
def inbox_json():
    return {"messages": inbox()}


@app.get("/messages/<delivery_id>")
def show(delivery_id):
    if not DELIVERY_ID.match(delivery_id):
        abort(404)
    try:
        with open(os.path.join(INBOX, delivery_id + ".eml"), "rb") as f:
            message = email.message_from_bytes(f.read(), policy=email.policy.default)
    except FileNotFoundError:
        abort(404)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return render_template_string(MESSAGE, subject=str(message.get("Subject", "")), sender=str(message.get("From", "")), text=text)


@app.get("/healthz")
def healthz():
    return "ok\n"
