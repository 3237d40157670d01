/* probe.c - `schedworker health` over libcurl (see probe.h). */
#include "probe.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

bool probe_base_url(const char *listen, char *out, size_t outlen)
{
    if (!listen || !*listen)
        return false;
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return false;
    int hostlen = (int)(colon - listen);
    const char *port = colon + 1;
    int n;
    if (listen[0] == '[') { /* [v6]:port */
        if (hostlen < 2 || listen[hostlen - 1] != ']')
            return false;
        bool any = hostlen == 4 && !strncmp(listen, "[::]", 4);
        n = any ? snprintf(out, outlen, "http://[::1]:%s", port)
                : snprintf(out, outlen, "http://%.*s:%s", hostlen, listen, port);
    } else {
        if (memchr(listen, ':', (size_t)hostlen))
            return false; /* a bare IPv6 address needs brackets */
        bool any = hostlen == 0 || (hostlen == 7 && !strncmp(listen, "0.0.0.0", 7));
        n = any ? snprintf(out, outlen, "http://127.0.0.1:%s", port)
                : snprintf(out, outlen, "http://%.*s:%s", hostlen, listen, port);
    }
    return n > 0 && (size_t)n < outlen;
}

static size_t to_file(char *p, size_t size, size_t n, void *arg)
{
    return fwrite(p, size, n, arg) * size;
}

int probe_get(const char *base, const char *path, int timeout_ms, FILE *out, FILE *err)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(err, "health: cannot start libcurl\n");
        return 1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_file);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        fprintf(err, "health: %s: %s\n", url, curl_easy_strerror(rc));
        return 1;
    }
    if (status != 200)
        fprintf(err, "health: %s answered %ld\n", url, status);
    return status == 200 ? 0 : 1;
}
