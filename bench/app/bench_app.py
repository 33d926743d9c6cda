"""The benchmark's app, served identically by every peer: hello (14 bytes), 16 KiB, POST echo by length.

Also, for bench/ab-cpu.mjs only: 1 MiB as a list (`/1m`, over the response window: streamed to
the front in pieces), as a generator of four 256 KiB pieces (`/1m-gen`), and 200 KiB as a list
(`/200k`, within the window: one RESPONSE_FULL frame); for bench/wsgi-dispatch.py only, hello as
an iterator (`/hello-gen`, a streamed answer).
"""

HELLO = b"Hello, world!\n"
SIXTEEN_K = b"x" * 16384
ONE_M = b"x" * (1 << 20)
TWO_HUNDRED_K = b"x" * (200 << 10)
ONE_M_PIECES = [ONE_M[i:i + (1 << 18)] for i in range(0, 1 << 20, 1 << 18)]


def one_m_pieces():
    yield from ONE_M_PIECES


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/16k":
        body = SIXTEEN_K
    elif path == "/1m":
        body = ONE_M
    elif path == "/200k":
        body = TWO_HUNDRED_K
    elif path == "/1m-gen":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(ONE_M)))])
        return one_m_pieces()
    elif path == "/hello-gen":  # hello streamed (an iterator): bench/wsgi-dispatch.py's STREAM=1
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
        return iter((HELLO,))
    elif path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length)
        body = str(len(data)).encode()
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
