/* scopes.c - the scope vocabulary of each OpenEMR version and the check a
 * requested scope goes through (registration, authorize, every grant).
 *
 * 8.x (master): ServerScopeListEntity::getAllSupportedScopesList (OIDC,
 * required SMART, FHIR v1 read for 27 resources and write for Patient,
 * Practitioner and Organization only, FHIR v2 .rs, standard API v1 and
 * v2), checked by ScopeRepository::getScopeEntityByIdentifier: a scope is
 * valid when a listed scope with the same context/resource/operation
 * "contains" it (ScopeEntity::containsScope), and a requested v1 .read or
 * .write form is contained by ANY listed scope of that resource.
 * 7.0.x: ScopeRepository (fhirScopesV1/V2, systemScopes, apiScopes),
 * exact membership; the standard API list only when the request asks
 * api:oemr or api:port, the FHIR list when it asks api:fhir/fhirUser or
 * no api scope at all.  The lists below are built the way those functions
 * build theirs; see docs/simulator.md for the commits they were read at. */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void add(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0) return;
    json_array_append_new(arr, json_string(s));
}

/* Each space-separated word of words, through fmt ("%s" or "user/%s.read"). */
static void add_words(json_t *arr, const char *fmt, const char *words)
{
    char w[96], b[256];
    for (const char *p = words; *p;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof(w)) {
            memcpy(w, p, n);
            w[n] = '\0';
            snprintf(b, sizeof(b), fmt, w);
            add(arr, b);
        }
        p += n;
        p += strspn(p, " ");
    }
}

/* Standard API scopes: "res:perms" words, perms r (.read) and w (.write). */
static void add_api(json_t *arr, const char *ctx, const char *words)
{
    char w[96], b[160];
    for (const char *p = words; *p;) {
        size_t n = strcspn(p, " ");
        const char *colon = memchr(p, ':', n);
        if (colon && (size_t)(colon - p) < sizeof(w)) {
            snprintf(w, sizeof(w), "%.*s", (int)(colon - p), p);
            for (const char *f = colon + 1; f < p + n; f++) {
                snprintf(b, sizeof(b), "%s/%s.%s", ctx, w, *f == 'r' ? "read" : "write");
                add(arr, b);
            }
        }
        p += n;
        p += strspn(p, " ");
    }
}

#define OIDC                                                                                       \
    "openid profile name address given_name family_name nickname phone phone_verified email "      \
    "email_verified offline_access api:oemr api:fhir api:port"
#define SMART_REQUIRED                                                                             \
    "openid fhirUser online_access offline_access launch launch/patient api:oemr api:fhir "        \
    "api:port system/Patient.$export system/Group.$export system/*.$bulkdata-status "              \
    "system/*.$export"

static const char *const restricted[][2] = {
    {"Condition",
     "category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern"},
    {"Condition",
     "category=http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis"},
    {"Condition",
     "category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"},
    {"Observation", "category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh"},
    {"Observation",
     "category=http://terminology.hl7.org//CodeSystem-observation-category|social-history"},
    {"Observation",
     "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"},
    {"Observation", "category=http://terminology.hl7.org/CodeSystem/observation-category|survey"},
    {"Observation",
     "category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"},
    {"DocumentReference", "category=http://hl7.org/fhir/us/core/CodeSystem/"
                          "us-core-documentreference-category|clinical-note"},
    {NULL, NULL}};

/* FHIR v2: patient/, user/, system/ <Res>.rs, then the restricted forms. */
static void add_v2_fhir(json_t *arr, const char *resources)
{
    static const char *const ctx[] = {"patient", "user", "system"};
    char fmt[32], b[256];
    for (int c = 0; c < 3; c++) {
        snprintf(fmt, sizeof(fmt), "%s/%%s.rs", ctx[c]);
        add_words(arr, fmt, resources);
    }
    for (int i = 0; restricted[i][0]; i++)
        for (int c = 0; c < 3; c++) {
            snprintf(b, sizeof(b), "%s/%s.rs?%s", ctx[c], restricted[i][0], restricted[i][1]);
            add(arr, b);
        }
}

/* ---- 8.x (master ServerScopeListEntity::getAllSupportedScopesList) ---- */

static void build_8(json_t *all)
{
    /* fhirResourceScopesV1: read, and write for three resources only */
    static const char read[] =
        "AllergyIntolerance Appointment CarePlan CareTeam Condition Coverage Device "
        "DiagnosticReport DocumentReference Binary Encounter Goal Group Immunization Location "
        "Medication MedicationRequest Observation Organization Patient Person Practitioner "
        "PractitionerRole Procedure Provenance ValueSet OperationDefinition";
    /* fhirResourceScopesV2 */
    static const char v2[] =
        "AllergyIntolerance CarePlan CareTeam Condition Coverage Device DiagnosticReport "
        "DocumentReference Encounter Goal Immunization Media MedicationDispense "
        "MedicationRequest Observation Organization Patient Practitioner PractitionerRole "
        "Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson ServiceRequest "
        "Specimen";
    add_words(all, "%s", OIDC);
    add_words(all, "%s", SMART_REQUIRED); /* system scopes enabled */
    add_words(all, "patient/%s.read", read);
    add_words(all, "user/%s.read", read);
    add_words(all, "system/%s.read", read);
    add_words(all, "user/%s.write", "Patient Practitioner Organization");
    add_words(all, "%s/DocumentReference.$docref", "patient user system");
    add_v2_fhir(all, v2);
    /* apiScopes */
    add_words(all, "%s", "patient/patient.read patient/appointment.read patient/encounter.read");
    add_api(all, "user",
            "allergy:rw appointment:rw dental_issue:rw document:rw drug:r employer:r "
            "encounter:rw facility:rw immunization:r insurance:rw insurance_company:rw "
            "insurance_type:r list:r medical_problem:rw medication:rw message:w patient:rw "
            "practitioner:rw prescription:rw procedure:r product:r soap_note:rw surgery:rw "
            "transaction:rw user:r version:r vital:rw");
    /* getV2ApiScopes */
    add_words(all, "user/%s",
              "allergy.cruds appointment.cruds dental_issue.cruds document.crs drug.rs "
              "employer.s encounter.crus facility.crus immunization.rs insurance.crus "
              "insurance_company.crus insurance_type.s list.r medical_problem.cruds "
              "medication.cruds message.cud patient.crus practitioner.crus prescription.crds "
              "procedure.rs product.s soap_note.crus surgery.cruds transaction.cuds user.rs "
              "version.s vital.crus insurance.$swap-insurance");
    add_words(all, "patient/%s", "patient.s encounter.rs appointment.rs");
}

/* ---- 7.0.x (ScopeRepository: fhirScopesV1/V2, systemScopes, apiScopes) ---- */

static void build_703(json_t *smart, json_t *standard)
{
    static const char patient_read[] =
        "AllergyIntolerance Appointment Binary CarePlan CareTeam Condition Coverage "
        "DiagnosticReport Device DocumentReference Encounter Goal Immunization Location "
        "MedicationRequest Medication Observation Organization Patient Person Practitioner "
        "Procedure Provenance";
    static const char user_read[] =
        "Account AllergyIntolerance Appointment Binary CarePlan CareTeam Condition Consent "
        "Coverage Device DiagnosticReport DocumentReference Encounter Goal Immunization Location "
        "MedicationRequest Medication NutritionOrder Observation Organization Patient Person "
        "Practitioner PractitionerRole Procedure Provenance RelatedPerson Schedule ServiceRequest "
        "ValueSet";
    static const char user_write[] =
        "AllergyIntolerance Appointment Condition Coverage DocumentReference Encounter "
        "Immunization MedicationRequest Observation Organization Patient Practitioner "
        "PractitionerRole Procedure Provenance RelatedPerson";
    static const char system_read[] =
        "Account AllergyIntolerance Appointment Binary CarePlan CareTeam Condition Consent "
        "Coverage Device DocumentReference DiagnosticReport Encounter Goal Group Immunization "
        "Location MedicationRequest Medication NutritionOrder Observation Organization Patient "
        "Person Practitioner PractitionerRole Procedure Provenance RelatedPerson Schedule "
        "ServiceRequest ValueSet";
    static const char v2[] =
        "AllergyIntolerance CarePlan CareTeam Condition Coverage Device DiagnosticReport "
        "DocumentReference Encounter Goal Immunization MedicationDispense MedicationRequest "
        "Observation Organization Patient Practitioner PractitionerRole Procedure Provenance "
        "QuestionnaireResponse RelatedPerson ServiceRequest Specimen";
    static const char api[] =
        "allergy:rw appointment:rw dental_issue:rw document:rw drug:r employer:r encounter:rw "
        "facility:rw immunization:r insurance:rw insurance_company:rw insurance_type:r list:r "
        "medical_problem:rw medication:rw message:rw patient:rw practitioner:rw prescription:r "
        "procedure:r soap_note:rw surgery:rw vital:rw";
    add_words(smart, "patient/%s.read", patient_read);
    add(smart, "patient/DocumentReference.$docref");
    add_words(smart, "user/%s.read", user_read);
    add_words(smart, "user/%s.write", user_write);
    add(smart, "user/DocumentReference.$docref");
    add_words(smart, "system/%s.read", system_read); /* system scopes enabled */
    add(smart, "system/DocumentReference.$docref");
    add_v2_fhir(smart, v2);
    add_words(smart, "%s", SMART_REQUIRED);
    add_words(smart, "%s", OIDC);
    add(smart, "site:default");
    add_words(standard, "%s", OIDC);
    add(standard, "site:default");
    add_api(standard, "patient", api);
    add_api(standard, "system", api);
    add_api(standard, "user", api);
    add_api(standard, "user", "product:r transaction:rw user:r");
}

int scopes_build(struct sim *sim)
{
    struct sim_scopes *s = &sim->scopes;
    s->smart = json_array();
    s->standard = json_array();
    s->supported = json_array();
    if (!s->smart || !s->standard || !s->supported)
        return -1;
    if (sim->opts.profile.version == SIM_OE_703) {
        build_703(s->smart, s->standard);
        /* the 7.0.x discovery document lists both (smart first) */
        json_array_extend(s->supported, s->smart);
        size_t i;
        json_t *v;
        json_array_foreach(s->standard, i, v) add(s->supported, json_string_value(v));
    } else {
        build_8(s->supported);
    }
    return 0;
}

void scopes_free(struct sim_scopes *s)
{
    json_decref(s->smart);
    json_decref(s->standard);
    json_decref(s->supported);
    s->smart = s->standard = s->supported = NULL;
}

/* ---- ScopeEntity::createFromString / containsScope (8.x) ---- */

struct scope_parts {
    char context[32], resource[64], op[64];
    bool c, r, u, d, s, v1read, v1write;
};

/* An ordered, non-repeating subset of "cruds" (ScopePermissionObject). */
static bool ordered_crud(const char *p, size_t n, struct scope_parts *o)
{
    const char *order = "cruds";
    size_t k = 0;
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        while (order[k] && order[k] != p[i])
            k++;
        if (!order[k])
            return false;
        bool *bit[] = {&o->c, &o->r, &o->u, &o->d, &o->s};
        *bit[k] = true;
        k++;
    }
    o->v1write = o->c && o->u && o->d;
    o->v1read = o->r && o->s;
    return true;
}

static bool scope_parse(const char *s, size_t len, struct scope_parts *o)
{
    memset(o, 0, sizeof(*o));
    size_t i = 0;
    while (i < len && (isalpha((unsigned char)s[i]) || s[i] == '_'))
        i++;
    if (!i || i >= sizeof(o->context))
        return false;
    memcpy(o->context, s, i);
    if (i < len && (s[i] == '/' || s[i] == ':')) {
        size_t r0 = ++i;
        while (i < len && (isalnum((unsigned char)s[i]) || strchr("*_-", s[i])))
            i++;
        if (i == r0 || i - r0 >= sizeof(o->resource))
            return false;
        memcpy(o->resource, s + r0, i - r0);
        if (i < len && s[i] == '.') {
            size_t p0 = ++i;
            while (i < len && s[i] != '?')
                i++;
            if (i == p0)
                return false;
            const char *perm = s + p0;
            size_t n = i - p0;
            if (memchr(perm, '$', n)) {
                if (n >= sizeof(o->op))
                    return false;
                memcpy(o->op, perm, n);
            } else if (n == 4 && strncmp(perm, "read", 4) == 0) {
                o->v1read = o->r = o->s = true;
            } else if (n == 5 && strncmp(perm, "write", 5) == 0) {
                o->v1write = o->c = o->u = o->d = true;
            } else if (!ordered_crud(perm, n, o)) {
                return false;
            }
        }
    }
    return i == len || s[i] == '?';
}

static bool contains(const char *item, const char *req, size_t len)
{
    if (strlen(item) == len && strncmp(item, req, len) == 0)
        return true;
    struct scope_parts a, b;
    if (!scope_parse(item, strlen(item), &a) || !scope_parse(req, len, &b))
        return false;
    if (strcmp(a.context, b.context) || strcmp(a.resource, b.resource) || strcmp(a.op, b.op))
        return false;
    if (b.v1read || b.v1write) /* containsScope returns here, whatever a holds */
        return true;
    return (!b.r || a.r) && (!b.c || a.c) && (!b.u || a.u) && (!b.d || a.d) && (!b.s || a.s);
}

static bool listed(json_t *list, const char *scope, size_t len)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (strlen(s) == len && strncmp(s, scope, len) == 0)
            return true;
    }
    return false;
}

static bool known(const struct sim *sim, const char *all, const char *scope, size_t len)
{
    const struct sim_scopes *s = &sim->scopes;
    if (sim->opts.profile.version == SIM_OE_703) {
        if (len >= 5 && strncasecmp(scope, "site:", 5) == 0)
            return true;
        if (len == 5 && strncmp(scope, "nonce", 5) == 0)
            return true;
        bool fhir = strstr(all, "api:fhir") || strstr(all, "fhirUser");
        bool api = strstr(all, "api:oemr") || strstr(all, "api:port");
        return ((fhir || !api) && listed(s->smart, scope, len)) ||
               (api && listed(s->standard, scope, len));
    }
    if (QUIRK(sim, Q_SCOPE_EXACT))
        return listed(s->supported, scope, len);
    size_t i;
    json_t *v;
    json_array_foreach(s->supported, i,
                       v) if (contains(json_string_value(v), scope, len)) return true;
    return false;
}

bool scopes_check(const struct sim *sim, const char *requested, char *bad, size_t badlen)
{
    const char *p = requested ? requested : "";
    bad[0] = '\0';
    if (!QUIRK(sim, Q_SERVER_SCOPES))
        return true;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n && !known(sim, requested, p, n)) {
            snprintf(bad, badlen, "%.*s", (int)n, p);
            return false;
        }
        p += n;
    }
    return true;
}

json_t *scopes_supported(const struct sim *sim)
{
    return json_deep_copy(sim->scopes.supported);
}
