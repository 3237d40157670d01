#!/usr/bin/python3
"""Checks the simulator against OpenEMR's own OpenAPI description: every
/api route it serves (as recorded by its own /stats) and every field of the
appointment create body exist in ../shared/openemr/openemr-api.yaml, the
yaml's required fields are exactly the ones the simulator insists on, and
the yaml's own example body is accepted.  The yaml is read with a small
line parser (no PyYAML on Debian by default)."""
import os
import re
import unittest

from simlib import API, DR_ADAMS, FHIR, PATIENT_JOHN, ROOT, Sim, main, no_quirks, req

YAML = os.path.normpath(os.path.join(ROOT, "..", "shared", "openemr", "openemr-api.yaml"))
CREATE_PATH = "/api/patient/{pid}/appointment"


def load_paths():
    """{path: {method: [lines of that operation]}} from the yaml's paths: block."""
    paths, path, method = {}, None, None
    with open(YAML) as f:
        lines = f.read().splitlines()
    in_paths = False
    for line in lines:
        if line == "paths:":
            in_paths = True
            continue
        if in_paths and line and not line.startswith(" "):
            break
        if not in_paths:
            continue
        m = re.match(r"^  '?(/[^']+?)'?:$", line)
        if m:
            path, method = m.group(1), None
            paths[path] = {}
            continue
        m = re.match(r"^    (get|post|put|patch|delete):$", line)
        if m and path:
            method = m.group(1).upper()
            paths[path][method] = []
            continue
        if path and method:
            paths[path][method].append(line)
    return paths


def create_schema(paths):
    """(required, properties, example) of the appointment create body."""
    lines = paths[CREATE_PATH]["POST"]
    required, props, example, section = [], [], {}, None
    for line in lines:
        if re.match(r"^ {14}required:$", line):
            section = "required"
        elif re.match(r"^ {14}properties:$", line):
            section = "properties"
        elif re.match(r"^ {14}example:$", line):
            section = "example"
        elif re.match(r"^ {14}\S", line):
            section = None
        elif section == "required" and re.match(r"^ {16}- (\w+)$", line):
            required.append(line.split("- ")[1])
        elif section == "properties" and re.match(r"^ {16}(\w+):$", line):
            props.append(line.strip()[:-1])
        elif section == "example" and re.match(r"^ {16}(\w+): ", line):
            k, v = line.strip().split(": ", 1)
            example[k] = v.strip("'")
    return required, props, example


class OpenApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert os.path.exists(YAML), "OpenEMR's OpenAPI file is missing: " + YAML
        cls.paths = load_paths()
        cls.required, cls.props, cls.example = create_schema(cls.paths)
        cls.sim = Sim(*no_quirks("acl", "validation-200")).__enter__()
        cls.tok = cls.sim.user_token()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_yaml_parse_sanity(self):
        self.assertIn("/api/appointment", self.paths)
        self.assertEqual(len(self.required), 9)
        self.assertIn("pc_aid", self.props)

    def test_every_api_route_served_is_in_the_yaml(self):
        self.sim.admin_post("/stats/reset")
        base = self.sim.base + API
        eid = self.sim.get(API + "/appointment", token=self.tok).json()[0]["pc_eid"]
        for method, path in (("GET", "/appointment"), ("GET", "/appointment/" + eid),
                             ("GET", "/patient/1/appointment"),
                             ("GET", "/patient/1/appointment/" + eid),
                             ("DELETE", "/patient/1/appointment/999999"),
                             ("GET", "/patient/" + PATIENT_JOHN),
                             ("GET", "/practitioner/" + DR_ADAMS)):
            self.assertLess(req(method, base + path, token=self.tok).status, 500)
        self.sim.post(API + "/patient/1/appointment", token=self.tok, body={})
        routes = self.sim.admin_get("/stats")["routes"]
        served = [k for k in routes if " /api/" in k]
        self.assertEqual(len(served), 8, served)
        names = {":eid": "{eid}", ":pid": "{pid}", ":puuid": "{puuid}", ":pruuid": "{pruuid}"}
        for key in served:
            method, path = key.split(" ", 1)
            for k, v in names.items():
                path = path.replace(k, v)
            self.assertIn(path, self.paths, key)
            self.assertIn(method, self.paths[path], key)

    def test_fhir_resources_served_are_openemrs(self):
        for res in ("Appointment", "Patient", "Practitioner", "Person"):
            self.assertIn("GET", self.paths["/fhir/" + res], res)
        # the scheduling surface is not OpenEMR's: it must stay behind a flag
        self.assertNotIn("/fhir/Slot", self.paths)
        self.assertNotIn("POST", self.paths["/fhir/Appointment"])
        self.assertEqual(self.sim.get(FHIR + "/Slot", token=self.tok).status, 404)

    def test_create_body_fields_are_in_the_yaml(self):
        from test_api import GOOD
        for field in GOOD:
            self.assertIn(field, self.props)

    def test_required_fields_match_the_yaml(self):
        body = dict(self.example, pc_aid="5")
        for field in self.props:
            partial = {k: v for k, v in body.items() if k != field}
            r = self.sim.post(API + "/patient/1/appointment", token=self.tok, body=partial)
            if field in self.required:
                self.assertEqual(r.status, 400, field)
                self.assertIn(field, r.json(), field)
            else:
                self.assertEqual(r.status, 200, field)

    def test_yaml_example_body_is_accepted(self):
        body = dict(self.example, pc_aid="5")  # the example's provider 1 is not in the seed
        r = self.sim.post(API + "/patient/1/appointment", token=self.tok, body=body)
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("id", r.json())


if __name__ == "__main__":
    main()
