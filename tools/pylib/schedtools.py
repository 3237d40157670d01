"""What the operator tools (tools/dlq-replay, tools/agent) share: the Kafka
client settings they take from the command line, and signing a command.

Signing is one function, sign_headers(), which calls build/sign (the C tool
over src/auth.c's auth_sign(); the scheme is docs/security.md's): the tools
never compute a signature themselves."""

import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def sign_program():
    """build/sign (or $SIGN), the worker's own signer."""
    prog = os.environ.get("SIGN") or os.path.join(ROOT, os.environ.get("BUILD", "build"), "sign")
    if not os.access(prog, os.X_OK):
        raise SystemExit("%s not found; run make (or set SIGN=/path/to/sign)" % prog)
    return prog


SIGNATURE_HEADERS = ("x-key-id", "x-signed-at", "x-signature")
# the headers the signature covers, and build/sign's option for each
SIGNED = (("request_id", "--request-id"), ("reply_to", "--reply-to"),
          ("correlation_id", "--correlation-id"), ("dlq_replayed_from", "--replay-of"))


def sign_keys(keyfile=None, key_id=None):
    """(keyfile, key_id) from the arguments, else $SCHED_SIGN_KEY_FILE and
    $SCHED_SIGN_KEY_ID (what tools/stack exports); (None, None) if none."""
    keyfile = keyfile or os.environ.get("SCHED_SIGN_KEY_FILE")
    key_id = key_id or os.environ.get("SCHED_SIGN_KEY_ID")
    return (keyfile, key_id) if keyfile else (None, None)


def sign_headers(keyfile, key_id, topic, value, headers=()):
    """headers (the message's other headers, (name, bytes) pairs) with any
    old signature dropped and the signature of value (bytes) on topic added:
    x-key-id, x-signed-at, x-signature as build/sign prints them (key_id
    None: the keys file's first agent key).  Every header the scheme signs
    must be in headers already."""
    hs = [(k, v) for k, v in headers if k not in SIGNATURE_HEADERS]
    argv = [sign_program(), "--keys", keyfile, "--topic", topic]
    if key_id:
        argv += ["--key-id", key_id]
    for name, opt in SIGNED:
        v = header(hs, name)
        if v is not None:
            argv += [opt, v]
    p = subprocess.run(argv, input=value, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise SystemExit("signing failed: %s" % p.stderr.decode(errors="replace").strip())
    for line in p.stdout.decode().splitlines():
        k, v = line.split("=", 1)
        hs.append((k, v.encode()))
    return hs


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
