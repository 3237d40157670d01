#!/usr/bin/python3
"""test_events.py against the FHIR scheduling surface: there the worker and
the poller both name appointments by their FHIR id."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import test_events  # noqa: E402

if __name__ == "__main__":
    test_events.main(fhir=True)
