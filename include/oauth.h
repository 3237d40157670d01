/* oauth.h - OpenEMR OAuth2: the fleet's one shared access token, and the
 * helpers of the one-time `auth login` / `auth register` commands.
 *
 * The token record (access token, refresh token, expiry) lives in Redis
 * under fleet_token_*(), sealed with tokencrypt; every replica uses the
 * same access token.  See oauth.c for the refresh protocol and what it
 * guarantees when a replica dies mid-refresh; oauth_endpoint.c is the
 * token endpoint's client, oauth_login.c the one-time commands.  One struct oauth per
 * thread (it uses that thread's fleet and http handles). */
#ifndef SW_OAUTH_H
#define SW_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "errors.h"
#include "fleet.h"
#include "http.h"

struct oauth;

/* fleet may be NULL (the token is then kept in this process only). */
sw_err oauth_new(const struct sw_config *cfg, struct fleet *fleet, struct http_client *http,
                 struct oauth **out, char *errstr, size_t errlen);
void oauth_destroy(struct oauth *o);

/* What oauth_new takes by default, for tests to change. */
struct oauth_options {
    const struct sw_clock *clock; /* token expiry, the wait for another
                                     replica's refresh; NULL: system */
};
sw_err oauth_new_opts(const struct sw_config *cfg, struct fleet *fleet, struct http_client *http,
                      const struct oauth_options *opts, struct oauth **out, char *errstr,
                      size_t errlen);

/* Copies a valid access token into buf, refreshing it for the whole fleet
 * when less than the margin remains.  deadline_ms (epoch ms, 0 = none)
 * bounds any wait for another replica's refresh.  Errors: SW_ERR_TOKEN
 * (every grant refused: operator action needed), transport errors,
 * SW_ERR_UNAVAILABLE (another replica's refresh did not finish in time). */
sw_err oauth_token(struct oauth *o, int64_t deadline_ms, char *buf, size_t buflen);

/* OpenEMR answered 401 to this token: the next oauth_token() returns a
 * different one (refreshing for the fleet unless another replica already
 * did).  false when this token is itself the fresh answer to a 401 less
 * than 10 s ago: the 401 is then about scope or permission, and refreshing
 * again would only hammer the token endpoint. */
bool oauth_token_rejected(struct oauth *o, const char *token);

/* A token that has not expired is held now (no I/O beyond a Redis read). */
bool oauth_has_valid_token(struct oauth *o);

/* Revokes the refresh token (or the access token) and drops the fleet
 * record; for the last replica's shutdown. */
sw_err oauth_logout(struct oauth *o);

/* Whether the fleet's token record was last seen sealed with another key
 * than this process's (then no replica of this process writes it, and it
 * has no token): the record's key id into theirs and ours into ours
 * (tokencrypt_key_id; either buffer may be of size 0).  Process-wide and
 * thread-safe, for /readyz. */
bool oauth_token_key_mismatch(char *theirs, size_t tlen, char *ours, size_t olen);

/* The last failure cannot be cured by retrying (TLS verification). */
bool oauth_failure_permanent(const struct oauth *o);

/* Detail of the last failure (no secrets). */
const char *oauth_errstr(const struct oauth *o);

/* ---- one-time commands ------------------------------------------------ */

/* PKCE S256: a fresh verifier (43+ chars) and its challenge. */
sw_err oauth_pkce_new(char *verifier, size_t vlen, char *challenge, size_t clen);

/* The authorize URL to open in a browser; *url malloc'd. */
sw_err oauth_authorize_url(const struct sw_config *cfg, const char *state, const char *challenge,
                           char **url);

/* Exchanges an authorization code (authorization_code + PKCE);
 * *refresh_token malloc'd (SW_ERR_TOKEN if none was issued: ask for
 * offline_access). */
sw_err oauth_exchange_code(const struct sw_config *cfg, struct http_client *http, const char *code,
                           const char *verifier, char **refresh_token, char *errstr, size_t errlen);

/* Registers a confidential client (with the JWKS of
 * oauth.private_key_file when set); *answer malloc'd JSON of the server's
 * answer (client_id, client_secret, ...).  The client starts disabled
 * until an OpenEMR admin enables it. */
sw_err oauth_register(const struct sw_config *cfg, struct http_client *http,
                      const char *client_name, char **answer, char *errstr, size_t errlen);

/* `schedworker auth login`: prints the authorize URL (PKCE S256, random
 * state) to out, receives the browser's redirect on the loopback address
 * of oauth.redirect_uri (http://127.0.0.1:PORT/path), checks the state,
 * exchanges the code and returns the refresh token (*refresh_token
 * malloc'd) for the caller to store in oauth.refresh_token_file.  Waits at
 * most timeout_s for the redirect (SW_ERR_TIMEOUT). */
sw_err oauth_login_loopback(const struct sw_config *cfg, struct http_client *http, int timeout_s,
                            FILE *out, char **refresh_token, char *errstr, size_t errlen);

#endif
