"""What the operator tools (tools/dlq-replay, tools/agent) share: the Kafka
client settings they take from the command line, and signing a command.

Signing is one function, sign_headers(), which calls build/sign (the C tool
over src/auth.c): the tools never compute a signature themselves, so they
follow the worker's scheme whatever it becomes."""

import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def sign_program():
    """build/sign (or $SIGN), the worker's own signer."""
    prog = os.environ.get("SIGN") or os.path.join(ROOT, os.environ.get("BUILD", "build"), "sign")
    if not os.access(prog, os.X_OK):
        raise SystemExit("%s not found; run make (or set SIGN=/path/to/sign)" % prog)
    return prog


def sign_headers(keyfile, producer, value, headers=()):
    """The headers that sign value (bytes) as producer with a key of
    keyfile: today x-producer and x-signature, the HMAC that build/sign
    prints.  headers (the message's other headers) are passed for a scheme
    that covers them too."""
    del headers  # the current scheme signs the value alone
    p = subprocess.run([sign_program(), keyfile, producer], input=value, capture_output=True,
                       timeout=30)
    if p.returncode != 0:
        raise SystemExit("signing failed: %s" % p.stderr.decode(errors="replace").strip())
    return [("x-producer", producer.encode()), ("x-signature", p.stdout.strip())]


def kafka_config(brokers, props=(), prop_files=()):
    """A confluent_kafka config: bootstrap.servers plus librdkafka properties
    from -X prop=value and -F files (one prop=value a line, # comments), the
    same properties as the worker's kafka.* settings."""
    conf = {"bootstrap.servers": brokers}
    for path in prop_files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    props = list(props) + [line]
    for p in props:
        if "=" not in p:
            raise SystemExit("-X %s: expected property=value" % p)
        k, v = p.split("=", 1)
        conf[k.strip()] = v.strip()
    return conf


def header(headers, name):
    """The last value of header name (str, or None) in confluent_kafka's
    list of (name, bytes) pairs: values may hold commas, '=' or newlines."""
    found = None
    for k, v in headers or []:
        if k == name and v is not None:
            found = v.decode("utf-8", errors="replace")
    return found
