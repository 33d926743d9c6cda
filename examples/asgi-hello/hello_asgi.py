"""Hello over ASGI 3: GET / says hello, GET /count streams 1..5, /ws echoes messages."""

import asyncio
import json


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started"] = asyncio.get_running_loop().time()
            scope["state"]["served"] = 0
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def http(scope, receive, send):
    state = scope["state"]
    state["served"] = state.get("served", 0) + 1
    if scope["path"] == "/count":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for n in range(1, 6):
            await send({"type": "http.response.body", "body": b"%d\n" % n, "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/info":
        # raw_path is the target as the client sent it (bytes), path what the gateway routed by.
        info = {"root_path": scope["root_path"], "path": scope["path"], "raw_path": scope["raw_path"].decode("latin-1"), "client": scope["client"]}
        body = json.dumps(info).encode()
        kind = b"application/json"
    else:
        body, kind = b"Hello from ASGI!\n", b"text/plain"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def websocket(scope, receive, send):
    message = await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope, receive, send):
    await {"lifespan": lifespan, "http": http, "websocket": websocket}[scope["type"]](scope, receive, send)
