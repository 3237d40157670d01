/* main.c - flags, configuration, wiring and signals; nothing else. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "kafka.h"
#include "log.h"
#include "worker.h"

#define VERSION "0.1.0"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(FILE *out)
{
    fputs("usage: schedworker --config FILE [--ready-file FILE]\n"
          "       schedworker --check-config FILE\n"
          "       schedworker --config-reference\n"
          "       schedworker --version\n"
          "\n"
          "Consumes scheduling commands from Kafka, carries them out against OpenEMR and\n"
          "publishes one result per command.  See README.md.\n",
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
    if (setenv("TZ", cfg->clinic_timezone, 1) != 0)
        return 1;
    tzset();
    return 0;
}

static int run(const char *path, const char *ready_file)
{
    struct sw_config cfg;
    struct kafka *k = NULL;
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
    signal(SIGPIPE, SIG_IGN);

    struct kafka_handler h = {dispatch_lane_init, dispatch_lane_fini, dispatch_handle, &cfg};
    if (kafka_new(&cfg, &h, &k, err, sizeof(err)) != SW_OK) {
        log_error("main", "kafka: %s", err);
        goto out;
    }
    log_info("main", "schedworker %s started: %d lanes, surface %s", VERSION, cfg.worker_threads,
             cfg.surface == SW_SURFACE_OPENEMR ? "openemr" : "fhir-scheduling");
    rc = kafka_run(k, &stop, ready_file) == SW_OK ? 0 : 1;
    kafka_destroy(k);
    log_info("main", "stopped");
out:
    sw_config_free(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
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
            puts("schedworker " VERSION);
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
