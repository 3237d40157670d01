/* main.c - the OpenEMR simulator's flags, wiring and signals.
 *
 *   openemr-sim [--listen 127.0.0.1:PORT] [--admin-listen 127.0.0.1:PORT]
 *               [--tls] [--tls-expired] [--cert-dir DIR] [--seed FILE]
 *               [--fhir-scheduling] [--access-token-lifetime S]
 *               [--system-token-lifetime S] [--threads N]
 *               [--today YYYY-MM-DD] [--tz America/New_York]
 *               [--openemr 7.0.3|8] [--quirk NAME[=V]]... [--no-quirk NAME]...
 *               [--row-latency-ms N] [--site-addr URL]
 *
 * When ready it prints ONE JSON line on stdout:
 *   {"base_url":..., "admin_url":..., "ca_file": path or null}
 * and serves until SIGTERM or SIGINT (exit 0).  See docs/simulator.md. */
#include "log.h"
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct sim sim;

static void usage(FILE *out)
{
    fprintf(out, "usage: openemr-sim [--listen HOST:PORT] [--admin-listen HOST:PORT] [--tls]\n"
                 "  [--tls-expired] [--cert-dir DIR] [--seed FILE] [--fhir-scheduling]\n"
                 "  [--access-token-lifetime S] [--system-token-lifetime S] [--threads N]\n"
                 "  [--today YYYY-MM-DD] [--tz ZONE] [--openemr 7.0.3|8] [--quirk NAME[=V]]\n"
                 "  [--no-quirk NAME] [--row-latency-ms N] [--site-addr URL]\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_hostport(const char *s, char *host, size_t hlen, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= hlen || !parse_int(colon + 1, 0, 65535, port))
        return false;
    snprintf(host, hlen, "%.*s", (int)(colon - s), s);
    return true;
}

/* tools/openemr-sim/seed.json from the cwd, else next to the binary's repo. */
static void default_seed(char *out, size_t len)
{
    snprintf(out, len, "tools/openemr-sim/seed.json");
    if (access(out, R_OK) == 0)
        return;
    char exe[400];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, len, "%s/../tools/openemr-sim/seed.json", exe);
}

static int parse_args(int argc, char **argv, struct sim_opts *o)
{
    enum {
        O_LISTEN = 256,
        O_ADMIN,
        O_TLS,
        O_TLS_EXPIRED,
        O_CERTS,
        O_SEED,
        O_FHIR,
        O_ALIFE,
        O_SLIFE,
        O_THREADS,
        O_TODAY,
        O_TZ,
        O_OPENEMR,
        O_QUIRK,
        O_NO_QUIRK,
        O_ROW_LATENCY,
        O_SITE_ADDR,
        O_HELP
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"admin-listen", required_argument, NULL, O_ADMIN},
        {"tls", no_argument, NULL, O_TLS},
        {"tls-expired", no_argument, NULL, O_TLS_EXPIRED},
        {"cert-dir", required_argument, NULL, O_CERTS},
        {"seed", required_argument, NULL, O_SEED},
        {"fhir-scheduling", no_argument, NULL, O_FHIR},
        {"access-token-lifetime", required_argument, NULL, O_ALIFE},
        {"system-token-lifetime", required_argument, NULL, O_SLIFE},
        {"threads", required_argument, NULL, O_THREADS},
        {"today", required_argument, NULL, O_TODAY},
        {"tz", required_argument, NULL, O_TZ},
        {"openemr", required_argument, NULL, O_OPENEMR},
        {"quirk", required_argument, NULL, O_QUIRK},
        {"no-quirk", required_argument, NULL, O_NO_QUIRK},
        {"row-latency-ms", required_argument, NULL, O_ROW_LATENCY},
        {"site-addr", required_argument, NULL, O_SITE_ADDR},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct sim_opts){.access_lifetime = 3600, .system_lifetime = 300, .threads = 16};
    snprintf(o->listen_host, sizeof(o->listen_host), "127.0.0.1");
    snprintf(o->admin_host, sizeof(o->admin_host), "127.0.0.1");
    snprintf(o->tz, sizeof(o->tz), "America/New_York");
    default_seed(o->seed, sizeof(o->seed));
    /* the profile first, then each quirk edit in the order given */
    const char *version = "8";
    struct {
        const char *spec;
        bool on;
    } edits[64];
    int nedits = 0;
    static char latency[32]; /* the last --row-latency-ms */
    int c;
    bool ok = true;
    while (ok && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            ok = parse_hostport(optarg, o->listen_host, sizeof(o->listen_host), &o->listen_port);
            break;
        case O_ADMIN:
            ok = parse_hostport(optarg, o->admin_host, sizeof(o->admin_host), &o->admin_port);
            break;
        case O_TLS_EXPIRED:
            o->tls_expired = true;
            /* fall through */
        case O_TLS:
            o->tls = true;
            break;
        case O_CERTS:
            snprintf(o->cert_dir, sizeof(o->cert_dir), "%s", optarg);
            break;
        case O_SEED:
            snprintf(o->seed, sizeof(o->seed), "%s", optarg);
            break;
        case O_FHIR:
            o->fhir_scheduling = true;
            break;
        case O_ALIFE:
            ok = parse_int(optarg, 1, 86400 * 30, &o->access_lifetime);
            break;
        case O_SLIFE:
            ok = parse_int(optarg, 1, 86400, &o->system_lifetime);
            break;
        case O_THREADS:
            ok = parse_int(optarg, 0, 256, &o->threads);
            break;
        case O_TODAY:
            ok = strlen(optarg) == 10;
            snprintf(o->today, sizeof(o->today), "%s", optarg);
            break;
        case O_TZ:
            snprintf(o->tz, sizeof(o->tz), "%s", optarg);
            break;
        case O_OPENEMR:
            version = optarg;
            break;
        case O_QUIRK:
        case O_NO_QUIRK:
            ok = nedits < (int)(sizeof(edits) / sizeof(edits[0]));
            if (ok)
                edits[nedits].spec = optarg, edits[nedits++].on = c == O_QUIRK;
            break;
        case O_ROW_LATENCY:
            snprintf(latency, sizeof(latency), "per-row-latency-ms=%s", optarg);
            ok = nedits < (int)(sizeof(edits) / sizeof(edits[0]));
            if (ok)
                edits[nedits].spec = latency, edits[nedits++].on = true;
            break;
        case O_SITE_ADDR:
            ok = strlen(optarg) < sizeof(o->site_addr) && strncmp(optarg, "http", 4) == 0;
            if (ok)
                memcpy(o->site_addr, optarg, strlen(optarg) + 1);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            ok = false;
        }
    }
    char err[160] = "";
    if (ok && profile_select(&o->profile, version, err, sizeof(err)) < 0)
        ok = false;
    for (int i = 0; ok && i < nedits; i++)
        ok = profile_quirk(&o->profile, edits[i].spec, edits[i].on, err, sizeof(err)) == 0;
    if (err[0])
        fprintf(stderr, "openemr-sim: %s\n", err);
    if (!ok || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static int setup_tz(const char *tz)
{
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    if (strstr(tz, "..") || access(path, R_OK) != 0)
        return -1;
    setenv("TZ", tz, 1);
    tzset();
    return 0;
}

/* The temporary cert dir this process made (no --cert-dir): leave no trace. */
static void remove_cert_dir(const char *dir)
{
    static const char *const files[] = {"ca.pem", "expired-ca.pem"};
    char path[600];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(int argc, char **argv)
{
    char err[512] = "";
    sigset_t sigs;
    int sig = 0, rc = 1;
    sw_log_init(SW_LOG_INFO, "openemr-sim");
    if (parse_args(argc, argv, &sim.opts) < 0)
        return 2;
    if (setup_tz(sim.opts.tz) < 0) {
        log_error("sim", "unknown time zone %s", sim.opts.tz);
        return 2;
    }
    if (!sim.opts.today[0]) { /* day 0 is fixed at start: a reset after midnight keeps it */
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(sim.opts.today, sizeof(sim.opts.today), "%Y-%m-%d", &tm);
    }
    bool own_cert_dir = sim.opts.tls && !sim.opts.cert_dir[0];
    if (own_cert_dir) {
        char tmpl[] = "/tmp/openemr-sim-XXXXXX";
        if (!mkdtemp(tmpl)) {
            log_error("sim", "cannot make a cert dir");
            return 1;
        }
        snprintf(sim.opts.cert_dir, sizeof(sim.opts.cert_dir), "%s", tmpl);
    }
    pthread_mutex_init(&sim.lock, NULL);
    pthread_mutex_init(&sim.stats_lock, NULL);
    sim.stats.ring = calloc(SIM_RPS_RING, sizeof(*sim.stats.ring));
    sim.stats.routes = json_object();
    sim.stats.status_counts = json_object();
    if (!sim.stats.ring ||
        store_load(&sim.store, sim.opts.seed, sim.opts.today, err, sizeof(err)) < 0) {
        log_error("sim", "%s", err[0] ? err : "out of memory");
        goto cleanup_sim;
    }
    if (oauth_init(&sim) < 0 || scopes_build(&sim) < 0)
        goto cleanup_sim;

    /* every thread MHD starts inherits this mask; main waits for the signal */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (http_start(&sim, err, sizeof(err)) < 0) {
        log_error("sim", "%s", err);
        goto cleanup_http;
    }
    if (sim.opts.tls)
        snprintf(sim.ca_file, sizeof(sim.ca_file), "%s/ca.pem", sim.opts.cert_dir);
    json_t *ready = json_pack("{s:s,s:s,s:s?}", "base_url", sim.base_url, "admin_url",
                              sim.admin_url, "ca_file", sim.opts.tls ? sim.ca_file : NULL);
    char *line = json_dumps(ready, JSON_COMPACT);
    json_decref(ready);
    printf("%s\n", line ? line : "{}");
    fflush(stdout);
    free(line);
    json_t *pj = profile_json(&sim.opts.profile);
    char *prof = json_dumps(json_object_get(pj, "quirks"), JSON_COMPACT);
    json_decref(pj);
    log_info("sim", "serving %s (admin %s, %zu appointments, fhir-scheduling %s, openemr %s %s)",
             sim.base_url, sim.admin_url, sim.store.nappts, sim.opts.fhir_scheduling ? "on" : "off",
             profile_version(&sim.opts.profile), prof ? prof : "");
    free(prof);
    while (sigwait(&sigs, &sig) != 0)
        ;
    log_info("sim", "signal %d: stopping", sig);
    rc = 0;
cleanup_http:
    http_stop();
cleanup_sim:
    oauth_free(&sim.oauth);
    scopes_free(&sim.scopes);
    store_free(&sim.store);
    json_decref(sim.stats.routes);
    json_decref(sim.stats.status_counts);
    free(sim.stats.ring);
    if (own_cert_dir)
        remove_cert_dir(sim.opts.cert_dir);
    return rc;
}
