import io
import os
import tempfile
import unittest
from wsgiref.util import setup_testing_defaults

os.environ.setdefault("APPPKG_DATA_DIR", tempfile.mkdtemp())

from guestbook.app import application  # noqa: E402


def call(method, path, body=b""):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    setup_testing_defaults(environ)
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    out = b"".join(application(environ, start_response))
    return seen["status"], seen["headers"], out


class GuestbookTest(unittest.TestCase):
    def test_sign_then_list(self):
        status, headers, _ = call("POST", "/sign", b"name=Ada&message=hello")
        self.assertEqual(status, "303 See Other")
        status, _, body = call("GET", "/")
        self.assertEqual(status, "200 OK")
        self.assertIn(b"Ada", body)


if __name__ == "__main__":
    unittest.main()
