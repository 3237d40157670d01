#!/usr/bin/python3
"""The chaos test (tests/reliability/test_chaos.py: three replicas, mixed
commands and duplicates while a random replica is SIGKILLed every few
seconds; then the simulator's calendar and every answer are checked) on
Apache Kafka, with 30 s of killing instead of 60.  It also prints the
answers redelivered per kill.  About 1.5 minutes."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
import brokerview  # noqa: E402
import test_chaos  # noqa: E402

if __name__ == "__main__":
    brokerview.skip_without_java()
    test_chaos.CHAOS_SECONDS = int(os.environ.get("CHAOS_SECONDS", "30"))
    test_chaos.main(kafka="apache")
