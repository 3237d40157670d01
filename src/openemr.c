/* openemr.c - the public OpenEMR client (openemr.h): every request goes
 * through the fleet's circuit breaker and rate limiter, carries the fleet's
 * shared token (a 401 refreshes it and retries once), is retried with
 * exponential backoff and jitter when idempotent and transiently failing,
 * and is audited when it names a patient.  The API surface behind it is a
 * function table (surface_openemr.c, surface_fhir.c). */
#include "openemr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "clock.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "surface.h"

#define MOD "openemr"

struct oe_client {
    const struct sw_config *cfg;
    struct fleet *fleet;
    struct http_client *http;
    struct oauth *oauth;
    oe_audit_fn audit;
    void *audit_opaque;
    const struct oe_surface_ops *ops;
    char fhir_base[128];
    char api_base[128];
    uint64_t seen[256]; /* oe_seen_lately: hashes of recent keys */
};

const struct sw_config *oe_cfg(const struct oe_client *c)
{
    return c->cfg;
}

const struct oe_surface_ops *oe_surface_of(const struct oe_client *c)
{
    return c->ops;
}

struct fleet *oe_fleet(const struct oe_client *c)
{
    return c->fleet;
}

const char *oe_fhir_base(const struct oe_client *c)
{
    return c->fhir_base;
}

const char *oe_api_base(const struct oe_client *c)
{
    return c->api_base;
}

bool oe_is_refusal(sw_err err, long status, const json_t *answer)
{
    return err == SW_ERR_FORBIDDEN || (err == SW_ERR_TOKEN && status == 401 && !answer);
}

bool oe_refused(struct oe_client *c, const char *what)
{
    char key[96], *v = NULL;
    bool yes = c->fleet && key_refused(key, sizeof(key), what) &&
               fleet_cache_get(c->fleet, key, &v) == SW_OK && v && !strcmp(v, "1");
    free(v);
    return yes;
}

void oe_mark_refused(struct oe_client *c, const char *what, const char *why)
{
    char key[96];
    log_warn(MOD, "%s; not asked again for %ds (cache.reference_ttl_s)", why,
             c->cfg->ref_cache_ttl_s);
    if (c->fleet && key_refused(key, sizeof(key), what))
        fleet_cache_put(c->fleet, key, "1", c->cfg->ref_cache_ttl_s);
}

void oe_list_add(json_t *list, const char *id)
{
    size_t i;
    json_t *v;
    if (!id || !*id || strlen(id) >= 64)
        return;
    json_array_foreach(list, i, v) if (!strcmp(json_string_value(v), id)) return;
    json_array_append_new(list, json_string(id));
}

void oe_detail(struct oe_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->detail, sizeof(call->detail), fmt, ap);
    va_end(ap);
}

sw_err oe_client_new(const struct sw_config *cfg, struct fleet *fleet, oe_audit_fn audit,
                     void *audit_opaque, struct oe_client **out, char *errstr, size_t errlen)
{
    sw_err err = SW_ERR_NOMEM;
    struct oe_client *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c)
        return SW_ERR_NOMEM;
    c->cfg = cfg;
    c->fleet = fleet;
    c->audit = audit;
    c->audit_opaque = audit_opaque;
    c->ops = cfg->surface == SW_SURFACE_FHIR_SCHEDULING ? &oe_surface_fhir : &oe_surface_openemr;
    snprintf(c->fhir_base, sizeof(c->fhir_base), "/apis/%s/fhir", cfg->openemr_site);
    snprintf(c->api_base, sizeof(c->api_base), "/apis/%s/api", cfg->openemr_site);
    err = http_client_new(cfg, &c->http, errstr, errlen);
    if (err != SW_OK)
        goto fail;
    err = oauth_new(cfg, fleet, c->http, &c->oauth, errstr, errlen);
    if (err != SW_OK)
        goto fail;
    *out = c;
    return SW_OK;
fail:
    oe_client_destroy(c);
    return err;
}

void oe_client_destroy(struct oe_client *c)
{
    if (!c)
        return;
    oauth_destroy(c->oauth);
    http_client_destroy(c->http);
    free(c);
}

/* Patient data is touched by any request that names a patient and by
 * every Patient or Appointment read (an appointment names its patient):
 * those are audited, searches over many patients included. */
static bool touches_patients(const struct oe_req *r)
{
    const char *route = r->route ? r->route : r->path;
    return r->patient_id || strstr(route, "Patient") || strstr(route, "patient") ||
           strstr(route, "ppointment");
}

static void audit(struct oe_client *c, struct oe_call *call, const struct oe_req *r, long status,
                  sw_err outcome)
{
    if (!c->audit || !touches_patients(r))
        return;
    struct oe_audit rec = {.method = r->method,
                           .route = r->route ? r->route : r->path,
                           .patient_id = r->patient_id,
                           .request_id = call->request_id,
                           .http_status = (int)status,
                           .outcome = outcome,
                           .at_ms = clock_now_ms(NULL)};
    c->audit(c->audit_opaque, &rec);
}

static int64_t backoff_ms(const struct sw_config *cfg, int attempt)
{
    int64_t base = cfg->retry_base_ms;
    for (int i = 1; i < attempt && base < 60000; i++)
        base *= 2;
    unsigned r = 0;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    /* full jitter in [base/2, base*3/2) */
    return base / 2 + (int64_t)(r % (unsigned)(base > 0 ? base : 1));
}

/* The request failed on the way or at the server: sending it again may
 * work, and it counts against the circuit breaker.  (Whether the command
 * may be retried is sw_err_is_transient's question; a 429 is handled with
 * its Retry-After, a refused token by a refresh.) */
static bool emr_fault(sw_err e)
{
    return e == SW_ERR_SERVER || e == SW_ERR_TIMEOUT || e == SW_ERR_CONNECT;
}

/* One attempt: limiter, token, HTTP. */
static sw_err attempt(struct oe_client *c, struct oe_call *call, const struct oe_req *r,
                      const char *body, char *token, size_t toklen, struct http_response *resp,
                      bool *permanent)
{
    struct fleet_permit permit = {{0}};
    int64_t waited = 0;
    char url[2048];
    sw_err err;

    err = oauth_token(c->oauth, call->deadline_ms, token, toklen);
    if (err != SW_OK) {
        oe_detail(call, "no OpenEMR token: %s", oauth_errstr(c->oauth));
        *permanent = oauth_failure_permanent(c->oauth);
        return err;
    }
    if (c->fleet) {
        static const char *const prio_names[] = {"write", "read", "background"};
        err = fleet_limit_acquire(c->fleet, call->prio, call->deadline_ms, &permit, &waited);
        metrics_limiter_wait(prio_names[call->prio], (double)waited / 1000.0);
        if (permit.waited_for[0])
            metrics_limiter_held(prio_names[call->prio], permit.waited_for);
        if (err != SW_OK) {
            oe_detail(call, "rate limiter: %s", sw_err_str(err));
            return err == SW_ERR_EXPIRED ? SW_ERR_EXPIRED : SW_ERR_UNAVAILABLE;
        }
    }
    if (call->before_send) { /* a write: only while the command's lease covers it */
        err = call->before_send(call->before_send_ctx);
        if (!err && call->test_pause_ms > 0)
            clock_sleep_ms(NULL, call->test_pause_ms);
        if (!err) /* a pause since the check (GC, SIGSTOP, the knob) is checked again */
            err = call->before_send(call->before_send_ctx);
        if (err) {
            oe_detail(call, "the command's lease was lost before the write: not sent");
            if (c->fleet)
                fleet_limit_release(c->fleet, &permit);
            return err;
        }
    }
    int timeout = 0;
    if (call->deadline_ms > 0) {
        int64_t left = call->deadline_ms - clock_now_ms(NULL);
        if (left <= 0) {
            if (c->fleet)
                fleet_limit_release(c->fleet, &permit);
            return SW_ERR_EXPIRED;
        }
        timeout = left > c->cfg->openemr_timeout_ms ? 0 : (int)left;
    }
    snprintf(url, sizeof(url), "%s%s", c->cfg->openemr_base_url, r->path);
    struct http_request req = {
        .method = r->method,
        .url = url,
        .bearer = token,
        .content_type = body ? (r->fhir_body ? "application/fhir+json" : "application/json") : NULL,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = timeout};
    char errstr[256] = "";
    int64_t t0 = clock_now_ms(NULL);
    err = http_perform(c->http, &req, resp, errstr, sizeof(errstr));
    call->requests++;
    if (call->requests_left)
        (*call->requests_left)--;
    /* Given up on our side, the request may still run at OpenEMR: its
     * permit stays taken for as long as OpenEMR may take, so the fleet
     * never has more than limiter.concurrency requests there. */
    if (c->fleet && err == SW_ERR_TIMEOUT)
        fleet_limit_release_after(c->fleet, &permit, c->cfg->openemr_timeout_ms);
    else if (c->fleet)
        fleet_limit_release(c->fleet, &permit);
    const char *route = r->route ? r->route : r->method;
    metrics_openemr(route, err == SW_OK ? (int)resp->status : 0,
                    (double)(clock_now_ms(NULL) - t0) / 1000.0);
    if (err != SW_OK) { /* no usable answer: the transport's own reason */
        oe_detail(call, "%s", errstr);
        *permanent = resp->tls_refused;
    } else {
        err = http_status_err(resp->status);
    }
    if (err != SW_OK)
        metrics_openemr_error(route, sw_err_str(err));
    return err;
}

sw_err oe_send(struct oe_client *c, struct oe_call *call, const struct oe_req *r, json_t **answer,
               long *status)
{
    char token[8192];
    char *body = NULL;
    struct http_response resp = {0};
    sw_err err = SW_OK;
    bool refreshed = false;
    int tries = 0;

    *answer = NULL;
    *status = 0;
    if (call->offline) {
        oe_detail(call, "no request to OpenEMR before the command is admitted");
        return SW_ERR_BUSY;
    }
    if (r->body) {
        body = json_dumps(r->body, JSON_COMPACT);
        if (!body)
            return SW_ERR_NOMEM;
    }
    for (;;) {
        if (call->deadline_ms > 0 && clock_now_ms(NULL) >= call->deadline_ms) {
            oe_detail(call, "deadline passed before the request to OpenEMR");
            err = SW_ERR_EXPIRED;
            break;
        }
        if (call->requests_left && *call->requests_left <= 0) {
            oe_detail(call, "the command used up its %d OpenEMR requests",
                      c->cfg->max_requests_per_command);
            err = SW_ERR_CAPPED;
            break;
        }
        bool probe = false;
        if (c->fleet && !fleet_breaker_allow(c->fleet, &probe)) {
            oe_detail(call, "OpenEMR circuit open");
            err = SW_ERR_UNAVAILABLE;
            break;
        }
        tries++;
        http_response_free(&resp);
        bool permanent = false;
        err = attempt(c, call, r, body, token, sizeof(token), &resp, &permanent);
        *status = resp.status;
        if (resp.status > 0 || emr_fault(err)) {
            if (c->fleet)
                fleet_breaker_record(c->fleet, !(emr_fault(err) || resp.status == 503));
            audit(c, call, r, resp.status, err);
        }
        if (err == SW_ERR_TOKEN && resp.status == 401 && !refreshed) {
            refreshed = true; /* refresh for the fleet and retry once */
            if (oauth_token_rejected(c->oauth, token)) {
                log_info(MOD, "401 from OpenEMR on %s: refreshing the token",
                         r->route ? r->route : r->method);
                continue;
            }
        }
        if (resp.retry_after_s > 0 && (err == SW_ERR_RATE_LIMITED || resp.status == 503)) {
            call->retry_after_s = resp.retry_after_s;
            if (c->fleet)
                fleet_limit_backoff(c->fleet, resp.retry_after_s);
            err = SW_ERR_RATE_LIMITED;
            int64_t wake = clock_now_ms(NULL) + (int64_t)resp.retry_after_s * 1000;
            if (r->idempotent && tries < c->cfg->retry_max_attempts &&
                (call->deadline_ms == 0 || wake < call->deadline_ms)) {
                clock_sleep_ms(NULL, wake - clock_now_ms(NULL));
                continue;
            }
            oe_detail(call, "OpenEMR asked to retry after %ds", resp.retry_after_s);
            break;
        }
        if (emr_fault(err) && !permanent && r->idempotent && tries < c->cfg->retry_max_attempts) {
            int64_t wait = backoff_ms(c->cfg, tries);
            if (call->deadline_ms == 0 || clock_now_ms(NULL) + wait < call->deadline_ms) {
                log_info(MOD, "%s failed (%s), retry %d in %lldms", r->route ? r->route : r->method,
                         sw_err_str(err), tries, (long long)wait);
                clock_sleep_ms(NULL, wait);
                continue;
            }
        }
        break;
    }
    explicit_bzero(token, sizeof(token));
    if (resp.body && resp.len > 0 && resp.status > 0) {
        json_error_t jerr;
        *answer = json_loadb(resp.body, resp.len, 0, &jerr);
        if (!*answer && err == SW_OK) {
            oe_detail(call, "OpenEMR answered %ld with a body that is not JSON", resp.status);
            err = SW_ERR_BAD_ANSWER;
        }
    }
    if (err != SW_OK && !call->detail[0])
        oe_detail(call, "%s: HTTP %ld (%s)", r->route ? r->route : r->method, resp.status,
                  sw_err_str(err));
    http_response_free(&resp);
    free(body);
    return err;
}

/* ---- public calls: dispatch to the surface ---------------------------- */

static void call_start(struct oe_call *call)
{
    call->detail[0] = '\0';
    call->retry_after_s = 0;
}

static uint64_t *seen_slot(struct oe_client *c, const char *key, uint64_t *h)
{
    *h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = key; *p; p++)
        *h = (*h ^ (unsigned char)*p) * 1099511628211ULL;
    *h |= 1; /* never 0, the empty slot */
    return &c->seen[*h % (sizeof(c->seen) / sizeof(c->seen[0]))];
}

bool oe_seen_lately(struct oe_client *c, const char *key)
{
    uint64_t h, *slot = seen_slot(c, key, &h);
    if (*slot == h)
        return true;
    *slot = h;
    return false;
}

void oe_seen_forget(struct oe_client *c, const char *key)
{
    uint64_t h, *slot = seen_slot(c, key, &h);
    if (*slot == h)
        *slot = 0;
}

sw_err oe_resolve(struct oe_client *c, struct oe_call *call, enum id_kind kind, const char *id,
                  enum id_form form, char out[ID_MAX])
{
    call_start(call);
    out[0] = '\0';
    return c->ops->resolve(c, call, kind, id, form, out);
}

sw_err oe_find_patients(struct oe_client *c, struct oe_call *call, const char *phone,
                        const char *birthdate, struct oe_patient **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    return c->ops->find_patients(c, call, phone, birthdate, out, n);
}

sw_err oe_list_range(struct oe_client *c, struct oe_call *call, const char *practitioner_id,
                     int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    return c->ops->list_range(c, call, practitioner_id, from, to, out, n);
}

sw_err oe_list_patient(struct oe_client *c, struct oe_call *call, const char *patient_id,
                       int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    return c->ops->list_patient(c, call, patient_id, from, to, out, n);
}

sw_err oe_free_slots(struct oe_client *c, struct oe_call *call, const char *practitioner_id,
                     int64_t from, int64_t to, bool *has_slots, struct oe_interval **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    *has_slots = false;
    return c->ops->free_slots(c, call, practitioner_id, from, to, has_slots, out, n);
}

sw_err oe_create(struct oe_client *c, struct oe_call *call, const struct oe_new_appt *req,
                 struct oe_appt *out)
{
    call_start(call);
    memset(out, 0, sizeof(*out));
    if (!req->patient_id || !req->practitioner_id || !req->type || req->end <= req->start ||
        !req->confirmation) {
        oe_detail(call, "incomplete appointment");
        return SW_ERR_INVALID;
    }
    return c->ops->create(c, call, req, out);
}

sw_err oe_cancel(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                 const char *patient_id)
{
    call_start(call);
    return c->ops->cancel(c, call, appointment_id, patient_id);
}

sw_err oe_get(struct oe_client *c, struct oe_call *call, const char *appointment_id,
              struct oe_appt *out)
{
    call_start(call);
    memset(out, 0, sizeof(*out));
    return c->ops->get(c, call, appointment_id, out);
}

sw_err oe_find_by_confirmation(struct oe_client *c, struct oe_call *call, const char *confirmation,
                               const char *patient_id, const char *practitioner_id, int64_t from,
                               int64_t to, struct oe_appt *out)
{
    call_start(call);
    memset(out, 0, sizeof(*out));
    return c->ops->find_by_confirmation(c, call, confirmation, patient_id, practitioner_id, from,
                                        to, out);
}

sw_err oe_list_changed(struct oe_client *c, struct oe_call *call, int64_t since, int64_t from,
                       int64_t to, struct oe_appt **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    return c->ops->list_changed(c, call, since, from, to, out, n);
}

/* Comma separated ids of clinic.practitioners. */
static void add_words(json_t *list, const char *words)
{
    char id[64];
    for (const char *p = words; p && *p;) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n && n < sizeof(id)) {
            memcpy(id, p, n);
            id[n] = '\0';
            oe_list_add(list, id);
        }
        p += n;
    }
}

/* FHIR Practitioner, every user with an NPI: no "active=" (FHIR
 * Practitioner's active is a TOKEN search compared with users.active as a
 * string, so "active=true" matches no one: FhirPractitionerService::
 * loadSearchParameters), the flag is read from each resource instead
 * (FhirPractitionerService::parseOpenEMRRecord sets it from users.active). */
static sw_err fhir_practitioners(struct oe_client *c, struct oe_call *call, json_t *list,
                                 bool *refusal)
{
    char path[256];
    json_t *answer = NULL, *e;
    long status = 0;
    size_t i;
    snprintf(path, sizeof(path), "%s/Practitioner", oe_fhir_base(c));
    struct oe_req req = {
        .method = "GET", .path = path, .route = "GET /fhir/Practitioner", .idempotent = true};
    sw_err err = oe_send(c, call, &req, &answer, &status);
    *refusal = oe_is_refusal(err, status, answer);
    if (err == SW_OK && !json_is_object(answer))
        err = SW_ERR_BAD_ANSWER;
    json_array_foreach(err == SW_OK ? json_object_get(answer, "entry") : NULL, i, e)
    {
        json_t *res = json_object_get(e, "resource");
        if (!json_is_false(json_object_get(res, "active")))
            oe_list_add(list, json_string_value(json_object_get(res, "id")));
    }
    json_decref(answer);
    return err;
}

/* Where the list comes from, first that applies: clinic.practitioners;
 * FHIR Practitioner; without the admin/users ACL that route needs
 * (apis/routes/_rest_routes_fhir_r4_us_core_3_1_0.inc.php "GET
 * /fhir/Practitioner"), the practitioner.ID.* settings and what the
 * surface can see (oe_surface_ops.practitioners). */
static sw_err fetch_practitioners(struct oe_client *c, struct oe_call *call, json_t *list)
{
    const struct sw_config *cfg = c->cfg;
    bool refusal = false;
    if (cfg->clinic_practitioners && cfg->clinic_practitioners[0]) {
        add_words(list, cfg->clinic_practitioners);
        return SW_OK;
    }
    if (!oe_refused(c, "fhir-practitioner")) {
        sw_err err = fhir_practitioners(c, call, list, &refusal);
        if (!refusal)
            return err;
        oe_mark_refused(c, "fhir-practitioner",
                        "FHIR Practitioner refused (the user lacks the admin/users ACL): "
                        "practitioners come from practitioner.ID.* and appointment rows");
    }
    call->detail[0] = '\0';
    for (int i = 0; i < cfg->n_practitioners; i++)
        oe_list_add(list, cfg->practitioners[i].practitioner_id);
    return c->ops->practitioners ? c->ops->practitioners(c, call, list) : SW_OK;
}

/* Cached for the fleet (cache.reference_ttl_s). */
sw_err oe_list_practitioners(struct oe_client *c, struct oe_call *call, char (**ids)[64], size_t *n)
{
    const struct sw_config *cfg = oe_cfg(c);
    json_t *list = NULL;
    char *cached = NULL;

    call_start(call);
    *ids = NULL;
    *n = 0;
    if (fleet_cache_get(c->fleet, key_name(KEY_PRACTITIONERS), &cached) == SW_OK) {
        list = json_loads(cached, 0, NULL);
        free(cached);
    }
    if (!json_is_array(list)) {
        json_decref(list);
        list = json_array();
        if (!list)
            return SW_ERR_NOMEM;
        sw_err err = fetch_practitioners(c, call, list);
        if (err) {
            json_decref(list);
            return err;
        }
        char *text = json_dumps(list, JSON_COMPACT);
        if (text)
            fleet_cache_put(c->fleet, key_name(KEY_PRACTITIONERS), text, cfg->ref_cache_ttl_s);
        free(text);
    }
    size_t count = json_array_size(list);
    *ids = calloc(count ? count : 1, sizeof(**ids));
    if (!*ids) {
        json_decref(list);
        return SW_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const char *id = json_string_value(json_array_get(list, i));
        if (id)
            snprintf((*ids)[(*n)++], 64, "%s", id);
    }
    json_decref(list);
    return SW_OK;
}

/* ---- the startup check ----------------------------------------------------- */

void oe_report(json_t *report, const char *check, bool ok, bool needed, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_array_append_new(report, json_pack("{s:s, s:b, s:b, s:s}", "check", check, "ok", ok,
                                            "needed", needed, "detail", detail));
}

sw_err oe_check_read(struct oe_client *c, json_t *report, const struct oe_check *k)
{
    struct oe_call call = {.deadline_ms = clock_now_ms(NULL) + c->cfg->openemr_timeout_ms * 2,
                           .prio = FLEET_PRIO_BACKGROUND};
    struct oe_req r = {.method = "GET",
                       .path = k->path,
                       .route = k->route,
                       .patient_id = k->patient_id,
                       .idempotent = true};
    json_t *ans = NULL;
    long status = 0;
    sw_err err = oe_send(c, &call, &r, &ans, &status);
    if (err == SW_OK || (k->not_found_ok && (err == SW_ERR_NOT_FOUND || err == SW_ERR_INVALID))) {
        oe_report(report, k->check, true, k->needed, "answered (HTTP %ld)", status);
    } else if (oe_is_refusal(err, status, ans)) {
        oe_report(report, k->check, false, k->needed,
                  "refused (HTTP %ld): the OpenEMR user lacks the %s ACL (or the token the "
                  "scope)",
                  status, k->acl);
        if (k->refused_key)
            oe_mark_refused(c, k->refused_key, k->check);
    } else {
        oe_report(report, k->check, false, k->needed, "%s (HTTP %ld): %s", sw_err_str(err), status,
                  call.detail);
    }
    json_decref(ans);
    return err;
}

sw_err oe_check_access(struct oe_client *c, json_t **report)
{
    char path[256];
    *report = json_array();
    if (!*report)
        return SW_ERR_NOMEM;
    /* the FHIR reads both surfaces make, with arguments that match no one */
    snprintf(path, sizeof(path), "%s/Patient?birthdate=1900-01-01", c->fhir_base);
    oe_check_read(c, *report,
                  &(struct oe_check){.check = "FHIR Patient search",
                                     .path = path,
                                     .route = "GET /fhir/Patient",
                                     .acl = "patients/demo",
                                     .needed = true});
    snprintf(path, sizeof(path), "%s/Appointment?date=eq1900-01-01", c->fhir_base);
    oe_check_read(c, *report,
                  &(struct oe_check){.check = "FHIR Appointment search",
                                     .path = path,
                                     .route = "GET /fhir/Appointment",
                                     .acl = "patients/appt",
                                     .needed = true});
    if (c->ops->check_access)
        c->ops->check_access(c, *report);
    sw_err err = SW_OK;
    size_t i;
    json_t *e;
    json_array_foreach(*report, i, e)
    {
        if (json_is_true(json_object_get(e, "needed")) && !json_is_true(json_object_get(e, "ok")))
            err = SW_ERR_FORBIDDEN;
    }
    return err;
}

void oe_log_access(struct oe_client *c)
{
    json_t *report = NULL, *e;
    size_t i;
    sw_err err = oe_check_access(c, &report);
    json_array_foreach(report, i, e)
    {
        const char *check = json_string_value(json_object_get(e, "check"));
        const char *detail = json_string_value(json_object_get(e, "detail"));
        if (json_is_true(json_object_get(e, "ok")))
            log_info(MOD, "access check: %s: %s", check, detail);
        else
            log_warn(MOD, "access check: %s: %s%s", check, detail,
                     json_is_true(json_object_get(e, "needed")) ? "" : " (the worker copes)");
    }
    log_info(MOD, "access check: %s",
             err == SW_OK ? "every needed request answered" : "some needed request is refused");
    json_decref(report);
}

sw_err oe_ensure_token(struct oe_client *c, int64_t deadline_ms)
{
    char token[8192];
    sw_err err = oauth_token(c->oauth, deadline_ms, token, sizeof(token));
    explicit_bzero(token, sizeof(token));
    return err;
}

bool oe_has_valid_token(struct oe_client *c)
{
    return oauth_has_valid_token(c->oauth);
}

sw_err oe_logout(struct oe_client *c)
{
    return oauth_logout(c->oauth);
}

/* ---- shared helpers -------------------------------------------------------- */

sw_err oe_appt_push(struct oe_appt **arr, size_t *n, size_t *cap, const struct oe_appt *a)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct oe_appt *na = realloc(*arr, nc * sizeof(*na));
        if (!na)
            return SW_ERR_NOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = *a;
    return SW_OK;
}

void oe_ref_id(const char *ref, char *buf, size_t len)
{
    const char *slash = ref ? strrchr(ref, '/') : NULL;
    snprintf(buf, len, "%s", slash ? slash + 1 : (ref ? ref : ""));
}

bool oe_provider_category(int catid)
{
    return catid == 2 || catid == 3 || catid == 4 || catid == 8 || catid == 11;
}

/* ---- as the scheduling code's function table (emr.h) --------------------- */

static sw_err e_resolve(void *ctx, struct oe_call *call, enum id_kind kind, const char *id,
                        enum id_form form, char out[ID_MAX])
{
    return oe_resolve(ctx, call, kind, id, form, out);
}
static sw_err e_find_patients(void *ctx, struct oe_call *call, const char *phone,
                              const char *birthdate, struct oe_patient **out, size_t *n)
{
    return oe_find_patients(ctx, call, phone, birthdate, out, n);
}
static sw_err e_list_range(void *ctx, struct oe_call *call, const char *practitioner_id,
                           int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    return oe_list_range(ctx, call, practitioner_id, from, to, out, n);
}
static sw_err e_list_patient(void *ctx, struct oe_call *call, const char *patient_id, int64_t from,
                             int64_t to, struct oe_appt **out, size_t *n)
{
    return oe_list_patient(ctx, call, patient_id, from, to, out, n);
}
static sw_err e_free_slots(void *ctx, struct oe_call *call, const char *practitioner_id,
                           int64_t from, int64_t to, bool *has_slots, struct oe_interval **out,
                           size_t *n)
{
    return oe_free_slots(ctx, call, practitioner_id, from, to, has_slots, out, n);
}
static sw_err e_create(void *ctx, struct oe_call *call, const struct oe_new_appt *req,
                       struct oe_appt *out)
{
    return oe_create(ctx, call, req, out);
}
static sw_err e_cancel(void *ctx, struct oe_call *call, const char *appointment_id,
                       const char *patient_id)
{
    return oe_cancel(ctx, call, appointment_id, patient_id);
}
static sw_err e_get(void *ctx, struct oe_call *call, const char *appointment_id,
                    struct oe_appt *out)
{
    return oe_get(ctx, call, appointment_id, out);
}
static sw_err e_find_by_confirmation(void *ctx, struct oe_call *call, const char *confirmation,
                                     const char *patient_id, const char *practitioner_id,
                                     int64_t from, int64_t to, struct oe_appt *out)
{
    return oe_find_by_confirmation(ctx, call, confirmation, patient_id, practitioner_id, from, to,
                                   out);
}
static sw_err e_list_practitioners(void *ctx, struct oe_call *call, char (**ids)[64], size_t *n)
{
    return oe_list_practitioners(ctx, call, ids, n);
}

static const struct emr_ops client_ops = {
    .resolve = e_resolve,
    .find_patients = e_find_patients,
    .list_range = e_list_range,
    .list_patient = e_list_patient,
    .free_slots = e_free_slots,
    .create = e_create,
    .cancel = e_cancel,
    .get = e_get,
    .find_by_confirmation = e_find_by_confirmation,
    .list_practitioners = e_list_practitioners,
};

struct emr oe_client_emr(struct oe_client *c)
{
    return (struct emr){&client_ops, c};
}
