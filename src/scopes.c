/* scopes.c - the worker's scopes and the server's list (scopes.h).
 *
 * What OpenEMR grants (master): ScopeRepository::getScopeEntityByIdentifier
 * looks a requested scope up in ServerScopeListEntity's list and accepts it
 * when a listed scope contains it (ScopeEntity::containsScope: same
 * context, resource and operation; a v1 ".read"/".write" form is contained
 * by any listed scope of that resource; a v2 form by one with its
 * permission letters).  7.0.x accepts listed scopes only. */
#include "scopes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Each request of docs/openemr-client.md and its scope.  The openemr
 * surface reads FHIR (Patient, Appointment, Practitioner) and uses the
 * standard API (/api/patient, /api/practitioner, the appointment routes);
 * the seed's scheduling surface is FHIR only, and writes Appointment. */
#define SCOPE_OPENEMR                                                                              \
    "openid offline_access api:oemr api:fhir user/Patient.read user/Appointment.read "             \
    "user/Practitioner.read user/patient.read user/practitioner.read user/appointment.read "       \
    "user/appointment.write"
#define SCOPE_FHIR_SCHEDULING                                                                      \
    "openid offline_access api:fhir user/Patient.read user/Practitioner.read "                     \
    "user/Appointment.read user/Appointment.write"

const char *sw_scope_user(const struct sw_config *cfg)
{
    if (cfg->oauth_scope && cfg->oauth_scope[0])
        return cfg->oauth_scope;
    return cfg->surface == SW_SURFACE_FHIR_SCHEDULING ? SCOPE_FHIR_SCHEDULING : SCOPE_OPENEMR;
}

const char *sw_scope_system(const struct sw_config *cfg)
{
    return cfg->oauth_system_scope ? cfg->oauth_system_scope : "";
}

void scopes_flatten(json_t *list, json_t *into)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_array(v))
            scopes_flatten(v, into);
        else if (json_is_string(v))
            json_array_append(into, v);
    }
}

/* "user/Appointment.read" -> context "user", resource "Appointment",
 * permissions "read"; false for a scope without that shape (openid). */
static bool split(const char *s, char *ctx, char *res, char *perm, size_t len)
{
    const char *slash = strchr(s, '/');
    const char *dot = slash ? strchr(slash, '.') : NULL;
    if (!slash || !dot || (size_t)(slash - s) >= len || (size_t)(dot - slash - 1) >= len ||
        strlen(dot + 1) >= len || strchr(dot + 1, '?'))
        return false;
    snprintf(ctx, len, "%.*s", (int)(slash - s), s);
    snprintf(res, len, "%.*s", (int)(dot - slash - 1), slash + 1);
    snprintf(perm, len, "%s", dot + 1);
    return true;
}

/* Whether listed permissions hold the requested ones (v1 forms: any). */
static bool perms_contain(const char *listed, const char *want)
{
    if (!strcmp(want, "read") || !strcmp(want, "write") || !strcmp(want, "*"))
        return true;
    if (!strcmp(listed, "read") || !strcmp(listed, "write") || !strcmp(listed, "*"))
        return false; /* a v1 listing does not say which v2 letters it grants */
    for (const char *p = want; *p; p++)
        if (!strchr(listed, *p))
            return false;
    return true;
}

enum scope_verdict scope_judge(const char *scope, json_t *supported)
{
    char c1[64], r1[64], p1[64], c2[64], r2[64], p2[64];
    size_t i;
    json_t *v;
    bool shaped = split(scope, c1, r1, p1, sizeof(c1)), contained = false;
    json_array_foreach(supported, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (!strcmp(s, scope))
            return SCOPE_LISTED;
        if (shaped && !contained && split(s, c2, r2, p2, sizeof(c2)) && !strcmp(c1, c2) &&
            !strcmp(r1, r2) && perms_contain(p2, p1))
            contained = true;
    }
    return contained ? SCOPE_CONTAINED : SCOPE_REFUSED;
}

/* Appends word to a space separated list in buf. */
static void append(char *buf, size_t len, const char *word, size_t n)
{
    size_t have = strlen(buf);
    if (have + n + 2 < len)
        snprintf(buf + have, len - have, "%s%.*s", have ? " " : "", (int)n, word);
}

sw_err scopes_check(const char *requested, json_t *supported, char *errstr, size_t errlen,
                    char *warn, size_t warnlen)
{
    char refused[512] = "", loose[512] = "", one[128];
    for (const char *p = requested ? requested : ""; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n && n < sizeof(one)) {
            snprintf(one, sizeof(one), "%.*s", (int)n, p);
            enum scope_verdict v = scope_judge(one, supported);
            if (v == SCOPE_REFUSED)
                append(refused, sizeof(refused), p, n);
            else if (v == SCOPE_CONTAINED)
                append(loose, sizeof(loose), p, n);
        }
        p += n;
    }
    if (warn)
        snprintf(warn, warnlen, "%s", loose);
    if (refused[0]) {
        snprintf(errstr, errlen,
                 "OpenEMR does not offer the scope(s) %s (its discovery documents list %zu "
                 "scopes): remove them from oauth.scope / oauth.system_scope, or enable them in "
                 "OpenEMR",
                 refused, json_array_size(supported));
        return SW_ERR_CONFIG;
    }
    return SW_OK;
}

/* GETs base + path and adds its scopes_supported to into; false if no
 * usable document came back. */
static bool read_doc(const struct sw_config *cfg, struct http_client *http, const char *path,
                     json_t *into)
{
    char url[700], err[256];
    struct http_response resp = {0};
    snprintf(url, sizeof(url), "%s%s", cfg->openemr_base_url, path);
    struct http_request req = {.method = "GET", .url = url};
    bool ok = false;
    if (http_perform(http, &req, &resp, err, sizeof(err)) == SW_OK && resp.status == 200) {
        json_t *doc = json_loadb(resp.body, resp.len, 0, NULL);
        json_t *list = json_object_get(doc, "scopes_supported");
        if (json_is_array(list)) {
            scopes_flatten(list, into);
            ok = true;
        }
        json_decref(doc);
    }
    http_response_free(&resp);
    return ok;
}

sw_err scopes_verify(const struct sw_config *cfg, struct http_client *http, const char *requested,
                     bool *checked, char *errstr, size_t errlen)
{
    char path[256], warn[512] = "";
    json_t *all = json_array();
    *checked = false;
    if (!all)
        return SW_ERR_NOMEM;
    /* oauth2/SITE/.well-known/openid-configuration: OpenEMR's
     * oauth2/authorize.php discovery; the SMART one: FHIR's
     * SMARTConfigurationController::getConfig ([[...]] nesting). */
    snprintf(path, sizeof(path), "/oauth2/%s/.well-known/openid-configuration", cfg->openemr_site);
    bool any = read_doc(cfg, http, path, all);
    snprintf(path, sizeof(path), "/apis/%s/fhir/.well-known/smart-configuration",
             cfg->openemr_site);
    any = read_doc(cfg, http, path, all) || any;
    sw_err err = SW_OK;
    if (any && json_array_size(all) > 0) {
        *checked = true;
        err = scopes_check(requested, all, errstr, errlen, warn, sizeof(warn));
        if (err == SW_OK && warn[0])
            log_warn("oauth",
                     "scope(s) %s are not listed verbatim: OpenEMR 8.x grants them (a listed "
                     "scope of the resource contains them), 7.0.x refuses them",
                     warn);
    }
    json_decref(all);
    return err;
}
