"""bench_app.py as an ASGI app, for the ASGI peers (uvicorn, the gateway's ASGI worker): the same
three endpoints, the same bytes and the same headers (hello 14 bytes, 16 KiB, POST echo answering
the body's length), a websocket echo for bench/ws-echo.mjs, and hello streamed (`/hello-stream`,
bench/asgi-dispatch.py's STREAM=1)."""

HELLO = b"Hello, world!\n"
SIXTEEN_K = b"x" * 16384


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})
    path = scope["path"]
    if path == "/16k":
        body = SIXTEEN_K
    elif path == "/echo":
        # As the WSGI app's wsgi.input.read(length): the whole body in memory, then its length.
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = str(len(b"".join(chunks))).encode()
    elif path == "/hello-stream":  # hello as a streamed answer: bench/asgi-dispatch.py's STREAM=1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": HELLO, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    else:
        body = HELLO
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
