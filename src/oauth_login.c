/* oauth_login.c - the one-time commands: `auth login` (authorization code
 * + PKCE S256 with the redirect received on a loopback port, RFC 8252
 * section 7.3) and `auth register` (dynamic client registration). */
#include "oauth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jwt.h"

/* http://127.0.0.1:PORT/path -> port and path. */
static bool parse_redirect(const char *uri, int *port, char *path, size_t plen)
{
    const char *p = NULL;
    if (!strncmp(uri, "http://127.0.0.1:", 17))
        p = uri + 17;
    else if (!strncmp(uri, "http://localhost:", 17))
        p = uri + 17;
    if (!p)
        return false;
    char *end = NULL;
    long v = strtol(p, &end, 10);
    if (end == p || v <= 0 || v > 65535)
        return false;
    *port = (int)v;
    snprintf(path, plen, "%s", *end == '/' ? end : "/");
    return true;
}

/* Value of name in a query string (percent-decoded), into buf. */
static bool query_get(const char *query, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t j = 0;
            for (size_t i = nl + 1; i < seg && j + 1 < len; i++) {
                if (p[i] == '%' && i + 2 < seg) {
                    char hex[3] = {p[i + 1], p[i + 2], '\0'};
                    buf[j++] = (char)strtol(hex, NULL, 16);
                    i += 2;
                } else {
                    buf[j++] = p[i] == '+' ? ' ' : p[i];
                }
            }
            buf[j] = '\0';
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static void reply(int fd, const char *status, const char *text)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, strlen(text), text);
    if (n > 0 && write(fd, buf, (size_t)n) < 0) {
        /* the browser went away: nothing to do */
    }
}

sw_err oauth_login_loopback(const struct sw_config *cfg, struct http_client *http, int timeout_s,
                            FILE *out, char **refresh_token, char *errstr, size_t errlen)
{
    sw_err err = SW_ERR_CONFIG;
    int lfd = -1, cfd = -1, port = 0;
    char path[256], verifier[64], challenge[64], state[48], req[8192], code[512], got[128];
    char *url = NULL;
    *refresh_token = NULL;
    if (!parse_redirect(cfg->oauth_redirect_uri, &port, path, sizeof(path))) {
        snprintf(errstr, errlen, "oauth.redirect_uri must be http://127.0.0.1:PORT/path");
        return SW_ERR_CONFIG;
    }
    if ((err = oauth_pkce_new(verifier, sizeof(verifier), challenge, sizeof(challenge))) ||
        (err = jwt_random_b64(24, state, sizeof(state))) ||
        (err = oauth_authorize_url(cfg, state, challenge, &url)))
        goto cleanup;

    err = SW_ERR_CONNECT;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
        snprintf(errstr, errlen, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        goto cleanup;
    }
    fprintf(out,
            "Open this URL in a browser and sign in to OpenEMR:\n\n  %s\n\n"
            "Waiting for the redirect on 127.0.0.1:%d ...\n",
            url, port);
    fflush(out);

    time_t until = time(NULL) + timeout_s;
    for (;;) { /* the first request on our path with a code or an error wins */
        int left = (int)(until - time(NULL));
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left * 1000) <= 0) {
            snprintf(errstr, errlen, "no redirect within %d s", timeout_s);
            err = SW_ERR_TIMEOUT;
            goto cleanup;
        }
        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ssize_t n = recv(cfd, req, sizeof(req) - 1, 0);
        req[n > 0 ? n : 0] = '\0';
        char *sp = strchr(req, ' '), *target = sp ? sp + 1 : NULL;
        char *end = target ? strchr(target, ' ') : NULL;
        if (!target || !end || strncmp(req, "GET ", 4)) {
            reply(cfd, "400 Bad Request", "bad request\n");
            close(cfd);
            cfd = -1;
            continue;
        }
        *end = '\0';
        char *q = strchr(target, '?');
        if (q)
            *q++ = '\0';
        if (strcmp(target, path) || !q) {
            reply(cfd, "404 Not Found", "not here\n");
            close(cfd);
            cfd = -1;
            continue;
        }
        if (query_get(q, "error", got, sizeof(got))) {
            reply(cfd, "400 Bad Request", "OpenEMR refused the authorization.\n");
            snprintf(errstr, errlen, "authorization refused: %s", got);
            err = SW_ERR_TOKEN;
            goto cleanup;
        }
        if (!query_get(q, "state", got, sizeof(got)) || strcmp(got, state) ||
            !query_get(q, "code", code, sizeof(code))) {
            reply(cfd, "400 Bad Request", "state mismatch\n");
            snprintf(errstr, errlen, "redirect without our state or without a code");
            err = SW_ERR_TOKEN;
            goto cleanup;
        }
        break;
    }
    err = oauth_exchange_code(cfg, http, code, verifier, refresh_token, errstr, errlen);
    reply(cfd, err == SW_OK ? "200 OK" : "500 Internal Server Error",
          err == SW_OK ? "schedworker is authorized; you can close this window.\n"
                       : "the code exchange failed; see the terminal.\n");

cleanup:
    explicit_bzero(code, sizeof(code));
    explicit_bzero(verifier, sizeof(verifier));
    if (cfd >= 0)
        close(cfd);
    if (lfd >= 0)
        close(lfd);
    free(url);
    return err;
}

sw_err oauth_pkce_new(char *verifier, size_t vlen, char *challenge, size_t clen)
{
    sw_err err = jwt_random_b64(32, verifier, vlen);
    if (err != SW_OK)
        return err;
    return jwt_sha256_b64(verifier, challenge, clen);
}

sw_err oauth_authorize_url(const struct sw_config *cfg, const char *state, const char *challenge,
                           char **url)
{
    char *cid = http_escape(cfg->oauth_client_id ? cfg->oauth_client_id : "");
    char *redir = http_escape(cfg->oauth_redirect_uri);
    char *scope = http_escape(cfg->oauth_scope);
    char aud_raw[512];
    snprintf(aud_raw, sizeof(aud_raw), "%s/apis/%s/fhir", cfg->openemr_base_url, cfg->openemr_site);
    char *aud = http_escape(aud_raw);
    sw_err err = SW_ERR_NOMEM;
    *url = NULL;
    if (cid && redir && scope && aud) {
        size_t n = strlen(cfg->openemr_base_url) + strlen(cid) + strlen(redir) + strlen(scope) +
                   strlen(aud) + strlen(state) + strlen(challenge) + 256;
        *url = malloc(n);
        if (*url) {
            snprintf(*url, n,
                     "%s/oauth2/%s/authorize?response_type=code&client_id=%s&redirect_uri=%s"
                     "&scope=%s&state=%s&code_challenge=%s&code_challenge_method=S256&aud=%s",
                     cfg->openemr_base_url, cfg->openemr_site, cid, redir, scope, state, challenge,
                     aud);
            err = SW_OK;
        }
    }
    free(cid);
    free(redir);
    free(scope);
    free(aud);
    return err;
}

sw_err oauth_register(const struct sw_config *cfg, struct http_client *http,
                      const char *client_name, char **answer, char *errstr, size_t errlen)
{
    sw_err err = SW_ERR_NOMEM;
    char *jwks = NULL, *body = NULL;
    json_t *req = NULL, *jk = NULL;
    struct http_response resp = {0};
    char url[600];
    *answer = NULL;
    bool with_key = cfg->oauth_private_key_file && cfg->oauth_private_key_file[0];
    if (with_key) {
        err = jwt_jwks_from_key(cfg->oauth_private_key_file, cfg->oauth_key_id, &jwks, errstr,
                                errlen);
        if (err != SW_OK)
            goto cleanup;
        jk = json_loads(jwks, 0, NULL);
    }
    char scope[1024];
    snprintf(scope, sizeof(scope), "%s%s%s", cfg->oauth_scope, with_key ? " " : "",
             with_key ? cfg->oauth_system_scope : "");
    req = json_pack("{s:s, s:[s], s:s, s:s, s:s}", "application_type", "private", "redirect_uris",
                    cfg->oauth_redirect_uri, "client_name", client_name,
                    "token_endpoint_auth_method", "client_secret_post", "scope", scope);
    if (!req)
        goto cleanup;
    if (jk)
        json_object_set(req, "jwks", jk);
    body = json_dumps(req, JSON_COMPACT);
    if (!body)
        goto cleanup;
    snprintf(url, sizeof(url), "%s/oauth2/%s/registration", cfg->openemr_base_url,
             cfg->openemr_site);
    struct http_request hr = {.method = "POST",
                              .url = url,
                              .content_type = "application/json",
                              .body = body,
                              .body_len = strlen(body)};
    err = http_perform(http, &hr, &resp, errstr, errlen);
    if (err != SW_OK)
        goto cleanup;
    if (resp.status != 200 && resp.status != 201) {
        snprintf(errstr, errlen, "registration answered %ld", resp.status);
        err = http_status_err(resp.status);
        goto cleanup;
    }
    *answer = resp.body;
    resp.body = NULL;
    err = SW_OK;
cleanup:
    free(jwks);
    free(body);
    json_decref(req);
    json_decref(jk);
    http_response_free(&resp);
    return err;
}
