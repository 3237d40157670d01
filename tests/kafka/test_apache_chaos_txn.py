#!/usr/bin/python3
"""The chaos test on Apache Kafka with worker.transactional_results: each
command's results and its consumed offset are published in one
transaction, in offset order, and the harness reads read_committed.
Besides every check of tests/reliability/test_chaos.py it fails unless
fewer answers are redelivered than there were kills (with the plain
producer and commits every 100 ms it is one to three per kill).  30 s of
kills; about 1.5 minutes."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
import brokerview  # noqa: E402
import test_chaos  # noqa: E402

if __name__ == "__main__":
    brokerview.skip_without_java()
    test_chaos.CHAOS_SECONDS = int(os.environ.get("CHAOS_SECONDS", "30"))
    test_chaos.main(kafka="apache", extra_conf="worker.transactional_results = true\n",
                    exactly_once=True)
