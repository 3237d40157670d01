/* waitlist.c - offers of freed slots to waiting patients. */
#include "waitlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"

static bool matches(const struct sw_config *cfg, const struct fleet_wait *e, const char *pract,
                    int64_t start, int64_t end)
{
    if (e->practitioner_id[0] && strcmp(e->practitioner_id, pract) != 0)
        return false;
    const struct sw_type_rule *t = sw_config_type(cfg, e->appointment_type);
    if (!t || end - start < (int64_t)t->duration_min * 60)
        return false;
    return start >= e->earliest && start + (int64_t)t->duration_min * 60 <= e->latest;
}

bool waitlist_offer(struct fleet *f, const struct sw_config *cfg, struct outbox *out,
                    const char *pract, int64_t start, int64_t end, const char *cause,
                    int64_t now)
{
    struct fleet_wait *list = NULL;
    size_t n = 0;
    bool offered = false;
    if (fleet_waitlist_list(f, &list, &n) != SW_OK)
        return false;
    for (size_t i = 0; i < n && !offered; i++) {
        const struct fleet_wait *e = &list[i];
        if (!matches(cfg, e, pract, start, end))
            continue;
        const struct sw_type_rule *t = sw_config_type(cfg, e->appointment_type);
        struct fleet_hold h;
        memset(&h, 0, sizeof(h));
        snprintf(h.practitioner_id, sizeof(h.practitioner_id), "%s", pract);
        snprintf(h.session_id, sizeof(h.session_id), "waitlist:%s", e->waitlist_id);
        snprintf(h.patient_id, sizeof(h.patient_id), "%s", e->patient_id);
        h.start = start;
        h.end = start + (int64_t)t->duration_min * 60;
        if (fleet_hold_place(f, &h, cfg->waitlist_offer_ttl_s) != SW_OK)
            continue;
        struct event_fields ev = {
            .caused_by = "worker",
            .patient_id = e->patient_id,
            .practitioner_id = pract,
            .appointment_type = e->appointment_type,
            .start = h.start,
            .end = h.end,
            .hold_id = h.hold_id,
            .waitlist_id = e->waitlist_id,
            .offer_expires_at = h.expires_at_ms / 1000,
        };
        char seed[256];
        snprintf(seed, sizeof(seed), "%s|%s|%lld", cause, e->waitlist_id, (long long)start);
        event_add(cfg, out, "waitlist.offered", seed, e->waitlist_id, &ev, now);
        log_info("waitlist", "slot offered to waitlist entry %s", e->waitlist_id);
        offered = true;
    }
    free(list);
    return offered;
}
