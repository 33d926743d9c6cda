// The Python source of a `processes:` entry that speaks HTTP itself on raw sockets, its answers
// written byte for byte as a test wants them (what the gateway reads with undici or node:http and
// passes on): the test's own `serve(conn)` runs on a thread per connection accepted on $PORT.
// `read_head(conn)` reads a request's head for a `serve` that answers one request a connection.

const READ_HEAD = String.raw`
def read_head(conn):
    # The bytes up to the head's empty line and any that came with them; None if the client left first.
    conn.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return None
        data += more
    return data
`;

const LISTEN = String.raw`
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(os.environ["PORT"])))
listener.listen(16)
while True:
    threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()
`;

/** `source` (its imports, and a `serve(conn)`), with `read_head` and the listener that runs `serve` per connection. */
export function httpProcessServer(source: string): string {
  return `import os, socket, threading\n${source}\n${READ_HEAD}\n${LISTEN}`;
}
