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

KINDS = {"results-": "result", "event-": "event", "audit-": "audit"}


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    build = os.environ.get("BUILD", "build")
    art = os.path.join(root, build, "test-artifacts") if not os.path.isabs(build) \
        else os.path.join(build, "test-artifacts")
    files = sorted(glob.glob(os.path.join(art, "*.json")))
    if not files:
        print("FAIL: no files in %s; run the unit tests (test_command, test_events) first" % art)
        return 1
    counts = dict.fromkeys(KINDS.values(), 0)
    failed = 0
    for path in files:
        name = os.path.basename(path)
        kind = next((k for p, k in KINDS.items() if name.startswith(p)), None)
        if kind is None:
            print("FAIL: %s: no schema for this name (results-, event-, audit-)" % name)
            failed += 1
            continue
        counts[kind] += 1
        with open(path, "rb") as f:
            problems = schemas.check_message(kind, f.read())
        if problems:
            failed += 1
            print("FAIL: %s against %s.schema.json:" % (name, kind))
            for p in problems:
                print("    " + p)
    for kind, n in counts.items():
        if n == 0:
            print("FAIL: no %s sample in %s" % (kind, art))
            failed += 1
    print("%d files checked (%s), %d failed" % (
        len(files), ", ".join("%s %d" % kv for kv in counts.items()), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
