/* events.c - CloudEvents and audit records as JSON.  Events travel in the
 * structured content mode of the CloudEvents Kafka protocol binding: the
 * whole event is the message value and the content-type header says so. */
#include "events.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "command.h"
#include "log.h"

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v && *v)
        json_object_set_new(o, key, json_string(v));
}

static void set_time(json_t *o, const char *key, int64_t t)
{
    char buf[40];
    if (!t)
        return;
    format_time(t, buf, sizeof(buf));
    json_object_set_new(o, key, json_string(buf));
}

/* A stable id: the first 128 bits of SHA-256(type "|" seed), in hex. */
static void event_id(const char *type, const char *seed, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(ctx, type, strlen(type)) && EVP_DigestUpdate(ctx, "|", 1) &&
        EVP_DigestUpdate(ctx, seed, strlen(seed)) && EVP_DigestFinal_ex(ctx, md, &n) && n >= 16) {
        hex_encode(md, 16, out);
    } else {
        snprintf(out, 33, "%s", "00000000000000000000000000000000");
    }
    EVP_MD_CTX_free(ctx);
}

void event_source(const struct sw_config *cfg, char *out, size_t outlen)
{
    if (cfg->events_source && cfg->events_source[0]) {
        snprintf(out, outlen, "%s", cfg->events_source);
        return;
    }
    const char *group = "schedworker";
    for (int i = 0; i < cfg->n_kafka; i++)
        if (!strcmp(cfg->kafka[i].key, "group.id") && cfg->kafka[i].value[0])
            group = cfg->kafka[i].value;
    snprintf(out, outlen, "/schedworker/%s", group);
}

char *event_build(const struct sw_config *cfg, const char *type, const char *id_seed,
                  const char *subject, const struct event_fields *f, int64_t now_s)
{
    char id[33], source[256];
    event_id(type, id_seed, id);
    /* caused_by is required by the schema: a command did it unless told */
    bool external = f->caused_by && !strcmp(f->caused_by, "external");
    /* One source for the fleet: the same event re-emitted by another
     * replica keeps its source+id, so consumers can de-duplicate. */
    event_source(cfg, source, sizeof(source));
    json_t *data = json_object();
    set_str(data, "caused_by", external ? "external" : "worker");
    set_str(data, "request_id", f->request_id);
    set_str(data, "appointment_id", f->appointment_id);
    set_str(data, "previous_appointment_id", f->previous_appointment_id);
    set_str(data, "confirmation_number", f->confirmation_number);
    set_str(data, "patient_id", f->patient_id);
    set_str(data, "practitioner_id", f->practitioner_id);
    set_str(data, "appointment_type", f->appointment_type);
    set_str(data, "status", f->status);
    set_time(data, "start", f->start);
    set_time(data, "end", f->end);
    set_time(data, "previous_start", f->previous_start);
    set_time(data, "previous_end", f->previous_end);
    set_str(data, "slot_id", f->slot_id);
    set_str(data, "hold_id", f->hold_id);
    set_str(data, "waitlist_id", f->waitlist_id);
    set_time(data, "offer_expires_at", f->offer_expires_at);

    json_t *o = json_object();
    json_object_set_new(o, "specversion", json_string("1.0"));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "source", json_string(source));
    json_object_set_new(o, "type", json_string(type));
    set_time(o, "time", now_s);
    json_object_set_new(o, "subject", json_string(subject));
    json_object_set_new(o, "datacontenttype", json_string("application/json"));
    json_object_set_new(o, "data", data);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

void event_add(const struct sw_config *cfg, struct outbox *out, const char *type,
               const char *id_seed, const char *subject, const struct event_fields *f,
               int64_t now_s)
{
    char *s = event_build(cfg, type, id_seed, subject, f, now_s);
    if (!s || !outbox_add(out, cfg->topic_events, subject, s, strlen(s)))
        log_error("events", "%s event could not be queued", type);
    else
        outbox_header(out, "content-type", EVENT_CONTENT_TYPE);
    free(s);
}

char *audit_build(const struct sw_config *cfg, const struct audit_fields *a)
{
    json_t *who = json_object();
    set_str(who, "worker_id", cfg->worker_id);
    set_str(who, "client_id", cfg->oauth_client_id[0] ? cfg->oauth_client_id : "unknown");
    json_t *what = json_object();
    set_str(what, "method", a->method);
    set_str(what, "route", a->route);
    set_str(what, "patient_id", a->patient_id);
    set_str(what, "appointment_id", a->appointment_id);
    set_str(what, "request_id", a->request_id);
    set_str(what, "command_type", a->command_type);
    if (a->topic && a->offset >= 0) {
        set_str(what, "topic", a->topic);
        json_object_set_new(what, "partition", json_integer(a->partition));
        json_object_set_new(what, "offset", json_integer(a->offset));
    }
    json_t *outcome = json_object();
    json_object_set_new(outcome, "result", json_string(a->error_code ? "failure" : "success"));
    json_object_set_new(outcome, "http_status", json_integer(a->http_status));
    set_str(outcome, "error_code", a->error_code);
    if (a->duration_ms >= 0)
        json_object_set_new(outcome, "duration_ms", json_integer(a->duration_ms));
    json_t *o = json_object();
    set_time(o, "time", a->at_ms / 1000);
    json_object_set_new(o, "who", who);
    json_object_set_new(o, "what", what);
    json_object_set_new(o, "outcome", outcome);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}
