#!/usr/bin/python3
"""The independent checker (tests/lib/invariants.py) finds each kind of
counterexample it claims to, and nothing in a clean run: synthetic
calendars and answers, no stack (a checker that cannot fail proves
nothing)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import main  # noqa: E402
import invariants  # noqa: E402

P1 = "946da61d-6b88-4d7a-9f6e-000000000001"
P2 = "946da61d-6b88-4d7a-9f6e-000000000002"
DR = "90cde167-7b9b-4ed1-bd55-533925cb2605"
T0 = 1800000000  # a start time (epoch s)


class FakeSim:
    def __init__(self, rows=()):
        self.rows = list(rows)

    def patients(self):
        return [{"pid": 1, "uuid": P1}, {"pid": 2, "uuid": P2}]

    def practitioners(self):
        return [{"id": "5", "uuid": DR}]

    def appointments(self):
        return self.rows


class FakeLedger(invariants.Ledger):
    def __init__(self):
        super().__init__(None)
        self.got = {}

    def answer(self, cmd, *answers):
        self.sent[cmd["request_id"]] = cmd
        self.sends[cmd["request_id"]] = len(answers) or 1
        self.got[cmd["request_id"]] = list(answers)

    def answers(self):
        return self.got


def row(eid, patient, start, minutes=30, conf=None, status="-", pract=DR, cat="9"):
    return {"pc_eid": str(eid), "puuid": patient, "pce_aid_uuid": pract, "start_epoch": start,
            "end_epoch": start + minutes * 60, "pc_apptstatus": status, "pc_catid": cat,
            "pc_hometext": conf or "", "pc_eventDate": "2027-01-05"}


def iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


def book(rid, patient, start, eid, conf, status="ok"):
    cmd = {"type": "book", "request_id": rid, "payload": {
        "patient_id": patient, "practitioner_id": DR, "start": iso(start),
        "appointment_type": "follow_up"}}
    ans = {"request_id": rid, "type": "book", "status": status, "processed_at": "x"}
    if status == "ok":
        ans["result"] = {"appointment_id": str(eid), "confirmation_number": conf}
    return cmd, ans


def kinds(v):
    return {k for k, p in v.problems.items() if p}


class CheckerTest(unittest.TestCase):
    def clean(self):
        led = FakeLedger()
        c, a = book("b1", "1", T0, 10, "4HW-0X7K")  # a numeric pid: canonical P1
        led.answer(c, a, dict(a, processed_at="y"))  # a redelivery: same answer
        c2, a2 = book("b2", "Patient/" + P2.upper(), T0 + 2400, 11, "4HW-0X7R")
        led.answer(c2, {"status": "unavailable"}, a2)  # unavailable, then final
        rows = [row(10, P1, T0, conf="4HW-0X7K"), row(11, P2, T0 + 2400, conf="4HW-0X7R"),
                row(1, None, T0 - 3600, 60, cat="8")]  # lunch before, no overlap
        return led, rows

    def test_a_clean_run_passes(self):
        led, rows = self.clean()
        v = invariants.check(FakeSim(rows), led)
        self.assertTrue(v.ok(), v.report())
        self.assertEqual(v.figures["answered"], 2)

    def test_practitioner_overlap_with_the_buffer(self):
        led, rows = self.clean()
        rows[1]["start_epoch"] = T0 + 1800 + 300  # 5 minutes after: inside the 10-minute buffer
        rows[1]["end_epoch"] = rows[1]["start_epoch"] + 1800
        led.sent["b2"]["payload"]["start"] = iso(T0 + 2100)
        self.assertEqual(kinds(invariants.check(FakeSim(rows), led)), {"overlap_practitioner"})

    def test_provider_event_overlap(self):
        led, rows = self.clean()
        rows.append(row(2, None, T0 + 600, 60, cat="8"))
        self.assertIn("overlap_practitioner", kinds(invariants.check(FakeSim(rows), led)))

    def test_patient_overlap_across_practitioners(self):
        led, rows = self.clean()
        rows.append(row(12, P1, T0 + 600, pract="other", conf="4HW-0X7Y"))
        self.assertIn("overlap_patient", kinds(invariants.check(FakeSim(rows), led)))

    def test_one_number_two_appointments(self):
        led, rows = self.clean()
        rows.append(row(13, P2, T0 + 20000, conf="4HW-0X7K"))
        self.assertIn("confirmation_twice", kinds(invariants.check(FakeSim(rows), led)))

    def test_no_final_answer(self):
        led, rows = self.clean()
        c, _ = book("b3", P1, T0 + 9000, 0, "")
        led.answer(c, {"status": "unavailable"})
        self.assertEqual(kinds(invariants.check(FakeSim(rows), led)), {"no_final_answer"})

    def test_answers_differ(self):
        led, rows = self.clean()
        led.got["b1"].append(dict(led.got["b1"][0], status="conflict", result=None))
        self.assertEqual(kinds(invariants.check(FakeSim(rows), led)), {"answers_differ"})

    def test_ok_missing_and_misplaced(self):
        led, rows = self.clean()
        self.assertIn("ok_missing", kinds(invariants.check(FakeSim(rows[1:]), led)))
        rows[0]["start_epoch"] += 900
        rows[0]["end_epoch"] += 900
        self.assertIn("ok_missing", kinds(invariants.check(FakeSim(rows), led)))

    def test_invented_appointment(self):
        led, rows = self.clean()
        rows.append(row(14, P2, T0 + 40000, conf="4HW-0X7W"))
        self.assertEqual(kinds(invariants.check(FakeSim(rows), led)), {"invented"})

    def test_removed_twice_and_removed_present(self):
        led, rows = self.clean()
        for rid, eid in (("r1", 20), ("r2", 21)):
            led.answer({"type": "reschedule", "request_id": rid, "payload": {
                "patient_id": P1, "new_start": iso(T0 + eid * 10000)}},
                {"status": "ok", "result": {"appointment_id": str(eid),
                                            "previous_appointment_id": "10"}})
            rows.append(row(eid, P1, T0 + eid * 10000, conf="4HW-0X%02d" % eid))
        v = invariants.check(FakeSim(rows), led)
        self.assertEqual(kinds(v), {"removed_twice", "removed_present"})
        self.assertIn("removed_twice", kinds(v))
        self.assertIn("removed_present", kinds(v))  # 10 is still live

    def test_ids_are_made_canonical_independently(self):
        people = invariants.People(FakeSim())
        for raw in (P1, P1.upper(), "Patient/" + P1, "1", "001"):
            self.assertEqual(people.canon("patient", raw), P1, raw)
        for raw in (DR, "Practitioner/" + DR, "Person/" + DR.upper(), "5", "05"):
            self.assertEqual(people.canon("practitioner", raw), DR, raw)
        self.assertIsNone(people.canon("patient", "9"))
        self.assertEqual(invariants.normal({"a": 1, "processed_at": "x"}),
                         json.dumps({"a": 1}))


if __name__ == "__main__":
    main()
