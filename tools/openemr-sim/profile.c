/* profile.c - OpenEMR version profiles: which of the real server's unkind
 * behaviours ("quirks") the simulator reproduces.  `--openemr 7.0.3` or
 * `--openemr 8` (the default) selects a set; `--quirk NAME[=V]` and
 * `--no-quirk NAME` adjust one.  Each quirk's source in OpenEMR is cited
 * in docs/simulator.md (the fidelity table) and in the contract test that
 * proves it (tests/sim/test_fidelity.py).  A leaf: calls nothing above. */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct quirk_def {
    const char *name;
    int v703, v8; /* value in each profile (0 off, 1 on, or a number) */
    bool numeric; /* takes =N */
    const char *what;
};

static const struct quirk_def defs[Q_COUNT] = {
    [Q_REPEATED_LAST_WINS] = {"repeated-query-last-wins", 1, 1, false,
                              "a repeated query key keeps only its last value (PHP $_GET)"},
    [Q_FHIR_OFFSET_TODAY] = {"fhir-offset-of-today", 1, 1, false,
                             "FHIR times carry the server's UTC offset of today"},
    [Q_FHIR_DATE_EVENT_DATE] = {"fhir-date-is-event-date", 1, 1, false,
                                "Appointment date= compares pc_eventDate, a day, not the time"},
    [Q_RECURRING_BASE_ONLY] = {"recurring-base-row-only", 1, 1, false,
                               "a recurring event is one row on its first date"},
    [Q_ACL] = {"acl", 1, 1, false, "routes check the user's ACL (admin/users for practitioners)"},
    [Q_PRACT_NPI_USERNAME] = {"practitioner-npi-username", 1, 1, false,
                              "/api/practitioner answers only users with an NPI and a username"},
    [Q_UNKNOWN_UUID_400] = {"unknown-uuid-400", 1, 1, false,
                            "an unknown patient/practitioner uuid is 400 validationErrors"},
    [Q_VALIDATION_200] = {"validation-200", 0, 1, false,
                          "a failed appointment validation answers HTTP 200"},
    [Q_SERVER_SCOPES] = {"server-scopes", 1, 1, false,
                         "requested scopes are checked against the version's list"},
    [Q_SCOPE_EXACT] = {"scope-exact-match", 1, 0, false,
                       "a scope must be listed verbatim (8.x also accepts contained ones)"},
    [Q_ASSERTION_400] = {"assertion-400", 0, 1, false,
                         "a JWT client assertion that fails validation is 400, not 401"},
    [Q_ACTIVE_SQL_STRING] = {"active-sql-string", 1, 1, false,
                             "Practitioner active=true is compared as a SQL string"},
    [Q_ROW_LATENCY_MS] = {"per-row-latency-ms", 0, 0, true,
                          "ms of delay per Appointment row of a FHIR answer"},
};

static const char *version_name(int v)
{
    return v == SIM_OE_703 ? "7.0.3" : "8";
}

int profile_select(struct sim_profile *p, const char *version, char *err, size_t errlen)
{
    int v;
    if (strcmp(version, "8") == 0 || strncmp(version, "8.", 2) == 0)
        v = SIM_OE_8;
    else if (strcmp(version, "7.0.3") == 0 || strcmp(version, "7") == 0 ||
             strcmp(version, "7.0") == 0)
        v = SIM_OE_703;
    else {
        snprintf(err, errlen, "unknown --openemr %s (7.0.3 or 8)", version);
        return -1;
    }
    p->version = v;
    for (int i = 0; i < Q_COUNT; i++)
        p->q[i] = v == SIM_OE_703 ? defs[i].v703 : defs[i].v8;
    return 0;
}

int profile_quirk(struct sim_profile *p, const char *spec, bool on, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    size_t n = eq ? (size_t)(eq - spec) : strlen(spec);
    for (int i = 0; i < Q_COUNT; i++) {
        if (strlen(defs[i].name) != n || strncmp(defs[i].name, spec, n) != 0)
            continue;
        if (!on) {
            if (eq) {
                snprintf(err, errlen, "--no-quirk %s takes no value", defs[i].name);
                return -1;
            }
            p->q[i] = 0;
            return 0;
        }
        if (!eq) {
            p->q[i] = 1;
            return 0;
        }
        char *end;
        errno = 0;
        long v = strtol(eq + 1, &end, 10);
        if (!defs[i].numeric || errno || !eq[1] || *end || v < 0 || v > 60000) {
            snprintf(err, errlen, "bad value in --quirk %s", spec);
            return -1;
        }
        p->q[i] = (int)v;
        return 0;
    }
    snprintf(err, errlen, "unknown quirk %.*s", (int)n, spec);
    return -1;
}

const char *profile_version(const struct sim_profile *p)
{
    return version_name(p->version);
}

json_t *profile_json(const struct sim_profile *p)
{
    json_t *q = json_object(), *about = json_object();
    for (int i = 0; i < Q_COUNT; i++) {
        int def = p->version == SIM_OE_703 ? defs[i].v703 : defs[i].v8;
        json_object_set_new(q, defs[i].name,
                            defs[i].numeric ? json_integer(p->q[i]) : json_boolean(p->q[i]));
        json_object_set_new(about, defs[i].name,
                            json_pack("{s:s,s:o}", "what", defs[i].what, "profile_default",
                                      defs[i].numeric ? json_integer(def) : json_boolean(def)));
    }
    return json_pack("{s:s,s:o,s:o}", "openemr", version_name(p->version), "quirks", q, "about",
                     about);
}
