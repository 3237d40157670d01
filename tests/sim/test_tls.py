#!/usr/bin/python3
"""Contract tests: HTTPS with a CA made at start, and an expired certificate."""
import os
import ssl
import tempfile
import unittest

from simlib import FHIR, Sim, main, req


class TlsTest(unittest.TestCase):
    def test_https_verifies_against_written_ca(self):
        with tempfile.TemporaryDirectory() as d, Sim("--tls", "--cert-dir", d) as s:
            self.assertTrue(s.base.startswith("https://127.0.0.1:"))
            self.assertEqual(s.ca, os.path.join(d, "ca.pem"))
            self.assertTrue(os.path.exists(s.ca))
            self.assertTrue(s.admin.startswith("http://"))  # admin stays plain
            r = req("GET", s.base + FHIR + "/metadata", ca=s.ca)
            self.assertEqual(r.status, 200)
            self.assertEqual(s.password_grant().status, 200)

    def test_unknown_ca_is_refused(self):
        with tempfile.TemporaryDirectory() as d, Sim("--tls", "--cert-dir", d) as s:
            with self.assertRaises(ssl.SSLCertVerificationError):
                req("GET", s.base + FHIR + "/metadata")  # system CAs only

    def test_expired_certificate_is_refused(self):
        with tempfile.TemporaryDirectory() as d, Sim("--tls-expired", "--cert-dir", d) as s:
            self.assertTrue(os.path.exists(os.path.join(d, "expired-ca.pem")))
            with self.assertRaises(ssl.SSLCertVerificationError) as cm:
                req("GET", s.base + FHIR + "/metadata", ca=s.ca)
            self.assertIn("expired", str(cm.exception))

    def test_cert_dir_defaults_to_a_temp_dir(self):
        with Sim("--tls") as s:
            self.assertTrue(os.path.exists(s.ca))
            self.assertEqual(req("GET", s.base + FHIR + "/metadata", ca=s.ca).status, 200)


if __name__ == "__main__":
    main()
