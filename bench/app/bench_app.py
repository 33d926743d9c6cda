"""The benchmark's app, served identically by every peer: hello (14 bytes), 16 KiB, POST echo by length."""

HELLO = b"Hello, world!\n"
SIXTEEN_K = b"x" * 16384


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/16k":
        body = SIXTEEN_K
    elif path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length)
        body = str(len(data)).encode()
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
