"""The websocket half: every viewer gets the server time and the number of viewers each second,
and any text a viewer sends comes back as {"echo": text}. Listens on 127.0.0.1:$PORT."""
import asyncio
import json
import os
import time

import websockets

viewers = set()


async def viewer(websocket, path=None):
    viewers.add(websocket)
    try:
        async for message in websocket:
            await websocket.send(json.dumps({"echo": message}))
    finally:
        viewers.discard(websocket)


async def tick():
    while True:
        message = json.dumps({"time": time.strftime("%H:%M:%S"), "viewers": len(viewers)})
        websockets.broadcast(viewers, message)
        await asyncio.sleep(1)


async def main():
    async with websockets.serve(viewer, "127.0.0.1", int(os.environ["PORT"])):
        print("live: listening on 127.0.0.1:%s" % os.environ["PORT"], flush=True)
        await tick()


asyncio.run(main())
