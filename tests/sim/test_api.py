#!/usr/bin/python3
"""Contract tests: the standard API (/apis/default/api) answers as OpenEMR's."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import API, DR_ADAMS, PATIENT_JOHN, SimTestCase, main, no_quirks, req  # noqa: E402

GOOD = {"pc_catid": "5", "pc_title": "Office Visit", "pc_duration": "900",
        "pc_hometext": "CONF-TEST1", "pc_apptstatus": "-", "pc_eventDate": "2026-12-15",
        "pc_startTime": "09:00", "pc_facility": "3", "pc_billing_location": "3", "pc_aid": "5"}


class ApiTest(SimTestCase):
    # the kind contract: every occurrence a row, no ACL, validation 400
    # (test_fidelity.py: each of these as OpenEMR 7.0.3 and 8 do it)
    SIM_ARGS = no_quirks("recurring-base-row-only", "acl", "validation-200")
    TODAY = "2026-12-07"

    def get(self, path):
        return self.sim.get(API + path, token=self.tok)

    def create(self, pid=1, **changes):
        body = dict(GOOD, **changes)
        body = {k: v for k, v in body.items() if v is not None}
        return self.sim.post(API + "/patient/%s/appointment" % pid, token=self.tok, body=body)

    def test_list_returns_every_row_including_provider_events(self):
        r = self.get("/appointment")
        self.assertEqual(r.status, 200)
        rows = r.json()
        self.assertIsInstance(rows, list)
        self.assertEqual(len(rows), len(self.sim.admin_get("/appointments")))
        cats = {row["pc_catid"] for row in rows}
        self.assertTrue({"2", "3", "4", "8", "5"} <= cats, cats)
        lunch = next(row for row in rows if row["pc_catid"] == "8")
        self.assertIsNone(lunch["pid"])  # provider event: no patient (LEFT JOIN)

    def test_values_are_strings_and_times_hh_mm_ss(self):
        rows = self.get("/appointment").json()
        for row in rows:
            for k, v in row.items():
                self.assertTrue(v is None or isinstance(v, str), (k, v))
        visit = next(row for row in rows if row["pid"] == "1")
        self.assertRegex(visit["pc_startTime"], r"^\d\d:\d\d:\d\d$")
        self.assertRegex(visit["pc_endTime"], r"^\d\d:\d\d:\d\d$")
        self.assertRegex(visit["pc_time"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        for k in ("pc_eid", "pc_uuid", "puuid", "fname", "lname", "DOB", "pc_aid",
                  "pce_aid_uuid", "pc_apptstatus", "pc_eventDate", "pc_facility", "pc_catid",
                  "pc_title", "facility_name"):
            self.assertIn(k, visit)
        self.assertNotIn("pc_duration", visit)

    def test_get_by_eid_adds_duration_and_hometext(self):
        eid = next(r["pc_eid"] for r in self.get("/appointment").json() if r["pid"] == "1")
        r = self.get("/appointment/" + eid)
        self.assertEqual(r.status, 200)
        row = r.json()[0]
        self.assertEqual(row["pc_eid"], eid)
        self.assertIn("pc_duration", row)
        self.assertIn("pc_hometext", row)

    def test_unknown_eid_is_404_with_empty_body(self):
        r = self.get("/appointment/999999")
        self.assertEqual((r.status, r.body), (404, b""))
        r = self.get("/patient/1/appointment/999999")
        self.assertEqual((r.status, r.body), (404, b""))

    def test_patient_rows_by_numeric_pid_and_uuid_is_404(self):
        r = self.get("/patient/1/appointment")
        self.assertEqual(r.status, 200)
        self.assertTrue(all(row["pid"] == "1" for row in r.json()))
        self.assertEqual(self.get("/patient/%s/appointment" % PATIENT_JOHN).status, 404)

    def test_patient_without_rows_is_404_empty(self):
        r = self.get("/patient/4444/appointment")
        self.assertEqual((r.status, r.body), (404, b""))

    def test_create_answers_id_and_stores_the_row(self):
        r = self.create()
        self.assertEqual(r.status, 200, r.body)
        eid = r.json()["id"]
        self.assertIsInstance(eid, int)
        row = self.get("/appointment/%d" % eid).json()[0]
        self.assertEqual(row["pc_startTime"], "09:00:00")
        self.assertEqual(row["pc_endTime"], "09:15:00")
        self.assertEqual(row["pc_hometext"], "CONF-TEST1")
        self.assertEqual(row["pce_aid_uuid"], DR_ADAMS)
        self.assertEqual(row["puuid"], PATIENT_JOHN)

    def test_start_time_must_be_exactly_hh_mm(self):
        for bad in ("09:00:00", "9:00", "24:00", "09:60"):
            r = self.create(pc_startTime=bad)
            self.assertEqual(r.status, 400, bad)
            self.assertIn("pc_startTime", r.json())

    def test_duration_is_seconds(self):
        eid = self.create(pc_duration="1800").json()["id"]
        self.assertEqual(self.get("/appointment/%d" % eid).json()[0]["pc_endTime"], "09:30:00")

    def test_title_length_2_to_150(self):
        r = self.create(pc_title="x")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["pc_title"],
                         {"LengthBetween::TOO_SHORT": "pc_title must be 2 characters or longer"})
        self.assertIn("LengthBetween::TOO_LONG", self.create(pc_title="y" * 151).json()["pc_title"])
        self.assertEqual(self.create(pc_title="y" * 150).status, 200)

    def test_required_fields_must_exist_and_not_be_empty(self):
        r = self.create(pc_hometext="", pc_apptstatus=None)
        self.assertEqual(r.status, 400)
        errs = r.json()
        self.assertIn("pc_hometext", errs)
        self.assertIn("pc_apptstatus", errs)
        self.assertNotIn("id", errs)

    def test_numeric_fields_and_date_format(self):
        errs = self.create(pc_catid="five", pc_eventDate="2026/12/15",
                           pc_facility="main").json()
        for k in ("pc_catid", "pc_eventDate", "pc_facility"):
            self.assertIn(k, errs)

    def test_pc_aid_must_exist(self):
        self.assertIn("pc_aid", self.create(pc_aid="999").json())
        self.assertEqual(self.create(pc_aid=None).status, 200)  # optional

    def test_unknown_pid_fails_validation_on_pid(self):
        r = self.create(pid=4444)
        self.assertEqual(r.status, 400)
        self.assertIn("pid", r.json())

    def test_no_overlap_check_ever(self):
        a = self.create()
        b = self.create(pid=2)
        self.assertEqual((a.status, b.status), (200, 200))
        self.assertNotEqual(a.json()["id"], b.json()["id"])

    def test_delete_is_hard_and_says_record_deleted_even_if_missing(self):
        eid = self.create().json()["id"]
        r = req("DELETE", self.sim.base_url + API + "/patient/1/appointment/%d" % eid,
                token=self.tok)
        self.assertEqual((r.status, r.json()), (200, {"message": "record deleted"}))
        self.assertEqual(self.get("/appointment/%d" % eid).status, 404)
        self.assertFalse(any(a["pc_eid"] == str(eid) for a in self.sim.admin_get("/appointments")))
        r = req("DELETE", self.sim.base_url + API + "/patient/1/appointment/987654", token=self.tok)
        self.assertEqual((r.status, r.json()), (200, {"message": "record deleted"}))

    def test_no_put_or_patch_route(self):
        for m in ("PUT", "PATCH"):
            r = req(m, self.sim.base_url + API + "/patient/1/appointment/1", token=self.tok,
                    body={"pc_apptstatus": "x"})
            self.assertEqual(r.status, 404, m)
            self.assertIn(b"Route not found", r.body)

    def test_unknown_route_is_404_route_not_found(self):
        r = self.get("/nothing/here")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["message"], "Route not found")

    def test_patient_by_uuid_maps_to_numeric_pid(self):
        r = self.get("/patient/" + PATIENT_JOHN)
        self.assertEqual(r.status, 200)
        d = r.json()["data"]
        self.assertEqual((d["pid"], d["uuid"], d["DOB"]), ("1", PATIENT_JOHN, "1980-04-12"))

    def test_practitioner_by_uuid_maps_to_numeric_id(self):
        d = self.get("/practitioner/" + DR_ADAMS).json()["data"]
        self.assertEqual((d["id"], d["npi"]), ("5", "1234567893"))


if __name__ == "__main__":
    main()
