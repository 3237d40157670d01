#!/usr/bin/python3
"""Contract tests: the FHIR read/search surface answers as OpenEMR's."""
import datetime
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (DR_ADAMS, DR_DIAZ_NO_NPI, FHIR, PATIENT_JOHN, SimTestCase, main,  # noqa: E402
                     no_quirks)

TODAY = "2026-12-07"  # a Monday, in EST (-05:00)


class FhirTest(SimTestCase):
    # the kind contract: every occurrence a row, no ACL, repeated date=
    # ANDed and matched on the start time (test_fidelity.py: OpenEMR's)
    SIM_ARGS = no_quirks("recurring-base-row-only", "acl", "repeated-query-last-wins",
                         "fhir-date-is-event-date")
    TODAY = TODAY

    def search(self, resource, **params):
        items = []
        for k, v in params.items():
            for one in (v if isinstance(v, list) else [v]):
                items.append((k.replace("__", "."), one))
        q = urllib.parse.urlencode(items)
        r = self.sim.get(FHIR + "/" + resource + ("?" + q if q else ""), token=self.tok)
        self.assertEqual(r.status, 200, r.body)
        b = r.json()
        return [e["resource"] for e in b.get("entry", [])], b

    def test_metadata_without_token(self):
        r = self.sim.get(FHIR + "/metadata")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["resourceType"], "CapabilityStatement")
        types = {x["type"] for x in r.json()["rest"][0]["resource"]}
        self.assertNotIn("Slot", types)  # OpenEMR has no Slot

    def test_bundle_is_collection_with_total_and_self_link_no_paging(self):
        res, b = self.search("Patient")
        self.assertEqual(b["type"], "collection")
        self.assertEqual(b["total"], len(res))
        self.assertEqual(len(res), len(self.sim.admin_get("/patients")))
        self.assertEqual([l["relation"] for l in b["link"]], ["self"])

    def test_patient_phone_matches_on_digits(self):
        res, _ = self.search("Patient", phone="617-555-0200")
        self.assertEqual(sorted(p["birthDate"] for p in res), ["1962-01-15", "1964-07-22"])
        res, _ = self.search("Patient", telecom="phone|(617) 555 0200", birthdate="1964-07-22")
        self.assertEqual([p["name"][0]["given"][0] for p in res], ["Linda"])

    def test_twins_share_phone_and_birthdate(self):
        # Olivia's phone is stored as "+1 617 555 0300", Emma's as "617.555.0300"
        res, _ = self.search("Patient", phone="(617) 555-0300", birthdate="2015-03-03")
        self.assertEqual(sorted(p["name"][0]["given"][0] for p in res), ["Emma", "Olivia"])

    def test_patient_name_family_given_id_identifier(self):
        self.assertEqual(len(self.search("Patient", family="jones")[0]), 2)
        self.assertEqual(len(self.search("Patient", given="Mar")[0]), 1)
        self.assertEqual(len(self.search("Patient", name="brown")[0]), 2)
        self.assertEqual(self.search("Patient", _id=PATIENT_JOHN)[0][0]["id"], PATIENT_JOHN)
        self.assertEqual(self.search("Patient", identifier="MRN-1001")[0][0]["id"], PATIENT_JOHN)

    def test_unknown_or_malformed_param_gives_empty_bundle(self):
        for params in ({"favourite_colour": "blue"}, {"birthdate": "yesterday"},
                       {"family": "Jones", "bogus": "1"}):
            res, b = self.search("Patient", **params)
            self.assertEqual((res, b["total"]), ([], 0), params)

    def test_read_unknown_id_is_404_with_empty_array(self):
        for t in ("Patient", "Appointment", "Practitioner"):
            r = self.sim.get(FHIR + "/%s/00000000-0000-0000-0000-000000000000" % t, token=self.tok)
            self.assertEqual((r.status, r.json()), (404, []), t)

    def test_patient_read(self):
        r = self.sim.get(FHIR + "/Patient/" + PATIENT_JOHN, token=self.tok)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["birthDate"], "1980-04-12")

    def test_practitioner_only_users_with_npi(self):
        res, _ = self.search("Practitioner")
        self.assertEqual(len(res), 3)
        self.assertNotIn(DR_DIAZ_NO_NPI, [p["id"] for p in res])
        npi = res[0]["identifier"][0]
        self.assertEqual(npi["system"], "http://hl7.org/fhir/sid/us-npi")
        r = self.sim.get(FHIR + "/Practitioner/" + DR_DIAZ_NO_NPI, token=self.tok)
        self.assertEqual(r.status, 404)

    def test_provider_without_npi_is_a_person(self):
        r = self.sim.get(FHIR + "/Person/" + DR_DIAZ_NO_NPI, token=self.tok)
        self.assertEqual((r.status, r.json()["resourceType"]), (200, "Person"))
        res, _ = self.search("Appointment", patient="Patient/946da61d-6b88-4d7a-9f6e-000000000007")
        refs = [p["actor"]["reference"] for p in res[0]["participant"]]
        self.assertIn("Person/" + DR_DIAZ_NO_NPI, refs)

    def test_appointment_search_by_patient(self):
        res, _ = self.search("Appointment", patient="Patient/" + PATIENT_JOHN)
        self.assertEqual(len(res), 2)
        for a in res:
            self.assertIn("Patient/" + PATIENT_JOHN,
                          [p["actor"]["reference"] for p in a["participant"]])

    def test_appointment_date_range_includes_provider_events(self):
        res, _ = self.search("Appointment", date=["ge2026-12-08", "le2026-12-08"])
        self.assertTrue(res)
        self.assertTrue(all(a["start"].startswith("2026-12-08") for a in res))
        lunch = [a for a in res if a["appointmentType"]["coding"][0]["code"] == "lunch"]
        self.assertEqual(len(lunch), 4)  # one per provider
        self.assertFalse(any(p["actor"]["reference"].startswith("Patient/")
                             for p in lunch[0]["participant"]))

    def test_appointment_date_with_time_and_offset(self):
        res, _ = self.search("Appointment", date=["ge2026-12-08T12:00:00-05:00",
                                                  "lt2026-12-08T12:30:00-05:00"])
        self.assertEqual({a["start"] for a in res}, {"2026-12-08T12:00:00-05:00"})

    def test_appointment_mapping(self):
        row = next(a for a in self.sim.admin_get("/appointments")
                   if a["pid"] == "1" and a["pc_catid"] == "5")
        r = self.sim.get(FHIR + "/Appointment/" + row["pc_uuid"], token=self.tok)
        self.assertEqual(r.status, 200)
        a = r.json()
        self.assertEqual(a["id"], row["pc_uuid"])
        self.assertEqual(a["start"], "2026-12-08T09:00:00-05:00")
        self.assertEqual(a["end"], "2026-12-08T09:15:00-05:00")
        self.assertEqual(a["status"], "proposed")
        self.assertEqual(a["appointmentType"]["coding"][0]["code"], "office_visit")
        self.assertNotIn("comment", a)
        parts = {p["actor"]["reference"].split("/")[0]: p for p in a["participant"]}
        self.assertEqual(set(parts), {"Patient", "Practitioner", "Location"})
        self.assertEqual(parts["Practitioner"]["actor"]["reference"], "Practitioner/" + DR_ADAMS)
        self.assertEqual(parts["Patient"]["type"][0]["coding"][0]["code"], "PART")
        self.assertEqual(parts["Practitioner"]["type"][0]["coding"][0]["code"], "PPRF")
        updated = datetime.datetime.fromisoformat(a["meta"]["lastUpdated"])
        self.assertEqual(int(updated.timestamp()), row["pc_time_epoch"])

    def test_status_mapping_from_pc_apptstatus(self):
        expect = {"-": "proposed", "#": "pending", "^": "pending", "*": "booked",
                  "AVM": "booked", "SMS": "booked", "EMAIL": "booked", "x": "cancelled",
                  "%": "cancelled", "!": "cancelled", "?": "noshow", "@": "arrived",
                  "~": "arrived", "<": "checked-in", "+": "checked-in", ">": "fulfilled",
                  "$": "fulfilled", "CALL": "waitlist"}
        row = self.sim.admin_get("/appointments")[0]
        for code, status in expect.items():
            self.sim.admin_post("/appointments/" + row["pc_eid"], {"pc_apptstatus": code})
            a = self.sim.get(FHIR + "/Appointment/" + row["pc_uuid"], token=self.tok).json()
            self.assertEqual(a["status"], status, code)

    def test_last_updated_finds_outside_edits(self):
        time.sleep(1.1)
        since = datetime.datetime.now().astimezone().replace(microsecond=0).isoformat()
        row = self.sim.admin_get("/appointments")[5]
        self.sim.admin_post("/appointments/" + row["pc_eid"], {"pc_startTime": "10:45"})
        res, _ = self.search("Appointment", _lastUpdated="ge" + since)
        self.assertEqual([a["id"] for a in res], [row["pc_uuid"]])
        self.assertTrue(res[0]["start"].endswith("T10:45:00-05:00"))

    def test_scheduling_params_are_unknown_on_openemr(self):
        res, b = self.search("Appointment", practitioner="Practitioner/" + DR_ADAMS)
        self.assertEqual(b["total"], 0)
        r = self.sim.get(FHIR + "/Slot", token=self.tok)
        self.assertEqual(r.status, 404)
        r = self.sim.post(FHIR + "/Appointment", token=self.tok, body={"resourceType": "Appointment"})
        self.assertEqual(r.status, 404)


if __name__ == "__main__":
    main()
