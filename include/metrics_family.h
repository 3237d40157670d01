/* metrics_family.h - the registry's families and series, as metrics.c
 * (recording) and metrics_render.c (the /metrics page) share them.  Not for
 * other modules: they use metrics.h. */
#ifndef SW_METRICS_FAMILY_H
#define SW_METRICS_FAMILY_H

#include <stdatomic.h>
#include <stdint.h>

#include "metrics.h"

#define MAX_LABELS  3
#define MAX_BUCKETS 14

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

/* How a label's value is checked before it is stored. */
enum label_rule { L_CMD_TYPE, L_WORD, L_ROUTE, L_TOPIC, L_METHOD };

struct series {
    uint64_t hash;
    char labels[MAX_LABELS][METRICS_LABEL_MAX];
    atomic_bool hidden;
    atomic_uint_fast64_t count;                    /* counter value */
    atomic_int_fast64_t gauge;                     /* gauge value */
    atomic_uint_fast64_t sum_ns;                   /* histogram sum */
    atomic_uint_fast64_t buckets[MAX_BUCKETS + 1]; /* last one: +Inf only */
};

struct family {
    const char *name;
    const char *help;
    enum kind kind;
    int n_labels;
    const char *label_names[MAX_LABELS];
    enum label_rule rules[MAX_LABELS];
    const double *bounds;
    int n_bounds;
    const char *const *preset; /* one-label families: values shown from the start */
    atomic_size_t n;
    struct series series[METRICS_MAX_SERIES];
};

/* The families, in page order; *n their count. */
struct family *metrics_families(int *n);

/* Creates the series that show 0 before anything is recorded: the one of
 * each family without labels and the preset values of the others. */
void metrics_touch_fixed(void);

#endif
