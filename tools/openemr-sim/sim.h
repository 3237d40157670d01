/* sim.h - the OpenEMR simulator: shared types of its modules.
 *
 * One process serves OpenEMR's surfaces (oauth.c, api.c, fhir.c,
 * scheduling.c) on the main port and a test-only admin surface (admin.c)
 * on a second port.  All data lives in one in-memory store (store.c)
 * guarded by one mutex.  Layers, each calling only down:
 *   main.c     flags, wiring
 *   http.c     the router: libmicrohttpd callbacks -> sim_req/sim_resp,
 *              dispatch to the route modules
 *   oauth.c api.c fhir.c scheduling.c admin.c     route modules
 *   fhirres.c  FHIR shapes shared by fhir.c and scheduling.c
 *   tokens.c   clients, tokens, scopes, the Bearer check
 *   httputil.c store.c jwt.c tls.c     leaves: request/response helpers,
 *              stats and faults; the data set; JWT; certificates
 * See docs/simulator.md for the behaviour each module reproduces. */
#ifndef SIM_H
#define SIM_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIM_MAX_ARGS      48
#define SIM_MAX_BODY      (1024 * 1024)
#define SIM_RPS_RING      (1 << 17)
#define SIM_SITE_API      "/apis/default/api"
#define SIM_SITE_FHIR     "/apis/default/fhir"
#define SIM_SITE_OAUTH    "/oauth2/default"
#define SIM_CANCELLED_STS "x%!?" /* single-char statuses that free time */

/* ---- profile.c: OpenEMR version profiles and their behaviour switches ---- */
enum sim_quirk {
    Q_REPEATED_LAST_WINS,   /* repeated query key: last value only */
    Q_FHIR_OFFSET_TODAY,    /* FHIR times carry today's UTC offset */
    Q_FHIR_DATE_EVENT_DATE, /* Appointment date= compares the event's day */
    Q_RECURRING_BASE_ONLY,  /* a recurring series is its first row only */
    Q_ACL,                  /* routes check the user's ACL */
    Q_PRACT_NPI_USERNAME,   /* /api/practitioner: NPI and username only */
    Q_UNKNOWN_UUID_400,     /* unknown uuid: 400 validationErrors */
    Q_VALIDATION_200,       /* failed validation answered with 200 (8.x) */
    Q_SERVER_SCOPES,        /* requested scopes checked against the list */
    Q_SCOPE_EXACT,          /* ... verbatim (7.0.x) rather than contained (8.x) */
    Q_ASSERTION_400,        /* failed JWT assertion: 400 (8.x) */
    Q_ACTIVE_SQL_STRING,    /* Practitioner active=true as a SQL string */
    Q_ROW_LATENCY_MS,       /* ms per Appointment row of a FHIR answer */
    Q_COUNT
};
#define SIM_OE_703 703
#define SIM_OE_8   800
struct sim_profile {
    int version; /* SIM_OE_703 or SIM_OE_8 */
    int q[Q_COUNT];
};
int profile_select(struct sim_profile *p, const char *version, char *err, size_t errlen);
/* "name" or "name=N" (on) / "name" (off); -1 with a reason when unknown. */
int profile_quirk(struct sim_profile *p, const char *spec, bool on, char *err, size_t errlen);
const char *profile_version(const struct sim_profile *p); /* "7.0.3", "8" */
json_t *profile_json(const struct sim_profile *p);
#define QUIRK(sim, name) ((sim)->opts.profile.q[(name)])

struct sim_opts {
    char listen_host[64];
    int listen_port;
    char admin_host[64];
    int admin_port;
    bool tls, tls_expired, fhir_scheduling;
    char cert_dir[512];
    char seed[512];
    int access_lifetime, system_lifetime;
    int threads;
    char today[11]; /* YYYY-MM-DD; "" = the local date at start */
    char tz[64];
    char site_addr[256]; /* OpenEMR's site_addr_oath; "" = base_url */
    struct sim_profile profile;
};

/* ---- store.c: the data set ---- */

struct sim_user {
    long id;
    char uuid[40], username[64], fname[64], lname[64], npi[16];
    long facility_id;
    int active; /* users.active: 1 unless the seed says 0 */
};

struct sim_patient {
    long pid;
    char uuid[40], pubpid[32], fname[64], mname[64], lname[64], dob[11], sex[16];
    char phone_home[32], phone_cell[32], email[96];
};

struct sim_facility {
    long id;
    char uuid[40], name[96];
};

struct sim_category {
    int id;
    char name[64], constant[64];
    int duration; /* seconds */
    int type;     /* 0 patient, 1 provider */
};

struct sim_appt {
    long eid;
    char uuid[40];
    long pid; /* 0: provider event */
    long aid; /* 0: none */
    int catid;
    char status[8];
    char date[11]; /* YYYY-MM-DD local */
    char start[6]; /* HH:MM local */
    int duration;  /* seconds */
    char title[160];
    char hometext[512];
    long facility, billing;
    bool allday;
    time_t updated;     /* pc_time */
    json_t *identifier; /* FHIR identifier array (owned) or NULL */
    long series;        /* > 0: an occurrence of the recurring event whose base row is eid series */
    int occurrence;     /* 0: that base row (the series' first date) */
    const void *seed_ev; /* while loading: the seed event it came from */
};

struct sim_store {
    struct sim_user *users;
    size_t nusers;
    struct sim_patient *patients;
    size_t npatients;
    struct sim_facility *facilities;
    size_t nfacilities;
    struct sim_category *categories;
    size_t ncategories;
    struct sim_appt *appts;
    size_t nappts, cap_appts;
    long next_eid;
    json_t *seed_clients; /* seed "clients" array (owned) */
    json_t *seed_logins;  /* seed "logins" array (owned) */
};

/* ---- oauth.c state ---- */
struct sim_oauth {
    json_t *clients; /* client_id -> client object */
    json_t *tokens;  /* token string -> record */
    json_t *jtis;    /* used assertion jti -> exp */
    long grants[4];  /* password, refresh_token, client_credentials, authorization_code */
};

/* ---- httputil.c: faults and statistics ---- */
struct sim_faults {
    int latency_min, latency_max; /* ms */
    double rate_401, rate_429, rate_500, rate_502, rate_503, reset_rate;
    int retry_after;
    int slow_body_ms;
    char routes[128];
};

struct sim_stats {
    long requests_total, resets;
    json_t *routes;        /* "GET /fhir/Patient" -> count */
    json_t *status_counts; /* "200" -> count */
    int64_t *ring;         /* arrival times (us) of the last second, sliding */
    size_t ring_head, ring_len;
    long max_rps_1s;
    long in_flight, max_concurrency;
};

/* ---- scopes.c: the version's scope vocabulary ---- */
struct sim_scopes {
    json_t *supported; /* what discovery lists (8.x: also what is checked) */
    json_t *smart;     /* 7.0.x: the FHIR-side list */
    json_t *standard;  /* 7.0.x: the standard-API-side list */
};

struct sim {
    struct sim_opts opts;
    struct sim_scopes scopes; /* built at start, read-only after */
    char base_url[128], admin_url[128], ca_file[600];
    pthread_mutex_t lock; /* store + oauth */
    struct sim_store store;
    struct sim_oauth oauth;
    pthread_mutex_t stats_lock; /* stats + faults */
    struct sim_stats stats;
    struct sim_faults faults;
};

/* ---- requests and responses ---- */
struct sim_arg {
    char *key, *value; /* decoded, owned by the request */
};

struct sim_req {
    struct sim *sim;
    const char *method;
    const char *path;  /* without the query */
    const char *route; /* set by the handler: "GET /fhir/Patient/:id" */
    const char *authz; /* Authorization header or NULL */
    const char *ctype; /* Content-Type or NULL */
    const char *query; /* raw query string ("" when none) */
    struct sim_arg args[SIM_MAX_ARGS];
    int nargs;
    char *body;
    size_t body_len;
};

struct sim_resp {
    int status;
    char *body; /* malloc'd or NULL */
    size_t len;
    const char *ctype;
    char location[2048];
    int retry_after; /* > 0: Retry-After header */
};

/* httputil.c: the helpers leaf (calls nothing above it) */
void resp_json(struct sim_resp *r, int status, json_t *body); /* steals body */
void resp_text(struct sim_resp *r, int status, const char *text);
void resp_empty(struct sim_resp *r, int status);
const char *req_arg(const struct sim_req *q, const char *key); /* first value */
json_t *req_json(const struct sim_req *q);                     /* NULL if not JSON */
void args_last_wins(struct sim_req *q); /* PHP $_GET: one value per key, the last */
int form_parse(const char *body, size_t len, struct sim_arg *args, int max);
void args_free(struct sim_arg *args, int n);
const char *args_get(const struct sim_arg *args, int n, const char *key);
void stats_arrive(struct sim *sim); /* headers read */
void stats_leave(struct sim *sim);  /* response sent */
void stats_answer(struct sim *sim, const char *method, const char *route, int status);
void stats_reset(struct sim *sim);
json_t *stats_json(struct sim *sim);
enum sim_fault { FAULT_NONE, FAULT_RESET, FAULT_ANSWERED };
/* Latency, then reset / 401 / 429 / 5xx by their rates; *slow_ms for the body. */
enum sim_fault faults_apply(struct sim *sim, struct sim_req *q, struct sim_resp *r, int *slow_ms);
void faults_set(struct sim *sim, const struct sim_faults *f);
json_t *faults_json(struct sim *sim);
void faults_clear(struct sim *sim);

/* http.c: the router (MHD daemons, dispatch to the route modules) */
int http_start(struct sim *sim, char *errstr, size_t errlen);
void http_stop(void);

/* store.c (callers hold sim->lock where noted) */
int store_load(struct sim_store *st, const char *path, const char *today, char *errstr,
               size_t errlen);
void store_free(struct sim_store *st);
const struct sim_user *store_user(const struct sim_store *st, long id);
const struct sim_user *store_user_uuid(const struct sim_store *st, const char *uuid);
const struct sim_patient *store_patient(const struct sim_store *st, long pid);
const struct sim_patient *store_patient_uuid(const struct sim_store *st, const char *uuid);
const struct sim_facility *store_facility(const struct sim_store *st, long id);
const struct sim_category *store_category(const struct sim_store *st, int id);
const struct sim_category *store_category_const(const struct sim_store *st, const char *c);
struct sim_appt *store_appt(struct sim_store *st, long eid);
struct sim_appt *store_appt_uuid(struct sim_store *st, const char *uuid);
struct sim_appt *store_appt_add(struct sim_store *st); /* new zeroed row with eid, uuid */
void store_appt_delete(struct sim_store *st, long eid);
json_t *store_appt_row(const struct sim_store *st, const struct sim_appt *a, bool full);
json_t *store_patient_json(const struct sim_patient *p);
json_t *store_user_json(const struct sim_user *u);
bool appt_blocks(const struct sim_appt *a); /* holds the provider's time */
/* A recurring series' later occurrence: OpenEMR stores no such row, the
 * API answers the base row only (recurring-base-row-only). */
bool appt_later_occurrence(const struct sim_appt *a);
bool appt_clinic_wide(const struct sim_store *st, const struct sim_appt *a); /* Holidays, Closed */
time_t appt_start(const struct sim_appt *a);
time_t appt_end(const struct sim_appt *a);

/* util (store.c): local time helpers; the process TZ is the sim's --tz */
time_t local_epoch(const char *date, int minutes);
void fmt_local(time_t t, char *out, size_t len, bool iso); /* ISO: with offset */
bool parse_fhir_time(const char *s, time_t *out, bool *date_only);
void uuid_new(char *out);                  /* 37 bytes */
void random_hex(char *out, size_t nbytes); /* out gets 2*nbytes+1 */
bool digits_equal(const char *a, const char *b);

/* tokens.c: clients, tokens, scopes, the Bearer check */
struct sim_token {
    bool valid, system;
    char client_id[96], username[64], scope[1024];
};
int oauth_init(struct sim *sim); /* from the seed; caller holds lock */
void oauth_free(struct sim_oauth *o);
void oauth_client_add(struct sim *sim, json_t *client); /* caller holds lock */
/* Looks up the Bearer token; false if missing/expired/revoked. */
bool oauth_check(struct sim *sim, const char *authz, struct sim_token *out);
bool scope_word(const char *list, const char *word, size_t wlen); /* exact word */
bool scope_has(const char *scopes, const char *want);             /* SMART v2 forms too */
/* With the acl quirk: whether the token's user holds the ACL
 * "section/value" (takes sim->lock); false when refused and answered. */
bool acl_check(struct sim *sim, const struct sim_token *t, const char *acl, struct sim_resp *r);
/* token table (caller holds lock) */
void token_put(struct sim *sim, const char *tok, const char *kind, json_t *client,
               const char *username, const char *scope, long exp, bool system, const char *sid);
json_t *token_rec(struct sim *sim, const char *tok, const char *kind); /* NULL: no such kind */
bool token_live(json_t *rec); /* neither revoked, spent nor expired */
int oauth_admin(struct sim *sim, const char *what,
                const char *client_id); /* expire/revoke/enable */
json_t *oauth_clients_json(struct sim *sim);
/* Every token issued (test-only admin view): [{"token","kind"}]. */
json_t *oauth_tokens_json(struct sim *sim);

/* scopes.c */
int scopes_build(struct sim *sim);
void scopes_free(struct sim_scopes *s);
/* With server-scopes on: false and the first unknown scope in bad. */
bool scopes_check(const struct sim *sim, const char *requested, char *bad, size_t badlen);
json_t *scopes_supported(const struct sim *sim); /* new array */

/* fhirres.c: what fhir.c and scheduling.c share */
long fhir_today_gmtoff(const struct sim *sim);
void fhir_time(const struct sim *sim, time_t t, char *out, size_t len);
json_t *fhir_bundle(const struct sim_req *q, json_t *resources); /* steals */
json_t *fhir_appointment(struct sim *sim, const struct sim_appt *a);
json_t *fhir_outcome(const char *severity, const char *code, const char *text);
bool fhir_authorize(struct sim_req *q, struct sim_resp *r, const char *resource,
                    const char *action);
const char *fhir_status(const char *pc_apptstatus);
const char *fhir_strip_ref(const char *v, const char *type); /* "Type/x" -> "x" */
const char *fhir_date_prefix(const char *v, char op[3], const char *dflt);
const struct sim_user *fhir_practitioner_ref(const struct sim_store *st, const char *ref);
/* The Appointment search parameters only the seed's surface has
 * (practitioner, status, identifier); *known false for any other key. */
bool fhir_appt_match_sched(struct sim *sim, const char *key, const char *val,
                           const struct sim_appt *a, bool *known);

/* route modules: called by the router only */
void oauth_handle(struct sim_req *q, struct sim_resp *r, const char *sub);
void api_handle(struct sim_req *q, struct sim_resp *r, const char *sub);
void fhir_handle(struct sim_req *q, struct sim_resp *r, const char *sub);
bool sched_handle(struct sim_req *q, struct sim_resp *r,
                  const char *sub); /* false: not its route */
void admin_handle(struct sim_req *q, struct sim_resp *r);

/* tls.c */
int tls_make(const char *dir, bool expired, char **key_pem, char **cert_pem, char *errstr,
             size_t errlen);

#endif
