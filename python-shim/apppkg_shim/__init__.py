"""The Python side of apppkg-gateway: runs one WSGI or ASGI app behind the gateway's link (fds 3 and 4).

Modules in the order a request flows: bootstrap (config, sys.path, import), link (frames),
worker (threads), environ (PEP 3333 environ, wsgi.input), task (the app call, the response),
errors (exit codes, markers). The contract with the gateway is docs/protocol.md.

sys.path is ordered by the public library's apppkg.paths, the one algorithm for workers,
commands and AppPackage.load_object. This package is not part of the pip-installable `apppkg`
distribution: the gateway runs it from its own python-shim/ only.
"""
