"""A WSGI app whose one dependency, apppkg-demo-greeting, is vendored in vendor/."""
from demo_greeting import greeting


def application(environ, start_response):
    body = (greeting("vendored world") + "\n").encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
