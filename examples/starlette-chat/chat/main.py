"""A chat room: GET / is the page, /ws the websocket every browser tab joins."""

import contextlib
from collections import deque

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PAGE = """<!doctype html>
<meta charset="utf-8"><title>chat</title>
<ul id="log"></ul>
<form id="f"><input id="m" autocomplete="off" autofocus><button>send</button></form>
<script>
const url = new URL("ws", location.href.endsWith("/") ? location.href : location.href + "/");
url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
const ws = new WebSocket(url, ["chat"]);
ws.onmessage = (e) => { const li = document.createElement("li"); li.textContent = e.data; log.append(li); };
f.onsubmit = (e) => { e.preventDefault(); ws.send(m.value); m.value = ""; };
</script>
"""


class Room:
    def __init__(self) -> None:
        self.members = set()
        self.history = deque(maxlen=50)

    async def say(self, line: str) -> None:
        self.history.append(line)
        for member in list(self.members):
            with contextlib.suppress(Exception):
                await member.send_text(line)


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"room": Room()}


async def page(request):
    return HTMLResponse(PAGE)


async def history(request):
    return JSONResponse(list(request.state.room.history))


async def chat(websocket: WebSocket):
    room = websocket.state.room
    await websocket.accept(subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None)
    for line in room.history:
        await websocket.send_text(line)
    room.members.add(websocket)
    try:
        while True:
            await room.say(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
    finally:
        room.members.discard(websocket)


app = Starlette(
    routes=[Route("/", page), Route("/history", history), WebSocketRoute("/ws", chat)],
    lifespan=lifespan,
)
