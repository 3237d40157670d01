/* oe-probe - runs OpenEMR client calls (openemr.h) from the command line
 * and prints one JSON line per call; the driver of tests/client/.
 *
 *   oe-probe [-c FILE] [-s key=value]... [--repeat SECONDS --every MS] CMD ARGS...
 *
 * Commands (times are epoch seconds):
 *   token                                  whether a valid token is held
 *   find-patients PHONE BIRTHDATE
 *   list-range PRACTITIONER|- FROM TO
 *   list-patient PATIENT FROM TO
 *   free-slots PRACTITIONER FROM TO
 *   create PATIENT PRACTITIONER START END TYPE CONFIRMATION [REASON]
 *   cancel APPOINTMENT [PATIENT]
 *   get APPOINTMENT
 *   find-confirmation CONFIRMATION PRACTITIONER FROM TO
 *   changed SINCE FROM TO
 *   practitioners                          the ids a search naming none looks at
 *   access-check                           the startup check (oe_check_access)
 *   logout
 *   auth-url STATE                         PKCE verifier and authorize URL
 *   auth-exchange CODE VERIFIER FILE       code -> refresh token written to FILE
 *   auth-register NAME FILE                registers a client; its answer -> FILE
 *   auth-login FILE                        loopback login; refresh token -> FILE
 * With --repeat, the command runs every MS milliseconds for SECONDS seconds
 * (one line per run).  Tokens are never printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "fleet.h"
#include "http.h"
#include "oauth.h"
#include "log.h"
#include "openemr.h"
#include "timeutil.h"

static int audits;

static void on_audit(void *opaque, const struct oe_audit *rec)
{
    (void)opaque;
    (void)rec;
    audits++;
}

static int64_t num(const char *s)
{
    return s ? strtoll(s, NULL, 10) : 0;
}

static json_t *appt_json(const struct oe_appt *a)
{
    static const char *st[] = {"booked", "cancelled", "noshow", "fulfilled"};
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:b, s:s, s:s, s:s, s:I}", "id", a->id,
                     "patient_id", a->patient_id, "practitioner_id", a->practitioner_id, "start",
                     (json_int_t)a->start, "end", (json_int_t)a->end, "category", a->category,
                     "provider_event", a->provider_event, "status", st[a->status], "confirmation",
                     a->confirmation, "appointment_type", a->appointment_type, "updated",
                     (json_int_t)a->updated);
}

static json_t *appts_json(const struct oe_appt *a, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, appt_json(&a[i]));
    return arr;
}

static sw_err run(struct oe_client *c, const struct sw_config *cfg, struct oe_call *call, int argc,
                  char **argv, json_t **result)
{
    const char *cmd = argv[0];
    sw_err err = SW_ERR_INVALID;
    struct oe_appt *arr = NULL, one;
    size_t n = 0;
#define NEED(k)                                                                                    \
    if (argc < (k) + 1) {                                                                          \
        snprintf(call->detail, sizeof(call->detail), "%s needs %d arguments", cmd, k);             \
        return SW_ERR_INVALID;                                                                     \
    }
    if (!strcmp(cmd, "token")) {
        *result = json_boolean(oe_has_valid_token(c));
        return SW_OK;
    } else if (!strcmp(cmd, "find-patients")) {
        NEED(2);
        struct oe_patient *p = NULL;
        err = oe_find_patients(c, call, argv[1], argv[2], &p, &n);
        *result = json_array();
        for (size_t i = 0; err == SW_OK && i < n; i++)
            json_array_append_new(
                *result, json_pack("{s:s, s:s}", "id", p[i].id, "birthdate", p[i].birthdate));
        free(p);
    } else if (!strcmp(cmd, "list-range")) {
        NEED(3);
        err = oe_list_range(c, call, strcmp(argv[1], "-") ? argv[1] : NULL, num(argv[2]),
                            num(argv[3]), &arr, &n);
        *result = appts_json(arr, n);
    } else if (!strcmp(cmd, "list-patient")) {
        NEED(3);
        err = oe_list_patient(c, call, argv[1], num(argv[2]), num(argv[3]), &arr, &n);
        *result = appts_json(arr, n);
    } else if (!strcmp(cmd, "free-slots")) {
        NEED(3);
        bool has = false;
        struct oe_interval *iv = NULL;
        err = oe_free_slots(c, call, argv[1], num(argv[2]), num(argv[3]), &has, &iv, &n);
        json_t *slots = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                slots, json_pack("[I, I]", (json_int_t)iv[i].start, (json_int_t)iv[i].end));
        *result = json_pack("{s:b, s:o}", "has_slots", has, "slots", slots);
        free(iv);
    } else if (!strcmp(cmd, "create")) {
        NEED(6);
        struct oe_new_appt req = {.patient_id = argv[1],
                                  .practitioner_id = argv[2],
                                  .start = num(argv[3]),
                                  .end = num(argv[4]),
                                  .type = sw_config_type(cfg, argv[5]),
                                  .confirmation = argv[6],
                                  .reason = argc > 7 ? argv[7] : NULL};
        if (!req.type) {
            snprintf(call->detail, sizeof(call->detail), "unknown type");
            return SW_ERR_INVALID;
        }
        err = oe_create(c, call, &req, &one);
        if (err == SW_OK)
            *result = appt_json(&one);
    } else if (!strcmp(cmd, "cancel")) {
        NEED(1);
        err = oe_cancel(c, call, argv[1], argc > 2 ? argv[2] : NULL);
    } else if (!strcmp(cmd, "get")) {
        NEED(1);
        err = oe_get(c, call, argv[1], &one);
        if (err == SW_OK)
            *result = appt_json(&one);
    } else if (!strcmp(cmd, "find-confirmation")) {
        NEED(4);
        err = oe_find_by_confirmation(c, call, argv[1], NULL, strcmp(argv[2], "-") ? argv[2] : NULL,
                                      num(argv[3]), num(argv[4]), &one);
        if (err == SW_OK)
            *result = appt_json(&one);
    } else if (!strcmp(cmd, "changed")) {
        NEED(3);
        err = oe_list_changed(c, call, num(argv[1]), num(argv[2]), num(argv[3]), &arr, &n);
        *result = appts_json(arr, n);
    } else if (!strcmp(cmd, "practitioners")) {
        char(*ids)[64] = NULL;
        err = oe_list_practitioners(c, call, &ids, &n);
        *result = json_array();
        for (size_t i = 0; err == SW_OK && i < n; i++)
            json_array_append_new(*result, json_string(ids[i]));
        free(ids);
        n = 0;
    } else if (!strcmp(cmd, "access-check")) {
        err = oe_check_access(c, result);
    } else if (!strcmp(cmd, "logout")) {
        err = oe_logout(c);
    } else {
        snprintf(call->detail, sizeof(call->detail), "unknown command %s", cmd);
    }
    free(arr);
    return err;
}

/* The one-time `auth` helpers of oauth.h. */
static int auth_cmd(const struct sw_config *cfg, int argc, char **argv)
{
    struct http_client *http = NULL;
    char err[512] = "";
    int rc = 1;
    umask(077); /* the files written below hold secrets */
    if (http_client_new(cfg, &http, err, sizeof(err)) != SW_OK) {
        fprintf(stderr, "http: %s\n", err);
        return 1;
    }
    if (!strcmp(argv[0], "auth-url") && argc > 1) {
        char verifier[64], challenge[64];
        char *url = NULL;
        if (oauth_pkce_new(verifier, sizeof(verifier), challenge, sizeof(challenge)) == SW_OK &&
            oauth_authorize_url(cfg, argv[1], challenge, &url) == SW_OK) {
            json_t *o = json_pack("{s:s, s:s, s:s}", "url", url, "verifier", verifier, "challenge",
                                  challenge);
            char *t = json_dumps(o, JSON_COMPACT);
            printf("%s\n", t);
            free(t);
            json_decref(o);
            rc = 0;
        }
        free(url);
    } else if (!strcmp(argv[0], "auth-exchange") && argc > 3) {
        char *refresh = NULL;
        sw_err e = oauth_exchange_code(cfg, http, argv[1], argv[2], &refresh, err, sizeof(err));
        if (e == SW_OK) {
            FILE *f = fopen(argv[3], "w");
            if (f) {
                fprintf(f, "%s\n", refresh);
                fclose(f);
                rc = 0;
            }
        }
        printf("{\"cmd\":\"auth-exchange\",\"err\":\"%s\"}\n", sw_err_str(e));
        if (e != SW_OK)
            fprintf(stderr, "exchange: %s\n", err);
        free(refresh);
    } else if (!strcmp(argv[0], "auth-register") && argc > 2) {
        char *answer = NULL;
        sw_err e = oauth_register(cfg, http, argv[1], &answer, err, sizeof(err));
        json_t *a = answer ? json_loads(answer, 0, NULL) : NULL;
        const char *cid = json_string_value(json_object_get(a, "client_id"));
        printf("{\"cmd\":\"auth-register\",\"err\":\"%s\",\"client_id\":\"%s\"}\n", sw_err_str(e),
               cid ? cid : "");
        if (e != SW_OK) {
            fprintf(stderr, "register: %s\n", err);
        } else {
            FILE *f = fopen(argv[2], "w"); /* the answer holds the client secret */
            if (f) {
                fprintf(f, "%s\n", answer);
                fclose(f);
                rc = 0;
            }
        }
        json_decref(a);
        free(answer);
    } else if (!strcmp(argv[0], "auth-login") && argc > 1) {
        char *refresh = NULL;
        sw_err e = oauth_login_loopback(cfg, http, 30, stdout, &refresh, err, sizeof(err));
        if (e == SW_OK) {
            FILE *f = fopen(argv[1], "w");
            if (f) {
                fprintf(f, "%s\n", refresh);
                fclose(f);
                rc = 0;
            }
            explicit_bzero(refresh, strlen(refresh));
        } else {
            fprintf(stderr, "login: %s\n", err);
        }
        printf("{\"cmd\":\"auth-login\",\"err\":\"%s\"}\n", sw_err_str(e));
        free(refresh);
    } else {
        fprintf(stderr, "unknown or incomplete auth command\n");
    }
    http_client_destroy(http);
    return rc;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    struct sw_config cfg;
    const char *path = NULL;
    char err[512] = "";
    int i = 1, repeat_s = 0, every_ms = 1000, rc = 1;
    struct fleet *fleet = NULL;
    struct oe_client *c = NULL;

    memset(&cfg, 0, sizeof(cfg));
    for (; i < argc; i++)
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            i++;
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat_s = (int)num(argv[++i]);
        else if (!strcmp(argv[i], "--every") && i + 1 < argc)
            every_ms = (int)num(argv[++i]);
        else
            break;
    if (i >= argc) {
        fprintf(stderr, "usage: oe-probe [-c FILE] [-s key=value]... [--repeat S --every MS] "
                        "CMD ARGS...\n");
        return 2;
    }
    if (sw_config_load(&cfg, path, stderr) != SW_OK)
        goto cleanup;
    for (int k = 1; k < i; k++) {
        if (strcmp(argv[k], "-s"))
            continue;
        char *kv = argv[++k], *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "-s %s: expected key=value\n", kv);
            goto cleanup;
        }
        *eq = '\0';
        if (!sw_config_set(&cfg, kv, eq + 1, err, sizeof(err))) {
            fprintf(stderr, "-s %s: %s\n", kv, err);
            goto cleanup;
        }
    }
    if (timeutil_set_zone(cfg.clinic_timezone) != SW_OK) {
        fprintf(stderr, "clinic.timezone: cannot use \"%s\"\n", cfg.clinic_timezone);
        goto cleanup;
    }
    enum sw_log_level lvl = SW_LOG_INFO;
    sw_log_level_parse(cfg.log_level, &lvl);
    sw_log_init(lvl, cfg.worker_id);
    if (!strncmp(argv[i], "auth-", 5)) {
        rc = auth_cmd(&cfg, argc - i, argv + i);
        goto cleanup;
    }
    if (fleet_new(&cfg, &fleet, err, sizeof(err)) != SW_OK) {
        fprintf(stderr, "fleet: %s\n", err);
        goto cleanup;
    }
    sw_err e = oe_client_new(&cfg, fleet, on_audit, NULL, &c, err, sizeof(err));
    if (e != SW_OK) {
        printf("{\"cmd\":\"init\",\"err\":\"%s\"}\n", sw_err_str(e));
        fprintf(stderr, "client: %s\n", err);
        goto cleanup;
    }
    int64_t end = mono_ms() + (int64_t)repeat_s * 1000;
    rc = 0;
    do {
        struct oe_call call = {.prio = FLEET_PRIO_READ, .request_id = "oe-probe"};
        call.deadline_ms = (int64_t)time(NULL) * 1000 + 30000;
        json_t *result = NULL;
        audits = 0;
        e = run(c, &cfg, &call, argc - i, argv + i, &result);
        json_t *line =
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:o*}", "cmd", argv[i], "err", sw_err_str(e),
                      "detail", call.detail, "requests", call.requests, "audits", audits,
                      "retry_after", call.retry_after_s, "result", result);
        char *text = json_dumps(line, JSON_COMPACT);
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(line);
        if (e != SW_OK)
            rc = 1;
        if (repeat_s > 0) {
            struct timespec ts = {every_ms / 1000, (long)(every_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    } while (repeat_s > 0 && mono_ms() < end);

cleanup:
    oe_client_destroy(c);
    fleet_destroy(fleet);
    sw_config_free(&cfg);
    return rc;
}
