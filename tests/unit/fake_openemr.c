/* fake_openemr.c - the scripted OpenEMR of fake_openemr.h. */
#include "fake_openemr.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWERS 64

struct answer {
    char method[8];
    char path[256];
    int status;
    char *body;
};

static struct {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    char base[64];
    struct answer answers[MAX_ANSWERS];
    int n_answers;
    char *log[FAKE_OE_MAX_LOG];
    char *bodies[FAKE_OE_MAX_LOG];
    int n_log;
    int tokens;
} fo = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct upload {
    char data[8192];
    size_t len;
};

struct query {
    char text[1024];
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    struct query *q = cls;
    size_t have = strlen(q->text);
    snprintf(q->text + have, sizeof(q->text) - have, "%s%s=%s", have ? "&" : "", key,
             value ? value : "");
    return MHD_YES;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct upload *up = *con_cls;
    if (!up) {
        *con_cls = up = calloc(1, sizeof(*up));
        return up ? MHD_YES : MHD_NO;
    }
    if (*size) {
        size_t room = sizeof(up->data) - 1 - up->len, n = *size < room ? *size : room;
        memcpy(up->data + up->len, data, n);
        up->len += n;
        *size = 0;
        return MHD_YES;
    }
    struct query q = {{0}};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    char line[1400], text[256];
    snprintf(line, sizeof(line), "%s %s%s%s", method, url, q.text[0] ? "?" : "", q.text);
    int status = 404;
    const char *body = "";
    pthread_mutex_lock(&fo.mu);
    if (fo.n_log < FAKE_OE_MAX_LOG) {
        fo.log[fo.n_log] = strdup(line);
        fo.bodies[fo.n_log++] = strdup(up->data);
    }
    bool found = false;
    for (int i = 0; i < fo.n_answers && !found; i++)
        if (!strcmp(fo.answers[i].method, method) && !strcmp(fo.answers[i].path, url)) {
            status = fo.answers[i].status;
            body = fo.answers[i].body ? fo.answers[i].body : "";
            found = true;
        }
    if (!found && !strcmp(method, "POST") && !strcmp(url, "/oauth2/default/token")) {
        int t = ++fo.tokens;
        snprintf(text, sizeof(text),
                 "{\"access_token\":\"tok%d\",\"refresh_token\":\"r%d\",\"expires_in\":3600}", t,
                 t);
        status = 200;
        body = text;
    }
    char *copy = strdup(body);
    pthread_mutex_unlock(&fo.mu);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE);
    if (copy[0])
        MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static void done(void *cls, struct MHD_Connection *conn, void **con_cls,
                 enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    free(*con_cls);
    *con_cls = NULL;
}

const char *fake_oe_start(void)
{
    if (fo.d)
        return fo.base;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    fo.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                            MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!fo.d)
        return NULL;
    snprintf(fo.base, sizeof(fo.base), "http://127.0.0.1:%d",
             MHD_get_daemon_info(fo.d, MHD_DAEMON_INFO_BIND_PORT)->port);
    return fo.base;
}

void fake_oe_reset(void)
{
    pthread_mutex_lock(&fo.mu);
    for (int i = 0; i < fo.n_answers; i++) {
        free(fo.answers[i].body);
        fo.answers[i].body = NULL;
    }
    for (int i = 0; i < fo.n_log; i++) {
        free(fo.log[i]);
        free(fo.bodies[i]);
    }
    fo.n_answers = fo.n_log = 0;
    pthread_mutex_unlock(&fo.mu);
}

void fake_oe_stop(void)
{
    fake_oe_reset();
    if (fo.d)
        MHD_stop_daemon(fo.d);
    fo.d = NULL;
}

void fake_oe_answer(const char *method, const char *path, int status, const char *body)
{
    pthread_mutex_lock(&fo.mu);
    struct answer *a = NULL;
    for (int i = 0; i < fo.n_answers && !a; i++)
        if (!strcmp(fo.answers[i].method, method) && !strcmp(fo.answers[i].path, path))
            a = &fo.answers[i];
    if (!a && fo.n_answers < MAX_ANSWERS)
        a = &fo.answers[fo.n_answers++];
    if (a) {
        free(a->body);
        snprintf(a->method, sizeof(a->method), "%s", method);
        snprintf(a->path, sizeof(a->path), "%s", path);
        a->status = status;
        a->body = body ? strdup(body) : NULL;
    }
    pthread_mutex_unlock(&fo.mu);
}

int fake_oe_count(const char *prefix)
{
    int n = 0;
    pthread_mutex_lock(&fo.mu);
    for (int i = 0; i < fo.n_log; i++)
        if (!strncmp(fo.log[i], prefix, strlen(prefix)))
            n++;
    pthread_mutex_unlock(&fo.mu);
    return n;
}

const char *fake_oe_request(int n)
{
    pthread_mutex_lock(&fo.mu);
    const char *r = n >= 0 && n < fo.n_log ? fo.log[n] : NULL;
    pthread_mutex_unlock(&fo.mu);
    return r;
}

const char *fake_oe_last_body(const char *prefix)
{
    const char *b = NULL;
    pthread_mutex_lock(&fo.mu);
    for (int i = 0; i < fo.n_log; i++)
        if (!strncmp(fo.log[i], prefix, strlen(prefix)))
            b = fo.bodies[i];
    pthread_mutex_unlock(&fo.mu);
    return b;
}
