#!/usr/bin/python3
"""The worker's own output against the contract's schemas.

The unit tests (build/tests/test_command, test_events) write the JSON they
produce into $BUILD/test-artifacts/: results-*.json, event-*.json,
audit-*.json.  tests/run-all runs the unit tests before this script.  Each
file is validated against schemas/result, event or audit.schema.json; a
missing or empty directory, or a kind with no file, is a failure, so this
test cannot pass without having checked something.
"""

import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import schemas  # noqa: E402
from harness import BIN, expect, finish  # noqa: E402

KINDS = {"results-": "result", "event-": "event", "audit-": "audit"}


def main():
    art = os.path.join(BIN, "test-artifacts")
    files = sorted(glob.glob(os.path.join(art, "*.json")))
    expect(files, "files in %s (the unit tests test_command and test_events write them)" % art)
    counts = dict.fromkeys(KINDS.values(), 0)
    for path in files:
        name = os.path.basename(path)
        kind = next((k for p, k in KINDS.items() if name.startswith(p)), None)
        if not expect(kind, "%s: a schema for this name (results-, event-, audit-)" % name):
            continue
        counts[kind] += 1
        with open(path, "rb") as f:
            problems = schemas.check_message(kind, f.read())
        for p in problems:
            print("    " + p)
        expect(not problems, "%s against %s.schema.json" % (name, kind))
    for kind, n in counts.items():
        expect(n > 0, "%d %s samples" % (n, kind))
    finish()


if __name__ == "__main__":
    main()
