/* opts.c - loadgen's command line (main.c lists the options). */
#include <getopt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loadgen.h"

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: loadgen --kind search|book|find | --template FILE\n"
            "  [--rate N (0 = as fast as allowed)] [--max-in-flight N] [--count N | --duration S]\n"
            "  [--warmup S] [--timeout S] [--brokers HOST:PORT] [--config FILE]\n"
            "  [--practitioner ID]... [--patient ID]... [--slots FILE] [--appointment-type T]\n"
            "  [--book-days N] [--book-step-min M] [--search-ahead-days N] [--sessions N]\n"
            "  [--phone P] [--birthdate D] [--tz ZONE] [--results-topic T] [--quiet]\n");
}

int parse_opts(int argc, char **argv, struct opts *o)
{
    enum {
        O_KIND = 256,
        O_TEMPLATE,
        O_RATE,
        O_MIF,
        O_COUNT,
        O_DURATION,
        O_WARMUP,
        O_TIMEOUT,
        O_BROKERS,
        O_CONFIG,
        O_PRACT,
        O_PATIENT,
        O_SLOTS,
        O_TYPE,
        O_BOOK_DAYS,
        O_STEP,
        O_AHEAD,
        O_SESSIONS,
        O_PHONE,
        O_BIRTH,
        O_TZ,
        O_RESULTS,
        O_QUIET,
        O_DEADLINE,
        O_HELP
    };
    static const struct option lo[] = {{"kind", 1, NULL, O_KIND},
                                       {"template", 1, NULL, O_TEMPLATE},
                                       {"rate", 1, NULL, O_RATE},
                                       {"max-in-flight", 1, NULL, O_MIF},
                                       {"count", 1, NULL, O_COUNT},
                                       {"duration", 1, NULL, O_DURATION},
                                       {"warmup", 1, NULL, O_WARMUP},
                                       {"timeout", 1, NULL, O_TIMEOUT},
                                       {"brokers", 1, NULL, O_BROKERS},
                                       {"config", 1, NULL, O_CONFIG},
                                       {"practitioner", 1, NULL, O_PRACT},
                                       {"patient", 1, NULL, O_PATIENT},
                                       {"slots", 1, NULL, O_SLOTS},
                                       {"appointment-type", 1, NULL, O_TYPE},
                                       {"book-days", 1, NULL, O_BOOK_DAYS},
                                       {"book-step-min", 1, NULL, O_STEP},
                                       {"search-ahead-days", 1, NULL, O_AHEAD},
                                       {"sessions", 1, NULL, O_SESSIONS},
                                       {"phone", 1, NULL, O_PHONE},
                                       {"birthdate", 1, NULL, O_BIRTH},
                                       {"tz", 1, NULL, O_TZ},
                                       {"results-topic", 1, NULL, O_RESULTS},
                                       {"quiet", 0, NULL, O_QUIET},
                                       {"deadline-s", 1, NULL, O_DEADLINE},
                                       {"help", 0, NULL, O_HELP},
                                       {NULL, 0, NULL, 0}};
    long v;
    int c;
    *o = (struct opts){.rate = 500,
                       .max_in_flight = 1000,
                       .count = 0,
                       .duration = 0,
                       .warmup = 2,
                       .timeout = 10,
                       .tz = "America/New_York",
                       .results_topic = "scheduling.results",
                       .appointment_type = "routine",
                       .phone = "6175550101",
                       .birthdate = "1980-04-12",
                       .book_days = 21,
                       .book_step_min = 75,
                       .sessions = 64,
                       .search_ahead_days = 2};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_KIND:
            o->kind = optarg;
            break;
        case O_TEMPLATE:
            o->template_path = optarg;
            break;
        case O_RATE:
            ok = parse_double(optarg, 0, 1e7, &o->rate);
            break;
        case O_MIF:
            ok = parse_long(optarg, 1, 10000000, &o->max_in_flight);
            break;
        case O_COUNT:
            ok = parse_long(optarg, 1, (long)MAX_CHUNKS * CHUNK / 2, &o->count);
            break;
        case O_DURATION:
            ok = parse_double(optarg, 0.1, 86400, &o->duration);
            break;
        case O_WARMUP:
            ok = parse_double(optarg, 0, 3600, &o->warmup);
            break;
        case O_TIMEOUT:
            ok = parse_double(optarg, 0.1, 3600, &o->timeout);
            break;
        case O_BROKERS:
            o->brokers = optarg;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_PRACT:
            ok = o->n_practitioners < MAX_LIST;
            if (ok)
                o->practitioners[o->n_practitioners++] = optarg;
            break;
        case O_PATIENT:
            ok = o->n_patients < MAX_LIST;
            if (ok)
                o->patients[o->n_patients++] = optarg;
            break;
        case O_SLOTS:
            o->slots_path = optarg;
            break;
        case O_TYPE:
            o->appointment_type = optarg;
            break;
        case O_BOOK_DAYS:
            ok = parse_long(optarg, 1, 366, &v) && (o->book_days = (int)v);
            break;
        case O_STEP:
            ok = parse_long(optarg, 5, 600, &v) && (o->book_step_min = (int)v);
            break;
        case O_AHEAD:
            ok = parse_long(optarg, 0, 366, &v) && ((o->search_ahead_days = (int)v), 1);
            break;
        case O_SESSIONS:
            ok = parse_long(optarg, 1, 1000000, &v) && (o->sessions = (int)v);
            break;
        case O_PHONE:
            o->phone = optarg;
            break;
        case O_BIRTH:
            o->birthdate = optarg;
            break;
        case O_TZ:
            o->tz = optarg;
            break;
        case O_RESULTS:
            o->results_topic = optarg;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_DEADLINE:
            ok = parse_double(optarg, 1, 86400, &o->deadline_s);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "loadgen: bad value for --%s: %s\n", lo[c - O_KIND].name, optarg);
            return 2;
        }
    }
    if (optind < argc || (!o->kind == !o->template_path)) {
        fprintf(stderr, "loadgen: give exactly one of --kind and --template\n");
        usage(stderr);
        return 2;
    }
    if (!o->count && !o->duration) {
        fprintf(stderr, "loadgen: give --count or --duration\n");
        return 2;
    }
    /* The simulator's seed (tools/openemr-sim/seed.json): the worker names
     * practitioners and patients by their FHIR uuids. */
    static const char *def_pract[] = {
        "90cde167-7b9b-4ed1-bd55-533925cb2605", "90cde167-7b9b-4ed1-bd55-533925cb2606",
        "90cde167-7b9b-4ed1-bd55-533925cb2607", "90cde167-7b9b-4ed1-bd55-533925cb2608"};
    static const char *def_patient[] = {
        "946da61d-6b88-4d7a-9f6e-000000000001", "946da61d-6b88-4d7a-9f6e-000000000002",
        "946da61d-6b88-4d7a-9f6e-000000000003", "946da61d-6b88-4d7a-9f6e-000000000004",
        "946da61d-6b88-4d7a-9f6e-000000000005", "946da61d-6b88-4d7a-9f6e-000000000006",
        "946da61d-6b88-4d7a-9f6e-000000000007", "946da61d-6b88-4d7a-9f6e-000000000008"};
    if (!o->n_practitioners) {
        /* search: one practitioner, so the cache answers; book: all four. */
        int n = o->kind && !strcmp(o->kind, "book") ? 4 : 1;
        for (int i = 0; i < n; i++)
            o->practitioners[o->n_practitioners++] = def_pract[i];
    }
    if (!o->n_patients)
        for (int i = 0; i < 8; i++)
            o->patients[o->n_patients++] = def_patient[i];
    return 0;
}
