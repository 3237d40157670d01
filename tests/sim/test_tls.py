#!/usr/bin/python3
"""Contract tests: HTTPS with a CA made at start, and an expired certificate."""
import os
import ssl
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import FHIR, Sim, main, req  # noqa: E402


class TlsTest(unittest.TestCase):
    def test_https_verifies_against_written_ca(self):
        with tempfile.TemporaryDirectory() as d, Sim("--tls", "--cert-dir", d) as s:
            self.assertTrue(s.base_url.startswith("https://127.0.0.1:"))
            self.assertEqual(s.ca_file, os.path.join(d, "ca.pem"))
            self.assertTrue(os.path.exists(s.ca_file))
            self.assertTrue(s.admin_url.startswith("http://"))  # admin stays plain
            r = req("GET", s.base_url + FHIR + "/metadata", ca=s.ca_file)
            self.assertEqual(r.status, 200)
            self.assertEqual(s.password_grant().status, 200)

    def test_unknown_ca_is_refused(self):
        with tempfile.TemporaryDirectory() as d, Sim("--tls", "--cert-dir", d) as s:
            with self.assertRaises(ssl.SSLCertVerificationError):
                req("GET", s.base_url + FHIR + "/metadata")  # system CAs only

    def test_expired_certificate_is_refused(self):
        with tempfile.TemporaryDirectory() as d, Sim("--tls-expired", "--cert-dir", d) as s:
            self.assertTrue(os.path.exists(os.path.join(d, "expired-ca.pem")))
            with self.assertRaises(ssl.SSLCertVerificationError) as cm:
                req("GET", s.base_url + FHIR + "/metadata", ca=s.ca_file)
            self.assertIn("expired", str(cm.exception))

    def test_cert_dir_defaults_to_a_temp_dir(self):
        with Sim("--tls") as s:
            self.assertTrue(os.path.exists(s.ca_file))
            self.assertEqual(req("GET", s.base_url + FHIR + "/metadata", ca=s.ca_file).status, 200)


if __name__ == "__main__":
    main()
