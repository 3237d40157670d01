/* oauth_login.c - the one-time `auth login`: authorization code + PKCE
 * with the redirect received on a loopback port (RFC 8252 section 7.3). */
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
