#!/usr/bin/python3
"""test_booking.py against the FHIR scheduling surface (Slot search,
Appointment create/update): the scheduling code must not know which
surface is behind it."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import test_booking  # noqa: E402

if __name__ == "__main__":
    test_booking.main(fhir=True)
