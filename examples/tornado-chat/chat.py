"""A websocket chat room on Tornado: the page at /, the room at /chat/ws.

Run by the gateway as `processes.web` on 127.0.0.1:$PORT. It gets every request with the full
path; MountedApplication routes by the path under the mount the gateway names in
X-Forwarded-Prefix, so the same app works at /tornado-chat/ and at the root of a virtual host.
"""
import json
import os

import tornado.ioloop
import tornado.web
import tornado.websocket

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Tornado chat</title>
<h1>Tornado chat</h1>
<p id="status">connecting...</p>
<ul id="log"></ul>
<form id="say"><input id="text" autocomplete="off" autofocus> <button>Send</button></form>
<script>
const PREFIX = %(prefix)s;
const ws = new WebSocket(location.origin.replace(/^http/, "ws") + PREFIX + "/chat/ws");
const log = document.getElementById("log");
ws.onopen = () => { document.getElementById("status").textContent = "connected"; };
ws.onclose = () => { document.getElementById("status").textContent = "disconnected"; };
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  const li = document.createElement("li");
  li.textContent = m.text;
  log.appendChild(li);
};
document.getElementById("say").onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById("text");
  if (input.value) ws.send(input.value);
  input.value = "";
};
</script>
"""


class MountedApplication(tornado.web.Application):
    """Routes by the path under X-Forwarded-Prefix (the gateway's mount of this app)."""

    def find_handler(self, request, **kwargs):
        prefix = request.headers.get("X-Forwarded-Prefix", "").rstrip("/")
        if prefix and (request.path == prefix or request.path.startswith(prefix + "/")):
            request.path = request.path[len(prefix):] or "/"
        return super().find_handler(request, **kwargs)


def mount_of(handler):
    return handler.request.headers.get("X-Forwarded-Prefix", "").rstrip("/")


class PageHandler(tornado.web.RequestHandler):
    def get(self):
        # In the page's own script, not ahead of its doctype: anything before that puts a
        # browser in quirks mode.
        prefix = json.dumps(mount_of(self)).replace("</", "<\\/")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PAGE % {"prefix": prefix})


class HealthHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("ok\n")


class StatsHandler(tornado.web.RequestHandler):
    def get(self):
        self.write({"clients": len(ChatSocket.clients), "port": int(os.environ["PORT"]), "pid": os.getpid()})


class ChatSocket(tornado.websocket.WebSocketHandler):
    clients = set()

    def open(self):
        ChatSocket.clients.add(self)
        self.broadcast({"text": "someone joined (%d here)" % len(ChatSocket.clients)})

    def on_message(self, message):
        self.broadcast({"text": message[:1000]})

    def on_close(self):
        ChatSocket.clients.discard(self)
        self.broadcast({"text": "someone left (%d here)" % len(ChatSocket.clients)})

    @staticmethod
    def broadcast(message):
        for client in list(ChatSocket.clients):
            client.write_message(json.dumps(message))


def main():
    app = MountedApplication([
        (r"/", PageHandler),
        (r"/healthz", HealthHandler),
        (r"/chat/stats", StatsHandler),
        (r"/chat/ws", ChatSocket),
    ])
    app.listen(int(os.environ["PORT"]), address="127.0.0.1")
    print("tornado-chat listening on 127.0.0.1:%s" % os.environ["PORT"], flush=True)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
