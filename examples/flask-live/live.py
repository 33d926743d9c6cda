"""The websocket half: every viewer gets the server time and the number of viewers each second,
and any text a viewer sends comes back as {"echo": text}. Listens on 127.0.0.1:$PORT."""
import asyncio
import json
import logging
import os
import signal
import time

import websockets

viewers = set()

# The gateway asks this process every 10 s whether it runs by opening a connection and ending it
# at once; websockets 14 to 16 log that as an "opening handshake failed" error with a traceback
# (17 and 13 or older do not). Only that record is dropped: any other handshake error is logged.
logging.getLogger("websockets.server").addFilter(
    lambda record: not (
        record.getMessage() == "opening handshake failed"
        and record.exc_info
        and isinstance(getattr(record.exc_info[1], "__cause__", None), EOFError)
    )
)


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
    # The gateway stops this process with SIGTERM (a deploy's drain is over, or the app stops):
    # leaving the `serve` block then closes every viewer's socket with 1001 "going away", which
    # a page takes as its cue to reconnect (to the new version), not a connection cut.
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(viewer, "127.0.0.1", int(os.environ["PORT"])):
        print("live: listening on 127.0.0.1:%s" % os.environ["PORT"], flush=True)
        ticker = asyncio.ensure_future(tick())
        await stop
        ticker.cancel()


asyncio.run(main())
