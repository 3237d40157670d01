/* warmer.c - the slot cache refreshed ahead of demand (see warmer.h). */
#include "warmer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daycache.h"
#include "events.h"
#include "fleet.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "openemr.h"
#include "slots.h"
#include "store.h"
#include "timeutil.h"
#include "warmhint.h"
#include "worker.h"

#define WARM_WAIT_MS 250 /* longest wait for budget; longer: the budget is wanted */
#define PATIENT_DAYS 63  /* a caller's own appointments: the booking window and a day */
#define MOD          "warmer"

struct warmer {
    const struct sw_config *cfg;
    struct kafka *kafka;
    pthread_t thread;
    atomic_bool stop;
    struct fleet *fleet;
    struct oe_client *oe;
    struct worker w;
};

/* Its requests read appointments, which name patients: audited as the
 * poller's are. */
static void audit_hook(void *opaque, const struct oe_audit *rec)
{
    struct warmer *wm = opaque;
    worker_audit_background(wm->cfg, wm->kafka, rec, MOD);
}

static struct oe_call background_call(void)
{
    return (struct oe_call){.deadline_ms = clock_now_ms(NULL) + WARM_WAIT_MS,
                            .prio = FLEET_PRIO_BACKGROUND};
}

/* The first and last day of [0, n) that need a refresh, or -1: missing,
 * or fetched more than three quarters of the cache's life ago. */
static sw_err days_due(struct warmer *wm, const char *pract, struct tu_date first, int n,
                       int64_t now, int *lo, int *hi)
{
    int ttl = wm->cfg->slot_cache_ttl_s - wm->cfg->slot_cache_ttl_s / 4;
    *lo = *hi = -1;
    for (int i = 0; i < n; i++) {
        struct day_busy d;
        bool fresh = false;
        sw_err err = daycache_get(&wm->w.store, pract, timeutil_date_add(first, i),
                                  ttl > 0 ? ttl : 1, now, &d, &fresh);
        if (err == SW_ERR_REDIS)
            return err;
        if (err == SW_OK)
            day_busy_clear(&d);
        if (err != SW_OK || !fresh) {
            if (*lo < 0)
                *lo = i;
            *hi = i;
        }
    }
    return SW_OK;
}

/* One round: every practitioner's coming days.  Stops at the first
 * request that found no spare budget. */
static void warm_once(struct warmer *wm)
{
    const struct sw_config *cfg = wm->cfg;
    int64_t now = clock_now_s(NULL);
    struct tu_date today;
    if (timeutil_local_date(now, &today))
        return;
    struct tu_date first = timeutil_date_add(today, 1);
    struct oe_call call = background_call();
    char(*practs)[64] = NULL;
    size_t n = 0;
    sw_err err = emr_list_practitioners(&wm->w.emr, &call, &practs, &n);
    if (err) {
        log_debug(MOD, "no practitioners to warm: %s", sw_err_str(err));
        return;
    }
    int warmed = 0;
    for (size_t i = 0; i < n && !atomic_load(&wm->stop); i++) {
        int lo, hi;
        if (days_due(wm, practs[i], first, cfg->warm_days_ahead, now, &lo, &hi) || lo < 0)
            continue;
        call = background_call();
        err = slots_refresh_days(&wm->w, &call, practs[i], timeutil_date_add(first, lo),
                                 hi - lo + 1, now);
        if (err == SW_ERR_EXPIRED || err == SW_ERR_UNAVAILABLE) {
            log_debug(MOD, "no spare OpenEMR budget: warming waits for the next round");
            break;
        }
        if (err) {
            log_debug(MOD, "refreshing %s: %s %s", practs[i], sw_err_str(err), call.detail);
            continue;
        }
        warmed += hi - lo + 1;
    }
    if (warmed)
        log_debug(MOD, "refreshed %d practitioner-days ahead of demand", warmed);
    for (int i = 0; i < warmed; i++)
        metrics_cache("warmed");
    free(practs);
}

/* A caller just found: their own appointments over the whole booking
 * window, which every search of theirs reads, unless already cached. */
static void warm_patient(struct warmer *wm, const char *patient)
{
    int64_t now = clock_now_s(NULL), to = now + (int64_t)PATIENT_DAYS * 86400;
    struct day_busy p;
    if (daycache_get_patient(&wm->w.store, patient, wm->cfg->slot_cache_ttl_s, now, now, to, &p) ==
        SW_OK) {
        day_busy_clear(&p);
        return;
    }
    struct oe_call call = background_call();
    sw_err err = slots_refresh_patient(&wm->w, &call, patient, now, to, now);
    if (err)
        log_debug(MOD, "reading a caller's appointments ahead: %s %s", sw_err_str(err),
                  call.detail);
    else
        metrics_cache("warmed");
}

static void *warmer_main(void *arg)
{
    struct warmer *wm = arg;
    const struct sw_config *cfg = wm->cfg;
    char err[256];
    if (fleet_new(cfg, &wm->fleet, err, sizeof(err)) != SW_OK ||
        oe_client_new(cfg, wm->fleet, audit_hook, wm, &wm->oe, err, sizeof(err)) != SW_OK) {
        log_error(MOD, "cannot start: %s", err);
        return NULL;
    }
    wm->w.cfg = cfg;
    wm->w.store = store_of_fleet(wm->fleet);
    wm->w.emr = oe_client_emr(wm->oe);
    int lease_ms = (cfg->warm_interval_s * 2 + 10) * 1000;
    int64_t next_round = 0;
    while (!atomic_load(&wm->stop)) {
        if (clock_mono_ms(NULL) >= next_round) {
            bool leader = false;
            if (fleet_lease(wm->fleet, key_name(KEY_LEASE_WARMER), cfg->worker_id, lease_ms,
                            &leader) == SW_OK &&
                leader)
                warm_once(wm);
            next_round = clock_mono_ms(NULL) + (int64_t)cfg->warm_interval_s * 1000;
        }
        /* every replica: the callers its handlers just found */
        char id[64];
        if (warmhint_take(id, sizeof(id), 100))
            warm_patient(wm, id);
    }
    return NULL;
}

sw_err warmer_start(const struct sw_config *cfg, struct kafka *k, struct warmer **out)
{
    *out = NULL;
    if (!cfg->warm_enabled)
        return SW_OK;
    struct warmer *wm = calloc(1, sizeof(*wm));
    if (!wm)
        return SW_ERR_NOMEM;
    wm->cfg = cfg;
    wm->kafka = k;
    if (pthread_create(&wm->thread, NULL, warmer_main, wm) != 0) {
        free(wm);
        return SW_ERR_INTERNAL;
    }
    warmhint_enable(true);
    log_info(MOD, "warming the slot cache %d days ahead every %d s, and each caller found",
             cfg->warm_days_ahead, cfg->warm_interval_s);
    *out = wm;
    return SW_OK;
}

void warmer_stop(struct warmer *wm)
{
    if (!wm)
        return;
    warmhint_enable(false);
    atomic_store(&wm->stop, true);
    pthread_join(wm->thread, NULL);
    oe_client_destroy(wm->oe);
    fleet_destroy(wm->fleet);
    free(wm);
}
