/* main.c - flags, configuration, wiring and signals; nothing else. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "authcmd.h"
#include "config.h"
#include "http_server.h"
#include "kafka.h"
#include "log.h"
#include "monitor.h"
#include "metrics.h"
#include "poller.h"
#include "warmer.h"
#include "probe.h"
#include "timeutil.h"
#include "tokencrypt.h"
#include "version.h"
#include "dispatch.h"

static volatile sig_atomic_t stop, reload;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload = 1; /* the monitor thread re-reads the config */
    else
        stop = 1;
}

static void usage(FILE *out)
{
    fputs("usage: schedworker --config FILE [--ready-file FILE]\n"
          "       schedworker health [--config FILE] [--url URL] [--live] [--timeout SECONDS]\n"
          "       schedworker auth login --config FILE [--timeout SECONDS]\n"
          "       schedworker auth register --config FILE [CLIENT_NAME]\n"
          "       schedworker --check-config FILE\n"
          "       schedworker --config-reference\n"
          "       schedworker --version\n"
          "\n"
          "Consumes scheduling commands from Kafka, carries them out against OpenEMR and\n"
          "publishes one result per command.  SIGTERM drains and stops; SIGHUP re-reads\n"
          "the config (log.level applies at once).  `health` exits 0 when the worker\n"
          "at http.listen (or URL) answers /readyz (with --live, /healthz) with 200.\n"
          "See README.md.\n",
          out);
}

/* Loads and checks the configuration; prints every problem. */
static int load_config(struct sw_config *cfg, const char *path)
{
    if (sw_config_load(cfg, path, stderr) != SW_OK)
        return 1;
    char err[512];
    if (kafka_check_config(cfg, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", path ? path : "config", err);
        return 1;
    }
    return timeutil_set_zone(cfg->clinic_timezone) == SW_OK ? 0 : 1;
}

static int run(const char *path, const char *ready_file)
{
    struct sw_config cfg;
    struct kafka *k = NULL;
    struct monitor *mon = NULL;
    struct http_server *http = NULL;
    struct poller *poller = NULL;
    struct warmer *warmer = NULL;
    struct auth_keys *keys = NULL;
    char err[512];
    int rc = 1;
    if (load_config(&cfg, path))
        goto out;
    enum sw_log_level level = SW_LOG_INFO;
    sw_log_level_parse(cfg.log_level, &level);
    sw_log_init(level, cfg.worker_id);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    metrics_build_info(sw_version());

    if (cfg.auth_keys_file[0] &&
        auth_keys_load(cfg.auth_keys_file, &keys, err, sizeof(err)) != SW_OK) {
        log_error("main", "%s", err);
        goto out;
    }
    if (!keys && !cfg.auth_allow_unsigned) {
        log_error("main", "auth.keys_file is not set: every command must be signed (set it; "
                          "auth.allow_unsigned = true is for development only)");
        goto out;
    }
    if (cfg.auth_allow_unsigned)
        log_error("main", "DEVELOPMENT MODE: auth.allow_unsigned is on, so anyone who can write to "
                          "a command topic can read and change patients' appointments; never run "
                          "this with real patient data");
    struct dispatch_shared shared = {&cfg, keys, {0}};
    struct tokencrypt *tc = NULL;
    err[0] = '\0';
    if (tokencrypt_new(&cfg, &tc, err, sizeof(err)) != SW_OK ||
        tokencrypt_derive(tc, "schedworker confirmation numbers v1", shared.confirm_key) != SW_OK) {
        log_error("main", "%s", err[0] ? err : "cannot derive the confirmation key");
        tokencrypt_destroy(tc);
        goto out;
    }
    tokencrypt_destroy(tc);
    struct kafka_handler h = {dispatch_lane_init, dispatch_lane_fini, dispatch_handle, &shared};
    if (kafka_new(&cfg, &h, &k, err, sizeof(err)) != SW_OK) {
        log_error("main", "kafka: %s", err);
        goto out;
    }
    struct monitor_opts mopts = {path, &reload};
    if (monitor_start(&cfg, k, &mopts, &mon) != SW_OK) {
        log_error("main", "cannot start the monitor thread");
        goto out;
    }
    struct http_checks checks = {monitor_readiness, monitor_liveness, mon};
    if (http_server_start(cfg.http_listen, &checks, &http, err, sizeof(err)) != SW_OK) {
        log_error("main", "http: %s", err);
        goto out;
    }
    if (poller_start(&cfg, k, &poller) != SW_OK) {
        log_error("main", "cannot start the change poller");
        goto out;
    }
    if (warmer_start(&cfg, k, &warmer) != SW_OK) {
        log_error("main", "cannot start the cache warmer");
        goto out;
    }
    log_info("main", "schedworker %s started: %d lanes, surface %s, metrics on %s", sw_version(),
             cfg.worker_threads, cfg.surface == SW_SURFACE_OPENEMR ? "openemr" : "fhir-scheduling",
             cfg.http_listen[0] ? cfg.http_listen : "(off)");
    rc = kafka_run(k, &stop, ready_file) == SW_OK ? 0 : 1;
out:
    warmer_stop(warmer);
    poller_stop(poller);
    http_server_stop(http);
    monitor_stop(mon);
    kafka_destroy(k);
    auth_keys_destroy(keys);
    if (k)
        log_info("main", "stopped");
    sw_config_free(&cfg);
    return rc;
}

/* schedworker auth login|register --config FILE ... */
static int auth_command(int argc, char **argv)
{
    const char *config = NULL, *name = "schedworker";
    int timeout = 300;
    if (argc < 3 || (strcmp(argv[2], "login") != 0 && strcmp(argv[2], "register") != 0)) {
        usage(stderr);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout = (int)strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            name = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    struct sw_config cfg;
    int rc = load_config(&cfg, config);
    if (!rc) {
        sw_log_init(SW_LOG_WARN, "auth");
        rc = !strcmp(argv[2], "login") ? authcmd_login(&cfg, timeout > 0 ? timeout : 300)
                                       : authcmd_register(&cfg, name);
    }
    sw_config_free(&cfg);
    return rc;
}

/* schedworker health [--config FILE] [--url URL] [--live] [--timeout S] */
static int health_command(int argc, char **argv)
{
    const char *config = NULL, *url = NULL, *path = "/readyz";
    int timeout = 5;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
        else if (!strcmp(argv[i], "--url") && i + 1 < argc)
            url = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--live"))
            path = "/healthz";
        else {
            usage(stderr);
            return 2;
        }
    }
    char base[300];
    if (url) {
        snprintf(base, sizeof(base), "%s", url);
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            base[--n] = '\0';
    } else {
        struct sw_config cfg;
        int bad = load_config(&cfg, config);
        bool ok = !bad && probe_base_url(cfg.http_listen, base, sizeof(base));
        if (!bad && !ok)
            fprintf(stderr, "health: http.listen \"%s\" serves no endpoint to ask\n",
                    cfg.http_listen);
        sw_config_free(&cfg);
        if (!ok)
            return 1;
    }
    return probe_get(base, path, (timeout > 0 ? timeout : 5) * 1000, stdout, stderr);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "auth"))
        return auth_command(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "health"))
        return health_command(argc, argv);
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"config-reference", no_argument, NULL, 'R'},
        {"ready-file", required_argument, NULL, 'r'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *ready = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'r':
            ready = optarg;
            break;
        case 'C': {
            struct sw_config cfg;
            int bad = load_config(&cfg, optarg);
            sw_config_free(&cfg);
            if (!bad)
                printf("%s: ok\n", optarg);
            return bad ? 1 : 0;
        }
        case 'R':
            sw_config_write_reference(stdout);
            return 0;
        case 'V':
            printf("schedworker %s\n", sw_version());
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "schedworker: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return run(config, ready);
}
