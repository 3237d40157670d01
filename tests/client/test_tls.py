#!/usr/bin/python3
"""TLS done right: the simulator over HTTPS works with its CA; a wrong CA,
an expired certificate, a wrong public-key pin and a plain-HTTP URL are
refused (plain HTTP only with openemr.allow_insecure_http = true)."""
import base64
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import check, ClientStack, finish, run  # noqa: E402

NOW = int(time.time())
RANGE = ["list-range", "-", NOW, NOW + 86400]


def other_ca(tmp):
    key, crt = os.path.join(tmp, "other.key"), os.path.join(tmp, "other-ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=Some Other CA"],
                   check=True, capture_output=True, timeout=60)
    return crt


def test_https_ca_and_pins():
    with ClientStack(tls=True) as s:
        check(s.base_url.startswith("https://"), "simulator serves HTTPS")
        cfg = s.config("password")
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok", "HTTPS with the simulator's CA works (%s)" % r["detail"])

        cfg = s.config("password", openemr__ca_file=other_ca(s.tmp))
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "connect_failed", "a certificate from another CA is refused (%s: %s)"
              % (r["err"], r["detail"]))
        check(r["requests"] == 1, "a failed certificate check is not retried (%d requests)"
              % r["requests"])

        # public-key pinning: the server's real key passes, another key fails
        host, port = s.base_url[len("https://"):].split(":")
        pem = subprocess.run(["openssl", "s_client", "-connect", "%s:%s" % (host, port),
                              "-servername", host], input="", capture_output=True, text=True,
                             timeout=30).stdout
        cert = pem[pem.index("-----BEGIN CERTIFICATE-----"):pem.index("-----END CERTIFICATE-----")
                   + 25]
        der = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=cert,
                             capture_output=True, text=True, timeout=30).stdout
        spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=der.encode(),
                              capture_output=True, timeout=30).stdout
        pin = "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()
        r = s.probe1(s.config("password", openemr__pinned_pubkey=pin), *RANGE)
        check(r["err"] == "ok", "the right public-key pin is accepted (%s)" % r["detail"])
        wrong = "sha256//" + base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        r = s.probe1(s.config("password", openemr__pinned_pubkey=wrong), *RANGE)
        check(r["err"] == "connect_failed", "a wrong public-key pin is refused (%s)" % r["err"])


def test_expired_certificate():
    with ClientStack(["--tls-expired"], tls=True) as s:
        expired_ca = os.path.join(s.tmp, "certs", "expired-ca.pem")
        cfg = s.config("password", openemr__ca_file=expired_ca if os.path.exists(expired_ca)
                       else s.ca_file)
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "connect_failed" and "expired" in r["detail"].lower(),
              "an expired certificate is refused (%s: %s)" % (r["err"], r["detail"]))


def test_plain_http_needs_allowing():
    with ClientStack() as s:
        check(s.base_url.startswith("http://"), "simulator serves plain HTTP")
        cfg = s.config("password", openemr__allow_insecure_http="false")
        lines, err = s.probe(cfg, *RANGE)
        check(not any(l.get("err") == "ok" for l in lines) and "plain http" in err,
              "a plain-HTTP URL is refused without allow_insecure_http")
        r = s.probe1(s.config("password", openemr__allow_insecure_http="true"), *RANGE)
        check(r["err"] == "ok", "plain HTTP works when explicitly allowed for local tests")


run(test_https_ca_and_pins)
run(test_expired_certificate)
run(test_plain_http_needs_allowing)
finish()
