/* availability.c - free slots of one practitioner (see availability.h). */
#include "availability.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rules.h"
#include "timeutil.h"

/* Where candidates go: the caller's fixed array (grow false), or one that
 * grows up to max (AVAIL_MAX_SLOTS) slots. */
struct sink {
    struct av_slot *arr;
    size_t n, cap, max;
    bool grow;
};

/* Busy time, widened, sorted and merged; `at` only moves forward because
 * candidates arrive in increasing start order. */
struct busy {
    struct av_interval *iv;
    size_t n, at;
};

static int cmp_interval(const void *a, const void *b)
{
    const struct av_interval *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int cmp_slot(const void *a, const void *b)
{
    const struct av_slot *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->tag > y->tag) - (x->tag < y->tag);
}

void avail_sort(struct av_slot *slots, size_t n)
{
    if (n > 1)
        qsort(slots, n, sizeof *slots, cmp_slot);
}

/* Sorts and merges iv in place (touching runs join); returns the new count. */
static size_t merge(struct av_interval *iv, size_t n)
{
    size_t out = 0;
    if (n > 1)
        qsort(iv, n, sizeof *iv, cmp_interval);
    for (size_t i = 0; i < n; i++) {
        if (out && iv[i].start <= iv[out - 1].end) {
            if (iv[i].end > iv[out - 1].end)
                iv[out - 1].end = iv[i].end;
        } else {
            iv[out++] = iv[i];
        }
    }
    return out;
}

/* Appends one configured break to the busy list being built. */
struct break_sink {
    struct av_interval *iv;
    size_t n, cap;
};

static sw_err add_break(void *arg, int64_t start, int64_t end, const struct sw_break *b)
{
    struct break_sink *s = arg;
    (void)b;
    if (s->n == s->cap) {
        struct av_interval *p = vec_grow(s->iv, &s->cap, sizeof *p, s->n + 1, SIZE_MAX / 2);
        if (!p)
            return SW_ERR_NOMEM;
        s->iv = p;
    }
    s->iv[s->n++] = (struct av_interval){start, end};
    return SW_OK;
}

/* Busy time over [from, to): appointments widened, blocks as they are, and
 * the configured breaks of those days. */
static sw_err busy_build(const struct av_request *req, int64_t from, int64_t to, struct busy *b)
{
    struct break_sink s = {NULL, 0, 0};
    int64_t pad = (int64_t)req->buffer_minutes * 60;
    b->iv = NULL;
    b->n = b->at = 0;
    sw_err err = rules_breaks_each(req->cfg, req->practitioner_id, from, to, add_break, &s);
    if (err != SW_OK) {
        free(s.iv);
        return err;
    }
    size_t total = req->n_appts + req->n_blocks + s.n, k = s.n;
    if (total == 0)
        return SW_OK;
    b->iv = s.cap >= total ? s.iv : realloc(s.iv, total * sizeof *b->iv);
    if (!b->iv) {
        free(s.iv);
        return SW_ERR_NOMEM;
    }
    for (size_t i = 0; i < req->n_appts; i++)
        if (req->appts[i].end > req->appts[i].start)
            b->iv[k++] = (struct av_interval){req->appts[i].start - pad, req->appts[i].end + pad};
    for (size_t i = 0; i < req->n_blocks; i++)
        if (req->blocks[i].end > req->blocks[i].start)
            b->iv[k++] = req->blocks[i];
    b->n = merge(b->iv, k);
    return SW_OK;
}

static bool busy_overlaps(struct busy *b, int64_t start, int64_t end)
{
    while (b->at < b->n && b->iv[b->at].end <= start)
        b->at++;
    return b->at < b->n && b->iv[b->at].start < end;
}

/* Keeps a candidate that passes range, notice, window and busy time.
 * Returns false when the sink is full (stop generating). */
struct limits {
    int64_t from, to, earliest, latest;
};

static sw_err offer(struct sink *s, struct busy *b, const struct limits *lim, int tag,
                    int64_t start, int64_t end, bool *full)
{
    *full = false;
    if (start < lim->from || end > lim->to || start < lim->earliest || start > lim->latest)
        return SW_OK;
    if (busy_overlaps(b, start, end))
        return SW_OK;
    if (s->n > 0 && start <= s->arr[s->n - 1].start)
        return SW_OK; /* never the same instant twice */
    if (s->n == s->cap) {
        if (!s->grow || s->n >= s->max)
            goto full;
        struct av_slot *p = vec_grow(s->arr, &s->cap, sizeof *p, s->n + 1, s->max);
        if (!p)
            return SW_ERR_NOMEM;
        s->arr = p;
    }
    s->arr[s->n++] = (struct av_slot){start, end, tag};
    if (!s->grow && s->n == s->cap)
        *full = true;
    return SW_OK;
full:
    *full = true;
    return SW_OK;
}

static sw_err walk_hours(const struct av_request *req, struct sink *s, struct busy *b,
                         const struct limits *lim)
{
    struct tu_date d, last;
    int64_t dur = (int64_t)req->type->duration_min * 60;
    int64_t lo = lim->from > lim->earliest ? lim->from : lim->earliest;
    int64_t hi = lim->to < lim->latest + dur ? lim->to : lim->latest + dur;
    if (hi <= lo)
        return SW_OK;
    if (timeutil_local_date(lo, &d) != SW_OK || timeutil_local_date(hi - 1, &last) != SW_OK)
        return SW_ERR_INVALID;
    if (timeutil_date_days(last) - timeutil_date_days(d) >= AVAIL_MAX_DAYS)
        return SW_ERR_INVALID;
    for (; timeutil_date_cmp(d, last) <= 0; d = timeutil_date_add(d, 1)) {
        int64_t open, close;
        sw_err e = rules_day_hours(req->hours, d, &open, &close);
        if (e == SW_ERR_NOT_FOUND)
            continue;
        if (e != SW_OK)
            return e;
        int wd = timeutil_date_weekday(d);
        for (int m = req->hours->open_min[wd]; m < req->hours->close_min[wd];
             m += req->slot_minutes) {
            int64_t start;
            bool full;
            if (timeutil_local_to_epoch(d, (int64_t)m * 60, &start) != SW_OK)
                continue; /* spring-forward gap */
            if (start + dur > close)
                break;
            e = offer(s, b, lim, req->tag, start, start + dur, &full);
            if (e != SW_OK || full)
                return e;
        }
    }
    return SW_OK;
}

static sw_err walk_server(const struct av_request *req, struct sink *s, struct busy *b,
                          const struct limits *lim)
{
    sw_err err = SW_OK;
    int64_t dur = (int64_t)req->type->duration_min * 60, step = (int64_t)req->slot_minutes * 60;
    struct av_interval *free_iv = NULL;
    size_t n = 0;
    if (req->n_server_free == 0)
        return SW_OK;
    free_iv = malloc(req->n_server_free * sizeof *free_iv);
    if (!free_iv)
        return SW_ERR_NOMEM;
    for (size_t i = 0; i < req->n_server_free; i++)
        if (req->server_free[i].end > req->server_free[i].start)
            free_iv[n++] = req->server_free[i];
    n = merge(free_iv, n);
    for (size_t i = 0; i < n; i++) {
        for (int64_t start = free_iv[i].start; start + dur <= free_iv[i].end; start += step) {
            bool full;
            if (start > lim->latest || start >= lim->to)
                goto free_iv;
            if (req->hours && rules_check_hours(req->type, req->hours, start, NULL, 0) != SW_OK)
                continue;
            err = offer(s, b, lim, req->tag, start, start + dur, &full);
            if (err != SW_OK || full)
                goto free_iv;
        }
    }
free_iv:
    free(free_iv);
    return err;
}

static bool request_ok(const struct av_request *req)
{
    return req && req->type && req->type->duration_min > 0 && req->slot_minutes > 0 &&
           req->buffer_minutes >= 0 && req->to >= req->from &&
           (req->use_server_free || req->hours) && (!req->n_appts || req->appts) &&
           (!req->n_blocks || req->blocks) && (!req->n_server_free || req->server_free);
}

static sw_err compute(const struct av_request *req, struct sink *s)
{
    struct busy b = {NULL, 0, 0};
    struct limits lim = {req->from, req->to, 0, 0};
    sw_err err = rules_earliest_start(req->type, req->now, &lim.earliest);
    if (err == SW_OK)
        err = rules_latest_start(req->type, req->now, &lim.latest);
    if (err != SW_OK)
        return err;
    /* Breaks of every day a candidate may touch: the range, cut to the
     * booking window. */
    int64_t hi = lim.latest + (int64_t)req->type->duration_min * 60;
    err = busy_build(req, req->from, req->to < hi ? req->to : hi, &b);
    if (err != SW_OK)
        return err;
    if (req->use_server_free)
        err = walk_server(req, s, &b, &lim);
    else
        err = walk_hours(req, s, &b, &lim);
    free(b.iv);
    return err;
}

sw_err avail_compute(const struct av_request *req, struct av_slot **out, size_t *n)
{
    struct sink s = {NULL, 0, 0, AVAIL_MAX_SLOTS, true};
    *out = NULL;
    *n = 0;
    if (!request_ok(req))
        return SW_ERR_INVALID;
    sw_err err = compute(req, &s);
    if (err != SW_OK) {
        free(s.arr);
        return err;
    }
    *out = s.arr;
    *n = s.n;
    return SW_OK;
}

sw_err avail_next(const struct av_request *req, struct av_slot *out)
{
    struct av_request wide;
    struct sink s = {out, 0, 1, 1, false};
    int64_t latest;
    if (!request_ok(req) || rules_latest_start(req->type, req->now, &latest) != SW_OK)
        return SW_ERR_INVALID;
    wide = *req;
    wide.from = req->to;
    wide.to = latest + (int64_t)req->type->duration_min * 60;
    if (wide.to <= wide.from)
        return SW_ERR_NOT_FOUND;
    /* Walk in chunks of at most AVAIL_MAX_DAYS so a long window stays valid. */
    while (wide.from < wide.to) {
        struct av_request part = wide;
        int64_t span = (int64_t)(AVAIL_MAX_DAYS - 2) * 86400;
        if (part.to - part.from > span)
            part.to = part.from + span;
        sw_err err = compute(&part, &s);
        if (err != SW_OK)
            return err;
        if (s.n)
            return SW_OK;
        wide.from = part.to;
    }
    return SW_ERR_NOT_FOUND;
}

sw_err avail_check_free(const struct av_request *req, int64_t start, struct av_interval *clash)
{
    if (!request_ok(req))
        return SW_ERR_INVALID;
    int64_t end = start + (int64_t)req->type->duration_min * 60;
    int64_t pad = (int64_t)req->buffer_minutes * 60;
    for (size_t i = 0; i < req->n_appts; i++) {
        const struct av_interval *a = &req->appts[i];
        if (a->end > a->start && start < a->end + pad && end > a->start - pad) {
            if (clash)
                *clash = *a;
            return SW_ERR_CONFLICT;
        }
    }
    for (size_t i = 0; i < req->n_blocks; i++) {
        const struct av_interval *a = &req->blocks[i];
        if (a->end > a->start && start < a->end && end > a->start) {
            if (clash)
                *clash = *a;
            return SW_ERR_CONFLICT;
        }
    }
    struct break_sink s = {NULL, 0, 0};
    sw_err err = rules_breaks_each(req->cfg, req->practitioner_id, start, end, add_break, &s);
    if (err == SW_OK && s.n) {
        if (clash)
            *clash = s.iv[0];
        err = SW_ERR_CONFLICT;
    }
    free(s.iv);
    return err;
}

static bool overlaps(const struct av_slot *a, const struct av_slot *b)
{
    return a->start < b->end && b->start < a->end;
}

size_t avail_select(const struct av_slot *in, size_t n, size_t limit, struct av_slot *out)
{
    int64_t *day = NULL, *pick_day = NULL; /* local day numbers of in[] and out[] */
    bool *taken = NULL;
    size_t k = 0;
    if (limit == 0 || n == 0)
        return 0;
    if (limit > n)
        limit = n;
    day = malloc(n * sizeof *day);
    pick_day = malloc(limit * sizeof *pick_day);
    taken = calloc(n, sizeof *taken);
    if (!day || !pick_day || !taken) { /* degrade to the earliest slots */
        for (k = 0; k < limit; k++)
            out[k] = in[k];
        goto free_all;
    }
    for (size_t i = 0; i < n; i++) {
        struct tu_date d;
        day[i] = timeutil_local_date(in[i].start, &d) == SW_OK ? timeutil_date_days(d) : INT64_MIN;
    }
    bool added = true;
    while (k < limit && added) { /* one round: at most one new pick per day */
        added = false;
        for (size_t i = 0; i < n && k < limit; i++) {
            bool ok = !taken[i];
            for (size_t j = 0; j < k && ok; j++)
                if (pick_day[j] == day[i] && overlaps(&out[j], &in[i]))
                    ok = false;
            if (!ok)
                continue;
            taken[i] = true;
            pick_day[k] = day[i];
            out[k++] = in[i];
            added = true;
            while (i + 1 < n && day[i + 1] == day[i]) /* the day gave its pick */
                i++;
        }
    }
    for (size_t i = 0; i < n && k < limit; i++) /* fill */
        if (!taken[i])
            out[k++] = in[i];
    avail_sort(out, k);
free_all:
    free(day);
    free(pick_day);
    free(taken);
    return k;
}
