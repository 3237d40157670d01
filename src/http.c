/* http.c - libcurl behind the project's own types (see http.h). */
#include "http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "buf.h"
#include "log.h"

struct http_client {
    const struct sw_config *cfg;
    CURL *curl;
};

/* The answer's body, capped at openemr.max_response_bytes. */
struct sink {
    struct buf body;
    bool too_big;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void set_err(char *errstr, size_t errlen, const char *msg)
{
    if (errstr && errlen)
        snprintf(errstr, errlen, "%s", msg);
}

bool http_url_allowed(const struct sw_config *cfg, const char *url)
{
    if (!url)
        return false;
    if (!strncasecmp(url, "https://", 8))
        return true;
    return cfg->openemr_allow_insecure && !strncasecmp(url, "http://", 7);
}

sw_err http_client_new(const struct sw_config *cfg, struct http_client **out, char *errstr,
                       size_t errlen)
{
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        set_err(errstr, errlen, "curl_global_init failed");
        return SW_ERR_INTERNAL;
    }
    if (!http_url_allowed(cfg, cfg->openemr_base_url)) {
        set_err(errstr, errlen,
                "openemr.base_url must be https:// (http:// only with "
                "openemr.allow_insecure_http = true)");
        return SW_ERR_CONFIG;
    }
    struct http_client *h = calloc(1, sizeof(*h));
    if (!h)
        return SW_ERR_NOMEM;
    h->cfg = cfg;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        set_err(errstr, errlen, "curl_easy_init failed");
        return SW_ERR_NOMEM;
    }
    *out = h;
    return SW_OK;
}

void http_client_destroy(struct http_client *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

void http_response_free(struct http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    struct sink *s = opaque;
    size_t n = size * nmemb;
    if (n > s->body.max - s->body.len) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    return buf_append(&s->body, ptr, n) ? n : 0; /* 0: out of memory, aborts too */
}

/* Retry-After in seconds: libcurl reads both the delay-seconds and the
 * HTTP-date form.  0 when absent, unreadable or already past; a day or
 * more is taken as "a little" (1 s), as before. */
static int retry_after(CURL *c)
{
    curl_off_t s = 0;
    if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &s) != CURLE_OK || s <= 0)
        return 0;
    return s < 86400 ? (int)s : 1;
}

static sw_err curl_err(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return SW_ERR_TIMEOUT;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_BAD_CONTENT_ENCODING:
        return SW_ERR_BAD_ANSWER;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return SW_ERR_CONFIG;
    case CURLE_OUT_OF_MEMORY:
        return SW_ERR_NOMEM;
    default: /* couldn't connect/resolve, TLS, certificate, pin, reset, empty reply */
        return SW_ERR_CONNECT;
    }
}

sw_err http_perform(struct http_client *h, const struct http_request *req,
                    struct http_response *resp, char *errstr, size_t errlen)
{
    const struct sw_config *cfg = h->cfg;
    struct curl_slist *headers = NULL;
    char *auth = NULL;
    struct sink sink = {.too_big = false};
    char curl_msg[CURL_ERROR_SIZE] = "";
    sw_err err = SW_OK;
    CURL *c = h->curl;

    memset(resp, 0, sizeof(*resp));
    buf_init(&sink.body, (size_t)cfg->openemr_max_response_bytes);
    if (!http_url_allowed(cfg, req->url)) {
        set_err(errstr, errlen, "plain http refused (openemr.allow_insecure_http is false)");
        return SW_ERR_CONFIG;
    }
    curl_easy_reset(c); /* keeps the connection cache */
    int timeout = cfg->openemr_timeout_ms;
    if (req->timeout_ms > 0 && req->timeout_ms < timeout)
        timeout = req->timeout_ms;
    int connect_timeout = cfg->openemr_connect_timeout_ms;
    if (connect_timeout > timeout)
        connect_timeout = timeout;

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
                     cfg->openemr_allow_insecure ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->openemr_max_response_bytes);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (cfg->openemr_ca_file && cfg->openemr_ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->openemr_ca_file);
    if (cfg->openemr_pinned_pubkey && cfg->openemr_pinned_pubkey[0])
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, cfg->openemr_pinned_pubkey);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "schedworker/1");

    headers = curl_slist_append(headers, "Accept: application/json");
    if (req->bearer) {
        size_t n = strlen(req->bearer) + 32;
        auth = malloc(n);
        if (!auth) {
            err = SW_ERR_NOMEM;
            goto cleanup;
        }
        snprintf(auth, n, "Authorization: Bearer %s", req->bearer);
        headers = curl_slist_append(headers, auth);
    }
    if (req->basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, req->basic_pass ? req->basic_pass : "");
    }
    if (req->content_type) {
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type);
        headers = curl_slist_append(headers, ct);
    }
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

    if (!strcmp(req->method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(req->method, "POST"))
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body || strcmp(req->method, "DELETE")) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body ? req->body_len : 0));
        }
    }

    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_FILESIZE_EXCEEDED) /* Content-Length above the cap */
        sink.too_big = true;
    if (rc != CURLE_OK) {
        err = sink.too_big ? SW_ERR_BAD_ANSWER : curl_err(rc);
        if (errstr && errlen)
            snprintf(errstr, errlen, "%s %s: %s", req->method,
                     sink.too_big ? "answer too large" : "transfer failed",
                     curl_msg[0] ? curl_msg : curl_easy_strerror(rc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->tls_refused = rc == CURLE_PEER_FAILED_VERIFICATION ||
                            rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
                            rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM;
        goto cleanup;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->retry_after_s = retry_after(c);
    resp->body = buf_steal(&sink.body, &resp->len);
    if (!resp->body)
        err = SW_ERR_NOMEM;

cleanup:
    /* the header list and the handle's copy held the token */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    buf_free(&sink.body);
    return err;
}

sw_err http_status_err(long status)
{
    if (status >= 200 && status < 300)
        return SW_OK;
    switch (status) {
    case 400:
    case 422:
        return SW_ERR_INVALID;
    case 401:
        return SW_ERR_TOKEN;
    case 403:
        return SW_ERR_FORBIDDEN;
    case 404:
    case 410:
        return SW_ERR_NOT_FOUND;
    case 409:
    case 412:
        return SW_ERR_CONFLICT;
    case 429:
        return SW_ERR_RATE_LIMITED;
    default:
        break;
    }
    if (status >= 500 && status < 600)
        return SW_ERR_SERVER;
    return SW_ERR_BAD_ANSWER;
}

char *http_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0); /* all but A-Z a-z 0-9 - . _ ~ */
    char *out = e ? strdup(e) : NULL;       /* callers free() it */
    curl_free(e);
    return out;
}

char *http_unescape(const char *s)
{
    int n = 0;
    char *d = curl_easy_unescape(NULL, s, 0, &n);
    if (!d)
        return NULL;
    char *out = NULL;
    if (memchr(d, '\0', (size_t)n) == NULL && (out = malloc((size_t)n + 1)))
        memcpy(out, d, (size_t)n + 1);
    curl_free(d);
    return out;
}

/* One part of a parsed URL, malloc'd (percent-decoded when decode), or
 * NULL when absent.  SW_ERR_CONFIG for a decoded NUL. */
static sw_err url_part(CURLU *h, CURLUPart part, bool decode, char **out)
{
    char *v = NULL;
    *out = NULL;
    CURLUcode rc = curl_url_get(h, part, &v, 0);
    if (rc == CURLUE_OUT_OF_MEMORY)
        return SW_ERR_NOMEM;
    if (rc != CURLUE_OK || !v)
        return SW_OK;
    *out = decode ? http_unescape(v) : strdup(v);
    sw_err err = *out ? SW_OK : decode && strstr(v, "%00") ? SW_ERR_CONFIG : SW_ERR_NOMEM;
    curl_free(v);
    return err;
}

sw_err http_url_parse(const char *url, struct http_url *out, char *errstr, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    CURLU *h = curl_url();
    if (!h)
        return SW_ERR_NOMEM;
    sw_err err = SW_OK;
    CURLUcode rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (rc != CURLUE_OK) {
        snprintf(errstr, errlen, "not a valid URL (%s)", curl_url_strerror(rc));
        err = SW_ERR_CONFIG;
        goto out;
    }
    char *port = NULL;
    if ((err = url_part(h, CURLUPART_SCHEME, false, &out->scheme)) ||
        (err = url_part(h, CURLUPART_USER, true, &out->user)) ||
        (err = url_part(h, CURLUPART_PASSWORD, true, &out->password)) ||
        (err = url_part(h, CURLUPART_HOST, false, &out->host)) ||
        (err = url_part(h, CURLUPART_PATH, true, &out->path)) ||
        (err = url_part(h, CURLUPART_QUERY, false, &out->query)) ||
        (err = url_part(h, CURLUPART_PORT, false, &port))) {
        if (err == SW_ERR_CONFIG)
            snprintf(errstr, errlen, "a percent-encoded NUL in the URL");
        goto out;
    }
    out->port = port ? (int)strtol(port, NULL, 10) : 0; /* curl checked 0..65535 */
    free(port);
    size_t hl = out->host ? strlen(out->host) : 0;
    if (hl >= 2 && out->host[0] == '[' && out->host[hl - 1] == ']') {
        memmove(out->host, out->host + 1, hl - 2);
        out->host[hl - 2] = '\0';
    }
out:
    curl_url_cleanup(h);
    if (err)
        http_url_free(out);
    return err;
}

void http_url_free(struct http_url *u)
{
    if (!u)
        return;
    free(u->scheme);
    free(u->user);
    free(u->password);
    free(u->host);
    free(u->path);
    free(u->query);
    memset(u, 0, sizeof(*u));
}
