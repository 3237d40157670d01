#!/usr/bin/python3
"""Contract tests: the seed's FHIR scheduling surface (--fhir-scheduling)."""
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import API, DR_ADAMS, DR_BAKER, FHIR, PATIENT_JOHN, SimTestCase, main, req  # noqa: E402

TODAY = "2026-12-07"  # Monday; seed day 1 = Tue 2026-12-08, day 3 = Thu 2026-12-10 (EST)
CONF = {"system": "urn:schedworker:confirmation", "value": "CONF-ZZ9XY"}


def new_appt(start, end, practitioner=DR_ADAMS, patient=PATIENT_JOHN, **extra):
    a = {"resourceType": "Appointment", "status": "booked", "start": start, "end": end,
         "appointmentType": {"coding": [{"code": "office_visit"}]},
         "participant": [{"actor": {"reference": "Patient/" + patient}},
                         {"actor": {"reference": "Practitioner/" + practitioner}}],
         "identifier": [CONF]}
    a.update(extra)
    return a


class FhirSchedulingTest(SimTestCase):
    SIM_ARGS = ("--fhir-scheduling",)
    TODAY = TODAY

    def bundle(self, path, params):
        r = self.sim.get(FHIR + path + "?" + urllib.parse.urlencode(params), token=self.tok)
        self.assertEqual(r.status, 200, r.body)
        return [e["resource"] for e in r.json().get("entry", [])]

    def slots(self, day, who=DR_ADAMS, **extra):
        params = [("start", "ge" + day), ("start", "le" + day), ("status", "free"),
                  ("schedule.actor", "Practitioner/" + who)] + list(extra.items())
        return self.bundle("/Slot", params)

    def create(self, body):
        return self.sim.post(FHIR + "/Appointment", token=self.tok, body=body)

    def test_metadata_lists_slot_and_schedule(self):
        types = {x["type"] for x in self.sim.get(FHIR + "/metadata").json()["rest"][0]["resource"]}
        self.assertTrue({"Slot", "Schedule"} <= types)

    def test_schedule_search_by_actor(self):
        self.assertEqual(len(self.bundle("/Schedule", [])), 4)
        res = self.bundle("/Schedule", [("actor", "Practitioner/" + DR_ADAMS)])
        self.assertEqual(len(res), 1)
        self.assertIn("Practitioner/" + DR_ADAMS, [a["reference"] for a in res[0]["actor"]])

    def test_slots_are_working_hours_minus_events(self):
        starts = [s["start"][11:16] for s in self.slots("2026-12-08")]
        self.assertEqual(starts[0], "08:00")
        self.assertEqual(starts[-1], "16:45")
        for busy in ("09:00", "10:00", "10:15", "12:00", "12:15", "12:30", "12:45"):
            self.assertNotIn(busy, starts)
        self.assertEqual(len(starts), 36 - 7)
        self.assertTrue(all(s["status"] == "free" for s in self.slots("2026-12-08")))

    def test_slots_per_appointment_type_length(self):
        res = self.slots("2026-12-08", **{"appointment-type": "new_patient"})
        starts = [s["start"][11:16] for s in res]
        self.assertEqual(starts[:4], ["08:00", "08:30", "09:30", "10:30"])  # 09:00, 10:00 taken
        self.assertTrue(all(s["end"][11:16] == "08:30" for s in res[:1]))
        self.assertEqual(len(starts), 18 - 4)

    def test_vacation_and_weekend_have_no_slots(self):
        self.assertEqual(self.slots("2026-12-10", who=DR_BAKER), [])
        self.assertEqual(self.slots("2026-12-12"), [])  # Saturday
        self.assertTrue(self.slots("2026-12-10"))

    def test_create_books_and_keeps_identifier(self):
        r = self.create(new_appt("2026-12-08T11:00:00-05:00", "2026-12-08T11:15:00-05:00"))
        self.assertEqual(r.status, 201, r.body)
        a = r.json()
        self.assertEqual(a["status"], "booked")
        self.assertTrue(r.header("Location").endswith("/Appointment/" + a["id"]))
        self.assertNotIn("11:00", [s["start"][11:16] for s in self.slots("2026-12-08")])
        found = self.bundle("/Appointment", [("identifier", CONF["system"] + "|" + CONF["value"])])
        self.assertEqual([x["id"] for x in found], [a["id"]])
        self.assertEqual(found[0]["identifier"], [CONF])
        rows = self.sim.get(API + "/appointment", token=self.tok).json()
        self.assertIn(a["id"], [row["pc_uuid"] for row in rows])  # one calendar

    def test_conflicting_create_is_409_operation_outcome(self):
        r = self.create(new_appt("2026-12-08T09:10:00-05:00", "2026-12-08T09:25:00-05:00"))
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json()["resourceType"], "OperationOutcome")
        self.assertEqual(r.json()["issue"][0]["code"], "conflict")
        r = self.create(new_appt("2026-12-08T12:30:00-05:00", "2026-12-08T12:45:00-05:00"))
        self.assertEqual(r.status, 409)  # lunch blocks too

    def test_cancel_by_put_status_frees_the_time(self):
        body = new_appt("2026-12-08T14:00:00-05:00", "2026-12-08T14:15:00-05:00")
        a = self.create(body).json()
        self.assertEqual(self.create(body).status, 409)
        a["status"] = "cancelled"
        r = req("PUT", self.sim.base_url + FHIR + "/Appointment/" + a["id"], body=a, token=self.tok)
        self.assertEqual((r.status, r.json()["status"]), (200, "cancelled"))
        self.assertIn("14:00", [s["start"][11:16] for s in self.slots("2026-12-08")])
        self.assertEqual(self.create(body).status, 201)

    def test_search_by_practitioner_and_status(self):
        res = self.bundle("/Appointment", [("practitioner", "Practitioner/" + DR_ADAMS),
                                           ("status", "booked,pending")])
        self.assertTrue(res)
        for a in res:
            self.assertIn(a["status"], ("booked", "pending"))
            self.assertIn("Practitioner/" + DR_ADAMS,
                          [p["actor"]["reference"] for p in a["participant"]])
        cancelled = self.bundle("/Appointment", [("status", "cancelled")])
        self.assertEqual(len(cancelled), 1)  # the seed's one 'x'

    def test_errors_are_operation_outcomes(self):
        r = self.create({"resourceType": "Patient"})
        self.assertEqual((r.status, r.json()["resourceType"]), (400, "OperationOutcome"))
        r = self.create(new_appt("2026-12-08T15:00:00", "2026-12-08T14:00:00"))
        self.assertEqual((r.status, r.json()["resourceType"]), (400, "OperationOutcome"))
        r = req("PUT", self.sim.base_url + FHIR + "/Appointment/nope",
                body=new_appt("2026-12-08T15:00:00", "2026-12-08T15:15:00"), token=self.tok)
        self.assertEqual((r.status, r.json()["resourceType"]), (404, "OperationOutcome"))


if __name__ == "__main__":
    main()
