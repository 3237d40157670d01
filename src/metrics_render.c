/* metrics_render.c - the registry as a Prometheus text 0.0.4 page, built in
 * one capped buffer (METRICS_RENDER_MAX). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "metrics_family.h"

/* A label value in the exposition format: \ " and newline escaped. */
static void put_escaped(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            buf_append(b, "\\n", 2);
        else
            buf_append(b, v, 1);
    }
}

/* {a="x",b="y"[,le="..."]}, or nothing for no labels and no le. */
static void put_labels(struct buf *b, const struct family *f, const struct series *s,
                       const char *le)
{
    if (f->n_labels == 0 && !le)
        return;
    buf_append(b, "{", 1);
    for (int k = 0; k < f->n_labels; k++) {
        buf_printf(b, "%s%s=\"", k ? "," : "", f->label_names[k]);
        put_escaped(b, s->labels[k]);
        buf_append(b, "\"", 1);
    }
    if (le)
        buf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    buf_append(b, "}", 1);
}

/* HELP text: \ and newline escaped. */
static void put_help(struct buf *b, const char *help)
{
    buf_append(b, " ", 1);
    for (const char *c = help; *c; c++) {
        if (*c == '\\')
            buf_append(b, "\\\\", 2);
        else if (*c == '\n')
            buf_append(b, "\\n", 2);
        else
            buf_append(b, c, 1);
    }
    buf_append(b, "\n", 1);
}

static void put_histogram(struct buf *b, const struct family *f, const struct series *s)
{
    uint64_t cum = 0;
    char le[32];
    for (int k = 0; k <= f->n_bounds; k++) {
        cum += atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
        if (k < f->n_bounds)
            snprintf(le, sizeof(le), "%g", f->bounds[k]);
        else
            snprintf(le, sizeof(le), "+Inf");
        buf_printf(b, "%s_bucket", f->name);
        put_labels(b, f, s, le);
        buf_printf(b, " %" PRIu64 "\n", cum);
    }
    uint64_t ns = atomic_load_explicit(&s->sum_ns, memory_order_relaxed);
    buf_printf(b, "%s_sum", f->name);
    put_labels(b, f, s, NULL);
    buf_printf(b, " %" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u, ns % 1000000000u);
    buf_printf(b, "%s_count", f->name);
    put_labels(b, f, s, NULL);
    buf_printf(b, " %" PRIu64 "\n", cum);
}

static void render_family(struct buf *b, struct family *f)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    buf_printf(b, "# HELP %s", f->name);
    put_help(b, f->help);
    buf_printf(b, "# TYPE %s %s\n", f->name, kinds[f->kind]);
    size_t n = atomic_load_explicit(&f->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        struct series *s = &f->series[i];
        if (f->kind == K_COUNTER) {
            buf_printf(b, "%s", f->name);
            put_labels(b, f, s, NULL);
            buf_printf(b, " %" PRIuFAST64 "\n",
                       atomic_load_explicit(&s->count, memory_order_relaxed));
        } else if (f->kind == K_GAUGE) {
            if (atomic_load_explicit(&s->hidden, memory_order_relaxed))
                continue;
            buf_printf(b, "%s", f->name);
            put_labels(b, f, s, NULL);
            buf_printf(b, " %" PRIdFAST64 "\n",
                       atomic_load_explicit(&s->gauge, memory_order_relaxed));
        } else {
            put_histogram(b, f, s);
        }
    }
}

sw_err metrics_render(char **out, size_t *len)
{
    struct buf b;
    int n_fams;
    struct family *fams = metrics_families(&n_fams);
    *out = NULL;
    *len = 0;
    metrics_touch_fixed(); /* families without labels and fixed values show 0 from the start */
    buf_init(&b, METRICS_RENDER_MAX - 1); /* the page and its NUL */
    for (int i = 0; i < n_fams; i++)
        render_family(&b, &fams[i]);
    if (b.failed) {
        buf_free(&b);
        return SW_ERR_NOMEM;
    }
    *out = buf_steal(&b, len);
    return *out ? SW_OK : SW_ERR_NOMEM;
}
