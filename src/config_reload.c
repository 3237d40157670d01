/* config_reload.c - which settings differ between two loaded
 * configurations, for SIGHUP (the monitor applies what it can). */
#include <stdio.h>
#include <string.h>

#include "config_table.h"

/* A setting's value as text (buf for the numeric kinds). */
static const char *render(const struct sw_config *cfg, const struct setting *s, char *buf, size_t n)
{
    const void *field = (const char *)cfg + s->offset;
    switch (s->kind) {
    case K_STR:
    case K_LOGLEVEL: {
        const char *v = *(char *const *)field;
        return v ? v : "";
    }
    case K_INT:
        snprintf(buf, n, "%d", *(const int *)field);
        return buf;
    case K_BOOL:
        return *(const bool *)field ? "true" : "false";
    case K_SURFACE:
        return *(const enum sw_surface *)field == SW_SURFACE_OPENEMR ? "openemr"
                                                                     : "fhir-scheduling";
    case K_GRANT:
        switch (*(const enum sw_grant *)field) {
        case SW_GRANT_PASSWORD:
            return "password";
        case SW_GRANT_CLIENT_CREDENTIALS:
            return "client_credentials";
        default:
            return "refresh_token";
        }
    case K_HOURS:
        return NULL; /* compared as bytes */
    }
    return NULL;
}

static const char *kafka_value(const struct sw_config *cfg, const char *key)
{
    for (int i = 0; i < cfg->n_kafka; i++)
        if (!strcmp(cfg->kafka[i].key, key))
            return cfg->kafka[i].value;
    return NULL;
}

/* The kafka.* properties of a that b lacks (report_added: or holds with
 * another value), reported as b -> a (added) or a -> unset (removed). */
static int kafka_diff(const struct sw_config *a, const struct sw_config *b, sw_config_diff_fn each,
                      void *arg, bool report_added)
{
    int n = 0;
    char name[200];
    for (int i = 0; i < a->n_kafka; i++) {
        const char *other = kafka_value(b, a->kafka[i].key);
        if (other && (!report_added || !strcmp(other, a->kafka[i].value)))
            continue;
        snprintf(name, sizeof(name), "kafka.%s", a->kafka[i].key);
        if (report_added)
            each(arg, name, other ? other : "(unset)", a->kafka[i].value);
        else
            each(arg, name, a->kafka[i].value, "(unset)");
        n++;
    }
    return n;
}

int sw_config_diff(const struct sw_config *was, const struct sw_config *now, sw_config_diff_fn each,
                   void *arg)
{
    int n = 0;
    const struct setting *s;
    char b1[32], b2[32];
    for (size_t i = 0; (s = sw_config_setting(i)); i++) {
        const char *v1 = render(was, s, b1, sizeof(b1)), *v2 = render(now, s, b2, sizeof(b2));
        bool same = v1 && v2 ? !strcmp(v1, v2)
                             : !memcmp((const char *)was + s->offset, (const char *)now + s->offset,
                                       sizeof(struct sw_hours));
        if (same)
            continue;
        each(arg, s->name, v1 ? v1 : "(hours)", v2 ? v2 : "(new hours)");
        n++;
    }
    n += kafka_diff(now, was, each, arg, true);  /* added or changed */
    n += kafka_diff(was, now, each, arg, false); /* removed */
    if (was->n_types != now->n_types ||
        memcmp(was->types, now->types, sizeof(was->types[0]) * (size_t)now->n_types)) {
        each(arg, "type.*", "(appointment types)", "(changed)");
        n++;
    }
    if (was->n_practitioners != now->n_practitioners ||
        memcmp(was->practitioners, now->practitioners,
               sizeof(was->practitioners[0]) * (size_t)now->n_practitioners)) {
        each(arg, "practitioner.*", "(practitioner settings)", "(changed)");
        n++;
    }
    if (was->n_breaks != now->n_breaks ||
        memcmp(was->breaks, now->breaks, sizeof(was->breaks[0]) * (size_t)now->n_breaks)) {
        each(arg, "break.*", "(breaks and closures)", "(changed)");
        n++;
    }
    return n;
}
