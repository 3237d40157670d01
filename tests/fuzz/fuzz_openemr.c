/* fuzz_openemr.c - the OpenEMR answer parsers on any bytes (libFuzzer).
 *
 * The input is read as JSON the way the client reads an answer; then
 *  - a bare array: every element through the standard API row parser;
 *  - a Bundle: every entry's resource through the FHIR Appointment parser;
 *  - any other object: the FHIR Appointment parser directly.
 * Properties: no crash, no leak; a parsed appointment has end >= start
 * when the parser says it is usable. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "surface.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct oe_client *client(void)
{
    static struct sw_config cfg;
    static struct oe_client *c;
    if (!c) {
        char err[256];
        setenv("TZ", "America/New_York", 1);
        tzset();
        setenv("OPENEMR_BASE_URL", "https://127.0.0.1:1", 1);
        setenv("SCHED_OAUTH_CLIENT_ID", "fuzz", 1);
        setenv("SCHED_OAUTH_USERNAME", "fuzz", 1);
        setenv("SCHED_TOKEN_KEY",
               "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 1);
        if (sw_config_load(&cfg, NULL, stderr) != SW_OK)
            abort();
        if (oe_client_new(&cfg, NULL, NULL, NULL, &c, err, sizeof(err)) != SW_OK) {
            fprintf(stderr, "fuzz_openemr: %s\n", err);
            abort();
        }
    }
    return c;
}

static void check(bool ok, const struct oe_appt *a)
{
    if (ok && a->end < a->start && a->end != 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    struct oe_appt a;
    size_t i;
    json_t *v;
    if (json_is_array(root)) {
        json_array_foreach(root, i, v) check(oe_api_row_parse(client(), v, &a), &a);
    } else if (json_is_object(root)) {
        json_t *entries = json_object_get(root, "entry");
        if (json_is_array(entries)) {
            json_array_foreach(entries, i, v)
                check(oe_fhir_appt_parse(json_object_get(v, "resource"), &a), &a);
        } else {
            check(oe_fhir_appt_parse(root, &a), &a);
        }
    }
    json_decref(root);
    return 0;
}
