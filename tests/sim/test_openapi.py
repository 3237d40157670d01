#!/usr/bin/python3
"""An extra check, where OpenEMR's own OpenAPI file is at hand: the
project's table of OpenEMR facts (tests/sim/openemr-facts.json, which
tests/sim/test_openemr_facts.py checks the simulator against on every run)
agrees with it: every route and method of the table is in the file, the
methods the table says OpenEMR lacks are not, the appointment create body's
required and optional fields and example are the file's, and the FHIR
resources are the ones it describes (no Slot, no Appointment write).

The file is not part of the repository (it is OpenEMR's, from its source
tree: swagger/openemr-api.yaml): set OPENEMR_OPENAPI=PATH to run this
check.  Without it the test says so and exits as skipped; nothing else
needs the file."""
import json
import os
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import check, finish, run, skip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FACTS = json.load(open(os.path.join(HERE, "openemr-facts.json")))
YAML = os.environ.get("OPENEMR_OPENAPI", "")

if not YAML:
    skip("OPENEMR_OPENAPI is not set (the path of OpenEMR's swagger/openemr-api.yaml): only "
         "the project's own table was checked, by test_openemr_facts.py")
if not os.path.exists(YAML):
    raise SystemExit("OPENEMR_OPENAPI=%s: no such file" % YAML)
print("reading", YAML)
with open(YAML) as f:
    DOC = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
PATHS = DOC["paths"]
print("OpenAPI %s, version %s, %d paths" % (DOC["openapi"], DOC["info"]["version"], len(PATHS)))


def test_table_routes_are_openemrs():
    for r in FACTS["api_routes"]:
        check(r["path"] in PATHS and r["method"].lower() in PATHS[r["path"]],
              "%s %s is in the OpenAPI file" % (r["method"], r["path"]))
    for r in FACTS["api_methods_absent"]:
        check(r["method"].lower() not in PATHS.get(r["path"], {}),
              "%s %s is not in it" % (r["method"], r["path"]))


def test_create_body_is_openemrs():
    spec = FACTS["appointment_create"]
    body = PATHS[spec["path"]]["post"]["requestBody"]["content"]["application/json"]["schema"]
    check(sorted(body["required"]) == sorted(spec["required"]),
          "the create body's required fields: %s" % body["required"])
    check(sorted(body["properties"]) == sorted(spec["required"] + spec["optional"]),
          "the create body's fields: %s" % sorted(body["properties"]))
    check(body["example"] == spec["example"], "the create body's example")


def test_fhir_resources_are_openemrs():
    for res in FACTS["fhir_read"]:
        check("get" in PATHS.get("/fhir/" + res, {}), "GET /fhir/%s is in the file" % res)
    for r in FACTS["fhir_not_openemr"]:
        check(r["method"].lower() not in PATHS.get(r["path"], {}),
              "%s %s is not in it" % (r["method"], r["path"]))


for t in (test_table_routes_are_openemrs, test_create_body_is_openemrs,
          test_fhir_resources_are_openemrs):
    run(t)
finish()
