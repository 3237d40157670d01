/* authcmd.c - `schedworker auth login` and `schedworker auth register`. */
#include "authcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "oauth.h"

/* Writes a secret to a new file readable by its owner only. */
static int write_secret(const char *path, const char *secret)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "cannot write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    size_t n = strlen(secret);
    bool ok = write(fd, secret, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

int authcmd_login(const struct sw_config *cfg, int timeout_s)
{
    char errstr[256];
    char *refresh = NULL;
    struct http_client *http = NULL;
    int rc = 1;

    if (!cfg->oauth_refresh_token_file[0]) {
        fprintf(stderr, "auth login: set oauth.refresh_token_file (where the token goes)\n");
        return 1;
    }
    if (http_client_new(cfg, &http, errstr, sizeof(errstr)) != SW_OK ||
        oauth_login_loopback(cfg, http, timeout_s, stdout, &refresh, errstr, sizeof(errstr)) !=
            SW_OK) {
        fprintf(stderr, "auth login: %s\n", errstr);
        goto out;
    }
    if (write_secret(cfg->oauth_refresh_token_file, refresh))
        goto out;
    printf("Stored the refresh token in %s; the worker fleet seeds its shared token from it.\n",
           cfg->oauth_refresh_token_file);
    rc = 0;
out:
    if (refresh)
        explicit_bzero(refresh, strlen(refresh));
    free(refresh);
    http_client_destroy(http);
    return rc;
}

int authcmd_register(const struct sw_config *cfg, const char *client_name)
{
    char errstr[256];
    char *answer = NULL;
    struct http_client *http = NULL;
    json_t *o = NULL;
    int rc = 1;
    if (http_client_new(cfg, &http, errstr, sizeof(errstr)) != SW_OK ||
        oauth_register(cfg, http, client_name, &answer, errstr, sizeof(errstr)) != SW_OK) {
        fprintf(stderr, "auth register: %s\n", errstr);
        goto out;
    }
    o = json_loads(answer, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "client_id"));
    const char *secret = json_string_value(json_object_get(o, "client_secret"));
    if (!id) {
        fprintf(stderr, "auth register: the answer carries no client_id\n");
        goto out;
    }
    printf("Registered client \"%s\": client_id = %s\n", client_name, id);
    if (secret && cfg->oauth_client_secret_file[0]) {
        if (write_secret(cfg->oauth_client_secret_file, secret))
            goto out;
        printf("Wrote its client secret to %s.\n", cfg->oauth_client_secret_file);
    } else if (secret) {
        printf("Set oauth.client_secret_file and run again to keep the client secret; it is "
               "not printed.\n");
    }
    printf("\nAn OpenEMR administrator must now ENABLE this client (Administration > System >\n"
           "API Clients) before it can get tokens; until then token requests fail with\n"
           "invalid_client.  Then set oauth.client_id = %s in the config.\n",
           id);
    rc = 0;
out:
    json_decref(o);
    if (answer)
        explicit_bzero(answer, strlen(answer));
    free(answer);
    http_client_destroy(http);
    return rc;
}
