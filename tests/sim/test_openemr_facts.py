#!/usr/bin/python3
"""The simulator serves what OpenEMR serves, as the project's own table
says (tests/sim/openemr-facts.json): every /api route of the table reaches
a handler and no other does, the methods OpenEMR lacks are 404 "Route not
found", rows carry the table's fields, the appointment create body insists
on exactly the required fields and accepts the optional ones and the
example, the FHIR resources OpenEMR reads are there and the scheduling
surface OpenEMR lacks is not (it stays behind --fhir-scheduling).
Needs nothing outside the repository."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (API, DR_ADAMS, FHIR, PATIENT_JOHN, Sim, SimTestCase, main,  # noqa: E402
                     no_quirks, req)

FACTS = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "openemr-facts.json")))
# the simulator's /stats route names use :name where OpenAPI writes {name}
STATS_NAMES = {"{eid}": ":eid", "{pid}": ":pid", "{puuid}": ":puuid", "{pruuid}": ":pruuid"}


def stats_key(method, path):
    for k, v in STATS_NAMES.items():
        path = path.replace(k, v)
    return "%s %s" % (method, path)


class FactsTest(SimTestCase):
    # 8.x may answer a failed validation 200 and keeps /api/practitioner
    # behind an ACL (test_fidelity.py): the table's facts hold for both
    # versions, which these two quirks would hide
    SIM_ARGS = no_quirks("acl", "validation-200")

    def setUp(self):
        super().setUp()
        rows = self.sim.get(API + "/appointment", token=self.tok).json()
        self.eid = next(r["pc_eid"] for r in rows if r["pid"] == "1")

    def url(self, path):
        """An OpenAPI path of the table, filled in from the seed."""
        filled = (path.replace("{eid}", self.eid).replace("{pid}", "1")
                  .replace("{puuid}", PATIENT_JOHN).replace("{pruuid}", DR_ADAMS)
                  .replace("{uuid}", "a-uuid"))
        return self.sim.base_url + "/apis/default" + filled

    def test_every_api_route_of_the_table_is_served_and_no_other(self):
        self.sim.admin_post("/stats/reset")
        for r in FACTS["api_routes"]:
            body = FACTS["appointment_create"]["example"] if r["method"] == "POST" else None
            got = req(r["method"], self.url(r["path"]), body=body, token=self.tok)
            self.assertLess(got.status, 500, r)
            if got.status == 404:  # a handler's 404 has an empty body, the router's says so
                self.assertNotIn(b"Route not found", got.body, r)
        served = {k for k in self.sim.admin_get("/stats")["routes"] if " /api/" in k}
        self.assertEqual(served, {stats_key(r["method"], r["path"]) for r in FACTS["api_routes"]})

    def test_methods_openemr_lacks_are_route_not_found(self):
        for r in FACTS["api_methods_absent"]:
            got = req(r["method"], self.url(r["path"]), body={"pc_apptstatus": "x"},
                      token=self.tok)
            self.assertEqual(got.status, 404, r)
            self.assertEqual(got.json().get("message"), "Route not found", r)

    def test_rows_carry_the_tables_fields(self):
        rows = self.sim.get(API + "/appointment", token=self.tok).json()
        visit = next(r for r in rows if r["pid"] == "1")
        for field in FACTS["appointment_row_fields"]:
            self.assertIn(field, visit, field)

    def test_create_insists_on_exactly_the_required_fields(self):
        spec = FACTS["appointment_create"]
        body = dict(spec["example"], pc_aid="5")  # the example's provider 1 is not in the seed
        self.assertEqual(set(body), set(spec["required"]) | set(spec["optional"]))
        for field in body:
            partial = {k: v for k, v in body.items() if k != field}
            r = self.sim.post(API + "/patient/1/appointment", token=self.tok, body=partial)
            if field in spec["required"]:
                self.assertEqual(r.status, 400, field)
                self.assertIn(field, r.json(), field)
            else:
                self.assertEqual(r.status, 200, (field, r.body))

    def test_create_accepts_the_example_body(self):
        body = dict(FACTS["appointment_create"]["example"], pc_aid="5")
        r = self.sim.post(API + "/patient/1/appointment", token=self.tok, body=body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(set(r.json()), {"id"})

    def test_fhir_resources_openemr_reads_are_served(self):
        for res in FACTS["fhir_read"]:
            r = self.sim.get(FHIR + "/" + res, token=self.tok)
            self.assertEqual(r.status, 200, res)
            self.assertEqual(r.json()["resourceType"], "Bundle", res)

    def test_the_scheduling_surface_openemr_lacks_is_not_served(self):
        for r in FACTS["fhir_not_openemr"]:
            got = req(r["method"], self.url(r["path"]), body={"resourceType": "Appointment"},
                      token=self.tok)
            self.assertEqual(got.status, 404, r)
        with Sim("--fhir-scheduling") as s:  # behind the flag it is there
            tok = s.user_token()
            self.assertEqual(s.get(FHIR + "/Slot", token=tok).status, 200)


if __name__ == "__main__":
    main()
