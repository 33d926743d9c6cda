"""`apppkg-gateway test examples/support-desk`: the mail endpoint, without a gateway."""
import hashlib
import hmac
import os
import tempfile
import unittest

DATA = tempfile.mkdtemp()
os.environ["APPPKG_DATA_DIR"] = DATA
os.environ["APPPKG_MAIL_SECRET"] = "test-secret"

import supportdesk  # noqa: E402

supportdesk.INBOX = os.path.join(DATA, "inbox")

MESSAGE = b"From: Ann <ann@example.org>\r\nTo: help@support-desk.localhost\r\nSubject: Printer on fire\r\n\r\nPlease help.\r\n"


def signed(body, secret="test-secret"):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ReceiveTest(unittest.TestCase):
    def setUp(self):
        self.client = supportdesk.app.test_client()

    def post(self, body, signature, delivery_id="d-1"):
        return self.client.post("/_mail", data=body, headers={
            "Content-Type": "message/rfc822",
            "X-Apppkg-Signature": signature,
            "X-Apppkg-Delivery-Id": delivery_id,
            "X-Apppkg-Mail-From": "ann@example.org",
            "X-Apppkg-Rcpt-To": "help@support-desk.localhost",
        })

    def test_a_signed_message_is_kept_once(self):
        self.assertEqual(self.post(MESSAGE, signed(MESSAGE)).status_code, 201)
        self.assertEqual(self.post(MESSAGE, signed(MESSAGE)).status_code, 200)
        subjects = [m["subject"] for m in self.client.get("/inbox.json").get_json()["messages"]]
        self.assertEqual(subjects.count("Printer on fire"), 1)
        self.assertIn(b"Printer on fire", self.client.get("/").data)

    def test_a_wrong_signature_is_refused(self):
        self.assertEqual(self.post(MESSAGE, signed(MESSAGE, "other"), "d-2").status_code, 403)


if __name__ == "__main__":
    unittest.main()
