"""The contract's JSON Schemas (schemas/*.schema.json) for tests.

    import sys; sys.path.insert(0, "tests/lib")
    import schemas
    schemas.validate("envelope", obj)        # raises jsonschema.ValidationError
    schemas.errors("result", obj)            # list of readable messages
    schemas.load_message(raw_bytes)          # strict JSON (no duplicate keys)

Kinds are the file names without ".schema.json", relative to schemas/:
"envelope", "result", "event", "audit", "dlq-headers", "common",
"commands/book", ...  Written for Debian 12's python3-jsonschema 4.10
(RefResolver with a store of every schema by $id).  Formats are asserted:
"date-time" strictly as RFC 3339 (a real calendar date, an offset), which
jsonschema 4.10 does not check without optional packages.
"""

import datetime
import glob
import json
import os
import re

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA_DIR = os.path.join(ROOT, "schemas")

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")

format_checker = FormatChecker()


@format_checker.checks("date-time")
def _is_datetime(value):
    if not isinstance(value, str):
        return True
    m = _RFC3339.match(value)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


@format_checker.checks("date")
def _is_date(value):
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _load_all():
    by_kind, store = {}, {}
    for path in sorted(glob.glob(os.path.join(SCHEMA_DIR, "**", "*.schema.json"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        kind = os.path.relpath(path, SCHEMA_DIR)[: -len(".schema.json")]
        by_kind[kind] = schema
        store[schema["$id"]] = schema
    return by_kind, store


SCHEMAS, STORE = _load_all()
_validators = {}


def kinds():
    return sorted(SCHEMAS)


def validator(kind):
    if kind not in _validators:
        schema = SCHEMAS[kind]
        resolver = RefResolver(base_uri=schema["$id"], referrer=schema, store=STORE)
        _validators[kind] = Draft202012Validator(schema, resolver=resolver,
                                                 format_checker=format_checker)
    return _validators[kind]


def validate(kind, obj):
    """Raises jsonschema.ValidationError (the most relevant error) if obj breaks the schema."""
    err = jsonschema.exceptions.best_match(validator(kind).iter_errors(obj))
    if err is not None:
        raise err


def errors(kind, obj):
    """Readable messages of every violation; empty when obj is valid."""
    out = []
    for e in sorted(validator(kind).iter_errors(obj), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        out.append("%s: %s" % (where, e.message))
    return out


def is_valid(kind, obj):
    return not errors(kind, obj)


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError("duplicate key %r" % k)
        obj[k] = v
    return obj


def load_message(raw):
    """Bytes or str of one message -> Python object, as strictly as the
    worker reads it: UTF-8, one JSON value, no duplicate keys, no NaN.
    Raises ValueError otherwise."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")

    def bad_constant(name):
        raise ValueError("not JSON: %s" % name)

    return json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=bad_constant)


def check_message(kind, raw):
    """Messages (list) why raw is not a valid message of this kind; [] if it is."""
    try:
        obj = load_message(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return ["not valid JSON: %s" % e]
    return errors(kind, obj)
