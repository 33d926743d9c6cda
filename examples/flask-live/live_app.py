"""The WSGI half: a page that opens a websocket to /live (the side process) under the same mount."""
import json

from flask import Flask, request

app = Flask(__name__)

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Flask live</title>
<h1>Flask, live</h1>
<p>Served by Flask; the numbers below come over a websocket from <code>processes.live</code>.</p>
<p>Server time: <b id="time">...</b> &middot; viewers: <b id="viewers">...</b></p>
<script>
const ws = new WebSocket(location.origin.replace(/^http/, "ws") + %s + "/live");
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  document.getElementById("time").textContent = m.time;
  document.getElementById("viewers").textContent = m.viewers;
};
</script>
"""


@app.get("/")
def index():
    # request.script_root is the gateway's mount (SCRIPT_NAME): "/flask-live", or "".
    return PAGE % json.dumps(request.script_root).replace("</", "<\\/")


@app.get("/healthz")
def healthz():
    return "ok\n"
